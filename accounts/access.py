"""Who sees what. Roles: what each role may do. Which rows a user sees at all are QuerySet methods
(`Station.objects.visible_to(user)`, `ChargingSession.objects.visible_to(user)`, ...) next to the models.

Roles:
- Platform operator (User.is_platform_operator or superuser): sees and manages everything.
- Account admin: everything of their accounts (stations, sessions, invoices, cards, groups, locations,
  members) and may change it.
- Billing admin: sees everything of their accounts (stations, prices, sessions, invoices, cards), changes
  only the account's billing details; sends no commands.
- Field Service Technician: only the stations whose field_service_account is one of their accounts, and
  only the technical parts (configuration, reset, connectors, commands log). Nothing about prices, cards,
  sessions or invoices.
- Driver: only their own cards and the sessions charged with them. No stations.

A foreign or hidden object is answered with 404, so its existence does not leak; an object the user may
see but an action their role may not do is answered with 403 (the views decide that, asking here).
"""

from django.db.models import QuerySet
from django.http import Http404

from .models import Membership
from .models import account_ids as account_ids
from .models import user_is_operator as is_platform_operator

Role = Membership.Role
FULL_ROLES = Membership.FULL_ROLES
MANAGE_ROLES = Membership.MANAGE_ROLES
TECH_ROLES = Membership.TECH_ROLES


def role_in(user, account) -> str | None:
    """The user's role in one account, or None."""
    if account is None or not user.is_authenticated:
        return None
    account_id = getattr(account, "pk", account)
    return Membership.objects.filter(user=user, account_id=account_id).values_list("role", flat=True).first()


# --- stations -------------------------------------------------------------------------------------


def can_manage_station(user, station) -> bool:
    """May send commands and change technical configuration (reset, configuration, connectors)."""
    if is_platform_operator(user):
        return True
    if station.account_id and station.account_id in account_ids(user, MANAGE_ROLES):
        return True
    return bool(
        station.field_service_account_id and station.field_service_account_id in account_ids(user, TECH_ROLES)
    )


def can_edit_station_settings(user, station) -> bool:
    """May change the commercial settings (billing plan, location, tariffs, access groups, flags).
    Moving a station to another account stays with operators (the view decides which fields it offers)."""
    if is_platform_operator(user):
        return True
    return bool(station.account_id and station.account_id in account_ids(user, MANAGE_ROLES))


def can_see_prices(user, station) -> bool:
    """False for Field Service Technicians: they see the technical parts only."""
    if is_platform_operator(user):
        return True
    return bool(station.account_id and station.account_id in account_ids(user, FULL_ROLES))


# --- accounts and what hangs off them -------------------------------------------------------------


def can_manage_account(user, account) -> bool:
    return is_platform_operator(user) or account.pk in account_ids(user, MANAGE_ROLES)


def can_edit_account_billing(user, account) -> bool:
    """Name, address, VAT and billing e-mail: Account admins and Billing admins."""
    return is_platform_operator(user) or account.pk in account_ids(user, FULL_ROLES)


def can_manage_card(user, card) -> bool:
    return is_platform_operator(user) or bool(
        card.account_id and card.account_id in account_ids(user, MANAGE_ROLES)
    )


def get_for_user_or_404(visible_qs: QuerySet, pk):
    """One row of a visibility-scoped QuerySet, or 404 (a foreign row's existence does not leak)."""
    try:
        return visible_qs.get(pk=pk)
    except (visible_qs.model.DoesNotExist, ValueError, TypeError):
        raise Http404(f"No such {visible_qs.model._meta.verbose_name}") from None
