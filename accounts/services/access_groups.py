"""Access groups: who (users, cards) charges on which terms (free, reduced) at which stations."""

from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.audit import audit_record, diff
from accounts.models import AccessGroup, Membership

GROUP_FIELDS = [
    "account_id",
    "name",
    "terms",
    "is_shared",
    "price_per_kwh",
    "price_per_session",
    "price_per_hour",
    "currency",
]


def _members_snapshot(group: AccessGroup) -> dict:
    if group.pk is None:
        return {"users": "", "cards": "", "stations": ""}
    return {
        "users": ", ".join(sorted(group.users.values_list("username", flat=True))),
        "cards": ", ".join(sorted(group.cards.values_list("id_tag", flat=True))),
        "stations": ", ".join(sorted(group.stations.values_list("ocpp_id", flat=True))),
    }


@transaction.atomic
def access_group_save(
    *, group: AccessGroup, acting_user, users=None, cards=None, stations=None
) -> AccessGroup:
    """Create or update an access group and (when given) replace its users, cards and stations.

    Members and stations belong to the group's account: its cards, its members, its stations. "Shared"
    means other accounts may link the group to *their* stations from their station settings
    (see AccessGroup.objects.linkable_to); a private group is linked by its own account only."""
    created = group.pk is None
    before = {} if created else {f: getattr(AccessGroup.objects.get(pk=group.pk), f) for f in GROUP_FIELDS}
    before_members = _members_snapshot(group)
    if group.terms == AccessGroup.Terms.REDUCED and not any(
        v is not None for v in (group.price_per_kwh, group.price_per_session, group.price_per_hour)
    ):
        raise ValidationError("A reduced tariff needs at least one price (per kWh, per session or per hour).")
    if group.terms == AccessGroup.Terms.FREE:
        group.price_per_kwh = group.price_per_session = group.price_per_hour = None
    group.full_clean()
    group.save()
    if users is not None:
        bad = [u for u in users if not Membership.objects.filter(user=u, account=group.account_id).exists()]
        if bad:
            raise ValidationError(f"Not members of {group.account}: {', '.join(map(str, bad))}.")
        group.users.set(users)
    if cards is not None:
        bad = [c for c in cards if c.account_id != group.account_id]
        if bad:
            raise ValidationError(f"Cards of another account: {', '.join(c.id_tag for c in bad)}.")
        group.cards.set(cards)
    if stations is not None:
        bad = [s for s in stations if s.account_id != group.account_id]
        if bad:
            raise ValidationError(f"Stations of another account: {', '.join(s.ocpp_id for s in bad)}.")
        # Other accounts' stations that linked a shared group keep their link.
        foreign = list(group.stations.exclude(account_id=group.account_id))
        group.stations.set(list(stations) + foreign)
    changes = diff(group, before, GROUP_FIELDS)
    after_members = _members_snapshot(group)
    for key in after_members:
        if after_members[key] != before_members[key]:
            changes[key] = [before_members[key] or None, after_members[key] or None]
    if changes:
        audit_record(
            actor=acting_user,
            action="access_group.create" if created else "access_group.update",
            obj=group,
            account=group.account,
            changes=changes,
        )
    return group


@transaction.atomic
def access_group_delete(*, group: AccessGroup, acting_user) -> None:
    audit_record(
        actor=acting_user,
        action="access_group.delete",
        obj=group,
        account=group.account,
        changes={"name": [group.name, None]},
    )
    group.delete()
