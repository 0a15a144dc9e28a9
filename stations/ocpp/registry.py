"""Which stations this process holds, and the per-process sweeper.

The channel layer wakes a consumer in another process. Inside one process we skip it and hand the wake-up
to the consumer's own event loop with call_soon_threadsafe: the caller is often a sync thread (a view, an
in-process job) running async_to_sync on a different loop, and the InMemoryChannelLayer of the embedded
mode is not safe across loops. The sweeper is the safety net for everything a message can miss: every few
seconds it wakes local consumers that have pending calls (a wake-up dropped by channels-redis over capacity,
or a call queued by another process in embedded mode, e.g. `manage.py ocpp_call` against SQLite), and it
settles calls whose connection died without cleaning up."""

import asyncio
import logging

from channels.db import database_sync_to_async
from django.conf import settings

logger = logging.getLogger(__name__)

_local: dict[int, object] = {}  # station pk → OcppConsumer holding its live socket here
_sweeper: asyncio.Task | None = None


def register(station_pk: int, consumer) -> None:
    _local[station_pk] = consumer
    _ensure_sweeper()


def unregister(station_pk: int, consumer) -> None:
    if _local.get(station_pk) is consumer:
        del _local[station_pk]


def local_consumer(station_pk: int):
    return _local.get(station_pk)


def wake_local(station_pk: int) -> bool:
    consumer = _local.get(station_pk)
    if consumer is None:
        return False
    try:
        consumer.loop.call_soon_threadsafe(consumer.wake)
    except RuntimeError:  # its loop is closing (process shutdown)
        return False
    return True


def _ensure_sweeper() -> None:
    global _sweeper
    if _sweeper is None or _sweeper.done():
        _sweeper = asyncio.get_running_loop().create_task(_sweep_forever())


async def _sweep_forever() -> None:
    from stations.calls import calls_sweep

    sweep = database_sync_to_async(calls_sweep)
    while True:
        await asyncio.sleep(settings.OCPP_CALL_SWEEP_SECONDS)
        try:
            for station_pk in await sweep():
                consumer = _local.get(station_pk)
                if consumer is not None:
                    consumer.wake()
        except Exception:  # keep sweeping: a database hiccup must not end the safety net
            logger.exception("OCPP call sweep failed")
