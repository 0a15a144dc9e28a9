"""Group commit for the OCPP journal.

Every frame is journaled before it is processed (incoming) or sent (outgoing), and with thousands of chargers
that is most of a daphne process's database work: one commit per frame caps a process at a few hundred
frames/s (STYLE.md: ~400 persisted messages/s on the single ORM thread; PostgreSQL alone does ~2,300
commits/s but 21,000 rows/s when batched). So a process has one writer: frames from all its connections
queue up while the previous batch commits, and go in together with one bulk INSERT (plus one UPDATE of
last_seen_at for the stations that spoke) in one transaction. Nobody waits for a timer: an idle process
writes a lone frame at once; a busy one batches as much as arrived during the last commit. Each caller
resumes only after its row is committed, so "journal first, then process/send" still holds frame by frame."""

import asyncio
import logging

from channels.db import database_sync_to_async
from django.db import transaction
from django.utils import timezone

from stations.models import MessageLog, Station

logger = logging.getLogger(__name__)

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


class JournalWriter:
    def __init__(self):
        self._queue: list[tuple[dict, asyncio.Future]] = []
        self._flushing = False
        self._write = database_sync_to_async(_write_batch, thread_sensitive=False)

    async def write(self, **row) -> int:
        future = asyncio.get_running_loop().create_future()
        self._queue.append((row, future))
        if not self._flushing:
            self._flushing = True
            asyncio.ensure_future(self._flush())
        return await future

    async def _flush(self):
        try:
            while self._queue:
                batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
                try:
                    ids = await self._write([row for row, _ in batch])
                except Exception as e:  # every waiter learns its frame is not journaled
                    logger.exception("journal write of %s frames failed", len(batch))
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(e)
                    continue
                for (_, future), pk in zip(batch, ids, strict=True):
                    if not future.done():
                        future.set_result(pk)
        finally:
            self._flushing = False


_writers: dict[int, JournalWriter] = {}


def writer() -> JournalWriter:
    # One per event loop (daphne has one; tests may run others).
    loop = asyncio.get_running_loop()
    w = _writers.get(id(loop))
    if w is None:
        w = _writers[id(loop)] = JournalWriter()
    return w
