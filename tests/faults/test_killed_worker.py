"""A real Celery worker SIGKILLed mid-job, twice, on PostgreSQL + Redis: the job finishes without a click, no
key is sent twice, and the station gets back in with the AuthorizationKey it accepted while no worker ran.

Real processes: one daphne process (holds the station's socket and records its answers in the OcppCall rows),
Celery workers started and killed one after another, and Celery beat (the production reaper schedule)."""

import asyncio
import os
import signal
import subprocess
import sys
import time

import pytest
import redis
from django.conf import settings
from django.contrib.auth.hashers import check_password
from websockets.exceptions import InvalidStatus

from stations.models import ConfigurationJob, OcppCall, Station, StationConfigurationKey
from stations.services import configuration
from tests.conftest import ROOT, server_env, start_daphne
from tests.stations.ocpp_helpers import ScriptedStation, basic_auth, connect, heartbeat_ok
from tests.waiting import wait_for

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

Job, Key = ConfigurationJob, StationConfigurationKey
# Heartbeat, stall and reaper intervals short enough for a test; the mechanism is the production one.
FAST = {"JOB_HEARTBEAT_SECONDS": "0.3", "JOB_STALL_SECONDS": "3", "JOB_REAPER_SECONDS": "1"}
KILL_AT = ("ClockAlignedDataInterval", "AuthorizationKey")  # mid-list, and while the key is out


class Processes:
    def __init__(self, tmp_path):
        self.tmp_path, self.procs = tmp_path, []

    def start(self, name: str, *args: str) -> subprocess.Popen:
        log = self.tmp_path / f"{name}.log"
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "eflux", *args],
            cwd=ROOT,
            env=server_env(**FAST),
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        self.procs.append(proc)
        return proc

    def worker(self, name: str) -> subprocess.Popen:
        return self.start(
            name,
            "worker",
            "--pool=solo",
            "-n",
            f"{name}@%h",
            "-l",
            "info",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        )

    def beat(self) -> subprocess.Popen:
        schedule = self.tmp_path / "celerybeat-schedule"
        return self.start("beat", "beat", "-s", str(schedule), "--pidfile=", "-l", "info")

    def stop_all(self):
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


@pytest.fixture
def processes(transactional_db, tmp_path):
    # This run's own Redis database (REDIS_URL): nothing queued by an earlier run is delivered to this one.
    redis.Redis.from_url(settings.REDIS_URL).flushdb()
    procs = Processes(tmp_path)
    yield procs
    procs.stop_all()


def change_frames(cp):
    return [f for f in list(cp.received) if f[2] == "ChangeConfiguration"]


def test_a_job_survives_two_sigkilled_celery_workers_and_the_station_gets_back_in_with_its_key(
    tmp_path, processes, operator
):
    server = start_daphne(tmp_path, "daphne")
    try:
        with ScriptedStation(server, "SVC-KILL", hold={"ChangeConfiguration"}) as cp:
            station = wait_for(lambda: Station.objects.filter(ocpp_id="SVC-KILL", is_connected=True).first())
            processes.beat()
            worker = processes.worker("worker-1")
            started = configuration.configuration_job_start(
                station=station, kind=Job.Kind.AUTO, acting_user=operator
            )
            assert started.created
            job_id = started.job.pk
            wanted = set(Key.objects.filter(job_id=job_id).values_list("key", flat=True))

            killed, answered_without_worker, seen, key, resumed_after = [], 0, 0, None, []
            while True:
                frame = wait_for(
                    lambda n=seen: len(change_frames(cp)) > n and change_frames(cp)[n], timeout=90
                )
                seen += 1
                name = frame[3]["key"]
                if name in KILL_AT:
                    os.kill(worker.pid, signal.SIGKILL)  # the key is out, its answer not yet in
                    killed_at = time.monotonic()
                    assert worker.wait(15) == -signal.SIGKILL
                    killed.append(name)
                    cp.release(frame[1])  # the station answers while no worker runs
                    row = Key.objects.get(job_id=job_id, key=name)
                    wait_for(
                        lambda r=row: OcppCall.objects.get(pk=r.call_id).status == OcppCall.Status.ANSWERED
                    )
                    answered_without_worker += 1
                    worker = processes.worker(f"worker-{len(killed) + 1}")
                    n = len(killed)
                    wait_for(lambda n=n: Job.objects.get(pk=job_id).interruptions == n, timeout=60)
                    resumed_after.append(time.monotonic() - killed_at)
                else:
                    cp.release(frame[1])
                if name == "AuthorizationKey":
                    key = frame[3]["value"]
                    break
            job = wait_for(lambda: Job.objects.filter(pk=job_id, status=Job.Status.DONE).first(), timeout=90)
            done_after = time.monotonic() - killed_at
            sent = [f[3]["key"] for f in change_frames(cp)]
            get_configurations = [f for f in cp.received if f[2] == "GetConfiguration"]

        # Counts: two kills, two resumes, each key sent once, nothing left running, no click anywhere.
        assert killed == list(KILL_AT) and answered_without_worker == 2
        assert job.interruptions == 2
        assert {k: sent.count(k) for k in sent} == {k: 1 for k in sent}
        assert set(sent) <= wanted and "AuthorizationKey" in sent
        # The first run and the run resumed after the mid-list kill read the configuration; the last resume had
        # only the key left (its answer read from the row), so it sent nothing at all.
        full_reads = [f for f in get_configurations if not f[3].get("key")]
        assert len(full_reads) == 2
        # The finished job read back what it changed, once (issue 13: "Station reported" after the change);
        # the write-only AuthorizationKey is never read.
        read_backs = [f for f in get_configurations if f[3].get("key")]
        assert len(read_backs) == 1
        assert set(read_backs[0][3]["key"]) <= set(sent) - {"AuthorizationKey"} and read_backs[0][3]["key"]
        assert Job.objects.filter(status__in=Job.ACTIVE).count() == 0
        assert not Key.objects.filter(job_id=job_id, state__in=[Key.State.PENDING, Key.State.SENT]).exists()
        assert Key.objects.get(job_id=job_id, key="AuthorizationKey").state == Key.State.ACCEPTED
        station.refresh_from_db()
        assert check_password(key, station.pending_password_hash)

        async def attempt(password=None):
            headers = basic_auth("SVC-KILL", password) if password else None
            try:
                async with await connect(server, "SVC-KILL", headers=headers) as ws:
                    return await heartbeat_ok(ws)
            except InvalidStatus as refused:
                return refused.response.status_code

        # The station's reconnect with the key it accepted while no worker ran: accepted; from then on only it.
        assert asyncio.run(attempt(key)) is True
        assert asyncio.run(attempt()) == 401
        station.refresh_from_db()
        assert station.password_required and check_password(key, station.password_hash)
        assert key not in server.output()
        # Figures for docs/reliability.md (printed, never asserted: no wall-clock thresholds).
        print(
            f"\nfigures: kills={len(killed)} resumes={job.interruptions} keys_sent={len(sent)} "
            f"resent=0 GetConfiguration={len(full_reads)}+{len(read_backs)} read-back "
            f"kill_to_resume_s={[round(t, 1) for t in resumed_after]} last_kill_to_done_s={done_after:.1f}"
        )
    finally:
        server.stop()
