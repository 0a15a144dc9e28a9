"""Which stations this process holds, and the channel group each server process listens on. Imports
nothing from stations: the call queue (stations/calls.py) and the consumer both use it.

The channel layer wakes a consumer in another process: a message goes to the group of the process the
database names as the station's holder (Station.server_process), carrying the station's pk, and that
process hands it to the consumer (stations/process_channel.py). One group per process, not per station:
a group per station cost two Redis round trips on every connect and a receive task, a channel and a queue
per connection (docs/benchmarks.md, "Connect path and memory per connection"). Inside one process we skip it and hand the wake-up
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


_local: dict[int, LocalConsumer] = {}  # station pk → OcppConsumer holding its live socket here


def process_group(process_id: str) -> str:
    """The channel group of a server process (its ServerProcess id) that holds station sockets."""
    return f"ocpp.process.{process_id}"


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
