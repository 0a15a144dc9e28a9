"""Charging sessions: the writes behind Authorize, StartTransaction and StopTransaction (OCPP 1.6 §4.2,
§4.8, §4.10), with the connector-reuse rule, orphan stops and the price snapshot."""

import functools
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from accounts.models import Account
from billing import metering, pricing
from billing.authorization import Decision, authorize, station_tariff
from billing.models import ChargingSession, MeterValue
from billing.services.meter_values import meter_rows, meter_rows_insert
from billing.services.review import INT32, INT64, Flag, check_time, fit_integer, flag
from eflux import bulk
from eflux.lib.id_tags import normalize_id_tag
from stations.models import Station

# OCPP 1.6 transactionId is an integer; stations commonly store it as a signed 32-bit value.
TRANSACTION_ID_MAX = 2**31 - 1


@dataclass
class StopResult:
    session: ChargingSession
    decision: Decision | None
    changed: bool


def _time_key(value, parsed: datetime, flags: list) -> str:
    # Dedupe by the instant, so "Z" and "+00:00" spellings match; an unreadable timestamp (stored as the
    # receive time, which differs per retry) by its text, so its retries still match.
    return f"raw:{value}" if Flag.BAD_TIMESTAMP in flags else parsed.isoformat()


def _digest(*parts) -> str:
    return hashlib.sha256("|".join("" if p is None else str(p) for p in parts).encode()).hexdigest()


def _vat_rate(station) -> Decimal:
    account = station.account
    return account.vat_rate if account is not None else Decimal("0")


def _snapshot_terms(session: ChargingSession, station, decision: Decision) -> None:
    """Copy the prices in force onto the session: later tariff changes never reprice it."""
    session.auth_status = decision.status
    session.auth_reason = decision.reason
    session.card = decision.card
    session.access_group = decision.access_group
    tariff = decision.tariff
    if not decision.accepted:
        flag(session, Flag.NOT_ACCEPTED)
        # The energy was delivered anyway (offline start, or before the station stopped it): keep the station
        # tariff as evidence for review; a disabled station bills nothing ("no charging, no billing").
        tariff = pricing.Tariff(currency=station.currency) if station.is_disabled else station_tariff(station)
    if decision.is_free:
        # The prices used are the prices snapshotted: a free session used none.
        tariff = pricing.Tariff(currency=tariff.currency)
    session.is_free = decision.is_free
    session.currency = tariff.currency
    session.price_per_kwh = tariff.price_per_kwh
    session.price_per_session = tariff.price_per_session
    session.price_per_hour = tariff.price_per_hour
    session.vat_rate = _vat_rate(station)


def session_price(session: ChargingSession) -> pricing.Price:
    return pricing.price_session(
        tariff=pricing.Tariff(
            price_per_kwh=session.price_per_kwh,
            price_per_session=session.price_per_session,
            price_per_hour=session.price_per_hour,
            currency=session.currency,
        ),
        energy_wh=session.energy_wh,
        duration_seconds=session.duration_seconds,
        vat_rate=session.vat_rate,
        free=session.is_free,
    )


def _apply_price(session: ChargingSession) -> None:
    """Energy and duration from the station's own readings and clock (offline sessions are priced by
    when they happened, not when we heard of them), then the price from the snapshot."""
    if session.meter_start is not None and session.meter_stop is not None:
        energy = session.meter_stop - session.meter_start
        if energy < 0:
            flag(session, Flag.METER_STOP_BELOW_START)
        session.energy_wh = max(0, energy)
    else:
        session.energy_wh = 0
        flag(session, Flag.NO_START_METER)
    if session.started_at and session.stopped_at:
        seconds = int((session.stopped_at - session.started_at).total_seconds())
        if seconds < 0:
            flag(session, Flag.STOP_BEFORE_START)
        session.duration_seconds = max(0, seconds)
    price = session_price(session)
    session.energy_amount = price.energy_amount
    session.session_amount = price.session_amount
    session.time_amount = price.time_amount
    session.subtotal = price.subtotal
    session.vat_amount = price.vat_amount
    session.total = price.total


def _new_transaction_id() -> int:
    # Not guessable (a sequence would let anyone who sees one id predict the next), positive (errata §3.54),
    # 31 bits so that stations storing it as int32 are fine. Uniqueness: the constraint, plus a retry.
    return secrets.randbelow(TRANSACTION_ID_MAX) + 1


# What authorizing, pricing and recording a session read of the station and its account, loaded by one plain
# statement (eflux/bulk.py): building the ORM query for it (select_related, only()) cost more CPU than
# PostgreSQL took to answer it, on every Authorize, StartTransaction and StopTransaction (docs/benchmarks.md).
# A field not listed is deferred and still loads when read (one more query): this list is about speed only,
# never correctness.
STATION_FIELDS = (
    "id",
    "account_id",
    "allow_roaming",
    "currency",
    "free_charging",
    "is_disabled",
    "price_per_kwh",
    "price_per_session",
    "price_per_hour",
)
ACCOUNT_FIELDS = ("id", "vat_rate")


@functools.cache
def _station_sql(vendor: str) -> str:
    qn = connection.ops.quote_name
    return (
        f"SELECT {bulk.select_columns(Station, STATION_FIELDS, 's')}, "
        f"{bulk.select_columns(Account, ACCOUNT_FIELDS, 'a')} "
        f"FROM {qn(Station._meta.db_table)} s LEFT OUTER JOIN {qn(Account._meta.db_table)} a "
        "ON a.id = s.account_id WHERE s.id = %s"
    )


def _get_station(station_id) -> Station:
    rows = bulk.fetch(_station_sql(connection.vendor), [station_id])
    if not rows:
        raise Station.DoesNotExist(f"station {station_id}")
    row = rows[0]
    station = bulk.instance_of(Station, row[: len(STATION_FIELDS)], STATION_FIELDS)
    account = row[len(STATION_FIELDS) :]
    # The account is set either way, so reading station.account never queries.
    station.account = bulk.instance_of(Account, account, ACCOUNT_FIELDS) if account[0] is not None else None
    return station


# --- Authorize --------------------------------------------------------------------------------------


def authorize_id_tag(*, station_id: int, id_tag: str) -> Decision:
    return authorize(station=_get_station(station_id), id_tag=id_tag)


# --- StartTransaction -----------------------------------------------------------------------------


# The lookups of every StartTransaction and StopTransaction are plain statements (eflux/bulk.py): building the
# ORM query for all 44 columns of a session cost more CPU than PostgreSQL took to answer it.
def _session_by_dedupe_key(station_id: int, key: str) -> ChargingSession | None:
    found = bulk.instances_select(ChargingSession, "station_id = %s AND dedupe_key = %s", [station_id, key])
    return found[0] if found else None


def _open_sessions_locked(station_id: int, connector_id: int) -> list[ChargingSession]:
    """The connector's open sessions, locked (FOR UPDATE) until the end of the transaction."""
    return bulk.instances_select(
        ChargingSession,
        "station_id = %s AND connector_id = %s AND status = %s",
        [station_id, connector_id, ChargingSession.Status.ACTIVE],
        lock=True,
    )


def _close_superseded(
    old: ChargingSession, *, new_start: datetime, new_meter_start: int, received_at
) -> None:
    """The documented rule for "a new StartTransaction on a connector whose session is still open": the
    station's StopTransaction was lost (§3.7: transaction messages arrive in order, so a start after an
    unstopped session means its stop never came). The old session ends where the new one starts: its meter
    stop is the new meter start when that register continues (errata §3.78: registers are monotonic and
    should not be rebased), else its own last energy reading; it is priced and flagged for review. If the
    station's real StopTransaction arrives after all, it replaces these inferred values."""
    last = (
        MeterValue.objects.filter(
            session=old, measurand=metering.ENERGY_IMPORT_REGISTER, phase="", value__isnull=False
        )
        .order_by("-timestamp", "-id")
        .values_list("value", flat=True)
        .first()
    )
    if old.meter_start is not None and new_meter_start is not None and new_meter_start >= old.meter_start:
        old.meter_stop = new_meter_start
    elif last is not None:
        old.meter_stop = int(last)
    else:
        old.meter_stop = old.meter_start
    old.stopped_at = max(new_start, old.started_at) if old.started_at else new_start
    old.stop_received_at = received_at
    old.stop_source = ChargingSession.StopSource.SUPERSEDED
    old.stop_reason = "Other"
    old.status = ChargingSession.Status.COMPLETED
    flag(old, Flag.CLOSED_BY_NEW_START)
    _apply_price(old)
    old.save()


@transaction.atomic
def transaction_start(**kwargs) -> tuple[ChargingSession, Decision]:
    """transaction_start_store in a transaction of its own."""
    return transaction_start_store(**kwargs)


def transaction_start_store(
    *,
    station_id: int,
    connector_id: int,
    id_tag: str,
    meter_start: int,
    timestamp,
    reservation_id: int | None = None,
    message_id: str = "",
    received_at: datetime | None = None,
) -> tuple[ChargingSession, Decision]:
    received_at = received_at or timezone.now()
    station = _get_station(station_id)
    tag = normalize_id_tag(id_tag, strict=False)
    started_at, time_flags = check_time(timestamp, received_at)
    connector_id = fit_integer(connector_id, INT32, time_flags)
    meter_start = fit_integer(meter_start, INT64, time_flags)
    reservation_id = fit_integer(reservation_id, INT64, time_flags)
    key = _digest(
        "start", connector_id, tag, meter_start, _time_key(timestamp, started_at, time_flags), reservation_id
    )

    existing = _session_by_dedupe_key(station.pk, key)
    if existing is not None:
        # The same StartTransaction again (our answer was lost): same transactionId, nothing new stored.
        # The idTagInfo is decided again: the card may have been blocked meanwhile (§4.8).
        return existing, authorize(station=station, id_tag=id_tag, now=received_at)

    decision = authorize(station=station, id_tag=id_tag, now=received_at)
    for _attempt in range(8):
        # Lock the connector's open session (if any) so two different starts cannot both close it.
        for old in _open_sessions_locked(station.pk, connector_id) if connector_id is not None else []:
            _close_superseded(old, new_start=started_at, new_meter_start=meter_start, received_at=received_at)
        session = ChargingSession(
            station=station,
            account=station.account,
            connector_id=connector_id,
            transaction_id=_new_transaction_id(),
            dedupe_key=key,
            id_tag=tag,
            reservation_id=reservation_id,
            meter_start=meter_start,
            started_at=started_at,
            start_received_at=received_at,
            start_message_id=message_id or "",
        )
        _snapshot_terms(session, station, decision)
        flag(session, *time_flags)
        # One INSERT that does nothing on a unique conflict (no savepoint needed to survive it).
        if bulk.instance_insert(session, ignore_conflicts=True):
            return session, decision
        # A concurrent copy of this very message won the race: answer with its transactionId.
        twin = _session_by_dedupe_key(station.pk, key)
        if twin is not None:
            return twin, decision
        # Otherwise a transactionId collision or a concurrent different start on the connector: try again.
    raise RuntimeError("could not allocate a transaction id")


# --- StopTransaction ------------------------------------------------------------------------------


@transaction.atomic
def transaction_stop(**kwargs) -> StopResult:
    """transaction_stop_store in a transaction of its own."""
    return transaction_stop_store(**kwargs)


def transaction_stop_store(
    *,
    station_id: int,
    transaction_id: int,
    meter_stop: int,
    timestamp,
    id_tag: str | None = None,
    reason: str | None = None,
    transaction_data: list | None = None,
    message_id: str = "",
    received_at: datetime | None = None,
) -> StopResult:
    received_at = received_at or timezone.now()
    station = _get_station(station_id)
    stopped_at, time_flags = check_time(timestamp, received_at)
    meter_stop = fit_integer(meter_stop, INT64, time_flags)
    transaction_id = fit_integer(transaction_id, INT64, time_flags)
    decision = authorize(station=station, id_tag=id_tag, now=received_at) if id_tag else None
    samples, problems = metering.parse_meter_values(transaction_data or [], fallback_timestamp=received_at)

    found = (
        bulk.instances_select(
            ChargingSession,
            "station_id = %s AND transaction_id = %s",
            [station.pk, transaction_id],
            lock=True,
        )
        if transaction_id is not None  # (None would match the orphan records, whose own id is NULL)
        else []
    )
    session = found[0] if found else None
    if session is not None:
        session.station = station  # loaded above: not joined in again
    if session is None:
        return _orphan_stop(
            station=station,
            raw_timestamp=timestamp,
            transaction_id=transaction_id,
            meter_stop=meter_stop,
            stopped_at=stopped_at,
            time_flags=time_flags,
            id_tag=id_tag,
            reason=reason,
            samples=samples,
            problems=problems,
            message_id=message_id,
            received_at=received_at,
            decision=decision,
        )
    if session.stop_source == ChargingSession.StopSource.STATION:
        # Repeated StopTransaction (our confirmation was lost): confirm again, change nothing.
        return StopResult(session, decision, changed=False)

    if session.stop_source == ChargingSession.StopSource.SUPERSEDED:
        # The real stop arrived after the connector-reuse rule closed the session: the station's data wins.
        flag(session, Flag.STOPPED_AFTER_SUPERSEDED)
    session.status = ChargingSession.Status.COMPLETED
    session.stop_source = ChargingSession.StopSource.STATION
    session.meter_stop = meter_stop
    session.stopped_at = stopped_at
    session.stop_received_at = received_at
    session.stop_reason = (reason or "Local")[:32]  # §4.10: omitted reason means Local
    session.stop_id_tag = normalize_id_tag(id_tag, strict=False) if id_tag else ""
    session.stop_message_id = message_id or ""
    flag(session, *time_flags, *([Flag.BAD_METER_VALUE] if problems else []))
    _apply_price(session)
    bulk.instance_update(session)
    meter_rows_insert(
        meter_rows(
            station.pk,
            session.pk,
            session.connector_id or 0,
            transaction_id,
            samples,
            received_at,
            from_stop=True,
        )
    )
    return StopResult(session, decision, changed=True)


def _orphan_stop(
    *,
    station,
    raw_timestamp,
    transaction_id,
    meter_stop,
    stopped_at,
    time_flags,
    id_tag,
    reason,
    samples,
    problems,
    message_id,
    received_at,
    decision,
) -> StopResult:
    """A stop for a transaction this station never started here (unknown id, 0, -1, or another station's
    id). Errata §3.18: answer as if it were valid. It becomes a completed session of its own, flagged,
    priced on the terms its idTag gets now; a repeat of the same message finds it by content."""
    key = _digest(
        "stop",
        transaction_id,
        meter_stop,
        _time_key(raw_timestamp, stopped_at, time_flags),
        normalize_id_tag(id_tag, strict=False),
    )
    existing = _session_by_dedupe_key(station.pk, key)
    if existing is not None:
        return StopResult(existing, decision, changed=False)

    flags = [*time_flags]
    if transaction_id == -1:
        flags.append(Flag.TRANSACTION_MINUS_ONE)
    elif transaction_id == 0:
        flags.append(Flag.TRANSACTION_ZERO)
    else:
        flags.append(Flag.UNKNOWN_TRANSACTION)
        if ChargingSession.objects.filter(transaction_id=transaction_id).exclude(station=station).exists():
            flags.append(Flag.FOREIGN_TRANSACTION)
    if problems:
        flags.append(Flag.BAD_METER_VALUE)

    # The transactionData usually carries the Transaction.Begin reading (errata §3.16.6): use the earliest
    # energy register as the start.
    registers = sorted((s for s in samples if s.is_energy_register), key=lambda s: s.timestamp)
    first = registers[0] if registers else None
    stop_tag = normalize_id_tag(id_tag, strict=False) if id_tag else ""
    session = ChargingSession(
        station=station,
        account=station.account,
        origin=ChargingSession.Origin.ORPHAN_STOP,
        status=ChargingSession.Status.COMPLETED,
        stop_source=ChargingSession.StopSource.STATION,
        reported_transaction_id=transaction_id,
        dedupe_key=key,
        id_tag=stop_tag,
        stop_id_tag=stop_tag,
        meter_start=first.energy_wh if first else None,
        started_at=first.timestamp if first else None,
        meter_stop=meter_stop,
        stopped_at=stopped_at,
        start_received_at=None,
        stop_received_at=received_at,
        stop_reason=(reason or "Local")[:32],
        stop_message_id=message_id or "",
    )
    terms = decision or authorize(station=station, id_tag="", now=received_at)
    _snapshot_terms(session, station, terms)
    flag(session, *flags)
    _apply_price(session)
    try:
        with transaction.atomic():
            session.save()
    except IntegrityError:
        twin = ChargingSession.objects.get(station=station, dedupe_key=key)
        return StopResult(twin, decision, changed=False)
    meter_rows_insert(
        meter_rows(station.pk, session.pk, 0, transaction_id, samples, received_at, from_stop=True)
    )
    return StopResult(session, decision, changed=True)
