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

from django.db import InterfaceError, OperationalError, transaction
from django.utils import timezone

from eflux.asyncdb import db
from eflux.lib.group_commit import GroupCommit
from stations.models import MessageLog, Station

MAX_BATCH = 500


def _write_batch(rows: list[dict]) -> list[int]:
    now = timezone.now()
    objs = [MessageLog(created_at=now, **row) for row in rows]
    seen = {row["station_id"] for row in rows if row["direction"] == MessageLog.Direction.IN}
    with transaction.atomic():
        # PostgreSQL and SQLite >= 3.35 return the new primary keys from a bulk INSERT.
        MessageLog.objects.bulk_create(objs)
        if seen:
            Station.objects.filter(pk__in=seen).update(last_seen_at=now)
    return [obj.pk for obj in objs]


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
