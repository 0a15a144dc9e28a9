"""A Redis outage costs no station its connection, its answers or its calls (fault tolerance, item 2).

Two real daphne processes reach Redis through a TCP proxy that the test cuts and restores (the shared Redis
server is never touched). Counted during the outage: disconnects of connected stations, their unanswered
requests, failed handshakes of new and reconnecting stations, calls from another process that did not reach
their station; afterwards, stations wrongly online."""

import json
import os
import threading
import time
from urllib.parse import urlsplit

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from stations import calls
from stations.models import OcppCall, Station
from tests.conftest import start_daphne
from tests.tcp_proxy import TcpProxy
from tests.waiting import wait_for

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

FAST = {
    "OCPP_PROCESS_BEAT_SECONDS": 1,
    "OCPP_CALL_SWEEP_SECONDS": 1,
    "OCPP_NEW_STATIONS_PER_IP_PER_HOUR": 1000,
}
OUTAGE_ROUNDS = 8  # heartbeat rounds while Redis is cut, ~0.5 s apart


class Station_:
    """A raw station that answers CSMS calls and sends heartbeats; counts what happened to it."""

    def __init__(self, server, ocpp_id):
        self.ocpp_id = ocpp_id
        self.ws = connect(f"{server.ws_url}/ocpp/{ocpp_id}", subprotocols=["ocpp1.6"], open_timeout=20)
        self.lock = threading.Lock()
        self.answered = self.unanswered = 0
        self.calls_received: list[str] = []
        self.closed = False
        self.results: dict[str, list] = {}
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        try:
            for raw in self.ws:
                frame = json.loads(raw)
                if frame[0] == 2:
                    self.calls_received.append(frame[2])
                    self.ws.send(json.dumps([3, frame[1], {"status": "Accepted"}]))
                else:
                    self.results[frame[1]] = frame
        except ConnectionClosed:
            pass
        self.closed = True

    def heartbeat(self, message_id):
        try:
            self.ws.send(json.dumps([2, message_id, "Heartbeat", {}]))
            wait_for(lambda: message_id in self.results, timeout=20)
            self.answered += 1
        except (ConnectionClosed, AssertionError):
            self.unanswered += 1

    def close(self):
        self.ws.close()


def _redis_target():
    url = urlsplit(os.environ["REDIS_URL"])
    return (url.hostname or "127.0.0.1", url.port or 6379), url.path


def test_stations_stay_connected_and_answered_while_redis_is_down(tmp_path):
    (host, port), db_path = _redis_target()
    proxy = TcpProxy((host, port))
    via_proxy = f"redis://127.0.0.1:{proxy.port}{db_path}"
    a = start_daphne(tmp_path, "daphne-ra", REDIS_URL=via_proxy, CHANNEL_PREFIX="outage", **FAST)
    b = start_daphne(tmp_path, "daphne-rb", REDIS_URL=via_proxy, CHANNEL_PREFIX="outage", **FAST)
    on_a = [Station_(a, f"CP-RA-{i}") for i in range(8)]
    on_b = [Station_(b, f"CP-RB-{i}") for i in range(8)]
    others = []
    try:
        for s in on_a + on_b:
            s.heartbeat("hb-before")
        proxy.cut()
        started = time.monotonic()
        for r in range(OUTAGE_ROUNDS):
            for s in on_a + on_b:
                s.heartbeat(f"hb-{r}")
        # New stations, and a station of B reconnecting to A (newest connection wins without the layer).
        others = [Station_(a, f"CP-RNEW-{i}") for i in range(3)]
        moved = Station_(a, "CP-RB-0")
        others.append(moved)
        wait_for(lambda: on_b[0].closed, timeout=30)  # B closed its superseded socket through the database
        # A call from another process (this one) still reaches a station through the database queue's sweep.
        call = calls.call_and_wait(
            station=Station.objects.get(ocpp_id="CP-RA-3"), action="ClearCache", payload={}
        )
        outage = time.monotonic() - started
        proxy.restore()
        for s in on_a + on_b[1:] + others:
            s.heartbeat("hb-after")
        closed = [s.ocpp_id for s in on_a + on_b[1:] + others if s.closed]
        unanswered = sum(s.unanswered for s in on_a + on_b[1:] + others)
        assert closed == [] and unanswered == 0
        assert call.status == OcppCall.Status.ANSWERED and "ClearCache" in on_a[3].calls_received
        assert Station.objects.get(ocpp_id="CP-RB-0").server_process != ""
        assert Station.objects.filter(is_connected=True).count() == len(on_a) + len(on_b) + 3
        print(f"outage {outage:.1f} s: 0 disconnects, {OUTAGE_ROUNDS * 16} heartbeats answered")
    finally:
        for s in on_a + on_b + others:
            s.close()
        a.stop()
        b.stop()
        proxy.close()
