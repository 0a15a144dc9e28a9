"""Auto Configuration, Fix All, Reset Device against a simulated charger over a real socket (daphne process).

The jobs run in this test process (in-process job pool, the embedded default); their calls reach the station
through the call queue (OcppCall rows) that the server process sweeps."""

import re
import threading

import pytest
from django.db import close_old_connections

from stations.models import ConfigurationJob, MessageLog, OcppCall, Station, StationConfigurationKey
from stations.services import commands, configuration, profiles
from tests.conftest import start_daphne
from tests.simulated import run_job, running_station
from tests.waiting import wait_for

Key = StationConfigurationKey
REJECTED = "ClockAlignedDataInterval"  # the simulator's default (0) differs from the profile's (900)


@pytest.fixture
def server(transactional_db, tmp_path):
    srv = start_daphne(tmp_path, OCPP_CALL_SWEEP_SECONDS="0.1")
    yield srv
    srv.stop()


def changes_sent(sim, key=None):
    return [
        p
        for a, p in list(sim.station.received)
        if a == "ChangeConfiguration" and (key is None or p["key"] == key)
    ]


def states(station):
    return dict(Key.objects.filter(station=station).values_list("key", "state"))


def test_auto_configuration_then_fix_all_then_reset(server, operator):
    with running_station(server, "CFG-1", reject_keys={REJECTED}) as sim:
        sim.wait_booted()
        station = Station.objects.get(ocpp_id="CFG-1")
        assert station.password_hash == ""

        job = run_job(station, ConfigurationJob.Kind.AUTO, operator)
        rows = {r.key: r for r in Key.objects.filter(station=station)}
        profile_keys = [k for k, _, _ in profiles.DEFAULT_PROFILE_16]
        assert set(rows) == set(profile_keys)
        assert rows[REJECTED].state == Key.State.REJECTED and "rejected" in rows[REJECTED].reason
        assert rows["WebSocketPingInterval"].state == Key.State.REBOOT_REQUIRED
        others = set(profile_keys) - {REJECTED, "WebSocketPingInterval"}
        assert {k: rows[k].state for k in others} == {k: Key.State.ACCEPTED for k in others}
        # Keys already at their value are done without a call; GetConfiguration came first.
        assert rows["StopTransactionOnInvalidId"].reason == "Already set on the station."
        assert not changes_sent(sim, "StopTransactionOnInvalidId")
        assert [a for a, _ in sim.station.received][0] == "GetConfiguration"
        assert sim.station.configuration.value("MeterValueSampleInterval") == "60"
        assert "1 failed" in job.reason
        station.refresh_from_db()
        assert station.setup_state == Station.SetupState.SETUP_IN_PROGRESS

        # AuthorizationKey: accepted, so the platform accepts it from now on, next to what the station used
        # before (nothing: profile 0) until it first uses it; stored only as a hash, masked in the journal.
        key = sim.station.configuration.value("AuthorizationKey")
        assert re.fullmatch(r"[0-9a-f]{40}", key)  # whitepaper A00.FR.205: 20 bytes as hex
        assert station.password_hash == "" and not station.password_required
        assert station.pending_password_hash.startswith("pbkdf2_sha256_station$")
        assert key not in station.pending_password_hash
        from django.contrib.auth.hashers import check_password

        assert check_password(key, station.pending_password_hash)
        assert not MessageLog.objects.filter(payload__contains=key).exists()
        assert key not in server.output()  # whitepaper A01.FR.09: never in the server's logs
        assert not [c for c in OcppCall.objects.filter(station=station) if key in str(c.payload)]
        event = station.audit_events.get(action="station.auto_configuration")
        assert event.actor == operator and event.result["failed"] == {REJECTED: rows[REJECTED].reason}

        # Fix All: the station now accepts the key; only the failed row is sent again.
        sim.station.configuration.reject_keys.clear()
        before = len(changes_sent(sim))
        run_job(station, ConfigurationJob.Kind.FIX_ALL, operator)
        assert [p["key"] for p in changes_sent(sim)[before:]] == [REJECTED]
        assert states(station)[REJECTED] == Key.State.ACCEPTED
        assert station.audit_events.filter(action="station.fix_all").exists()

        # Reset Device: the station reboots, reconnects (still security profile 0: without credentials, which
        # the platform accepts until the station first uses its new key), and boots again.
        reset = commands.station_reset(
            station=station, kind=commands.DEFAULT_RESET_KIND, acting_user=operator
        )
        sim.wait_booted(count=2, timeout=60)
        wait_for(
            lambda: all(
                s["state"] == "done"
                for s in commands.reset_progress(
                    type(reset).objects.select_related("call").get(pk=reset.pk),
                    Station.objects.get(pk=station.pk),
                )
            )
        )
        assert sim.station.password == key and sim.station._basic_auth_password() is None
        station.refresh_from_db()
        assert station.last_refused_at is None and not station.password_required
        # The reboot applied the RebootRequired change.
        wait_for(lambda: states(station)["WebSocketPingInterval"] == Key.State.ACCEPTED)
        wait_for(
            lambda: (
                station.audit_events.get(action="station.reset").result.get("response")
                == {"status": "Accepted"}
            )
        )


def test_two_clicks_at_once_start_one_job_and_send_each_key_once(server, operator):
    with running_station(server, "CFG-2") as sim:
        sim.wait_booted()
        station = Station.objects.get(ocpp_id="CFG-2")
        barrier, results = threading.Barrier(4), []

        def click():
            barrier.wait(timeout=60)
            try:
                results.append(
                    configuration.configuration_job_start(
                        station=station, kind=ConfigurationJob.Kind.AUTO, acting_user=operator
                    )
                )
            finally:
                close_old_connections()

        threads = [threading.Thread(target=click) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sum(r.created for r in results) == 1
        assert len({r.job.pk for r in results}) == 1
        job_id = results[0].job.pk
        wait_for(lambda: ConfigurationJob.objects.filter(pk=job_id, status="done").exists(), timeout=120)
        sent = [p["key"] for p in changes_sent(sim)]
        assert sent and len(sent) == len(set(sent))
        assert ConfigurationJob.objects.filter(station=station).count() == 1


def test_offline_station_waits_and_resumes_when_it_reconnects(server, operator):
    station = Station.objects.create(ocpp_id="CFG-3")
    started = configuration.configuration_job_start(
        station=station, kind=ConfigurationJob.Kind.AUTO, acting_user=operator
    )
    job = wait_for(
        lambda: ConfigurationJob.objects.filter(
            pk=started.job.pk, status=ConfigurationJob.Status.WAITING
        ).first()
    )
    assert "offline" in job.reason and "continues automatically" in job.reason
    assert not OcppCall.objects.filter(station=station).exists()  # nothing was sent into the void
    assert set(states(station).values()) == {Key.State.PENDING}
    # A second click while it waits does not start another job.
    again = configuration.configuration_job_start(
        station=station, kind=ConfigurationJob.Kind.AUTO, acting_user=operator
    )
    assert not again.created and again.job.pk == job.pk

    with running_station(server, "CFG-3") as sim:
        sim.wait_booted()
        # The BootNotification hook (stations.messages.station_after_boot) resumed the job in the server.
        wait_for(lambda: ConfigurationJob.objects.filter(pk=job.pk, status="done").exists(), timeout=120)
        assert changes_sent(sim)
        assert Key.objects.filter(station=station, state=Key.State.ACCEPTED).count() >= 10


def test_connection_lost_mid_job_waits_then_resumes_without_resending_done_keys(server, operator):
    cut_at = "AuthorizeRemoteTxRequests"
    with running_station(server, "CFG-4") as sim:
        sim.wait_booted()
        station = Station.objects.get(ocpp_id="CFG-4")
        config = sim.station.configuration
        original_change = config.change

        def change_then_lose_the_connection(key, value):
            if key == cut_at and not getattr(config, "cut", False):
                config.cut = True
                sim.station._ws.transport.abort()  # the charger's network drops before it answers
            return original_change(key, value)

        config.change = change_then_lose_the_connection
        started = configuration.configuration_job_start(
            station=station, kind=ConfigurationJob.Kind.AUTO, acting_user=operator
        )
        job = wait_for(
            lambda: (
                ConfigurationJob.objects.filter(
                    pk=started.job.pk, status__in=["waiting", "done"], keys__key=cut_at
                ).first()
                or ConfigurationJob.objects.filter(pk=started.job.pk, status="waiting").first()
            )
        )
        # The station reconnects by itself (no reboot, so no BootNotification); the operator clicks again.
        wait_for(
            sim.alive(lambda: sim.station.connected and sim.station.connection_count >= 2),
            message=sim.describe,
        )
        wait_for(lambda: Station.objects.filter(pk=station.pk, is_connected=True).exists())
        again = configuration.configuration_job_start(
            station=station, kind=ConfigurationJob.Kind.AUTO, acting_user=operator
        )
        assert again.job.pk == job.pk
        wait_for(lambda: ConfigurationJob.objects.filter(pk=job.pk, status="done").exists(), timeout=120)
        sent = [p["key"] for p in changes_sent(sim)]
        assert all(sent.count(k) == 1 for k in set(sent))  # nothing done twice
        # The resumed job read the configuration again before going on with what was left, and read back the
        # keys it changed at the end (configuration_read: "Station reported" is the value after the change).
        reads = [p for a, p in sim.station.received if a == "GetConfiguration"]
        assert len(reads) == 3 and not reads[0].get("key") and not reads[1].get("key")
        read_back = reads[2]["key"]
        assert cut_at in read_back and "ClockAlignedDataInterval" in read_back  # the first run's too
        assert "AuthorizationKey" not in read_back
        assert states(station)[cut_at] == Key.State.ACCEPTED
        assert ConfigurationJob.objects.filter(station=station).count() == 1


def test_rejected_authorization_key_keeps_the_old_credentials(server, operator):
    # OCPP-J 1.6 §6.2 / whitepaper A01.FR.04: Rejected → keep accepting what the station uses now.
    with running_station(server, "CFG-5", reject_keys={"AuthorizationKey"}) as sim:
        sim.wait_booted()
        station = Station.objects.get(ocpp_id="CFG-5")
        run_job(station, ConfigurationJob.Kind.AUTO, operator)
        assert states(station)["AuthorizationKey"] == Key.State.REJECTED
        station.refresh_from_db()
        assert (station.password_hash, station.pending_password_hash) == ("", "")
        assert not Key.objects.filter(station=station).exclude(pending_secret_hash="").exists()
        assert sim.station.password is None


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_two_clicks_at_once_create_one_job_on_postgresql(operator, settings):
    """The station row lock (SELECT ... FOR UPDATE) and the partial unique index configjob_one_active_per_station
    keep concurrent clicks to one job. The station is offline, so the job only goes to 'waiting'."""
    from django.db import connection

    assert connection.vendor == "postgresql"
    settings.JOBS_IN_PROCESS = True
    station = Station.objects.create(ocpp_id="PG-CLICK")
    barrier, results, errors = threading.Barrier(6), [], []

    def click():
        try:
            barrier.wait(timeout=60)
            results.append(
                configuration.configuration_job_start(
                    station=station, kind=ConfigurationJob.Kind.AUTO, acting_user=operator
                )
            )
        except Exception as exc:
            errors.append(exc)
        finally:
            close_old_connections()

    threads = [threading.Thread(target=click) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert sum(r.created for r in results) == 1
    assert ConfigurationJob.objects.filter(station=station).count() == 1
    wait_for(lambda: ConfigurationJob.objects.filter(station=station, status="waiting").exists())
