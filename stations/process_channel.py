"""This server process's address on the channel layer: one channel in the group `ocpp.process.<id>`
(registry.process_group), through which other processes reach the stations this one holds.

Two messages, each naming its station: `ocpp.wake` (a call is queued for it: stations/calls.py) and
`ocpp.superseded` (a newer connection of the station was accepted in another process: newest connection
wins). The sender finds the process in the database (Station.server_process). One receive loop per
process hands them to the local consumer (stations/ocpp/registry.py); a message for a station this process
no longer holds is ignored, as a stale group member ignored it before.

Redis is optional here as everywhere on the station path: the receive loop retries, the group is joined
again on every lifeline beat (a restarted Redis has forgotten it, and a group's membership lapses after
the layer's group expiry), and what a lost message would have done is done by the call sweep and the
heartbeat's reconciliation with the database (stations/calls.py, stations/lifeline.py)."""

import asyncio
import logging

from channels.layers import InMemoryChannelLayer, get_channel_layer

from .ocpp import registry
from .services import presence

logger = logging.getLogger(__name__)

# A channel-layer operation waits at most this long (Redis down: the caller must not hang).
LAYER_TIMEOUT = 2

_channel: str | None = None
_receiver: asyncio.Task | None = None


def _layer():
    """The channel layer, or None where no other process can be reached through it (embedded mode: the
    in-memory layer lives in this process only)."""
    layer = get_channel_layer()
    if layer is None or isinstance(layer, InMemoryChannelLayer):
        return None
    return layer


def reachable() -> bool:
    """Whether other processes can be reached through the channel layer at all."""
    return _layer() is not None


async def join() -> bool:
    """Join (or re-join: refreshes the membership's expiry) this process's group, and start the receive
    loop once. Bounded and never fatal: False when the layer is unreachable (the next beat retries)."""
    global _channel, _receiver
    layer = _layer()
    if layer is None:
        return False
    if _receiver is not None and _receiver.get_loop() is not asyncio.get_running_loop():
        _channel = _receiver = None  # a new event loop (tests start one server after another)
    if _channel is None:
        _channel = await layer.new_channel()
    if _receiver is None or _receiver.done():
        _receiver = asyncio.get_running_loop().create_task(_receive_forever(layer, _channel))
    try:
        await asyncio.wait_for(
            layer.group_add(registry.process_group(presence.PROCESS_ID), _channel), LAYER_TIMEOUT
        )
        return True
    except asyncio.CancelledError:
        raise
    except Exception as e:
        logger.warning("could not join this process's channel group (%s)", e.__class__.__name__)
        return False


async def _receive_forever(layer, channel: str) -> None:
    delay = 0.5
    while True:
        try:
            message = await layer.receive(channel)
            delay = 0.5
        except asyncio.CancelledError:
            raise
        except Exception as e:
            logger.warning("channel layer receive failed (%s); retrying", e.__class__.__name__)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10)
            continue
        try:
            deliver(message)
        except Exception:  # one malformed message must not end the loop
            logger.exception("could not deliver channel message %r", message.get("type"))


def deliver(message: dict) -> None:
    """Hand a message to the consumer holding its station here (synchronously: a superseded socket's
    close runs in its own task, so the loop never waits for one station)."""
    consumer = registry.local_consumer(message["station_pk"])
    if consumer is None:
        return
    if message["type"] == "ocpp.wake":
        consumer.wake()
    elif message["type"] == "ocpp.superseded":
        if consumer.connection_id != message["connection_id"]:
            task = asyncio.ensure_future(consumer.supersede())
            _closing.add(task)
            task.add_done_callback(_closing.discard)


_closing: set[asyncio.Task] = set()


async def send(process_id: str | None, message: dict) -> bool:
    """Send `message` to the process `process_id` (bounded, never fatal). False if it could not be sent or
    there is nobody to send it to; the database-driven fallbacks cover it."""
    layer = _layer()
    if layer is None or not process_id:
        return False
    try:
        await asyncio.wait_for(layer.group_send(registry.process_group(process_id), message), LAYER_TIMEOUT)
        return True
    except asyncio.CancelledError:
        raise
    except Exception as e:
        logger.warning(
            "station %s: channel layer unavailable (%s)", message.get("station_pk"), e.__class__.__name__
        )
        return False
