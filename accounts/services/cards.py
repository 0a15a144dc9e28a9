"""Charge cards: register or edit one card, block or unblock it, import many from a CSV file. The idTag is
stored normalised (eflux.lib.id_tags), so the portal, the admin and the OCPP lookup meet in one index."""

import csv
import io
from dataclasses import dataclass, field
from datetime import datetime, time

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from accounts.audit import audit_record, diff
from accounts.models import AccessGroup, Account, ChargeCard, Membership, User
from eflux.lib.id_tags import normalize_id_tag


def _id_tag(raw: str) -> str:
    try:
        return normalize_id_tag(raw, strict=True)
    except ValueError as e:
        # At the field (portal form, admin), not as a banner above the form.
        raise ValidationError({"id_tag": str(e)}) from e


CARD_FIELDS = ["id_tag", "kind", "label", "account_id", "holder_id", "roaming_party", "status", "expires_at"]


@transaction.atomic
def card_save(*, card: ChargeCard, acting_user) -> ChargeCard:
    """Create or update a card (the form has filled the instance); the idTag is stored normalised."""
    created = card.pk is None
    before = {} if created else {f: getattr(ChargeCard.objects.get(pk=card.pk), f) for f in CARD_FIELDS}
    card.id_tag = _id_tag(card.id_tag)
    errors = {}
    if card.kind == ChargeCard.Kind.ROAMING and not card.roaming_party:
        errors["roaming_party"] = "A roaming card names its roaming partner."
    if card.kind == ChargeCard.Kind.OWN and card.account_id is None:
        errors["account"] = "A card of our own network belongs to an account."
    if (
        card.holder_id
        and card.account_id
        and not Membership.objects.filter(user_id=card.holder_id, account_id=card.account_id).exists()
    ):
        errors["holder"] = f"{card.holder} is not a member of {card.account}."
    if errors:
        raise ValidationError(errors)
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
        tag = _id_tag(row.get("id_tag", ""))
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
