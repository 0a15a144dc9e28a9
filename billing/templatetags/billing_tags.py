from django import template
from django.utils import timezone

from accounts import access
from accounts.models import ChargeCard
from billing import pricing
from billing.models import ChargingSession

register = template.Library()


def remote_panel_context(request, station, result=None) -> dict:
    from stations.models import Connector

    user = request.user
    can_remote = access.can_manage_station(user, station) and access.can_see_prices(user, station)
    context = {"station": station, "can_remote": can_remote, "result": result, "request": request}
    if not can_remote:
        return context
    sessions = ChargingSession.objects.filter(station=station).select_related("card")
    active = list(sessions.filter(status=ChargingSession.Status.ACTIVE).order_by("connector_id"))
    recent = list(sessions.filter(status=ChargingSession.Status.COMPLETED).order_by("-stopped_at", "-id")[:3])
    connector_ids = list(
        Connector.objects.filter(station=station, connector_id__gt=0).values_list("connector_id", flat=True)
    ) or [1]
    cards = ChargeCard.objects.filter(status=ChargeCard.Status.ACTIVE)
    if station.account_id:
        cards = cards.filter(account_id=station.account_id)
    cards = cards.visible_to(user).order_by("label", "id_tag")[:100]
    context.update(
        active=active,
        recent=recent,
        connector_ids=connector_ids,
        cards=cards,
        # Keep refreshing while something is running or a start was just accepted (the session appears
        # when the station's StartTransaction arrives).
        poll=bool(active) or bool(result and result.get("ok")),
    )
    return context


@register.inclusion_tag("billing/_remote_panel_body.html", takes_context=True)
def remote_panel(context, station):
    return remote_panel_context(context["request"], station)


@register.filter
def duration(seconds) -> str:
    seconds = int(seconds or 0)
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}"


@register.filter
def so_far(session):
    """A running session priced as if it stopped now (elapsed time, energy metered so far); None when it is
    not running. The session's own total is priced once, at its stop (billing.services.sessions)."""
    if not session.is_active or not session.started_at:
        return None
    elapsed = (timezone.now() - session.started_at).total_seconds()
    return pricing.price_session(
        tariff=pricing.Tariff(
            price_per_kwh=session.price_per_kwh,
            price_per_session=session.price_per_session,
            price_per_hour=session.price_per_hour,
            currency=session.currency,
        ),
        energy_wh=session.energy_wh,
        duration_seconds=int(elapsed),
        vat_rate=session.vat_rate,
        free=session.is_free,
    )


@register.filter
def kwh(wh) -> str:
    return f"{(wh or 0) / 1000:.3f}"


@register.filter
def sees_sessions(user) -> bool:
    """Menu: everyone whose role shows sessions (technicians see none; the view scopes again)."""
    from accounts.models import Membership

    if access.is_platform_operator(user):
        return True
    return bool(access.account_ids(user, (*access.FULL_ROLES, Membership.Role.DRIVER)))


@register.filter
def sees_invoices(user) -> bool:
    """Menu: operators and the Account/Billing admins of an account (technicians and drivers see none)."""
    return access.is_platform_operator(user) or bool(access.account_ids(user, access.FULL_ROLES))
