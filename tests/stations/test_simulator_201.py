"""The simulated OCPP 2.0.1 charger and the manual's onboarding flow for it, over a real socket against a real
daphne process: boot, statuses per EVSE, Auto Configuration (GetBaseReport -> NotifyReport -> SetVariables with a
per-variable result), Fix All, Reset that really reboots, BasicAuthPassword rotation without lock-out, a priced
session from TransactionEvents, CSMS-initiated calls of the 2.0.1 set, and a 1.6 station beside it."""

import asyncio
from decimal import Decimal as D

import pytest

from billing.models import ChargingSession
from stations.calls import CallInvalid, call_and_wait
from stations.models import (
    ConfigurationJob,
    Connector,
    DeviceVariable,
    OcppCall,
    Station,
    StationConfigurationKey,
)
from stations.services import commands, profiles
from stations.simulator.v201_device_model import DeviceModel, default_variables
from tests.simulated import run_job, running_station, running_station_201, simulator_process
from tests.stations.ocpp_helpers import handshake
from tests.waiting import wait_for

pytestmark = pytest.mark.django_db(transaction=True)

Key = StationConfigurationKey
V201 = ("ocpp2.0.1",)


def model() -> DeviceModel:
    return DeviceModel(
        default_variables(vendor="V", model="M", serial_number="S", firmware="F", ocpp_id="X"),
        evses=2,
        reject_variables={"TxCtrlr.EVConnectionTimeOut"},
        reboot_variables={"OCPPCommCtrlr.WebSocketPingInterval"},
    )


@pytest.mark.parametrize(
    ("component", "variable", "value", "attribute", "expected"),
    [
        ("OCPPCommCtrlr", "HeartbeatInterval", "60", "Actual", "Accepted"),
        ("OCPPCommCtrlr", "HeartbeatInterval", "soon", "Actual", "Rejected"),
        ("OCPPCommCtrlr", "HeartbeatInterval", "60", "Target", "NotSupportedAttributeType"),
        ("OCPPCommCtrlr", "WebSocketPingInterval", "60", "Actual", "RebootRequired"),
        ("OCPPCommCtrlr", "NoSuchVariable", "1", "Actual", "UnknownVariable"),
        ("NoSuchCtrlr", "HeartbeatInterval", "1", "Actual", "UnknownComponent"),
        ("ChargingStation", "Model", "other", "Actual", "Rejected"),  # ReadOnly
        ("TxCtrlr", "EVConnectionTimeOut", "30", "Actual", "Rejected"),  # configured to reject
        (
            "SampledDataCtrlr",
            "TxUpdatedMeasurands",
            "Energy.Active.Import.Register,Bogus",
            "Actual",
            "Rejected",
        ),
        ("SecurityCtrlr", "BasicAuthPassword", "short", "Actual", "Rejected"),
        ("SecurityCtrlr", "BasicAuthPassword", "0123456789abcdef0123", "Actual", "Accepted"),
    ],
)
def test_set_variables_answers_like_a_charger(component, variable, value, attribute, expected):
    assert model().set({"name": component}, {"name": variable}, value, attribute) == expected


def test_the_write_only_password_is_never_read_back():
    m = model()
    m.set({"name": "SecurityCtrlr"}, {"name": "BasicAuthPassword"}, "0123456789abcdef0123")
    assert m.get({"name": "SecurityCtrlr"}, {"name": "BasicAuthPassword"}) == ("Rejected", None)
    reported = [i for i in m.report() if i["variable"]["name"] == "BasicAuthPassword"]
    assert "value" not in reported[0]["variableAttribute"][0]


def test_a_201_simulator_boots_reports_each_evse_and_appears_needing_configuration(daphne_server):
    with running_station_201(daphne_server, "SIM201-BOOT", evses=2) as sim:
        sim.wait_booted()
        station = wait_for(lambda: Station.objects.filter(ocpp_id="SIM201-BOOT", is_connected=True).first())
        assert (station.ocpp_version, station.vendor, station.boot_reason) == (
            "ocpp2.0.1",
            "EfluxSim",
            "PowerUp",
        )
        assert station.setup_state == Station.SetupState.NEEDS_CONFIGURATION
        rows = wait_for(
            lambda: (
                list(
                    Connector.objects.filter(station=station)
                    .order_by("connector_id")
                    .values_list("connector_id", "evse_number", "status")
                )
                if Connector.objects.filter(station=station).count() == 2
                else None
            )
        )
        assert rows == [(1, 1, "Available"), (2, 2, "Available")]


def test_auto_configuration_reads_the_device_model_and_sets_each_variable_with_its_own_result(
    daphne_server, operator
):
    profile = profiles.profile_default("2.0.1")
    profile.keys.create(key="OCPPCommCtrlr.NoSuchVariable", value="1", position=90)
    profile.keys.create(key="NoSuchCtrlr.Anything", value="1", position=91)
    profile.keys.create(key="LocalAuthListCtrlr.Enabled", value="true", position=92)
    with running_station_201(
        daphne_server, "SIM201-CONF", reject_variables={"AuthCtrlr.LocalPreAuthorize"}
    ) as sim:
        sim.wait_booted()
        station = Station.objects.get(ocpp_id="SIM201-CONF")
        job = run_job(station, ConfigurationJob.Kind.AUTO, operator)
        states = dict(Key.objects.filter(station=station).values_list("key", "state"))
        assert states["OCPPCommCtrlr.HeartbeatInterval"] == Key.State.ACCEPTED
        assert states["OCPPCommCtrlr.WebSocketPingInterval"] == Key.State.REBOOT_REQUIRED
        assert states["OCPPCommCtrlr.NoSuchVariable"] == Key.State.UNKNOWN_VARIABLE
        assert states["NoSuchCtrlr.Anything"] == Key.State.UNKNOWN_COMPONENT
        assert states["LocalAuthListCtrlr.Enabled"] == Key.State.REJECTED
        assert states["AuthCtrlr.LocalPreAuthorize"] == Key.State.REJECTED
        assert states["SecurityCtrlr.BasicAuthPassword"] == Key.State.ACCEPTED
        assert Key.objects.get(station=station, key="LocalAuthListCtrlr.Enabled").readonly
        assert "5 failed" not in job.reason and "failed" in job.reason
        # The device model was read first and stored per component / variable.
        assert DeviceVariable.objects.filter(
            station=station, component="DeviceDataCtrlr", variable="ItemsPerMessage"
        ).exists()
        assert DeviceVariable.objects.filter(station=station, component="Connector", evse_number=2).exists()
        actions = [a for a, _ in sim.station.received]
        assert actions.index("GetBaseReport") < actions.index("SetVariables")
        assert sim.station.configuration.keys["SampledDataCtrlr.TxUpdatedMeasurands"].value == (
            "Energy.Active.Import.Register,Power.Active.Import"
        )
        # The password was accepted: pending until the station proves it (never locked out meanwhile).
        station.refresh_from_db()
        assert station.pending_password_hash and not station.password_required
        secret = OcppCall.objects.get(
            station=station,
            action="SetVariables",
            payload__setVariableData__0__variable__name="BasicAuthPassword",
        )
        assert secret.payload["setVariableData"][0]["attributeValue"] == "********"

        # Fix All sends only what failed, again.
        sim.station.configuration.reject.clear()
        fixed = run_job(station, ConfigurationJob.Kind.FIX_ALL, operator)
        assert Key.objects.get(station=station, key="AuthCtrlr.LocalPreAuthorize").state == Key.State.ACCEPTED
        assert fixed.status == ConfigurationJob.Status.DONE

        # Reset Immediate: the charger really reboots and connects with the new password, which is adopted.
        commands.station_reset(station=station, kind="Immediate", acting_user=operator)
        sim.wait_booted(count=2)
        assert sim.station.boot_count == 2
        station.refresh_from_db()
        assert station.boot_reason == "RemoteReset"
        assert station.password_required and not station.pending_password_hash
        # The read-back after the boot (GetVariables) resolves the RebootRequired change.
        wait_for(
            lambda: (
                Key.objects.get(station=station, key="OCPPCommCtrlr.WebSocketPingInterval").state
                == Key.State.ACCEPTED
            )
        )
        password = sim.station.password
    # Now only the new password opens the door (A01.FR.03, after it was proven).
    assert asyncio.run(handshake(daphne_server, "SIM201-CONF", subprotocols=V201)) == 401
    assert (
        asyncio.run(
            handshake(daphne_server, "SIM201-CONF", password="wrong-password-0000", subprotocols=V201)
        )
        == 401
    )
    assert asyncio.run(handshake(daphne_server, "SIM201-CONF", password=password, subprotocols=V201)) is True


def test_a_201_session_is_priced_from_transaction_events(daphne_server, own_station, foreign_card):
    own_station.allow_roaming = True
    own_station.price_per_kwh = D("0.25")
    own_station.save()
    with running_station_201(daphne_server, own_station.ocpp_id, power_w=0) as sim:
        sim.wait_booted()
        tx = sim.swipe(foreign_card.id_tag, 1)
        assert tx
        sim.station.add_energy(1, 12_000)
        sim.call(sim.station.send_meter_values, 1)
        sim.call(sim.station.stop_transaction, evse_id=1, reason="EVDisconnected")
        session = wait_for(
            lambda: ChargingSession.objects.filter(station=own_station, status="completed").first()
        )
        assert (session.energy_wh, session.energy_amount, session.stop_reason) == (
            12_000,
            D("3.00"),
            "EVDisconnected",
        )
        ended = [s for s in sim.station.sent if s[0] == "TransactionEvent" and s[1]["eventType"] == "Ended"]
        assert D(str(ended[0][2]["totalCost"])) == session.total


def test_csms_calls_of_the_201_set_reach_the_charger_and_16_actions_are_refused(daphne_server, operator):
    with running_station_201(daphne_server, "SIM201-CALLS") as sim:
        sim.wait_booted()
        station = Station.objects.get(ocpp_id="SIM201-CALLS")
        got = call_and_wait(
            station=station,
            action="GetVariables",
            payload={
                "getVariableData": [
                    {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}},
                    {"component": {"name": "SecurityCtrlr"}, "variable": {"name": "BasicAuthPassword"}},
                    {"component": {"name": "Nope"}, "variable": {"name": "X"}},
                ]
            },
        )
        statuses = [r["attributeStatus"] for r in got.response["getVariableResult"]]
        assert statuses == ["Accepted", "Rejected", "UnknownComponent"]
        assert call_and_wait(station=station, action="ClearCache", payload={}).response == {
            "status": "Accepted"
        }
        trigger = call_and_wait(
            station=station, action="TriggerMessage", payload={"requestedMessage": "Heartbeat"}
        )
        assert trigger.response["status"] == "Accepted"
        status = call_and_wait(station=station, action="GetTransactionStatus", payload={})
        assert status.response == {"messagesInQueue": False}
        unlock = call_and_wait(
            station=station, action="UnlockConnector", payload={"evseId": 1, "connectorId": 1}
        )
        assert unlock.response["status"] == "Unlocked"
        off = call_and_wait(
            station=station,
            action="ChangeAvailability",
            payload={"operationalStatus": "Inoperative", "evse": {"id": 2}},
        )
        assert off.response["status"] == "Accepted"
        wait_for(
            lambda: Connector.objects.filter(station=station, evse_number=2, status="Unavailable").exists()
        )
        with pytest.raises(CallInvalid):
            call_and_wait(station=station, action="ChangeConfiguration", payload={"key": "A", "value": "1"})
        with pytest.raises(CallInvalid):
            call_and_wait(station=station, action="GetVariables", payload={"getVariableData": "bad"})


def test_remote_start_and_stop_on_a_201_charger(daphne_server, own_station, own_card):
    with running_station_201(daphne_server, own_station.ocpp_id) as sim:
        sim.wait_booted()
        started = call_and_wait(
            station=own_station,
            action="RequestStartTransaction",
            payload={
                "idToken": {"idToken": own_card.id_tag, "type": "Central"},
                "remoteStartId": 7,
                "evseId": 1,
            },
        )
        assert started.response["status"] == "Accepted"
        session = wait_for(
            lambda: ChargingSession.objects.filter(station=own_station, status="active").first()
        )
        tx = sim.station.connectors[1].transaction_id
        stopped = call_and_wait(
            station=own_station, action="RequestStopTransaction", payload={"transactionId": tx}
        )
        assert stopped.response["status"] == "Accepted"
        wait_for(lambda: ChargingSession.objects.filter(pk=session.pk, status="completed").exists())
        assert ChargingSession.objects.get(pk=session.pk).stop_reason == "Remote"


def test_a_16_and_a_201_station_work_side_by_side(daphne_server):
    with (
        running_station(daphne_server, "SIDE-16") as old,
        running_station_201(daphne_server, "SIDE-201") as new,
    ):
        old.wait_booted()
        new.wait_booted()
        versions = dict(
            Station.objects.filter(ocpp_id__startswith="SIDE-").values_list("ocpp_id", "ocpp_version")
        )
        assert versions == {"SIDE-16": "ocpp1.6", "SIDE-201": "ocpp2.0.1"}
        assert call_and_wait(
            station=Station.objects.get(ocpp_id="SIDE-16"), action="ClearCache", payload={}
        ).response == {"status": "Accepted"}
        assert call_and_wait(
            station=Station.objects.get(ocpp_id="SIDE-201"), action="ClearCache", payload={}
        ).response == {"status": "Accepted"}


def test_simulate_station_command_speaks_201(daphne_server, tmp_path):
    with simulator_process(daphne_server, "SIM201-CMD", "--ocpp", "2.0.1", tmp_path=tmp_path) as proc:
        proc.wait_for_output("connected (subprotocol ocpp2.0.1)")
        proc.wait_for_output("online")
        wait_for(
            lambda: Station.objects.filter(
                ocpp_id="SIM201-CMD", is_connected=True, ocpp_version="ocpp2.0.1"
            ).exists()
        )


def test_the_portals_remote_start_and_stop_speak_201_to_a_201_charger(
    daphne_server, own_station, own_card, operator
):
    from billing.remote import session_remote_start, session_remote_stop

    with running_station_201(daphne_server, own_station.ocpp_id) as sim:
        sim.wait_booted()
        wait_for(lambda: Connector.objects.filter(station=own_station, evse_number=2).exists())
        own_station.refresh_from_db()
        result = session_remote_start(
            station=own_station, id_tag=own_card.id_tag, connector_id=2, acting_user=operator
        )
        assert result.ok, result.message
        session = wait_for(
            lambda: ChargingSession.objects.filter(station=own_station, status="active").first()
        )
        assert session.connector_id == 2 and sim.station.connectors[2].transaction_id
        stopped = session_remote_stop(session=session, acting_user=operator)
        assert stopped.ok, stopped.message
        wait_for(lambda: ChargingSession.objects.filter(pk=session.pk, status="completed").exists())
        actions = [a for a, _ in sim.station.received]
        assert "RequestStartTransaction" in actions and "RequestStopTransaction" in actions


def test_manage_py_ocpp_call_sends_any_201_action_and_refuses_other_versions_actions(daphne_server):
    import json
    import subprocess
    import sys

    from tests.conftest import ROOT, server_env

    def ocpp_call(*args):
        return subprocess.run(
            [sys.executable, "manage.py", "ocpp_call", *args],
            cwd=ROOT,
            env=server_env(),
            capture_output=True,
            text=True,
            timeout=120,
        )

    with running_station_201(daphne_server, "SIM201-CLI") as sim:
        sim.wait_booted()
        payload = {
            "getVariableData": [
                {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}
            ]
        }
        done = ocpp_call("SIM201-CLI", "GetVariables", json.dumps(payload))
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["getVariableResult"][0]["attributeStatus"] == "Accepted"
        report = ocpp_call(
            "SIM201-CLI", "GetBaseReport", '{"requestId": 5, "reportBase": "ConfigurationInventory"}'
        )
        assert report.returncode == 0 and json.loads(report.stdout) == {"status": "Accepted"}
        wrong = ocpp_call("SIM201-CLI", "GetConfiguration")
        assert (
            wrong.returncode != 0 and "unsupported action 'GetConfiguration' for OCPP 2.0.1" in wrong.stderr
        )
        bad = ocpp_call("SIM201-CLI", "Reset", '{"type": "Soft"}')
        assert bad.returncode != 0 and "invalid Reset payload" in bad.stderr
        wait_for(lambda: DeviceVariable.objects.filter(station__ocpp_id="SIM201-CLI", request_id=5).exists())
