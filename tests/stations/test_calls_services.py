"""The call service across processes on PostgreSQL + Redis: two daphne processes, a Celery worker, calls
started from another process (`manage.py ocpp_call`) and from a Celery task. The daphne processes run with
the queue sweep effectively off, so every call here travels through the channel layer's wake-up."""

import asyncio
import subprocess
import sys
import time

import pytest

from stations.models import MessageLog, OcppCall, Station
from stations.tasks import call_station
from tests.conftest import ROOT, server_env, start_daphne
from tests.stations.ocpp_helpers import ScriptedStation, connect, heartbeat_ok
from tests.waiting import wait_for

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

NO_SWEEP = {"OCPP_CALL_SWEEP_SECONDS": 3600}
IDLE_LONGER_THAN_REDIS_SOCKET_TIMEOUT = 7  # seconds; redis-py 8's default socket_timeout is 5


@pytest.fixture
def two_daphnes(transactional_db, tmp_path):
    a = start_daphne(tmp_path, "daphne-a", **NO_SWEEP)
    b = start_daphne(tmp_path, "daphne-b", **NO_SWEEP)
    yield a, b
    a.stop()
    b.stop()


@pytest.fixture
def celery_worker(transactional_db, tmp_path):
    log = tmp_path / "celery.log"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "eflux",
            "worker",
            "--pool=solo",
            "-l",
            "info",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        cwd=ROOT,
        env=server_env(),
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    yield proc
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def ocpp_call(*args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "ocpp_call", *args],
        cwd=ROOT,
        env=server_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def final(call_id: int) -> OcppCall:
    return wait_for(
        lambda: (c := OcppCall.objects.get(pk=call_id)).is_final and c,
        timeout=60,
        message=f"call {call_id} final",
    )


def test_calls_from_another_process_and_a_celery_task_reach_the_station(two_daphnes, celery_worker):
    a, b = two_daphnes
    with ScriptedStation(a, "CP-SVC-A") as on_a, ScriptedStation(b, "CP-SVC-B") as on_b:
        done = ocpp_call("CP-SVC-A", "ChangeAvailability", '{"connectorId": 1, "type": "Inoperative"}')
        assert done.returncode == 0, done.stderr
        call_station.delay(Station.objects.get(ocpp_id="CP-SVC-A").pk, "GetConfiguration", {})
        by_task = wait_for(
            lambda: OcppCall.objects.filter(source="task", station__ocpp_id="CP-SVC-A").first(),
            message="the Celery task's call queued",
        )
        by_task = final(by_task.pk)
        done_b = ocpp_call("CP-SVC-B", "ClearCache")
        assert done_b.returncode == 0, done_b.stderr
        assert [f[2] for f in on_a.received] == ["ChangeAvailability", "GetConfiguration"]
        assert [f[2] for f in on_b.received] == ["ClearCache"]
    cli = OcppCall.objects.get(source="cli", station__ocpp_id="CP-SVC-A")
    assert (cli.status, cli.response) == (OcppCall.Status.ANSWERED, {"status": "Accepted"})
    assert by_task.status == OcppCall.Status.ANSWERED
    assert by_task.response["configurationKey"][0]["key"] == "HeartbeatInterval"


def test_a_second_call_waits_its_turn_and_a_silent_station_times_out(two_daphnes, celery_worker):
    a, _ = two_daphnes
    with ScriptedStation(a, "CP-SVC-Q", hold={"GetConfiguration"}, never_answer={"TriggerMessage"}) as cp:
        pk = Station.objects.get(ocpp_id="CP-SVC-Q").pk
        cli = subprocess.Popen(
            [sys.executable, "manage.py", "ocpp_call", "CP-SVC-Q", "GetConfiguration"],
            cwd=ROOT,
            env=server_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            cp.wait_received(1)
            call_station.delay(pk, "Reset", {"type": "Hard"})
            second = wait_for(
                lambda: OcppCall.objects.filter(source="task", station_id=pk).first(),
                message="the Celery task's call queued",
            )
            assert OcppCall.objects.get(pk=second.pk).status == OcppCall.Status.PENDING  # behind the first
            cp.release(cp.received[0][1])
            assert cli.wait(60) == 0
        finally:
            if cli.poll() is None:
                cli.kill()
        second = final(second.pk)
        assert second.status == OcppCall.Status.ANSWERED

        silent = ocpp_call(
            "CP-SVC-Q", "TriggerMessage", '{"requestedMessage": "Heartbeat"}', "--timeout", "2"
        )
        assert silent.returncode != 0 and "timed out" in silent.stderr.lower()
        after = ocpp_call("CP-SVC-Q", "ClearCache")
        assert after.returncode == 0, after.stderr
    # Each CALL reached the station only once the one before it was answered or had timed out (never two
    # outstanding, OCPP-J 1.6 §4.1.1): the Reset queued by the task waited for the GetConfiguration answer.
    assert cp.events == [
        ("received", "GetConfiguration"),
        ("answered", "GetConfiguration"),
        ("received", "Reset"),
        ("answered", "Reset"),
        ("received", "TriggerMessage"),
        ("received", "ClearCache"),
        ("answered", "ClearCache"),
    ]
    statuses = list(OcppCall.objects.filter(station_id=pk).order_by("id").values_list("action", "status"))
    assert statuses == [
        ("GetConfiguration", "answered"),
        ("Reset", "answered"),
        ("TriggerMessage", "timed_out"),
        ("ClearCache", "answered"),
    ]


def test_a_connection_held_longer_than_5_seconds_on_the_redis_layer_still_gets_calls(two_daphnes):
    """redis-py 8's default 5 s socket_timeout kills channels-redis's blocking receive (docs/architecture.md);
    the consumer would then never hear a wake-up or a supersede again."""
    a, _ = two_daphnes
    with ScriptedStation(a, "CP-SVC-LONG") as cp:
        # Idle on purpose, not a wait for something: the connection must outlive redis-py's 5 s timeout.
        time.sleep(IDLE_LONGER_THAN_REDIS_SOCKET_TIMEOUT)
        done = ocpp_call("CP-SVC-LONG", "ClearCache")
        assert done.returncode == 0, done.stderr
        assert cp.received[-1][2] == "ClearCache"
        assert cp.request([2, "hb-long", "Heartbeat", {}])[:2] == [3, "hb-long"]
    assert "TimeoutError" not in a.output()


def test_newest_connection_wins_across_processes(two_daphnes):
    a, b = two_daphnes

    async def scenario():
        old = await connect(a, "CP-SVC-DUP")
        assert await heartbeat_ok(old, "on-a")
        new = await connect(b, "CP-SVC-DUP")
        await asyncio.wait_for(old.wait_closed(), 30)  # daphne A closed it on B's word
        alive = await heartbeat_ok(new, "on-b")
        station = await asyncio.to_thread(Station.objects.get, ocpp_id="CP-SVC-DUP")
        await new.close()
        return alive, station

    alive, station = asyncio.run(scenario())
    assert alive and station.is_connected
    latest = MessageLog.objects.filter(station=station, message_id="on-b").first()
    assert latest.connection_id == station.connection_id
