"""Writes on accounts, memberships, locations, cards and access groups, and customer activation.

Every function here is the one code path for its workflow: the portal views, the Django admin and the
management commands call it. Each runs in one transaction and writes its audit event inside it.
"""

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import datetime, time

from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, Value
from django.db.models.functions import Replace, Upper
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from . import access
from .audit import audit_record, diff
from .models import AccessGroup, Account, ChargeCard, Location, Membership, User

# --- charge card idTags ---------------------------------------------------------------------------

# OCPP 1.6 §7.28/§7.13: IdToken is a CiString20Type — case-insensitive, at most 20 printable ASCII characters.
# Cards are printed and typed with separators ("04:A2:5B:..", "04-a2-5b"); we store them without, upper case,
# so that the idTag a station sends and the one an operator typed meet in one unique index.
_SEPARATORS = re.compile(r"[\s:\-.]")
_PRINTABLE = re.compile(r"^[\x21-\x7e]+$")
ID_TAG_MAX = 20


def normalize_id_tag(raw: str) -> str:
    """Normalised idTag, or ValidationError. Use it for every lookup by idTag (Authorize, StartTransaction)."""
    tag = _SEPARATORS.sub("", (raw or "").strip()).upper()
    if not tag:
        raise ValidationError("The idTag is empty.")
    if len(tag) > ID_TAG_MAX:
        raise ValidationError(f"The idTag {tag!r} is longer than {ID_TAG_MAX} characters (OCPP CiString20).")
    if not _PRINTABLE.match(tag):
        raise ValidationError(f"The idTag {tag!r} contains characters outside printable ASCII.")
    return tag


def card_for_id_tag(raw: str) -> ChargeCard | None:
    """The card an idTag from a station names, or None (unknown or malformed)."""
    try:
        tag = normalize_id_tag(raw)
    except ValidationError:
        return None
    return ChargeCard.objects.select_related("account", "holder").filter(id_tag=tag).first()


# --- customer activation --------------------------------------------------------------------------


def find_station_for_activation(query: str, *, pending_only: bool = True):
    """The station whose OCPP ID, serial number or sticker EVSE ID is `query`, or None.

    With pending_only (the customer's activation form) only stations in Activation pending are found, so a
    customer cannot probe which other stations exist on the platform."""
    from stations.models import Station

    q = (query or "").strip()
    if not q:
        return None
    qs = Station.objects.all()
    if pending_only:
        qs = qs.filter(setup_state=Station.SetupState.ACTIVATION_PENDING)
    station = (
        qs.filter(Q(ocpp_id__iexact=q) | Q(serial_number__iexact=q) | Q(charge_box_serial_number__iexact=q))
        .order_by("pk")
        .first()
    )
    if station is not None:
        return station
    try:
        EvseId = apps.get_model("stations", "EvseId")
    except LookupError:
        return None
    # Stickers print "NL*EFL*E000123"; people type it with or without the asterisks, in any case.
    compact = re.sub(r"[\s*]", "", q).upper()
    evse = (
        EvseId.objects.annotate(compact=Replace(Upper("evse_id"), Value("*"), Value("")))
        .filter(Q(evse_id__iexact=q) | Q(compact=compact), connector__isnull=False)
        .select_related("connector")
        .first()
    )
    if evse is None:
        return None
    return qs.filter(pk=evse.connector.station_id).first()


@transaction.atomic
def station_activate(*, station, account: Account, billing_plan, location: Location | None, acting_user):
    """Activation pending → Active in the customer's account (operator manual steps 7-10)."""
    from stations.models import Station

    station = Station.objects.select_for_update().get(pk=station.pk)
    if station.setup_state != Station.SetupState.ACTIVATION_PENDING:
        raise ValidationError(
            f"Station {station.ocpp_id} is not waiting for activation (it is {station.get_setup_state_display()})."
        )
    if account is None:
        raise ValidationError("Pick the account the station belongs to.")
    if not access.can_manage_account(acting_user, account):
        raise ValidationError(f"You are not an Account admin of {account}.")
    if billing_plan is None or not billing_plan.is_active:
        raise ValidationError("Pick an active billing plan.")
    if location is not None and location.account_id != account.pk:
        raise ValidationError(f"Location {location} belongs to another account.")
    fields = ["account_id", "billing_plan_id", "location_id", "setup_state"]
    before = {f: getattr(station, f) for f in fields}
    station.account = account
    station.billing_plan = billing_plan
    station.location = location
    station.setup_state = Station.SetupState.ACTIVE
    station.save(update_fields=["account", "billing_plan", "location", "setup_state", "updated_at"])
    audit_record(
        actor=acting_user,
        action="station.activate",
        obj=station,
        station=station,
        account=account,
        changes=diff(station, before, fields),
    )
    return station


# --- accounts and memberships ---------------------------------------------------------------------

ACCOUNT_FIELDS = ["name", "kind", "address", "country", "vat_number", "vat_rate", "billing_email"]


@transaction.atomic
def account_create(*, acting_user, **values) -> Account:
    account = Account(**values)
    account.full_clean()
    account.save()
    audit_record(
        actor=acting_user,
        action="account.create",
        obj=account,
        account=account,
        changes=diff(account, {}, ACCOUNT_FIELDS),
    )
    return account


@transaction.atomic
def account_update(*, account: Account, acting_user, **values) -> Account:
    before = {f: getattr(Account.objects.get(pk=account.pk), f) for f in ACCOUNT_FIELDS}
    for name, value in values.items():
        setattr(account, name, value)
    account.full_clean()
    account.save()
    changes = diff(account, before, ACCOUNT_FIELDS)
    if changes:
        audit_record(
            actor=acting_user, action="account.update", obj=account, account=account, changes=changes
        )
    return account


def _find_user(identifier: str) -> User:
    ident = (identifier or "").strip()
    user = User.objects.filter(Q(username__iexact=ident) | Q(email__iexact=ident)).order_by("pk").first()
    if user is None or not ident:
        raise ValidationError(f"No user with username or e-mail {ident!r}.")
    return user


@transaction.atomic
def membership_add(*, account: Account, user: User, role: str, acting_user) -> Membership:
    if role not in Membership.Role.values:
        raise ValidationError(f"Unknown role {role!r}.")
    if Membership.objects.filter(account=account, user=user).exists():
        raise ValidationError(f"{user} is already a member of {account}; change their role instead.")
    membership = Membership.objects.create(account=account, user=user, role=role)
    audit_record(
        actor=acting_user,
        action="membership.create",
        obj=membership,
        account=account,
        changes={"user": [None, user.get_username()], "role": [None, role]},
    )
    return membership


@transaction.atomic
def membership_set_role(*, membership: Membership, role: str, acting_user) -> Membership:
    if role not in Membership.Role.values:
        raise ValidationError(f"Unknown role {role!r}.")
    membership = Membership.objects.select_for_update().get(pk=membership.pk)
    _keep_one_admin(membership, new_role=role)
    before = {"role": membership.role}
    membership.role = role
    membership.save(update_fields=["role"])
    changes = diff(membership, before, ["role"])
    if changes:
        audit_record(
            actor=acting_user,
            action="membership.update",
            obj=membership,
            account=membership.account,
            changes=changes,
        )
    return membership


@transaction.atomic
def membership_remove(*, membership: Membership, acting_user) -> None:
    membership = Membership.objects.select_for_update().get(pk=membership.pk)
    _keep_one_admin(membership, new_role=None)
    audit_record(
        actor=acting_user,
        action="membership.delete",
        obj=membership,
        account=membership.account,
        changes={"user": [membership.user.get_username(), None], "role": [membership.role, None]},
    )
    membership.delete()


@transaction.atomic
def member_invite(*, account: Account, email: str, role: str, acting_user, site_url: str) -> Membership:
    """Add someone by e-mail address. Without a login yet, one is made with no usable password and an
    invitation to choose one is e-mailed (the password reset link), after the transaction commits."""
    from django.core.validators import validate_email

    email = (email or "").strip()
    validate_email(email)
    user = User.objects.filter(email__iexact=email).order_by("pk").first()
    invited = user is None
    if invited:
        if User.objects.filter(username__iexact=email).exists():
            raise ValidationError(f"A login named {email!r} exists with another e-mail address.")
        user = User(username=email.lower()[:150], email=email)
        user.set_unusable_password()
        user.save()
        audit_record(
            actor=acting_user,
            action="user.invite",
            obj=user,
            account=account,
            changes={"email": [None, email]},
        )
    membership = membership_add(account=account, user=user, role=role, acting_user=acting_user)
    if invited:
        transaction.on_commit(lambda: _send_invitation(user=user, account=account, site_url=site_url))
    return membership


def _send_invitation(*, user: User, account: Account, site_url: str) -> None:
    from django.contrib.auth.tokens import default_token_generator
    from django.core.mail import send_mail
    from django.urls import reverse
    from django.utils.encoding import force_bytes
    from django.utils.http import urlsafe_base64_encode

    uid = urlsafe_base64_encode(force_bytes(user.pk))
    link = site_url.rstrip("/") + reverse(
        "password_reset_confirm", kwargs={"uidb64": uid, "token": default_token_generator.make_token(user)}
    )
    send_mail(
        subject=f"You have been added to {account} on eflux",
        message=(
            f"You have been added to the account {account} on the eflux charging platform.\n\n"
            f"Choose your password here (your login name is {user.get_username()}):\n{link}\n"
        ),
        from_email=None,
        recipient_list=[user.email],
    )


def _keep_one_admin(membership: Membership, *, new_role: str | None) -> None:
    # An account without an Account admin can only be repaired by an operator; refuse to orphan it.
    admin = Membership.Role.ACCOUNT_ADMIN
    if membership.role == admin and new_role != admin:
        others = Membership.objects.filter(account=membership.account_id, role=admin).exclude(
            pk=membership.pk
        )
        if not others.exists():
            raise ValidationError(f"{membership.account} needs at least one Account admin.")


# --- locations ------------------------------------------------------------------------------------

LOCATION_FIELDS = ["account_id", "name", "address", "country", "latitude", "longitude", "timezone"]


@transaction.atomic
def location_save(*, location: Location, acting_user) -> Location:
    """Create or update a location (the form has filled the instance)."""
    created = location.pk is None
    before = {} if created else {f: getattr(Location.objects.get(pk=location.pk), f) for f in LOCATION_FIELDS}
    location.full_clean()
    location.save()
    changes = diff(location, before, LOCATION_FIELDS)
    if changes:
        audit_record(
            actor=acting_user,
            action="location.create" if created else "location.update",
            obj=location,
            account=location.account,
            changes=changes,
        )
    return location


# --- charge cards ---------------------------------------------------------------------------------

CARD_FIELDS = ["id_tag", "kind", "label", "account_id", "holder_id", "roaming_party", "status", "expires_at"]


@transaction.atomic
def card_save(*, card: ChargeCard, acting_user) -> ChargeCard:
    """Create or update a card (the form has filled the instance); the idTag is stored normalised."""
    created = card.pk is None
    before = {} if created else {f: getattr(ChargeCard.objects.get(pk=card.pk), f) for f in CARD_FIELDS}
    card.id_tag = normalize_id_tag(card.id_tag)
    if card.kind == ChargeCard.Kind.ROAMING and not card.roaming_party:
        raise ValidationError({"roaming_party": "A roaming card names its roaming partner."})
    card.full_clean()
    card.save()
    changes = diff(card, before, CARD_FIELDS)
    if changes:
        audit_record(
            actor=acting_user,
            action="card.create" if created else "card.update",
            obj=card,
            account=card.account,
            changes=changes,
        )
    return card


@dataclass
class ImportResult:
    created: list = field(default_factory=list)
    updated: list = field(default_factory=list)
    # [(line number in the file, message)]; when not empty nothing was written.
    errors: list[tuple[int, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


CARD_CSV_COLUMNS = ["id_tag", "label", "holder", "status", "expires_at", "kind", "roaming_party"]
MAX_IMPORT_ROWS = 10_000


def _read_csv(data: bytes | str) -> tuple[list[tuple[int, dict]], list[tuple[int, str]]]:
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            return [], [(0, "The file is not UTF-8 text.")]
    sample = data[:4096]
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.DictReader(io.StringIO(data), dialect=dialect)
    if not reader.fieldnames:
        return [], [(0, "The file is empty.")]
    headers = [(h or "").strip().lower() for h in reader.fieldnames]
    reader.fieldnames = headers
    if "id_tag" not in headers:
        return [], [(1, f"The header row has no id_tag column (columns: {', '.join(CARD_CSV_COLUMNS)}).")]
    rows = []
    for row in reader:
        line = reader.line_num
        if len(rows) >= MAX_IMPORT_ROWS:
            return [], [(line, f"More than {MAX_IMPORT_ROWS} rows; split the file.")]
        clean = {k: (v or "").strip() for k, v in row.items() if k}
        if not any(clean.values()):
            continue  # blank line
        rows.append((line, clean))
    if not rows:
        return [], [(0, "The file has a header but no cards.")]
    return rows, []


def _parse_expiry(value: str):
    if not value:
        return None
    dt = parse_datetime(value)
    if dt is None:
        d = parse_date(value)
        if d is None:
            raise ValidationError(f"expires_at {value!r} is not a date (YYYY-MM-DD).")
        dt = datetime.combine(d, time(23, 59, 59))
    if timezone.is_naive(dt):
        dt = timezone.make_aware(dt, timezone.get_current_timezone())
    return dt


def _card_from_row(row: dict, *, account: Account, seen: set, allowed_holders: dict) -> dict:
    """Validated values for one row, or ValidationError with the row's problems."""
    problems = []
    values = {}
    try:
        tag = normalize_id_tag(row.get("id_tag", ""))
        if tag in seen:
            problems.append(f"idTag {tag} appears twice in the file")
        seen.add(tag)
        values["id_tag"] = tag
    except ValidationError as e:
        problems.extend(e.messages)
    values["label"] = row.get("label", "")[:100]
    kind = (row.get("kind") or ChargeCard.Kind.OWN).lower()
    if kind not in ChargeCard.Kind.values:
        problems.append(f"kind {kind!r} is not one of {', '.join(ChargeCard.Kind.values)}")
    values["kind"] = kind
    values["roaming_party"] = row.get("roaming_party", "")[:64]
    if kind == ChargeCard.Kind.ROAMING and not values["roaming_party"]:
        problems.append("a roaming card needs roaming_party")
    status = (row.get("status") or ChargeCard.Status.ACTIVE).lower()
    if status not in ChargeCard.Status.values:
        problems.append(f"status {status!r} is not one of {', '.join(ChargeCard.Status.values)}")
    values["status"] = status
    try:
        values["expires_at"] = _parse_expiry(row.get("expires_at", ""))
    except ValidationError as e:
        problems.extend(e.messages)
    holder = row.get("holder", "")
    values["holder"] = None
    if holder:
        user = allowed_holders.get(holder.lower())
        if user is None:
            # Only members of the account can hold its cards; anyone else would leak their sessions.
            problems.append(f"holder {holder!r} is not a member of {account}")
        values["holder"] = user
    if problems:
        raise ValidationError(problems)
    return values


def _holders_of(account: Account) -> dict:
    holders = {}
    for user in User.objects.filter(memberships__account=account):
        holders[user.username.lower()] = user
        if user.email:
            holders[user.email.lower()] = user
    return holders


@transaction.atomic
def cards_import_csv(*, account: Account, data: bytes | str, acting_user, group: AccessGroup | None = None):
    """Import cards into `account` (and add them to `group` when given). All rows or none: any bad row
    rolls the whole file back and the result lists every bad row with its line number.

    A card already registered in the same account is updated; one registered elsewhere on the platform is
    a bad row (idTags are unique platform-wide)."""
    result = ImportResult()
    rows, errors = _read_csv(data)
    if errors:
        result.errors = errors
        return result
    seen: set[str] = set()
    holders = _holders_of(account)
    parsed = []
    for line, row in rows:
        try:
            parsed.append((line, _card_from_row(row, account=account, seen=seen, allowed_holders=holders)))
        except ValidationError as e:
            result.errors.append((line, "; ".join(e.messages)))
    existing = {
        c.id_tag: c
        for c in ChargeCard.objects.select_for_update().filter(id_tag__in=[v["id_tag"] for _, v in parsed])
    }
    for line, values in parsed:
        card = existing.get(values["id_tag"])
        if card is not None and card.account_id != account.pk:
            result.errors.append((line, f"idTag {values['id_tag']} is already registered to another account"))
    if result.errors:
        result.errors.sort()
        return result

    for _line, values in parsed:
        card = existing.get(values["id_tag"])
        created = card is None
        before = {} if created else {f: getattr(card, f) for f in CARD_FIELDS}
        if created:
            card = ChargeCard(account=account)
        for name, value in values.items():
            setattr(card, name, value)
        card.save()
        changes = diff(card, before, CARD_FIELDS)
        (result.created if created else result.updated).append(card)
        if changes:
            audit_record(
                actor=acting_user,
                action="card.import",
                obj=card,
                account=account,
                changes=changes,
            )
    if group is not None:
        cards = result.created + result.updated
        group.cards.add(*cards)
        audit_record(
            actor=acting_user,
            action="access_group.import_cards",
            obj=group,
            account=group.account,
            changes={"cards": [None, ", ".join(c.id_tag for c in cards)]},
        )
    return result


@transaction.atomic
def card_set_status(*, card: ChargeCard, status: str, acting_user) -> ChargeCard:
    before = {"status": card.status}
    card.status = status
    card.full_clean()
    card.save(update_fields=["status"])
    audit_record(
        actor=acting_user,
        action="card.update",
        obj=card,
        account=card.account,
        changes=diff(card, before, ["status"]),
    )
    return card


# --- access groups --------------------------------------------------------------------------------

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
    (issue #4 §6) means other accounts may link the group to *their* stations from their station settings
    (see access.access_groups_linkable_to); a private group is linked by its own account only."""
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
