"""The one way async code (consumers, OCPP handlers, the journal) calls the ORM."""

from concurrent.futures import ThreadPoolExecutor

from channels.db import database_sync_to_async
from django.conf import settings

# Its own pool, sized for waiting on the database rather than for the CPU: the loop's default executor has
# min(32, cores + 4) threads, 6 on 2 cores, and in a reconnect storm every one of them sat waiting for
# PostgreSQL while handshakes queued behind them past daphne's handshake timeout. Each thread keeps its own
# persistent connection, so this also bounds the process's PostgreSQL connections.
_executor: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(max_workers=settings.ORM_THREADS, thread_name_prefix="eflux-orm")
    return _executor


def db(func):
    """database_sync_to_async on the executor's threads instead of the one thread-sensitive thread: every
    ORM call of the process otherwise queues behind every other (~400 vs 560-770 persisted messages/s
    measured on 2 cores; docs/benchmarks.md). Safe for OCPP handlers: one station's frames are processed
    one after another anyway, and each service is its own transaction. DatabaseSyncToAsync still closes
    stale connections before and after each call, so a database restart heals on the next message."""
    return database_sync_to_async(func, thread_sensitive=False, executor=_pool())
