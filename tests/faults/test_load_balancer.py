"""Several daphne processes behind Debian's haproxy (deploy/haproxy.cfg, docs/deployment.md): stations spread
over the processes, a call reaches a station whichever process holds it, a process whose database is
unreachable gets no stations, and a killed process's stations come back through haproxy on another one.

Real processes: daphne (started with --proxy-headers, as deployed) on PostgreSQL + Redis, haproxy with the
deployed configuration on its own port; stations are raw websocket clients in this test process that
reconnect the way chargers do. The truth checked is the database the portal shows (Station.is_connected,
Station.server_process)."""

import asyncio
import json
import os
import signal
import threading
import urllib.error
import urllib.request
from collections import Counter

import pytest
import websockets
from websockets.asyncio.client import connect

from stations import calls
from stations.models import OcppCall, ServerProcess, Station
from tests.browser import login
from tests.conftest import free_port, start_daphne
from tests.haproxy import Haproxy
from tests.personas import PASSWORD
from tests.waiting import wait_for

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

FAST = {
    "OCPP_PROCESS_BEAT_SECONDS": 1,
    "OCPP_CALL_SWEEP_SECONDS": 1,
    "OCPP_NEW_STATIONS_PER_IP_PER_HOUR": 1000,
    "OCPP_PROCESS_DEAD_SECONDS": 6,
}
# As deployed behind a load balancer: the station's address from X-Forwarded-For, websockets never timed out.
BEHIND_PROXY = ("--proxy-headers", "--websocket_timeout", "-1")
# The stations connect from their own loopback address, so the address daphne records is provably the one
# haproxy forwarded (haproxy itself connects to daphne from 127.0.0.1).
STATION_ADDRESS = "127.0.0.23"


class Fleet:
    """Stations on an event loop of their own thread. Each connects through haproxy, sends a Heartbeat,
    answers every CALL with Accepted, and when its socket closes reconnects after a short pause, as a charger
    does, unless it is in `gone` (a charger that lost power)."""

    def __init__(self, url: str, ocpp_ids: list[str]):
        self.url, self.ocpp_ids = url, ocpp_ids
        self.connects: Counter = Counter()
        self.calls_received: dict[str, list[str]] = {i: [] for i in ocpp_ids}
        self.gone: set[str] = set()
        self.loop = asyncio.new_event_loop()
        self._stop = asyncio.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(asyncio.gather(*(self._station(i) for i in self.ocpp_ids)))

    async def _station(self, ocpp_id: str):
        while not self._stop.is_set() and ocpp_id not in self.gone:
            try:
                async with connect(
                    f"{self.url}/ocpp/{ocpp_id}",
                    subprotocols=["ocpp1.6"],
                    open_timeout=20,
                    local_addr=(STATION_ADDRESS, 0),
                ) as ws:
                    self.connects[ocpp_id] += 1
                    await ws.send(json.dumps([2, "hb", "Heartbeat", {}]))
                    stop = asyncio.ensure_future(self._stop.wait())
                    while True:
                        recv = asyncio.ensure_future(ws.recv())
                        await asyncio.wait([recv, stop], return_when=asyncio.FIRST_COMPLETED)
                        if not recv.done():
                            recv.cancel()
                            return
                        frame = json.loads(recv.result())
                        if frame[0] == 2:
                            self.calls_received[ocpp_id].append(frame[2])
                            await ws.send(json.dumps([3, frame[1], {"status": "Accepted"}]))
            except (OSError, websockets.exceptions.WebSocketException, TimeoutError):
                pass  # refused, reset, closed, 503 while no server is up: retry as a charger would
            await asyncio.sleep(0.5)

    def stop(self):
        self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)


def _holders(prefix: str) -> dict[str, int | None]:
    """ocpp_id → pid of the server process the database says holds it (None: offline)."""
    pids = dict(ServerProcess.objects.values_list("pk", "pid"))
    return {
        ocpp_id: pids.get(process) if connected else None
        for ocpp_id, connected, process in Station.objects.filter(ocpp_id__startswith=prefix).values_list(
            "ocpp_id", "is_connected", "server_process"
        )
    }


def _call_reaches(fleet: Fleet, ocpp_id: str) -> bool:
    before = fleet.calls_received[ocpp_id].count("ClearCache")
    call = calls.call_send(station=Station.objects.get(ocpp_id=ocpp_id), action="ClearCache", payload={})
    outcome = calls.call_wait(call)
    return (
        outcome.status == OcppCall.Status.ANSWERED
        and fleet.calls_received[ocpp_id].count("ClearCache") == before + 1
    )


def test_stations_spread_over_the_processes_and_calls_reach_them_wherever_they_are(tmp_path):
    a = start_daphne(tmp_path, "daphne-a", BEHIND_PROXY, **FAST)
    b = start_daphne(tmp_path, "daphne-b", BEHIND_PROXY, **FAST)
    # A third process that runs but cannot reach its database: its health check fails, it gets no station.
    c = start_daphne(
        tmp_path,
        "daphne-c",
        BEHIND_PROXY,
        DATABASE_URL=f"postgres://postgres@127.0.0.1:{free_port()}/unreachable",
        **FAST,
    )
    lb = Haproxy(tmp_path, [f"127.0.0.1:{s.port}" for s in (a, b, c)])
    fleet = None
    try:
        wait_for(lambda: lb.states() == {"d1": "UP", "d2": "UP", "d3": "DOWN"}, timeout=30)
        with pytest.raises(urllib.error.HTTPError) as unhealthy:
            urllib.request.urlopen(f"{c.http_url}/healthz", timeout=10)
        assert unhealthy.value.code == 503 and b"database unreachable" in unhealthy.value.read()

        ids = [f"CP-LB-S-{i}" for i in range(12)]
        fleet = Fleet(lb.ws_url, ids)
        wait_for(lambda: all(_holders("CP-LB-S-").get(i) for i in ids), timeout=60)
        per_process = Counter(_holders("CP-LB-S-").values())
        assert set(per_process) == {a.proc.pid, b.proc.pid}, per_process
        assert min(per_process.values()) >= 3, per_process  # leastconn, not all on one
        # X-Forwarded-For reached daphne: the station's own address, not haproxy's.
        assert set(Station.objects.filter(ocpp_id__in=ids).values_list("registered_from_ip", flat=True)) == {
            STATION_ADDRESS
        }
        # A call queued from this process (as the portal queues it) reaches each station on its process.
        assert [i for i in ids if not _call_reaches(fleet, i)] == []
        assert all(fleet.connects[i] == 1 for i in ids)
    finally:
        if fleet:
            fleet.stop()
        lb.stop()
        for server in (a, b, c):
            server.stop()


def test_a_killed_process_is_taken_out_and_its_stations_come_back_on_the_other(tmp_path):
    a = start_daphne(tmp_path, "daphne-a", BEHIND_PROXY, **FAST)
    b = start_daphne(tmp_path, "daphne-b", BEHIND_PROXY, **FAST)
    lb = Haproxy(tmp_path, [f"127.0.0.1:{a.port}", f"127.0.0.1:{b.port}"])
    fleet = None
    try:
        wait_for(lambda: lb.states() == {"d1": "UP", "d2": "UP"}, timeout=30)
        ids = [f"CP-LB-K-{i}" for i in range(12)]
        fleet = Fleet(lb.ws_url, ids)
        wait_for(lambda: all(_holders("CP-LB-K-").get(i) for i in ids), timeout=60)
        holders = _holders("CP-LB-K-")
        on_a = sorted(i for i in ids if holders[i] == a.proc.pid)
        on_b = sorted(i for i in ids if holders[i] == b.proc.pid)
        assert len(on_a) >= 3 and len(on_b) >= 3, holders
        # Two of A's chargers lose power with it: nothing reconnects them, only the reaper can tell.
        powerless = on_a[:2]
        fleet.gone.update(powerless)

        os.kill(a.proc.pid, signal.SIGKILL)
        a.proc.wait(10)
        wait_for(lambda: lb.states() == {"d1": "DOWN", "d2": "UP"}, timeout=30)
        movers = on_a[2:]

        def back() -> bool:
            now = _holders("CP-LB-K-")
            return all(now[i] == b.proc.pid for i in movers) and all(now[i] is None for i in powerless)

        wait_for(back, timeout=60)
        assert all(fleet.connects[i] == 2 for i in movers)  # one reconnect each, through haproxy, to B
        assert all(fleet.connects[i] == 1 for i in on_b)  # B's stations never noticed
        assert Station.objects.filter(ocpp_id__in=on_b + movers, is_connected=True).count() == len(
            on_b + movers
        )
        # The queue reaches a moved station on its new process, and B's own stations as before.
        assert [i for i in movers[:2] + on_b[:2] if not _call_reaches(fleet, i)] == []
        powerless_call = calls.call_send(
            station=Station.objects.get(ocpp_id=powerless[0]), action="ClearCache", payload={}
        )
        assert powerless_call.status == OcppCall.Status.OFFLINE
    finally:
        if fleet:
            fleet.stop()
        lb.stop()
        for server in (a, b):
            server.stop()


@pytest.mark.browser
def test_a_reset_clicked_in_the_portal_through_haproxy_reaches_the_station_on_either_process(
    tmp_path, operator, page
):
    a = start_daphne(tmp_path, "daphne-a", BEHIND_PROXY, **FAST)
    b = start_daphne(tmp_path, "daphne-b", BEHIND_PROXY, **FAST)
    lb = Haproxy(tmp_path, [f"127.0.0.1:{a.port}", f"127.0.0.1:{b.port}"])
    fleet = None
    try:
        wait_for(lambda: lb.states() == {"d1": "UP", "d2": "UP"}, timeout=30)
        ids = [f"CP-LB-P-{i}" for i in range(4)]
        fleet = Fleet(lb.ws_url, ids)
        wait_for(lambda: all(_holders("CP-LB-P-").get(i) for i in ids), timeout=60)
        holders = _holders("CP-LB-P-")
        one_on_each = [
            next(i for i in ids if holders[i] == a.proc.pid),
            next(i for i in ids if holders[i] == b.proc.pid),
        ]
        # The operator's browser talks to haproxy only (the session is in the database, any process serves
        # it). For each station, the portal is served only by the process that does NOT hold it: the
        # click must cross from one process to the other.
        login(page, lb, "operator", PASSWORD)
        for ocpp_id, holder, other in zip(one_on_each, ("d1", "d2"), ("d2", "d1"), strict=True):
            lb.command(f"enable server portal/{other}")
            lb.command(f"disable server portal/{holder}")
            wait_for(lambda h=holder: lb.states("portal")[h] == "MAINT")
            station = Station.objects.get(ocpp_id=ocpp_id)
            page.goto(f"{lb.http_url}/stations/{station.pk}/configuration/")
            page.click("#reset-device")
            page.wait_for_load_state("networkidle")
            wait_for(lambda ocpp_id=ocpp_id: "Reset" in fleet.calls_received[ocpp_id], timeout=30)
            # haproxy's own log says which process served the click (option httplog: "portal/d2 ... POST").
            wait_for(
                lambda pk=station.pk, other=other: any(
                    f"portal/{other} " in line and f"POST /stations/{pk}/reset/" in line
                    for line in lb.output().splitlines()
                ),
                timeout=10,
                message=lambda: lb.output()[-3000:],
            )
            reset = OcppCall.objects.get(station__ocpp_id=ocpp_id, action="Reset")
            assert calls.call_wait(reset).status == OcppCall.Status.ANSWERED
        others = [i for i in ids if i not in one_on_each]
        assert all(fleet.calls_received[i] == [] for i in others)  # each click reached its station only
    finally:
        if fleet:
            fleet.stop()
        lb.stop()
        for server in (a, b):
            server.stop()
