"""Credential changes never lock a charger out (security whitepaper A01, A05), end to end: Auto Configuration
sends the AuthorizationKey to a simulated charger over a real socket (daphne process), Reset Device makes it
reconnect, and the platform lets it in with what it really sends.

- A security-profile-0 charger keeps connecting without credentials after it accepted the key; moving it to
  profile 1 is the operator's explicit step (SecurityProfile=1 in the configuration profile, sent after the
  key), after which only the key works.
- A profile-1 charger (`simulate_station --password`) reconnects with the new key; from then on its old
  password is refused, and the refusal shows on the station's page."""

import asyncio

import pytest
from django.contrib.auth.hashers import check_password

from stations.models import ConfigurationJob, ConfigurationProfileKey, Station, StationConfigurationKey
from stations.services import commands, profiles
from stations.services.admission import REFUSED_NO_CREDENTIALS, REFUSED_WRONG_PASSWORD, station_set_password
from tests.conftest import start_daphne
from tests.simulated import run_job, running_station, simulator_process, wait_for
from tests.stations.ocpp_helpers import handshake

Key = StationConfigurationKey
OLD_PASSWORD = "factory-password-0123456789"


@pytest.fixture
def server(transactional_db, tmp_path):
    srv = start_daphne(tmp_path, OCPP_CALL_SWEEP_SECONDS="0.1")
    yield srv
    srv.stop()


def reset_and_wait_until_back(station, user):
    reset = commands.station_reset(station=station, kind=commands.DEFAULT_RESET_KIND, acting_user=user)

    def back():
        steps = commands.reset_progress(
            type(reset).objects.select_related("call").get(pk=reset.pk), Station.objects.get(pk=station.pk)
        )
        assert not any(s["state"] == "failed" for s in steps), steps
        return all(s["state"] == "done" for s in steps)

    wait_for(back, timeout=60)


def test_a_profile_0_station_gets_the_key_is_reset_and_reconnects_without_credentials(
    server, operator, client_for
):
    with running_station(server, "CRED-0", reboot_keys=()) as sim:
        sim.wait_booted()
        station = Station.objects.get(ocpp_id="CRED-0")
        run_job(station, ConfigurationJob.Kind.AUTO, operator)
        assert Key.objects.get(station=station, key="AuthorizationKey").state == Key.State.ACCEPTED
        key = sim.station.configuration.value("AuthorizationKey")
        station.refresh_from_db()
        assert check_password(key, station.pending_password_hash) and not station.password_required

        reset_and_wait_until_back(station, operator)
        # The database says booted once the CSMS answered; the simulator counts the boot when it reads that answer.
        wait_for(sim.alive(lambda: sim.station.boot_count == 2), message=sim.describe)
        assert sim.station.connection_count == 2
        assert sim.station._basic_auth_password() is None  # profile 0: it sent no credentials
        station.refresh_from_db()
        assert station.is_connected and station.last_refused_at is None
        assert check_password(key, station.pending_password_hash) and not station.password_required

        # The explicit step to profile 1: the operator adds SecurityProfile=1 to the configuration profile. It is
        # sent after the (fresh) AuthorizationKey; the charger reconnects with HTTP Basic (A05.FR.06-07).
        profile = profiles.profile_default()
        ConfigurationProfileKey.objects.create(profile=profile, key="SecurityProfile", value="1", position=0)
        run_job(station, ConfigurationJob.Kind.AUTO, operator)
        sent = [p["key"] for a, p in sim.station.received if a == "ChangeConfiguration"]
        assert sent[-2:] == ["AuthorizationKey", "SecurityProfile"]
        assert sent.count("AuthorizationKey") == 2 and sent.count("SecurityProfile") == 1
        new_key = sim.station.configuration.value("AuthorizationKey")
        assert new_key != key
        wait_for(
            sim.alive(lambda: sim.station.connection_count == 3 and sim.station.connected),
            message=sim.describe,
        )
        station = wait_for(lambda: Station.objects.filter(pk=station.pk, password_required=True).first())
        assert check_password(new_key, station.password_hash) and station.pending_password_hash == ""

    # From now on only the key: a bare connection is refused, and the station page says why.
    assert asyncio.run(handshake(server, "CRED-0")) == 401
    assert asyncio.run(handshake(server, "CRED-0", key)) == 401  # the first key, replaced before it was used
    assert asyncio.run(handshake(server, "CRED-0", new_key)) is True
    station.refresh_from_db()
    assert station.last_refusal_reason == REFUSED_WRONG_PASSWORD
    page = client_for(operator).get(f"/stations/{station.pk}/").content.decode()
    assert REFUSED_WRONG_PASSWORD in page and "HTTP Basic with its AuthorizationKey" in page


def test_a_profile_1_station_reconnects_with_the_new_key_and_then_its_old_password_is_refused(
    server, operator, client_for, tmp_path
):
    station_set_password(station=Station.objects.create(ocpp_id="CRED-1"), password=OLD_PASSWORD)
    with simulator_process(
        server, "CRED-1", "--password", OLD_PASSWORD, "--reboot-key", "none", tmp_path=tmp_path
    ) as sim:
        sim.wait_for_output("online")
        station = Station.objects.get(ocpp_id="CRED-1")
        run_job(station, ConfigurationJob.Kind.AUTO, operator)
        assert Key.objects.get(station=station, key="AuthorizationKey").state == Key.State.ACCEPTED
        station.refresh_from_db()
        # Accepted, not yet used: the old password and the new key both work; the password is still required.
        assert station.pending_password_hash and station.password_required
        assert check_password(OLD_PASSWORD, station.password_hash)

        reset_and_wait_until_back(station, operator)
        station = wait_for(lambda: Station.objects.filter(pk=station.pk, pending_password_hash="").first())
        assert not check_password(OLD_PASSWORD, station.password_hash) and station.password_required
        assert sim.output().count("(HTTP Basic auth)") == 2  # both connections sent credentials
        assert station.last_refused_at is None

        # The old password no longer gets in (A01.FR.03); nor does no password at all.
        assert asyncio.run(handshake(server, "CRED-1", OLD_PASSWORD)) == 401
        station.refresh_from_db()
        assert station.last_refusal_reason == REFUSED_WRONG_PASSWORD
        assert asyncio.run(handshake(server, "CRED-1")) == 401
        station.refresh_from_db()
        assert station.last_refusal_reason == REFUSED_NO_CREDENTIALS
        # Refused after the station's own (still open) connection: the page header says so, with the reason.
        page = client_for(operator).get(f"/stations/{station.pk}/").content.decode()
        assert 'id="refused-notice"' in page and REFUSED_NO_CREDENTIALS in page
    assert OLD_PASSWORD not in server.output()
