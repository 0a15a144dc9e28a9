"""Group commit for the OCPP handlers: concurrent requests of many stations are written by one call of a
batch function (one database transaction), and each request is answered only after that commit.

No timer: while one batch is being written, new requests queue up and form the next batch, so a lone
message is written at once and a busy process writes bigger batches. If a batch fails for a reason other
than the database being unreachable, each of its requests is retried alone, so one bad message cannot make
the other stations' messages fail with it."""

import asyncio
from collections.abc import Awaitable, Callable

from django.db import InterfaceError, OperationalError

MAX_BATCH = 200


class GroupCommit:
    def __init__(self, run: Callable[[list], Awaitable[object]], max_batch: int = MAX_BATCH):
        # run(items) writes all items in one transaction (e.g. database_sync_to_async of a service).
        self.run = run
        self.max_batch = max_batch
        self.pending: list[tuple[object, asyncio.Future]] = []
        self.draining: asyncio.Task | None = None
        self.loop: asyncio.AbstractEventLoop | None = None

    async def submit(self, item) -> None:
        loop = asyncio.get_running_loop()
        if loop is not self.loop:  # one instance per module, one loop per process; tests may start others
            self.loop, self.pending, self.draining = loop, [], None
        future = loop.create_future()
        self.pending.append((item, future))
        if self.draining is None or self.draining.done():
            self.draining = asyncio.ensure_future(self._drain())
        await future

    async def _drain(self) -> None:
        while self.pending:
            batch, self.pending = self.pending[: self.max_batch], self.pending[self.max_batch :]
            try:
                await self.run([item for item, _ in batch])
            except (OperationalError, InterfaceError) as e:
                # The database is unreachable: every request fails now and its station retries later.
                self._settle(batch, e)
            except Exception as e:
                if len(batch) == 1:
                    self._settle(batch, e)
                    continue
                for item, future in batch:
                    try:
                        await self.run([item])
                    except Exception as alone:
                        self._settle([(item, future)], alone)
                    else:
                        self._settle([(item, future)], None)
            else:
                self._settle(batch, None)

    @staticmethod
    def _settle(batch, error) -> None:
        for _, future in batch:
            if future.done():  # the handler was cancelled (connection closed): nobody to answer
                continue
            if error is None:
                future.set_result(None)
            else:
                future.set_exception(error)
