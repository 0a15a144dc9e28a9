"""The one way async code (consumers, OCPP handlers, the journal) calls the ORM."""

from channels.db import database_sync_to_async


def db(func):
    """database_sync_to_async on the executor's threads instead of the one thread-sensitive thread: every
    ORM call of the process otherwise queues behind every other (~400 vs 560-770 persisted messages/s
    measured on 2 cores; docs/benchmarks.md). Safe for OCPP handlers: one station's frames are processed
    one after another anyway, and each service is its own transaction. DatabaseSyncToAsync still closes
    stale connections before and after each call, so a database restart heals on the next message."""
    return database_sync_to_async(func, thread_sensitive=False)
