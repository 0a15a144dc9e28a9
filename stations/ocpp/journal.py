"""Group commit for the OCPP journal.

Every frame is journaled before it is processed (incoming) or sent (outgoing), and with thousands of chargers
that is most of a daphne process's database work: one commit per frame caps a process at a few hundred
frames/s (docs/benchmarks.md: ~400 persisted messages/s on the single ORM thread; PostgreSQL alone does ~2,300
commits/s but 21,000 rows/s when batched). So a process has one writer: frames from all its connections
queue up while the previous batch commits, and go in together with one bulk INSERT (plus one UPDATE of
last_seen_at for the stations that spoke) in one transaction. Nobody waits for a timer: an idle process
writes a lone frame at once; a busy one batches as much as arrived during the last commit. Each caller
resumes only after its row is committed, so "journal first, then process/send" still holds frame by frame."""

import asyncio

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


def _write_batch(rows: list[dict]) -> list[int]:
    now = timezone.now()
    seen = {row["station_id"] for row in rows if row["direction"] == MessageLog.Direction.IN}
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # COPY: no model instance and no client-side quoting per row (eflux/bulk.py); ids reserved first
            # because COPY returns none. Ascending in the batch's order, as a bulk INSERT would number them.
            ids = bulk.ids_reserve(MessageLog, len(rows))
            bulk.rows_insert(
                MessageLog,
                ("id", *COLUMNS),
                [(pk, *(row[c] for c in COLUMNS[:-1]), now) for pk, row in zip(ids, rows, strict=True)],
            )
        else:
            # SQLite (the embedded default) returns the new primary keys from a bulk INSERT (>= 3.35).
            objs = MessageLog.objects.bulk_create([MessageLog(created_at=now, **row) for row in rows])
            ids = [obj.pk for obj in objs]
        if seen:
            ids_seen = sorted(seen)
            bulk.rows_update(
                Station, {"last_seen_at": now}, f"id IN ({bulk.placeholders(ids_seen)})", ids_seen
            )
    return ids


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
