"""Who sees what. Every view, partial, export and admin page asks here; nowhere else decides.

Roles (issue #4 §1, §3):
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

from django.db.models import Q, QuerySet
from django.http import Http404

from .models import Membership

Role = Membership.Role

# Roles that see an account's commercial side (stations with prices, sessions, invoices, cards).
FULL_ROLES = (Role.ACCOUNT_ADMIN, Role.BILLING_ADMIN)
MANAGE_ROLES = (Role.ACCOUNT_ADMIN,)
TECH_ROLES = (Role.FIELD_SERVICE,)


def is_platform_operator(user) -> bool:
    return bool(
        user is not None
        and user.is_authenticated
        and user.is_active
        and (user.is_superuser or getattr(user, "is_platform_operator", False))
    )


def account_ids(user, roles=None) -> list[int]:
    """Ids of the accounts where the user holds one of `roles` (any role when None)."""
    if user is None or not user.is_authenticated or not user.is_active:
        return []
    # Not cached on the user: memberships change (role edits) and a stale cache would widen access.
    qs = Membership.objects.filter(user=user)
    if roles:
        qs = qs.filter(role__in=roles)
    return list(qs.values_list("account_id", flat=True))


def role_in(user, account) -> str | None:
    """The user's role in one account, or None."""
    if account is None or not user.is_authenticated:
        return None
    account_id = getattr(account, "pk", account)
    return Membership.objects.filter(user=user, account_id=account_id).values_list("role", flat=True).first()


# --- stations -------------------------------------------------------------------------------------


def stations_visible_to(user, queryset: QuerySet) -> QuerySet:
    """Stations a user may open at all (technicians included: technical parts only, see can_see_prices)."""
    if is_platform_operator(user):
        return queryset
    full = account_ids(user, FULL_ROLES)
    tech = account_ids(user, TECH_ROLES)
    if not full and not tech:
        return queryset.none()
    return queryset.filter(Q(account_id__in=full) | Q(field_service_account_id__in=tech))


def stations_commercial_to(user, queryset: QuerySet) -> QuerySet:
    """Stations whose commercial side (settings with prices, sessions, revenue) the user may see."""
    if is_platform_operator(user):
        return queryset
    return queryset.filter(account_id__in=account_ids(user, FULL_ROLES))


def get_station_for_user(user, pk, *, technical: bool = False):
    """The station, or 404 when it is foreign or hidden from this user.

    technical=True: a technical page (configuration, reset, connectors, commands log); technicians may open it.
    technical=False: a page that shows prices, cards, sessions or settings; technicians get 404.
    """
    from stations.models import Station

    qs = Station.objects.all()
    qs = stations_visible_to(user, qs) if technical else stations_commercial_to(user, qs)
    try:
        return qs.get(pk=pk)
    except (Station.DoesNotExist, ValueError, TypeError):
        raise Http404("No such charging station") from None


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
    """False for Field Service Technicians (issue #4 §3): they see the technical parts only."""
    if is_platform_operator(user):
        return True
    return bool(station.account_id and station.account_id in account_ids(user, FULL_ROLES))


# --- sessions and invoices (billing app models; field names looked up defensively) ----------------


def _has_field(qs: QuerySet, name: str) -> bool:
    try:
        qs.model._meta.get_field(name)
        return True
    except Exception:
        return False


def sessions_visible_to(user, queryset: QuerySet) -> QuerySet:
    """Charging sessions: account members with a full role see the sessions at their stations and the
    sessions charged with their account's cards elsewhere; drivers see the sessions of their own cards.
    Technicians see none (sessions carry prices)."""
    if is_platform_operator(user):
        return queryset
    if not user.is_authenticated:
        return queryset.none()
    full = account_ids(user, FULL_ROLES)
    q = Q(pk__in=[])
    if full:
        # The session's own account (the station's account when it started) when the model keeps one, so
        # history stays with the account even if the station later moves to another.
        q |= Q(account_id__in=full) if _has_field(queryset, "account") else Q(station__account_id__in=full)
        if _has_field(queryset, "card"):
            q |= Q(card__account_id__in=full)
    if _has_field(queryset, "card"):
        q |= Q(card__holder=user)
    if _has_field(queryset, "user"):
        q |= Q(user=user)
    return queryset.filter(q).distinct()


def invoices_visible_to(user, queryset: QuerySet) -> QuerySet:
    """Invoices of the accounts where the user is Account admin or Billing admin."""
    if is_platform_operator(user):
        return queryset
    return queryset.filter(account_id__in=account_ids(user, FULL_ROLES))


# --- accounts and what hangs off them -------------------------------------------------------------


def accounts_visible_to(user, queryset: QuerySet) -> QuerySet:
    if is_platform_operator(user):
        return queryset
    return queryset.filter(pk__in=account_ids(user))


def accounts_managed_by(user, queryset: QuerySet) -> QuerySet:
    """Accounts whose members, cards, groups and locations the user may change."""
    if is_platform_operator(user):
        return queryset
    return queryset.filter(pk__in=account_ids(user, MANAGE_ROLES))


def can_manage_account(user, account) -> bool:
    return is_platform_operator(user) or account.pk in account_ids(user, MANAGE_ROLES)


def can_edit_account_billing(user, account) -> bool:
    """Name, address, VAT and billing e-mail: Account admins and Billing admins."""
    return is_platform_operator(user) or account.pk in account_ids(user, FULL_ROLES)


def cards_visible_to(user, queryset: QuerySet) -> QuerySet:
    if is_platform_operator(user):
        return queryset
    if not user.is_authenticated:
        return queryset.none()
    return queryset.filter(Q(account_id__in=account_ids(user, FULL_ROLES)) | Q(holder=user))


def can_manage_card(user, card) -> bool:
    return is_platform_operator(user) or bool(
        card.account_id and card.account_id in account_ids(user, MANAGE_ROLES)
    )


def locations_visible_to(user, queryset: QuerySet) -> QuerySet:
    if is_platform_operator(user):
        return queryset
    return queryset.filter(account_id__in=account_ids(user, FULL_ROLES))


def access_groups_visible_to(user, queryset: QuerySet) -> QuerySet:
    if is_platform_operator(user):
        return queryset
    return queryset.filter(account_id__in=account_ids(user, FULL_ROLES))


def access_groups_linkable_to(station, queryset: QuerySet) -> QuerySet:
    """Groups a station's settings may link: its own account's groups and other accounts' shared groups."""
    return queryset.filter(Q(account_id=station.account_id) | Q(is_shared=True))


def audit_events_visible_to(user, queryset: QuerySet) -> QuerySet:
    if is_platform_operator(user):
        return queryset
    full = account_ids(user, MANAGE_ROLES)
    return queryset.filter(Q(account_id__in=full) | Q(station__account_id__in=full))


def get_for_user_or_404(visible_qs: QuerySet, pk):
    try:
        return visible_qs.get(pk=pk)
    except (visible_qs.model.DoesNotExist, ValueError, TypeError):
        raise Http404(f"No such {visible_qs.model._meta.verbose_name}") from None
