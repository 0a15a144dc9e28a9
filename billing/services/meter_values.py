"""MeterValues.req (OCPP 1.6 §4.7): the sampled values of every station, stored as reported."""

import functools
from datetime import datetime
from decimal import Decimal
from typing import NamedTuple

from django.db import connection, transaction
from django.utils import timezone

from billing import metering
from billing.models import ChargingSession, MeterValue
from billing.services.review import INT32, INT64, fit_integer
from eflux import bulk


class StoredValue(NamedTuple):
    """One MeterValue row as stored: the columns in COLUMNS order (no model instance per sampled value; a
    3-phase sample is 11 of them)."""

    station_id: int
    session_id: int | None
    connector_id: int
    reported_transaction_id: int | None
    timestamp: datetime
    received_at: datetime
    measurand: str
    phase: str
    location: str
    context: str
    unit: str
    format: str
    raw_value: str
    value: Decimal | None
    from_stop: bool
    needs_review: bool


COLUMNS = StoredValue._fields


def meter_rows(
    station_id, session_id, connector_id, reported_tx, samples, received_at, *, from_stop=False, review=False
) -> list[StoredValue]:
    return [
        StoredValue(
            station_id,
            session_id,
            connector_id,
            reported_tx,
            s.timestamp,
            received_at,
            s.measurand,
            s.phase,
            s.location,
            s.context,
            s.unit,
            s.format,
            s.raw_value,
            s.value,
            from_stop,
            review,
        )
        for s in samples
    ]


def meter_rows_insert(rows: list[StoredValue]) -> list[StoredValue]:
    """Store the rows (COPY on PostgreSQL, eflux/bulk.py) in the caller's transaction."""
    bulk.rows_insert(MeterValue, COLUMNS, rows)
    return rows


def meter_values_record(
    *,
    station_id: int,
    connector_id: int,
    meter_value: list,
    transaction_id: int | None = None,
    received_at: datetime | None = None,
) -> list[StoredValue]:
    """One MeterValues.req (see meter_values_record_many)."""
    return meter_values_record_many(
        [
            dict(
                station_id=station_id,
                connector_id=connector_id,
                meter_value=meter_value,
                transaction_id=transaction_id,
                received_at=received_at,
            )
        ]
    )


# What makes a sampled value the same value again (the duplicate check), in MeterValue's column names.
KEY_COLUMNS = (
    "station_id",
    "connector_id",
    "timestamp",
    "measurand",
    "phase",
    "location",
    "context",
    "unit",
    "raw_value",
)


def _stored_keys(station_ids: set[int], times: set[datetime]) -> set[tuple]:
    """The KEY_COLUMNS of the values already stored (not from a stop) for these stations at these times
    (not PostgreSQL: there _rows_insert_new checks while inserting). SQLite stores datetimes as text: the
    ORM converts them back."""
    if not times:
        return set()
    return set(
        MeterValue.objects.filter(station_id__in=station_ids, timestamp__in=times, from_stop=False)
        .order_by()  # a set: no sort by the model's default ordering
        .values_list(*KEY_COLUMNS)
    )


@functools.cache
def _insert_new_sql() -> str:
    """PostgreSQL: insert the rows (one JSON parameter, eflux/bulk.py) that are not stored yet, by the same
    key as _stored_keys, and return the 1-based positions of those inserted: the duplicate check and the
    INSERT in one round trip instead of a SELECT and an INSERT."""
    table = connection.ops.quote_name(MeterValue._meta.db_table)
    names = ", ".join(connection.ops.quote_name(MeterValue._meta.get_field(c).column) for c in COLUMNS)
    same = " AND ".join(
        f"m.{connection.ops.quote_name(c)} = {bulk.json_columns(MeterValue, (c,), 'r.e', COLUMNS.index(c))}"
        for c in KEY_COLUMNS
    )
    return (
        "WITH r AS MATERIALIZED (SELECT x.e, x.n FROM jsonb_array_elements(%s::jsonb) WITH ORDINALITY AS x(e, n)), "
        # OFFSET 0 keeps the check a probe of an index per row: without it the planner may turn NOT EXISTS
        # into a hash anti-join over the whole table when its statistics say the table is small (a fresh
        # database filling fast), and a table of millions would then be scanned (a LIMIT would be dropped from
        # an EXISTS; an OFFSET keeps it a subplan).
        f"fresh AS MATERIALIZED (SELECT r.e, r.n FROM r WHERE NOT EXISTS (SELECT 1 FROM {table} m WHERE {same} "
        "AND NOT m.from_stop OFFSET 0)), "
        f"ins AS (INSERT INTO {table} ({names}) SELECT {bulk.json_columns(MeterValue, COLUMNS, 'fresh.e')} FROM fresh) "
        "SELECT fresh.n FROM fresh ORDER BY fresh.n"
    )


def _rows_insert_new(rows: list[StoredValue]) -> list[StoredValue]:
    if not rows:
        return rows
    inserted = bulk.pg_execute(_insert_new_sql(), [bulk.rows_json(_plain(rows))])
    return [rows[n - 1] for (n,) in inserted]


def _plain(rows: list[StoredValue]) -> list[tuple]:
    """The rows with their datetimes as text, each distinct time formatted once: a message's values share
    their timestamp and receive time, and the JSON encoder's call back into Python per datetime (`default`)
    cost more than the encoding of the rest of the row."""
    texts: dict[datetime, str] = {}

    def text(value: datetime) -> str:
        found = texts.get(value)
        if found is None:
            found = texts[value] = value.isoformat()
        return found

    return [(*r[:4], text(r.timestamp), text(r.received_at), *r[6:]) for r in rows]


class SessionRef(NamedTuple):
    """What storing meter values needs of a session (a plain row: no model instance per batch)."""

    pk: int
    station_id: int
    transaction_id: int
    status: str
    meter_start: int | None

    @property
    def is_active(self) -> bool:
        return self.status == ChargingSession.Status.ACTIVE


def _sessions_of(transaction_ids: set[int]) -> dict[tuple[int, int], SessionRef]:
    """The sessions with these transaction ids, by (station, transaction id): one plain SELECT (the ORM query
    with `only()` cost more to build than PostgreSQL took to answer it, per batch)."""
    ids = sorted(transaction_ids)
    table = connection.ops.quote_name(ChargingSession._meta.db_table)
    rows = bulk.fetch(
        f"SELECT id, station_id, transaction_id, status, meter_start FROM {table} "
        f"WHERE transaction_id IN ({bulk.placeholders(ids)})",
        ids,
    )
    return {(row[1], row[2]): SessionRef(*row) for row in rows}


@transaction.atomic
def meter_values_record_many(messages: list[dict]) -> list[StoredValue]:
    """meter_values_store in a transaction of its own."""
    return meter_values_store(messages)


def meter_values_store(messages: list[dict]) -> list[StoredValue]:
    """Store the sampled values of several MeterValues.req (from any stations), in the caller's transaction: one
    SELECT for their sessions, one COPY (PostgreSQL) or INSERT for all rows, one UPDATE for live progress.
    The OCPP handler groups concurrent messages into one call (group commit, stations/ocpp/v16_transactions.py).

    Each message has the keyword arguments of meter_values_record, meter_value in snake_case as the ocpp
    library hands it over.

    Values naming a transaction attach to it, also after it stopped (the session is not reopened).
    Connector 0, clock-aligned and transaction-less values are kept with no session. Values naming a
    transaction the sending station does not have are kept for review: transaction ids are looked up per
    station, so another station's id never matches."""
    now = timezone.now()
    parsed = []
    for m in messages:
        received_at = m.get("received_at") or now
        samples, problems = metering.parse_meter_values(m["meter_value"], fallback_timestamp=received_at)
        connector_id = fit_integer(m["connector_id"], INT32, problems) or 0
        transaction_id = fit_integer(m.get("transaction_id"), INT64, problems)
        parsed.append((m["station_id"], connector_id, transaction_id, samples, problems, received_at))

    wanted = {tx for _, _, tx, *_ in parsed if tx is not None}
    sessions = _sessions_of(wanted) if wanted else {}
    # MeterValues are transaction-related messages too (§3.7): a copy sent again because our answer was lost
    # must not store its values twice. A value already stored (same station, connector, time, measurand,
    # phase, location, context, unit and reading) is skipped.
    stations_ids = {station_id for station_id, *_ in parsed}
    times = {s.timestamp for *_, samples, _, _ in parsed for s in samples}
    # PostgreSQL checks while inserting (_rows_insert_new: one statement); elsewhere a SELECT first.
    checked_by_insert = connection.vendor == "postgresql"
    seen = set() if checked_by_insert else _stored_keys(stations_ids, times)
    rows, live = [], {}
    for station_id, connector_id, transaction_id, samples, problems, received_at in parsed:
        session = sessions.get((station_id, transaction_id)) if transaction_id is not None else None
        review = bool(problems) or (transaction_id is not None and session is None)
        fresh = []
        for sample in samples:
            key = (
                station_id,
                connector_id,
                sample.timestamp,
                sample.measurand,
                sample.phase,
                sample.location,
            )
            key += (sample.context, sample.unit, sample.raw_value)
            if key not in seen:
                seen.add(key)
                fresh.append(sample)
        rows += meter_rows(
            station_id,
            session.pk if session is not None else None,
            connector_id,
            transaction_id,
            fresh,
            received_at,
            review=review,
        )
        if session is not None and session.is_active and session.meter_start is not None:
            latest = metering.last_energy_wh(samples)
            if latest is not None:
                live[session.pk] = max(0, latest - session.meter_start)
    if checked_by_insert:
        rows = _rows_insert_new(rows)
    else:
        meter_rows_insert(rows)
    if live:
        # Live progress for the portal; the final energy comes from StopTransaction.meterStop. The status
        # condition is re-checked under the row lock, so a concurrent stop is never overwritten. One plain
        # statement (eflux.bulk.rows_update): the ORM's Case/When took longer to compile than to run.
        ids = sorted(live)
        case = " ".join(["WHEN %s THEN %s"] * len(ids))
        params = [value for pk in ids for value in (pk, live[pk])]
        table = connection.ops.quote_name(ChargingSession._meta.db_table)
        bulk.fetch(
            f"UPDATE {table} SET energy_wh = CASE id {case} END, updated_at = %s "
            f"WHERE id IN ({bulk.placeholders(ids)}) AND status = %s",
            [*params, bulk.db_value(ChargingSession, "updated_at", now), *ids, ChargingSession.Status.ACTIVE],
        )
    return rows
