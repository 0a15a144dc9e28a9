"""Configuration jobs survive the death of whatever ran them (embedded default: SQLite, jobs in-process).

The runner proves it is alive while it holds a job (lease); a job whose runner stopped proving it is resumed
by the reaper (in the embedded default a thread of the server process) without a click, and the resumed run
reads the answers of the calls the dead one had sent instead of sending those keys again. A job queue that
cannot be reached fails no request; the job says so and is handed again when the queue is back.
The same with a real Celery worker SIGKILLed mid-job: tests/faults/test_killed_worker.py."""

import asyncio
import os
import signal
import subprocess
import sys
import threading
from datetime import timedelta
from unittest import mock

import pytest
from django.contrib.auth.hashers import check_password
from django.db import close_old_connections
from django.utils import timezone
from kombu.exceptions import OperationalError

from stations.models import ConfigurationJob, OcppCall, Station, StationConfigurationKey
from stations.services import configuration, profiles
from stations.services.admission import station_password_hash
from tests.conftest import ROOT, server_env, start_daphne
from tests.stations.ocpp_helpers import ScriptedStation, basic_auth, connect, heartbeat_ok
from tests.waiting import wait_for

Job, Key = ConfigurationJob, StationConfigurationKey
FAST = {"JOB_HEARTBEAT_SECONDS": "0.2", "JOB_STALL_SECONDS": "2", "JOB_REAPER_SECONDS": "0.3"}


def change_frames(cp, key=None):
    return [
        f for f in list(cp.received) if f[2] == "ChangeConfiguration" and (key is None or f[3]["key"] == key)
    ]


def start_without_running(station, user) -> ConfigurationJob:
    """Create the job as a click does, but hand it to nobody (the test decides who runs it)."""
    with mock.patch.object(configuration, "enqueue"):
        started = configuration.configuration_job_start(station=station, kind=Job.Kind.AUTO, acting_user=user)
    assert started.created
    return started.job


def stale() -> timezone.datetime:
    return timezone.now() - timedelta(seconds=3600)


# --- a killed runner, the embedded server's own reaper ------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_job_whose_runner_is_killed_mid_key_is_finished_by_the_servers_reaper_without_resending(
    tmp_path, operator
):
    server = start_daphne(tmp_path, OCPP_CALL_SWEEP_SECONDS="0.1", **FAST)
    worker = None
    try:
        with ScriptedStation(server, "JR-KILL", hold={"ChangeConfiguration"}) as cp:
            station = wait_for(lambda: Station.objects.filter(ocpp_id="JR-KILL", is_connected=True).first())
            job = start_without_running(station, operator)
            # Handed to the runner below: the server's reaper must not hand it to its own thread instead while
            # that process is still starting (it can take longer than JOB_STALL_SECONDS on a loaded machine;
            # the job then ran in the server and was never interrupted). Once running, the runner's lease is
            # what the reaper watches.
            Job.objects.filter(pk=job.pk).update(enqueued_at=timezone.now() + timedelta(minutes=10))
            # The runner: a process of its own (as a Celery worker or another server would be), killed below.
            worker = subprocess.Popen(
                [
                    sys.executable,
                    "manage.py",
                    "shell",
                    "-c",
                    "from stations.services.configuration import configuration_job_run as run; "
                    f"run(job_id={job.pk})",
                ],
                cwd=ROOT,
                env=server_env(**FAST),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            expected = set(Key.objects.filter(job=job).values_list("key", flat=True))
            seen = 0
            while True:
                frame = wait_for(
                    lambda n=seen: len(change_frames(cp)) > n and change_frames(cp)[n], timeout=60
                )
                seen += 1
                if frame[3]["key"] == "AuthorizationKey":
                    # Killed while the key is out: the station accepts it after the runner is gone.
                    os.kill(worker.pid, signal.SIGKILL)
                    worker.wait(10)
                    key = frame[3]["value"]
                    cp.release(frame[1])
                    break
                cp.release(frame[1])
            job = wait_for(lambda: Job.objects.filter(pk=job.pk, status=Job.Status.DONE).first(), timeout=60)

        sent = [f[3]["key"] for f in change_frames(cp)]
        assert len(sent) == len(set(sent)) and set(sent) <= expected  # each key once
        assert sent.count("AuthorizationKey") == 1
        assert job.interruptions == 1
        assert Key.objects.get(station=station, key="AuthorizationKey").state == Key.State.ACCEPTED
        station.refresh_from_db()
        assert check_password(key, station.pending_password_hash)

        # The station's reconnect with the key it accepted gets in (and makes it the only credential).
        async def reconnect():
            async with await connect(server, "JR-KILL", headers=basic_auth("JR-KILL", key)) as ws:
                return await heartbeat_ok(ws)

        assert asyncio.run(reconnect())
        station = wait_for(lambda: Station.objects.filter(pk=station.pk, password_required=True).first())
        assert check_password(key, station.password_hash)
    finally:
        if worker is not None and worker.poll() is None:
            worker.kill()
        server.stop()


# --- the lease, the take-over, the reaper (no socket needed) ------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_redelivered_run_takes_over_a_job_whose_runner_stopped_proving_it_is_alive(operator, settings):
    station = Station.objects.create(ocpp_id="JR-REDELIVER")  # offline: the resumed job goes to waiting
    job = start_without_running(station, operator)
    Job.objects.filter(pk=job.pk).update(
        status=Job.Status.RUNNING, runner="dead", heartbeat_at=stale(), started_at=stale()
    )
    with mock.patch.object(configuration, "enqueue") as queued:
        resumed = configuration.configuration_job_run(job_id=job.pk)
    assert (resumed.status, resumed.interruptions, queued.call_count) == (Job.Status.WAITING, 1, 0)


@pytest.mark.django_db(transaction=True)
def test_a_second_delivery_while_the_runner_is_alive_does_nothing(operator):
    station = Station.objects.create(ocpp_id="JR-ALIVE")
    job = start_without_running(station, operator)
    Job.objects.filter(pk=job.pk).update(
        status=Job.Status.RUNNING, runner="alive", heartbeat_at=timezone.now(), started_at=timezone.now()
    )
    again = configuration.configuration_job_run(job_id=job.pk)
    assert (again.status, again.runner, again.interruptions) == (Job.Status.RUNNING, "alive", 0)


@pytest.mark.django_db(transaction=True)
def test_the_reaper_resumes_dead_runs_requeues_lost_ones_and_leaves_live_ones(operator, settings):
    settings.JOBS_IN_PROCESS = False
    jobs = {}
    for name, status, heartbeat, enqueued in [
        ("dead", Job.Status.RUNNING, stale(), None),
        ("alive", Job.Status.RUNNING, timezone.now(), None),
        ("lost", Job.Status.PENDING, None, stale()),
        ("just-queued", Job.Status.PENDING, None, timezone.now()),
        ("waiting-offline", Job.Status.WAITING, None, stale()),
    ]:
        station = Station.objects.create(ocpp_id=f"JR-{name}")
        job = start_without_running(station, operator)
        Job.objects.filter(pk=job.pk).update(
            status=status, heartbeat_at=heartbeat, started_at=heartbeat, enqueued_at=enqueued, runner=name
        )
        jobs[name] = job.pk
    with mock.patch("eflux.jobs.current_app.send_task") as send:
        counts = configuration.configuration_jobs_reap()
    assert counts == {"resumed": 1, "requeued": 1}
    assert sorted(c.kwargs["args"][0] for c in send.call_args_list) == sorted([jobs["dead"], jobs["lost"]])
    state = dict(Job.objects.values_list("pk", "status"))
    assert state[jobs["dead"]] == Job.Status.PENDING and state[jobs["alive"]] == Job.Status.RUNNING


@pytest.mark.django_db(transaction=True)
def test_a_job_interrupted_too_often_fails_visibly_and_its_outstanding_key_is_still_accepted(
    operator, settings
):
    station = Station.objects.create(ocpp_id="JR-GIVEUP", is_connected=True)
    job = start_without_running(station, operator)
    secret_hash = station_password_hash("0123456789abcdef0123456789abcdef01234567")
    call = OcppCall.objects.create(station=station, action="ChangeConfiguration", status=OcppCall.Status.SENT)
    Key.objects.filter(job=job, key="AuthorizationKey").update(
        state=Key.State.SENT, call=call, pending_secret_hash=secret_hash
    )
    Job.objects.filter(pk=job.pk).update(
        status=Job.Status.RUNNING, heartbeat_at=stale(), interruptions=settings.JOB_MAX_INTERRUPTIONS
    )
    assert configuration.configuration_jobs_reap() == {"resumed": 0, "requeued": 0}
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED and job.reason.startswith("Interrupted")
    station.refresh_from_db()
    # Its answer may still come (or came and nobody read it): the key works, next to the old credentials.
    assert station.pending_password_hash == secret_hash
    assert not Key.objects.filter(job=job, state__in=[Key.State.PENDING, Key.State.SENT]).exists()


@pytest.mark.django_db(transaction=True)
def test_a_run_whose_job_was_taken_over_stops_before_sending_anything(daphne_server, operator, settings):
    settings.JOB_HEARTBEAT_SECONDS = 0.1
    with ScriptedStation(daphne_server, "JR-FENCE", hold={"GetConfiguration"}) as cp:
        station = wait_for(lambda: Station.objects.filter(ocpp_id="JR-FENCE", is_connected=True).first())
        job = start_without_running(station, operator)
        result = {}

        def run():
            try:
                result["job"] = configuration.configuration_job_run(job_id=job.pk)
            finally:
                close_old_connections()

        runner = threading.Thread(target=run)
        runner.start()
        held = cp.wait_received(1)[0]
        # Presumed dead (say its database connection hung), the job went to another run meanwhile.
        Job.objects.filter(pk=job.pk).update(runner="the-other-run")
        cp.release(held[1])
        runner.join(60)
    assert not change_frames(cp)
    assert Job.objects.get(pk=job.pk).runner == "the-other-run"


@pytest.mark.django_db(transaction=True)
def test_an_authorization_key_whose_answer_never_came_is_accepted_too(daphne_server, operator, settings):
    # Lost answer: the station may have stored the key. Refusing it would lock a profile-1 station out.
    settings.OCPP_CALL_TIMEOUT = 1
    profile = profiles.profile_default()
    profile.keys.exclude(key="AuthorizationKey").delete()
    with ScriptedStation(daphne_server, "JR-LOST", never_answer={"ChangeConfiguration"}) as cp:
        station = wait_for(lambda: Station.objects.filter(ocpp_id="JR-LOST", is_connected=True).first())
        job = start_without_running(station, operator)
        configuration.configuration_job_run(job_id=job.pk)
        key = change_frames(cp, "AuthorizationKey")[0][3]["value"]
    row = Key.objects.get(station=station, key="AuthorizationKey")
    assert row.state == Key.State.TIMED_OUT and "accepted too" in row.reason
    station.refresh_from_db()
    assert check_password(key, station.pending_password_hash) and not station.password_required


# --- the job queue is down ------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_click_while_the_job_queue_is_down_is_no_error_and_the_reaper_hands_the_job_when_it_is_back(
    client_for, operator, own_station, settings
):
    settings.JOBS_IN_PROCESS = False
    client = client_for(operator)
    down = OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
    with mock.patch("eflux.jobs.current_app.send_task", side_effect=down) as send:
        response = client.post(f"/stations/{own_station.pk}/configuration/run/", {"kind": "auto"})
    assert response.status_code == 302 and send.call_count == 1
    job = Job.objects.get(station=own_station)
    assert (job.status, job.reason) == (Job.Status.PENDING, configuration.QUEUE_UNREACHABLE)
    page = client.get(f"/stations/{own_station.pk}/configuration/").content.decode()
    assert "Waiting for the job queue" in page

    Job.objects.filter(pk=job.pk).update(enqueued_at=stale())
    with mock.patch("eflux.jobs.current_app.send_task") as send:
        assert configuration.configuration_jobs_reap() == {"resumed": 0, "requeued": 1}
        assert configuration.configuration_jobs_reap() == {"resumed": 0, "requeued": 0}  # handed once
    assert [c.args[0] for c in send.call_args_list] == [configuration.RUN_TASK]
    assert send.call_args.kwargs["args"] == (job.pk,)


def test_the_embedded_scheduler_runs_only_without_a_broker(settings):
    from eflux import jobs

    settings.JOBS_IN_PROCESS = False
    assert jobs.scheduler_start() is False
    assert set(settings.IN_PROCESS_PERIODIC_TASKS) <= set(settings.CELERY_BEAT_SCHEDULE)
