"""CSMS → station calls (stations/calls.py) in the embedded default: SQLite shared with a real daphne
process, in-memory channel layer. The test process is "another process" here, so its calls reach the
socket through the database queue and daphne's sweep; in-process callers are woken on the consumer's loop."""

import asyncio
import json
import subprocess
import sys
import threading

import pytest

from stations import calls
from stations.calls import CallInvalid, acall_and_wait, call_and_wait, call_send, call_wait
from stations.models import MessageLog, OcppCall, Station
from stations.ocpp import registry
from stations.tasks import send_call
from tests.conftest import ROOT, server_env
from tests.stations.ocpp_helpers import ScriptedStation
from tests.waiting import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def station(ocpp_id: str) -> Station:
    return Station.objects.get(ocpp_id=ocpp_id)


def test_a_call_reaches_the_station_and_its_answer_is_recorded(daphne_server):
    with ScriptedStation(daphne_server, "CP-C-1") as cp:
        call = call_and_wait(
            station=station("CP-C-1"), action="Reset", payload={"type": "Soft"}, source="test"
        )
        assert cp.received[0][2:] == ["Reset", {"type": "Soft"}]
    assert call.status == OcppCall.Status.ANSWERED
    assert call.response == {"status": "Accepted"}
    assert call.sent_at and call.finished_at and call.source == "test"
    out, answer = MessageLog.objects.filter(station__ocpp_id="CP-C-1", message_id=call.message_id).order_by(
        "id"
    )
    assert (out.direction, out.kind, out.action) == ("out", MessageLog.Kind.CALL, "Reset")
    assert (answer.direction, answer.kind, answer.action) == ("in", MessageLog.Kind.CALLRESULT, "Reset")
    assert answer.response_to_id == out.id


def test_a_call_to_a_station_that_is_not_connected_is_offline_at_once(transactional_db):
    call = call_send(station=Station.objects.create(ocpp_id="CP-OFF"), action="ClearCache", payload={})
    assert call.status == OcppCall.Status.OFFLINE and call.finished_at is not None


@pytest.mark.parametrize(
    "action, payload",
    [
        ("Reset", {"type": "Gentle"}),
        ("Reset", {}),
        ("ChangeConfiguration", {"key": "HeartbeatInterval", "value": 300}),
        ("BootNotification", {"chargePointVendor": "x", "chargePointModel": "y"}),
        ("SetChargingProfile", {}),
    ],
)
def test_an_invalid_call_is_refused_before_anything_is_queued(transactional_db, action, payload):
    with pytest.raises(CallInvalid):
        call_send(station=Station.objects.create(ocpp_id="CP-INV"), action=action, payload=payload)
    assert not OcppCall.objects.exists()


def test_calls_wait_their_turn_one_outstanding_per_station(daphne_server):
    with ScriptedStation(daphne_server, "CP-Q-1", hold={"GetConfiguration"}) as cp:
        s = station("CP-Q-1")
        first = call_send(station=s, action="GetConfiguration", payload={})
        second = call_send(station=s, action="ClearCache", payload={})
        cp.wait_received(1)
        cp.release(first.message_id)
        first, second = call_wait(first), call_wait(second)
    assert (first.status, second.status) == (OcppCall.Status.ANSWERED, OcppCall.Status.ANSWERED)
    # Both were queued before the first went out; the second still reached the station only after the
    # station had answered the first (never two outstanding CALLs, OCPP-J 1.6 §4.1.1).
    assert cp.events == [
        ("received", "GetConfiguration"),
        ("answered", "GetConfiguration"),
        ("received", "ClearCache"),
        ("answered", "ClearCache"),
    ]
    assert second.sent_at >= first.finished_at


def test_a_station_that_never_answers_times_out_and_frees_the_queue(daphne_server):
    with ScriptedStation(daphne_server, "CP-TO-1", never_answer={"TriggerMessage"}) as cp:
        s = station("CP-TO-1")
        silent = call_send(
            station=s, action="TriggerMessage", payload={"requestedMessage": "Heartbeat"}, timeout=2
        )
        after = call_send(station=s, action="ClearCache", payload={})
        silent, after = call_wait(silent), call_wait(after)
        assert cp.received[-1][2] == "ClearCache"
    assert silent.status == OcppCall.Status.TIMED_OUT
    assert after.status == OcppCall.Status.ANSWERED


def test_a_callerror_answer_is_recorded(daphne_server):
    with ScriptedStation(
        daphne_server, "CP-CE-1", errors={"DataTransfer": ("NotSupported", "no vendor stuff")}
    ):
        call = call_and_wait(
            station=station("CP-CE-1"), action="DataTransfer", payload={"vendorId": "com.example"}
        )
    assert call.status == OcppCall.Status.CALL_ERROR, call.error_description
    assert (call.error_code, call.error_description) == ("NotSupported", "no vendor stuff")


def test_queued_calls_go_offline_when_the_station_disconnects(daphne_server):
    with ScriptedStation(daphne_server, "CP-DC-1", hold={"GetConfiguration"}) as cp:
        s = station("CP-DC-1")
        outstanding = call_send(station=s, action="GetConfiguration", payload={})
        queued = call_send(station=s, action="ClearCache", payload={})
        cp.wait_received(1)
    outstanding, queued = call_wait(outstanding), call_wait(queued)
    assert (outstanding.status, queued.status) == (OcppCall.Status.OFFLINE, OcppCall.Status.OFFLINE)


def test_authorization_key_never_reaches_the_journal_or_the_stored_call(daphne_server):
    secret = "00112233445566778899aabbccddeeff00112233"
    with ScriptedStation(daphne_server, "CP-SEC-1") as cp:
        s = station("CP-SEC-1")
        change = call_and_wait(
            station=s, action="ChangeConfiguration", payload={"key": "AuthorizationKey", "value": secret}
        )
        read = call_and_wait(station=s, action="GetConfiguration", payload={})
        assert cp.received[0][3] == {
            "key": "AuthorizationKey",
            "value": secret,
        }  # the station got the real one
    assert change.status == read.status == OcppCall.Status.ANSWERED
    assert secret not in json.dumps(change.payload)
    journal = " ".join(MessageLog.objects.filter(station=s).values_list("payload", flat=True))
    assert secret not in journal and "deadbeefdeadbeef" not in journal
    assert "AuthorizationKey" in journal
    assert "deadbeefdeadbeef" not in json.dumps(read.response)


def test_ocpp_call_command_prints_the_answer(daphne_server):
    with ScriptedStation(daphne_server, "CP-CLI-1"):
        done = subprocess.run(
            [sys.executable, "manage.py", "ocpp_call", "CP-CLI-1", "UnlockConnector", '{"connectorId": 1}'],
            cwd=ROOT,
            env=server_env(),
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"status": "Unlocked"}
    assert OcppCall.objects.get(source="cli").status == OcppCall.Status.ANSWERED


def test_ocpp_call_command_fails_for_an_offline_station(transactional_db):
    Station.objects.create(ocpp_id="CP-CLI-OFF")
    done = subprocess.run(
        [sys.executable, "manage.py", "ocpp_call", "CP-CLI-OFF", "ClearCache"],
        cwd=ROOT,
        env=server_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0 and "offline" in done.stderr.lower()


def test_a_wake_up_from_another_thread_lands_on_the_consumers_own_loop():
    """In-process callers (views, in-process jobs) run on other threads and loops than daphne's; the wake-up
    must be handed to the consumer's loop, not set on its asyncio.Event from the wrong thread."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:

        class Consumer:
            def __init__(self):
                self.loop = loop
                self.woken_on = None

            def wake(self):
                self.woken_on = threading.get_ident()

        consumer = Consumer()
        registry._local[4242] = consumer
        calls.wake(4242)
        wait_for(lambda: consumer.woken_on is not None, message="the wake-up on the consumer's loop")
        assert consumer.woken_on == thread.ident
    finally:
        registry._local.pop(4242, None)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)


def test_the_async_twin_and_the_send_call_task_reach_the_station(daphne_server):
    with ScriptedStation(daphne_server, "CP-AS-1") as cp:
        s = station("CP-AS-1")
        by_async = asyncio.run(acall_and_wait(station=s, action="ClearCache", payload={}, source="async"))
        queued = call_send(station=s, action="GetDiagnostics", payload={"location": "ftp://example.com/"})
        # Embedded default: Celery runs the task eagerly, here and now.
        assert send_call.apply(args=[queued.pk]).get() == OcppCall.Status.ANSWERED
        assert [f[2] for f in cp.received] == ["ClearCache", "GetDiagnostics"]
    assert by_async.status == OcppCall.Status.ANSWERED
    assert OcppCall.objects.get(pk=queued.pk).response == {"fileName": "diagnostics.zip"}


def test_a_call_queued_inside_the_server_process_is_woken_on_the_consumers_loop(transactional_db, tmp_path):
    """Embedded default, sweep switched off: only the in-process hand-off (call_soon_threadsafe onto the
    consumer's loop) can deliver a call queued from a sync thread of the daphne process itself."""
    from tests.conftest import start_daphne

    server = start_daphne(
        tmp_path, DJANGO_SETTINGS_MODULE="tests.stations.inprocess_settings", OCPP_CALL_SWEEP_SECONDS=3600
    )
    try:
        with ScriptedStation(server, "CP-IN-1") as cp:
            answer = cp.request([2, "dt-1", "DataTransfer", {"vendorId": "test.inprocess"}])
            assert answer[2]["status"] == "Accepted"
            call = call_wait(OcppCall.objects.get(pk=int(answer[2]["data"])), timeout=30)
            assert [f[2] for f in cp.received] == ["ClearCache"]
    finally:
        server.stop()
    assert call.status == OcppCall.Status.ANSWERED and call.source == "inprocess"


def test_a_call_outstanding_on_a_replaced_connection_is_settled_and_the_queue_moves_on(daphne_server):
    with ScriptedStation(daphne_server, "CP-RP-1", hold={"GetConfiguration"}) as old:
        s = station("CP-RP-1")
        lost = call_send(station=s, action="GetConfiguration", payload={})
        queued = call_send(station=s, action="ClearCache", payload={})
        old.wait_received(1)
        with ScriptedStation(daphne_server, "CP-RP-1") as new:
            lost, queued = call_wait(lost), call_wait(queued)
            assert [f[2] for f in new.received] == ["ClearCache"]
    assert lost.status == OcppCall.Status.OFFLINE
    assert queued.status == OcppCall.Status.ANSWERED
