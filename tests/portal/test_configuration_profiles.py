"""Configuration profiles per charger vendor/model (issue 13): Auto Configuration applies the profile of the
station's vendor and model as it reported them in BootNotification, else the platform default; keys the
model's profile marks not applicable are so on every station of that model, with the reason and who decided."""

import pytest
from django.core.exceptions import ValidationError

from accounts.models import AuditEvent
from stations.models import ConfigurationJob, ConfigurationProfileKey, Station, StationConfigurationKey
from stations.services import profiles
from tests.conftest import start_daphne
from tests.simulated import run_job, running_station

Key = StationConfigurationKey
WAIVED = "ClockAlignedDataInterval"


@pytest.fixture
def server(transactional_db, tmp_path):
    srv = start_daphne(tmp_path, OCPP_CALL_SWEEP_SECONDS="0.1")
    yield srv
    srv.stop()


def sent(sim, key):
    return [
        p["value"] for a, p in list(sim.station.received) if a == "ChangeConfiguration" and p["key"] == key
    ]


def model_profile(
    operator, *, vendor="EfluxSim", model="WB-X", interval="30", waive_reason="Read-only on WB-X"
):
    profile = profiles.configuration_profile_create(
        name="", vendor=vendor, model=model, ocpp_version="1.6", acting_user=operator
    )
    ConfigurationProfileKey.objects.filter(profile=profile, key="MeterValueSampleInterval").update(
        value=interval
    )
    if waive_reason:
        profiles.configuration_profile_key_not_applicable(
            profile=profile, key=WAIVED, reason=waive_reason, acting_user=operator
        )
    return profile


def test_a_station_of_the_model_gets_its_profile_another_model_the_default(server, operator):
    profile = model_profile(operator)
    with running_station(server, "PRF-X", model="WB-X") as sim:
        sim.wait_booted()
        station = Station.objects.get(ocpp_id="PRF-X")
        assert (station.vendor, station.model) == ("EfluxSim", "WB-X")
        job = run_job(station, ConfigurationJob.Kind.AUTO, operator)
        assert job.profile == profile
        rows = {r.key: r for r in Key.objects.filter(station=station)}
        assert rows["MeterValueSampleInterval"].desired_value == "30"
        assert rows["MeterValueSampleInterval"].state == Key.State.ACCEPTED
        assert sim.station.configuration.value("MeterValueSampleInterval") == "30"
        # Not applicable on this model: never sent, marked with the profile's reason and who decided it.
        waived = rows[WAIVED]
        assert waived.state == Key.State.NOT_APPLICABLE and waived.is_ok
        assert waived.not_applicable_reason == "Read-only on WB-X" and waived.not_applicable_by == operator
        assert "EfluxSim WB-X" in waived.reason and "Read-only on WB-X" in waived.reason
        assert sent(sim, WAIVED) == []
        assert sim.station.configuration.value(WAIVED) != "900"

        # The waiver taken back in the profile: the next Auto Configuration sends the key again.
        profiles.configuration_profile_key_not_applicable(
            profile=profile, key=WAIVED, reason="", acting_user=operator
        )
        run_job(station, ConfigurationJob.Kind.AUTO, operator)
        assert sent(sim, WAIVED) == ["900"]
        assert Key.objects.get(station=station, key=WAIVED).state == Key.State.ACCEPTED

    with running_station(server, "PRF-D") as sim:  # the simulator's default model, SIM-AC22
        sim.wait_booted()
        station = Station.objects.get(ocpp_id="PRF-D")
        job = run_job(station, ConfigurationJob.Kind.AUTO, operator)
        assert job.profile == profiles.profile_default("1.6")
        rows = {r.key: r for r in Key.objects.filter(station=station)}
        assert rows["MeterValueSampleInterval"].desired_value == "60"
        assert sim.station.configuration.value("MeterValueSampleInterval") == "60"
        assert rows[WAIVED].state == Key.State.ACCEPTED and sent(sim, WAIVED) == ["900"]


@pytest.mark.django_db
def test_profile_for_picks_the_most_specific_profile(operator):
    station = Station(ocpp_id="PRF-U", vendor="ACME", model="AC-7")
    default = profiles.profile_default("1.6")
    assert profiles.profile_for(station) == default
    any_model = model_profile(operator, vendor="Acme", model="", waive_reason="")
    assert profiles.profile_for(station) == any_model  # vendor matched case-insensitively (CiString)
    exact = model_profile(operator, vendor="ACME", model="ac-7", waive_reason="")
    assert profiles.profile_for(station) == exact
    station.model = "AC-8"
    assert profiles.profile_for(station) == any_model
    station.vendor = "Other"
    assert profiles.profile_for(station) == default
    # The profile starts as a copy of the default.
    assert [k.key for k in exact.keys.all()] == [k.key for k in default.keys.all()]
    assert AuditEvent.objects.filter(action="configuration_profile.create", actor=operator).count() == 2


@pytest.mark.django_db
def test_profile_errors_are_per_field(operator):
    model_profile(operator, waive_reason="")
    with pytest.raises(ValidationError) as e:
        profiles.configuration_profile_create(
            name="", vendor="efluxsim", model="wb-x", ocpp_version="1.6", acting_user=operator
        )
    assert "model" in e.value.message_dict
    with pytest.raises(ValidationError) as e:
        profiles.configuration_profile_create(
            name="", vendor=" ", model="", ocpp_version="1.6", acting_user=operator
        )
    assert "vendor" in e.value.message_dict
    with pytest.raises(ValidationError) as e:
        profiles.configuration_profile_key_not_applicable(
            profile=profiles.profile_default("1.6"), key=WAIVED, reason="x", acting_user=operator
        )
    assert "key" in e.value.message_dict
