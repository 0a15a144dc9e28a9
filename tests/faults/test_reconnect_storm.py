"""A restart's reconnect storm: every known station is back, none fails its handshake for a reason inside
eflux, none is left falsely online (fault tolerance, item 7; the 2,000-station figure is in bench/).

A real daphne process on PostgreSQL + Redis with STATIONS known stations is stopped (SIGTERM) and a new one
started; all stations reconnect at once from this process. Counted: handshakes failed and why, stations back,
stations online in the database without a socket."""

import asyncio
import json

import pytest
import websockets

from stations.models import Station
from tests.conftest import start_daphne

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

STATIONS = 300
FAST = {"OCPP_PROCESS_BEAT_SECONDS": 1, "OCPP_NEW_STATIONS_PER_IP_PER_HOUR": 10_000}


async def _connect_all(server, sockets: dict, failures: list, rate: float):
    async def one(i):
        await asyncio.sleep(i / rate)
        try:
            ws = await websockets.connect(
                f"{server.ws_url}/ocpp/CP-STORM-{i}", subprotocols=["ocpp1.6"], open_timeout=30
            )
            await ws.send(json.dumps([2, "hb", "Heartbeat", {}]))
            assert json.loads(await asyncio.wait_for(ws.recv(), 30))[0] == 3
            sockets[i] = ws
        except Exception as e:  # counted, with the reason (HTTP status, reset, timeout)
            failures.append((i, f"{e.__class__.__name__}: {e}"[:120]))

    await asyncio.gather(*(one(i) for i in range(STATIONS)))


async def _close_all(sockets: dict):
    await asyncio.gather(*(ws.close() for ws in sockets.values()), return_exceptions=True)


def test_every_known_station_is_back_after_a_restart(tmp_path):
    first = start_daphne(tmp_path, "daphne-storm-1", **FAST)

    async def before():
        sockets, failures = {}, []
        await _connect_all(first, sockets, failures, rate=200)
        return sockets, failures

    loop = asyncio.new_event_loop()
    try:
        sockets, failures = loop.run_until_complete(before())
        assert failures == [] and len(sockets) == STATIONS
        first.proc.terminate()
        first.proc.wait(30)
        loop.run_until_complete(_close_all(sockets))
        assert Station.objects.filter(is_connected=True).count() == 0  # SIGTERM took them offline

        second = start_daphne(tmp_path, "daphne-storm-2", **FAST)
        try:
            sockets, failures = {}, []
            loop.run_until_complete(_connect_all(second, sockets, failures, rate=500))
            assert failures == []
            assert len(sockets) == STATIONS
            assert (
                Station.objects.filter(ocpp_id__startswith="CP-STORM-", is_connected=True).count() == STATIONS
            )
            loop.run_until_complete(_close_all(sockets))
        finally:
            second.stop()
    finally:
        first.stop()
        loop.close()
