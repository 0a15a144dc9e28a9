"""Group commit: concurrent writes of many stations go to the database in one call of a batch function (one
transaction), and each caller resumes only after that commit, with its own result.

No timer: while one batch is being written, new items queue up and form the next batch, so a lone item is
written at once and a busy process writes bigger batches. If a batch fails for a reason other than one of
`fatal` (the database is unreachable: every item would fail alike), each of its items is retried alone, so
one bad item never fails the other stations' items with it.

Used by the OCPP journal (stations/ocpp/journal.py) and the transaction handlers
(stations/ocpp/v16_transactions.py). Django-free: callers pass the exceptions that mean "unreachable"."""

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

MAX_BATCH = 200


class GroupCommit:
    def __init__(
        self,
        run: Callable[[list], Awaitable[Sequence[Any] | None]],
        *,
        max_batch: int = MAX_BATCH,
        fatal: tuple[type[BaseException], ...] = (),
    ):
        # run(items) writes all items in one transaction and returns one result per item (or None).
        self.run = run
        self.max_batch = max_batch
        self.fatal = fatal
        self.pending: list[tuple[Any, asyncio.Future]] = []
        self.draining: asyncio.Task | None = None
        self.loop: asyncio.AbstractEventLoop | None = None

    async def submit(self, item) -> Any:
        loop = asyncio.get_running_loop()
        if loop is not self.loop:  # one instance per module, one loop per process; tests may start others
            self.loop, self.pending, self.draining = loop, [], None
        future = loop.create_future()
        self.pending.append((item, future))
        if self.draining is None or self.draining.done():
            self.draining = asyncio.ensure_future(self._drain())
        return await future

    async def _drain(self) -> None:
        while self.pending:
            batch, self.pending = self.pending[: self.max_batch], self.pending[self.max_batch :]
            try:
                results = await self.run([item for item, _ in batch])
            except self.fatal as e:
                self._settle(batch, None, e)
            except Exception as e:
                if len(batch) == 1:
                    self._settle(batch, None, e)
                    continue
                for entry in batch:
                    try:
                        alone = await self.run([entry[0]])
                    except Exception as error:
                        self._settle([entry], None, error)
                    else:
                        self._settle([entry], alone, None)
            else:
                self._settle(batch, results, None)

    @staticmethod
    def _settle(batch, results, error) -> None:
        for i, (_, future) in enumerate(batch):
            if future.done():  # the caller was cancelled (connection closed): nobody to answer
                continue
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(results[i] if results is not None else None)
