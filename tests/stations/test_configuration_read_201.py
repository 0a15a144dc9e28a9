"""Configuration that tells the truth for OCPP 2.0.1 stations (the 1.6 counterpart: tests/portal/
test_configuration_truth.py), against the simulated 2.0.1 charger over a real socket and a real daphne process:
variables are read back with GetVariables (B06) after a job changed them and after every boot, in requests no
larger than the station's ItemsPerMessage; an Accepted variable the charger did not apply is a failure;
RebootRequired is resolved by what the station reports after its reset; each boot leaves a dated snapshot."""

import pytest

from stations.models import ConfigurationJob, ConfigurationSnapshot, Station, StationConfigurationKey
from stations.services import commands
from stations.simulator.v201_device_model import DeviceModel, default_variables
from tests.simulated import run_job, running_station_201
from tests.waiting import wait_for

Key = StationConfigurationKey
CHANGED = "SampledDataCtrlr.TxUpdatedInterval"  # simulator 300, profile 60
IGNORED = "AlignedDataCtrlr.Interval"  # simulator 0, profile 900: answered Accepted, kept at 0
REBOOT_OK = "OCPPCommCtrlr.WebSocketPingInterval"  # simulator 30, profile 60: RebootRequired, applied
REBOOT_LOST = "AuthCtrlr.AuthorizeRemoteStart"  # simulator true, profile false: RebootRequired, never applied
DRIFT = "AuthCacheCtrlr.Enabled"  # simulator false, profile true: set, then put back on site


def get_variables_sent(sim) -> list[list[str]]:
    return [
        [f"{d['component']['name']}.{d['variable']['name']}" for d in p["getVariableData"]]
        for a, p in list(sim.station.received)
        if a == "GetVariables"
    ]


def row(station, key) -> StationConfigurationKey:
    return Key.objects.get(station=station, key=key)


@pytest.mark.django_db(transaction=True)
def test_read_back_after_the_change_shows_the_real_value_and_an_unapplied_variable_fails(
    daphne_server, operator
):
    with running_station_201(daphne_server, "RB201-1") as sim:
        sim.wait_booted()
        sim.station.configuration.ignore_variables.add(IGNORED.lower())
        sim.station.configuration.keys["DeviceDataCtrlr.ItemsPerMessage"].value = "3"  # reported by the job
        station = Station.objects.get(ocpp_id="RB201-1")
        job = run_job(station, ConfigurationJob.Kind.AUTO, operator)

        changed = row(station, CHANGED)
        assert (changed.state, changed.reported_value) == (Key.State.ACCEPTED, "60")
        assert changed.read_at is not None
        ignored = row(station, IGNORED)
        assert ignored.state == Key.State.FAILED and ignored.reported_value == "0"
        assert "accepted it but reports '0' when read back after the change" in ignored.reason
        assert "failed" in job.reason
        sent = get_variables_sent(sim)
        assert sent and all(len(chunk) <= 3 for chunk in sent)  # B06.FR.05: ItemsPerMessage
        asked = {k for chunk in sent for k in chunk}
        assert {CHANGED, IGNORED} <= asked
        assert "SecurityCtrlr.BasicAuthPassword" not in asked  # write-only: never read back
        # The simulator holds what the platform now shows.
        assert sim.station.configuration.keys[CHANGED].value == "60"
        assert sim.station.configuration.keys[IGNORED].value == "0"


@pytest.mark.django_db(transaction=True)
def test_reboot_required_is_resolved_by_the_read_back_after_a_reset_and_each_boot_is_snapshotted(
    daphne_server, operator
):
    with running_station_201(daphne_server, "RB201-2", reboot_variables={REBOOT_OK, REBOOT_LOST}) as sim:
        sim.wait_booted()
        sim.station.configuration.ignore_variables.add(REBOOT_LOST.lower())
        station = Station.objects.get(ocpp_id="RB201-2")
        run_job(station, ConfigurationJob.Kind.AUTO, operator)
        assert row(station, REBOOT_OK).state == Key.State.REBOOT_REQUIRED
        assert row(station, REBOOT_LOST).state == Key.State.REBOOT_REQUIRED
        boots = sim.station.boot_count

        commands.station_reset(station=station, kind="Immediate", acting_user=operator)
        sim.wait_booted(count=boots + 1)
        ok = wait_for(lambda: (r := row(station, REBOOT_OK)).state == Key.State.ACCEPTED and r, timeout=60)
        assert ok.reason == "Applied by the station's reboot (read back)." and ok.reported_value == "60"
        lost = wait_for(lambda: (r := row(station, REBOOT_LOST)).state == Key.State.FAILED and r, timeout=60)
        assert lost.reason == "After the reboot the station reports 'true', not the required value."
        snapshot = wait_for(
            lambda: ConfigurationSnapshot.objects.filter(
                station=station, trigger=ConfigurationSnapshot.Trigger.BOOT
            ).first()
        )
        assert snapshot.values[REBOOT_OK] == "60" and snapshot.values[DRIFT] == "true"
        assert "SecurityCtrlr.BasicAuthPassword" not in snapshot.values

        # Somebody puts a value back on site; the read-back after the next reboot catches it.
        assert row(station, DRIFT).state == Key.State.ACCEPTED
        sim.station.configuration.keys[DRIFT].value = "false"
        snapshots = ConfigurationSnapshot.objects.filter(station=station).count()
        commands.station_reset(station=station, kind="Immediate", acting_user=operator)
        sim.wait_booted(count=boots + 2)
        drifted = wait_for(lambda: (r := row(station, DRIFT)).state == Key.State.FAILED and r, timeout=60)
        assert drifted.reason == "The station accepted it but reports 'false' after its reboot."
        newest = wait_for(
            lambda: (
                ConfigurationSnapshot.objects.filter(station=station).count() > snapshots
                and ConfigurationSnapshot.objects.filter(station=station).first()
            )
        )
        assert newest.values[DRIFT] == "false"


def model() -> DeviceModel:
    return DeviceModel(
        default_variables(vendor="V", model="M", serial_number="S", firmware="F", ocpp_id="X"), evses=2
    )


@pytest.mark.parametrize(
    ("component", "variable", "expected"),
    [
        ("OCPPCommCtrlr", "HeartbeatInterval", ("Accepted", "300")),
        ("OCPPCommCtrlr", "NoSuchVariable", ("UnknownVariable", None)),
        ("NoSuchCtrlr", "HeartbeatInterval", ("UnknownComponent", None)),
        ("SecurityCtrlr", "BasicAuthPassword", ("Rejected", None)),
    ],
)
def test_the_simulator_answers_get_variables_from_its_device_model(component, variable, expected):
    assert model().get({"name": component}, {"name": variable}) == expected


def test_an_accepted_but_ignored_variable_keeps_its_old_value():
    m = model()
    m.ignore_variables.add(IGNORED.lower())
    assert m.set({"name": "AlignedDataCtrlr"}, {"name": "Interval"}, "900") == "Accepted"
    assert m.get({"name": "AlignedDataCtrlr"}, {"name": "Interval"}) == ("Accepted", "0")


def test_the_simulator_honours_get_report_component_variable():
    m = model()
    only = m.report([{"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}])
    assert [(i["component"]["name"], i["variable"]["name"]) for i in only] == [
        ("OCPPCommCtrlr", "HeartbeatInterval")
    ]
    whole = m.report([{"component": {"name": "AuthCtrlr"}}])
    assert whole and {i["component"]["name"] for i in whole} == {"AuthCtrlr"}
    evse2 = m.report([{"component": {"name": "EVSE", "evse": {"id": 2}}}])
    assert evse2 and all(i["component"]["evse"]["id"] == 2 for i in evse2)
    assert m.report([{"component": {"name": "NoSuchCtrlr"}}]) == []


@pytest.mark.django_db
def test_the_daily_read_includes_201_stations(monkeypatch):
    from stations.services import configuration_read
    from tests.personas import make_station

    asked = []
    monkeypatch.setattr(configuration_read, "enqueue", lambda task, pk: asked.append((task, pk)))
    station = make_station("DAILY-201", is_connected=True, ocpp_version="ocpp2.0.1")
    Key.objects.create(station=station, key=CHANGED, desired_value="60", state="accepted")
    assert configuration_read.configuration_daily_reread() == 1
    assert asked == [(configuration_read.DAILY_TASK, station.pk)]


def test_get_variables_requests_are_no_larger_than_the_station_takes():
    from stations.services.configuration_read_v201 import get_variables_payloads

    payloads = get_variables_payloads([f"C.V{i}" for i in range(7)], 3)
    assert [len(p["getVariableData"]) for p in payloads] == [3, 3, 1]
    assert payloads[2]["getVariableData"][0] == {"component": {"name": "C"}, "variable": {"name": "V6"}}
