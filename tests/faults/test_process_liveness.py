"""A dead or stopping server process never leaves its stations "online", and no call fires late.

Real daphne processes on PostgreSQL + Redis; stations are raw websocket clients in this test process.
Counted: stations wrongly online, stations of the surviving process that lost their connection, calls sent
after their deadline."""

import json
import os
import signal
import threading

import pytest
from websockets.sync.client import connect

from stations import calls
from stations.models import OcppCall, ServerProcess, Station
from tests.conftest import start_daphne
from tests.waiting import wait_for

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

FAST = {
    "OCPP_PROCESS_BEAT_SECONDS": 1,
    "OCPP_CALL_SWEEP_SECONDS": 1,
    "OCPP_NEW_STATIONS_PER_IP_PER_HOUR": 1000,
}


def _station(server, ocpp_id):
    ws = connect(f"{server.ws_url}/ocpp/{ocpp_id}", subprotocols=["ocpp1.6"], open_timeout=20)
    ws.send(json.dumps([2, "hb", "Heartbeat", {}]))
    assert json.loads(ws.recv(20))[0] == 3
    return ws


def _heartbeat_ok(ws, message_id="hb-2") -> bool:
    ws.send(json.dumps([2, message_id, "Heartbeat", {}]))
    return json.loads(ws.recv(20))[0] == 3


def _online(prefix) -> int:
    return Station.objects.filter(ocpp_id__startswith=prefix, is_connected=True).count()


def test_the_stations_of_a_killed_process_go_offline_and_the_others_stay(tmp_path):
    a = start_daphne(tmp_path, "daphne-a", OCPP_PROCESS_DEAD_SECONDS=6, **FAST)
    b = start_daphne(tmp_path, "daphne-b", OCPP_PROCESS_DEAD_SECONDS=6, **FAST)
    on_a = [_station(a, f"CP-KA-{i}") for i in range(10)]
    on_b = [_station(b, f"CP-KB-{i}") for i in range(5)]
    try:
        assert _online("CP-KA-") == 10 and _online("CP-KB-") == 5
        # A call queued for a station on A, never answered before A dies: it must fail, not wait for minutes.
        call = calls.call_send(
            station=Station.objects.get(ocpp_id="CP-KA-0"), action="ClearCache", payload={}
        )
        wait_for(lambda: OcppCall.objects.filter(pk=call.pk, status="sent").exists())
        os.kill(a.proc.pid, signal.SIGKILL)
        a.proc.wait(10)
        # B's heartbeat notices A stopped proving it is alive (6 s) and marks A's stations offline.
        wait_for(lambda: _online("CP-KA-") == 0, timeout=60)
        call.refresh_from_db()
        assert call.status == OcppCall.Status.OFFLINE and "server process" in call.error_description
        assert _online("CP-KB-") == 5
        assert all(_heartbeat_ok(ws) for ws in on_b)  # B's stations never noticed
    finally:
        for ws in on_a + on_b:
            ws.close()
        a.stop()
        b.stop()


def test_sigterm_marks_the_process_stations_offline_before_it_exits(tmp_path):
    # A dead window far longer than the test: only the shutdown path can take these stations offline.
    a = start_daphne(tmp_path, "daphne-t", OCPP_PROCESS_DEAD_SECONDS=3600, **FAST)
    on_a = [_station(a, f"CP-TERM-{i}") for i in range(30)]
    try:
        assert _online("CP-TERM-") == 30
        a.proc.send_signal(signal.SIGTERM)
        assert a.proc.wait(30) is not None
        assert _online("CP-TERM-") == 0
        assert ServerProcess.objects.filter(pid=a.proc.pid, stopped_at__isnull=False).count() == 1
    finally:
        for ws in on_a:
            ws.close()
        a.stop()


def test_a_call_past_its_deadline_is_never_sent(tmp_path):
    server = start_daphne(tmp_path, "daphne-d", **FAST)
    ws = _station(server, "CP-DEADLINE")
    received = []
    try:
        station = Station.objects.get(ocpp_id="CP-DEADLINE")
        # The station silently stops answering: the first call occupies the queue until it times out (3 s),
        # the second must be sent within 1 s of being queued, so it may never go out.
        first = calls.call_send(station=station, action="Reset", payload={"type": "Soft"}, timeout=3)
        received.append(json.loads(ws.recv(20)))
        late = calls.call_send(
            station=station, action="RemoteStartTransaction", payload={"idTag": "CARD-1"}, send_within=1
        )
        assert calls.call_wait(first).status == OcppCall.Status.TIMED_OUT
        # The station is back to answering; the next call (queued after the late one) is the next it sees.
        after = calls.call_send(station=station, action="ClearCache", payload={})
        done = threading.Event()

        def answer():
            frame = json.loads(ws.recv(20))
            received.append(frame)
            ws.send(json.dumps([3, frame[1], {"status": "Accepted"}]))
            done.set()

        threading.Thread(target=answer, daemon=True).start()
        assert calls.call_wait(after).status == OcppCall.Status.ANSWERED
        late.refresh_from_db()
        assert late.status == OcppCall.Status.TIMED_OUT and "deadline" in late.error_description
        assert [f[2] for f in received] == ["Reset", "ClearCache"]  # the late RemoteStart never went out
        assert late.sent_at is None
    finally:
        ws.close()
        server.stop()
