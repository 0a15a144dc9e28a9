"""Configuration profiles per charger vendor/model (issue 13): Auto Configuration applies the profile of the
station's vendor and model as it reported them in BootNotification, else the platform default; keys the
model's profile marks not applicable are so on every station of that model, with the reason and who decided."""

import pytest
from django.core.exceptions import ValidationError
from playwright.sync_api import expect

from accounts.models import AuditEvent
from stations.models import ConfigurationJob, ConfigurationProfileKey, Station, StationConfigurationKey
from stations.services import profiles
from tests.browser import login, shot
from tests.conftest import start_daphne
from tests.personas import PASSWORD
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


@pytest.mark.browser
def test_operator_adds_a_model_profile_in_the_portal_and_auto_configuration_follows_it(
    server, page, operator
):
    login(page, server, "operator", PASSWORD)
    page.click("nav >> text=Profiles")
    expect(page.locator("#profiles")).to_contain_text("Platform default (OCPP 1.6)")
    page.locator("input[name=vendor]").press_sequentially("EfluxSim", delay=20)
    page.locator("input[name=model]").press_sequentially("WB-X", delay=20)
    page.click("#add-profile")
    expect(page.locator("ul.messages")).to_contain_text("added as a copy of the default")

    page.fill("input[name='value-MeterValueSampleInterval']", "30")
    page.locator(f"input[name='reason-{WAIVED}']").press_sequentially("Fixed at 0 on WB-X", delay=10)
    page.fill("input[name='value-ConnectionTimeOut']", "9" * 501)
    page.click("#save-profile")
    # A bad field is shown next to it, and nothing typed is lost.
    expect(page.locator("#profile-key-ConnectionTimeOut .error")).to_contain_text("At most 500 characters")
    expect(page.locator("input[name='value-MeterValueSampleInterval']")).to_have_value("30")
    expect(page.locator(f"input[name='reason-{WAIVED}']")).to_have_value("Fixed at 0 on WB-X")
    assert (
        ConfigurationProfileKey.objects.get(profile__model="WB-X", key="MeterValueSampleInterval").value
        == "60"
    )
    page.fill("input[name='value-ConnectionTimeOut']", "60")
    page.click("#save-profile")
    expect(page.locator("ul.messages")).to_contain_text(f"Saved: MeterValueSampleInterval, {WAIVED}.")
    expect(page.locator(f"#profile-key-{WAIVED}")).to_contain_text("Marked by operator")

    with running_station(server, "PRF-B", model="WB-X") as sim:
        sim.wait_booted()
        station = Station.objects.get(ocpp_id="PRF-B")
        run_job(station, ConfigurationJob.Kind.AUTO, operator)
        assert sim.station.configuration.value("MeterValueSampleInterval") == "30"
        assert sent(sim, WAIVED) == []
        page.goto(f"{server.http_url}/stations/{station.pk}/configuration/")
        row = page.locator(f"tr[data-key={WAIVED}]")
        expect(row).to_have_attribute("data-state", "not_applicable")
        expect(row.locator(".reason")).to_contain_text("Not applicable on EfluxSim WB-X: Fixed at 0 on WB-X")
        shot(page, "configuration-model-profile-not-applicable")
