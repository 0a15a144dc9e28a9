"""Which stations this process holds, and the channel group each station's live socket listens on. Imports
nothing from stations: the call queue (stations/calls.py) and the consumer both use it.

The channel layer wakes a consumer in another process. Inside one process we skip it and hand the wake-up
to the consumer's own event loop with call_soon_threadsafe: the caller is often a sync thread (a view, an
in-process job) running async_to_sync on a different loop, and the InMemoryChannelLayer of the embedded
mode is not safe across loops. The call queue's sweeper
(stations/calls.py) covers every wake-up a message can miss."""

import asyncio
from typing import Protocol


class LocalConsumer(Protocol):
    """What the registry and the call queue use of stations.consumers.OcppConsumer (not imported: see above)."""

    loop: asyncio.AbstractEventLoop
    connection_id: str

    def wake(self) -> None: ...

    async def supersede(self) -> None: ...

    async def join_group_if_missing(self) -> None: ...


_local: dict[int, LocalConsumer] = {}  # station pk → OcppConsumer holding its live socket here


def station_group(station_pk: int) -> str:
    """The channel group of a station's live socket, in whichever process holds it."""
    return f"ocpp.station.{station_pk}"


def register(station_pk: int, consumer: LocalConsumer) -> None:
    _local[station_pk] = consumer


def unregister(station_pk: int, consumer: LocalConsumer) -> None:
    if _local.get(station_pk) is consumer:
        del _local[station_pk]


def local_consumer(station_pk: int) -> LocalConsumer | None:
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


def held() -> dict[int, str]:
    """Station pk → connection id of every socket this process holds."""
    return {pk: consumer.connection_id for pk, consumer in list(_local.items())}


def consumers() -> list[LocalConsumer]:
    return list(_local.values())
