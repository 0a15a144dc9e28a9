"""Group commit for the OCPP journal.

Every frame is journaled before it is processed (incoming) or sent (outgoing), and with thousands of chargers
that is most of a daphne process's database work: one commit per frame caps a process at a few hundred
frames/s (docs/benchmarks.md: ~400 persisted messages/s on the single ORM thread; PostgreSQL alone does ~2,300
commits/s but 21,000 rows/s when batched). So a process has one writer: frames from all its connections
queue up while the previous batch commits, and go in together in one transaction (on PostgreSQL one statement:
the rows, their ids and the UPDATE of last_seen_at for the stations that spoke; eflux/bulk.py). Nobody waits for a timer: an idle process
writes a lone frame at once; a busy one batches as much as arrived during the last commit. Each caller
resumes only after its row is committed, so "journal first, then process/send" still holds frame by frame.

The commonest station messages (Heartbeat, StatusNotification, MeterValues) go further: their answer does not
depend on what the database holds, so the CALL's row, what it changes and our CALLRESULT's row are written in
one transaction (an Exchange, grouped across stations like frames are) and the answer is sent after that
commit. Journal and effect are then atomic: a stored effect always has its frame in the journal, a frame
whose effect failed is handled the ordinary way (journaled alone, answered CALLERROR). That is one commit per
message instead of three (journal in, effect, journal out) (docs/benchmarks.md)."""

import asyncio
import functools
from collections.abc import Callable
from typing import Any, NamedTuple

from django.db import InterfaceError, OperationalError, connection, transaction
from django.utils import timezone

from eflux import bulk
from eflux.asyncdb import db
from eflux.lib.group_commit import GroupCommit
from stations.models import MessageLog, Station

MAX_BATCH = 500


# Every key of a journal row (stations/ocpp/base.py `_journal`) and created_at, in the table's column order.
COLUMNS = (
    "station_id",
    "connection_id",
    "direction",
    "kind",
    "action",
    "message_id",
    "payload",
    "response_to_id",
    "created_at",
)


def _quoted(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


@functools.cache
def _batch_sql() -> str:
    """PostgreSQL: a batch of journal rows in one statement (eflux/bulk.py: one round trip), their ids
    drawn from the table's sequence and returned in the rows' order, last_seen_at of the stations that spoke
    set by the same statement. One statement is one transaction in autocommit."""
    names = ", ".join(connection.ops.quote_name(c) for c in ("id", *COLUMNS))
    return (
        f"WITH r AS MATERIALIZED (SELECT x.e, x.n, nextval({bulk.sequence_of(MessageLog)}) AS id "
        "FROM jsonb_array_elements(%s::jsonb) WITH ORDINALITY AS x(e, n)), "
        f"ins AS (INSERT INTO {_quoted(MessageLog)} ({names}) "
        f"SELECT r.id, {bulk.json_columns(MessageLog, COLUMNS[:-1], 'r.e')}, %s FROM r), "
        f"seen AS (UPDATE {_quoted(Station)} SET last_seen_at = %s "
        "WHERE id = ANY(%s)) "
        "SELECT r.id FROM r ORDER BY r.n"
    )


@functools.cache
def _exchanges_sql() -> str:
    """PostgreSQL: both rows of every exchange in one statement, each CALLRESULT's response_to its CALL's
    id (two ids drawn per exchange), and last_seen_at."""
    names = ", ".join(connection.ops.quote_name(c) for c in ("id", *COLUMNS))
    row = COLUMNS[:-2]  # station_id .. payload; response_to_id and created_at are set here
    return (
        f"WITH r AS MATERIALIZED (SELECT x.e, nextval({bulk.sequence_of(MessageLog)}) AS call_id, "
        f"nextval({bulk.sequence_of(MessageLog)}) AS result_id FROM jsonb_array_elements(%s::jsonb) AS x(e)), "
        f"ins AS (INSERT INTO {_quoted(MessageLog)} ({names}) "
        f"SELECT r.call_id, {bulk.json_columns(MessageLog, row, 'r.e')}, NULL::bigint, %s FROM r UNION ALL "
        f"SELECT r.result_id, {bulk.json_columns(MessageLog, row, 'r.e', len(row))}, r.call_id, %s FROM r), "
        f"seen AS (UPDATE {_quoted(Station)} SET last_seen_at = %s "
        "WHERE id = ANY(%s)) "
        "SELECT count(*) FROM r"
    )


def _rows_insert(rows: list[dict], now) -> list[int]:
    """SQLite (the embedded default): a bulk INSERT returns the new primary keys (>= 3.35)."""
    objs = MessageLog.objects.bulk_create([MessageLog(created_at=now, **row) for row in rows])
    return [obj.pk for obj in objs]


def _stations_seen(rows: list[dict]) -> list[int]:
    """The stations that sent one of these rows (their last_seen_at is refreshed), ascending."""
    return sorted({row["station_id"] for row in rows if row["direction"] == MessageLog.Direction.IN})


def _seen_update(rows: list[dict], now) -> None:
    if seen := _stations_seen(rows):
        bulk.rows_update(Station, {"last_seen_at": now}, f"id IN ({bulk.placeholders(seen)})", seen)


def _write_batch(rows: list[dict]) -> list[int]:
    now = timezone.now()
    if connection.vendor == "postgresql":
        data = bulk.rows_json([[row[c] for c in COLUMNS[:-1]] for row in rows])
        return [pk for (pk,) in bulk.pg_execute(_batch_sql(), [data, now, now, _stations_seen(rows)])]
    with transaction.atomic():
        ids = _rows_insert(rows, now)
        _seen_update(rows, now)
    return ids


class Effect(NamedTuple):
    """What a station message changes, as a call of a service function: `fn(**kwargs)`, or for a `many`
    service `fn([kwargs, ...])` once for all such messages of a batch (e.g. meter values: one INSERT)."""

    fn: Callable
    kwargs: dict
    many: bool = False


class Exchange(NamedTuple):
    """A CALL from a station, its effect and our CALLRESULT, written in one transaction (stations/ocpp/base.py
    `_fused_call`). `result` is the CALLRESULT's journal row without `response_to_id` (the CALL's id), or,
    when the answer depends on what the effect gives (StartTransaction's transactionId), a function of the
    effect's value giving that row and the answer frame, called in the transaction after the effect."""

    call: dict
    effect: Effect | None
    result: dict | Callable[[Any], tuple[dict, list]]


def effects_apply(effects: list[Effect]) -> list:
    """Run the effects in the caller's transaction; a `many` service once per batch. Each effect's value in
    the effects' order (None for a `many` one)."""
    values: list = []
    many: dict[Callable, list[dict]] = {}
    for effect in effects:
        if effect.many:
            many.setdefault(effect.fn, []).append(effect.kwargs)
            values.append(None)
        else:
            values.append(effect.fn(**effect.kwargs))
    for fn, batch in many.items():
        fn(batch)
    return values


def _effects_atomic(effects: list[Effect]) -> list:
    with transaction.atomic():
        return effects_apply(effects)


async def effect_run(effect: Effect | None, response):
    """The ordinary path of a fused action (its @on handler): the effect in its own transaction, then the
    response, as the fused path would have given it (built from the effect's value when it is a function)."""
    value = (await db(_effects_atomic)([effect]))[0] if effect is not None else None
    return response(value) if callable(response) else response


def _settled(exchanges: list[Exchange], values: list) -> tuple[list[dict], list]:
    """The CALLRESULT rows, and the answers built from their effect's value (None where the answer was
    known before)."""
    it = iter(values)
    rows, answers = [], []
    for e in exchanges:
        value = next(it) if e.effect is not None else None
        if callable(e.result):
            row, answer = e.result(value)
        else:
            row, answer = e.result, None
        rows.append(row)
        answers.append(answer)
    return rows, answers


def _write_exchanges(exchanges: list[Exchange]) -> list:
    """Every exchange's effect and both its journal rows in one transaction: the CALL is stored with
    everything it changed (never one without the other), and the CALLRESULT is stored before it is sent.
    Effects run first, so an answer may be built from what its effect gave. On PostgreSQL the journal rows
    and last_seen_at are one statement (alone in autocommit when no exchange has an effect, e.g. a batch of
    Heartbeats). Returns the answers built in the transaction (None for the others)."""
    now = timezone.now()
    effects = [e.effect for e in exchanges if e.effect is not None]
    if connection.vendor == "postgresql":
        row = COLUMNS[:-2]
        # The stations as an array parameter, not a subquery of the JSON: the planner then probes the primary
        # key instead of scanning every station (it cannot know the JSON holds a handful).
        seen = _stations_seen([e.call for e in exchanges])

        def journal(results: list[dict]) -> None:
            data = bulk.rows_json(
                [
                    [*(e.call[c] for c in row), *(r[c] for c in row)]
                    for e, r in zip(exchanges, results, strict=True)
                ]
            )
            bulk.pg_execute(_exchanges_sql(), [data, now, now, now, seen])

        if not effects:
            results, answers = _settled(exchanges, [])
            journal(results)
            return answers
        with transaction.atomic():
            results, answers = _settled(exchanges, effects_apply(effects))
            journal(results)
        return answers
    with transaction.atomic():
        results, answers = _settled(exchanges, effects_apply(effects))
        call_ids = _rows_insert([e.call for e in exchanges], now)
        _rows_insert([{**r, "response_to_id": i} for r, i in zip(results, call_ids, strict=True)], now)
        _seen_update([e.call for e in exchanges], now)
    return answers


_writers: dict[int, GroupCommit] = {}


def writer() -> GroupCommit:
    """This loop's journal writer (daphne has one loop; tests may run others). `await writer().submit(row)`
    returns the row's id once it is committed."""
    loop = asyncio.get_running_loop()
    w = _writers.get(id(loop))
    if w is None:
        w = _writers[id(loop)] = GroupCommit(
            db(_write_batch), max_batch=MAX_BATCH, fatal=(OperationalError, InterfaceError)
        )
    return w


_exchange_writers: dict[int, GroupCommit] = {}


def exchange_writer() -> GroupCommit:
    """This loop's writer of fused exchanges (`await exchange_writer().submit(Exchange(...))` returns once the
    exchange's transaction committed). A failing batch is retried item by item (GroupCommit), so one station's
    bad message only fails its own exchange, which its ChargePoint then handles the ordinary way."""
    loop = asyncio.get_running_loop()
    w = _exchange_writers.get(id(loop))
    if w is None:
        w = _exchange_writers[id(loop)] = GroupCommit(
            db(_write_exchanges), max_batch=MAX_BATCH // 2, fatal=(OperationalError, InterfaceError)
        )
    return w
