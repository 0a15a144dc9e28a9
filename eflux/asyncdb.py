"""The one way async code (consumers, OCPP handlers, the journal) calls the ORM."""

import time
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import SyncToAsync
from channels.db import DatabaseSyncToAsync
from django.conf import settings
from django.db import close_old_connections, connections

# A connection that answered less than this long ago is not pinged again before the next call. Django's
# health check (CONN_HEALTH_CHECKS) otherwise costs a round trip before every ORM call of the async code,
# since each call starts like a request; under load that doubled the statements a message costs. An idle
# connection is still checked, and one that failed is checked (errors_occurred) before it is reused.
FRESH_SECONDS = 2.0

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


class _OrmCall(DatabaseSyncToAsync):
    def thread_handler(self, loop, *args, **kwargs):
        close_old_connections()
        now = time.monotonic()
        for conn in connections.all(initialized_only=True):
            if conn.connection is not None and now - getattr(conn, "eflux_used_at", 0.0) < FRESH_SECONDS:
                conn.health_check_done = True
        try:
            return SyncToAsync.thread_handler(self, loop, *args, **kwargs)
        finally:
            close_old_connections()
            done = time.monotonic()
            for conn in connections.all(initialized_only=True):
                conn.eflux_used_at = done


def db(func):
    """database_sync_to_async on the executor's threads instead of the one thread-sensitive thread: every
    ORM call of the process otherwise queues behind every other (~400 vs 560-770 persisted messages/s
    measured on 2 cores; docs/benchmarks.md). Safe for OCPP handlers: one station's frames are processed
    one after another anyway, and each service is its own transaction. DatabaseSyncToAsync still closes
    stale connections before and after each call, so a database restart heals on the next message."""
    return _OrmCall(func, thread_sensitive=False, executor=_pool())


_own: dict[str, ThreadPoolExecutor] = {}


def db_own_thread(func, name: str):
    """As db(), on a one-thread executor of its own (and so its own database connection) named `name`: for
    work that must not queue behind everything else, such as the lifeline's heartbeat. In an overloaded
    reconnect storm the shared pool's backlog delayed it past the dead window (docs/benchmarks.md)."""
    executor = _own.get(name)
    if executor is None:
        executor = _own[name] = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"eflux-{name}")
    return _OrmCall(func, thread_sensitive=False, executor=executor)
