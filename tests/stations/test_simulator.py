"""The simulated charger (stations/simulator/, manage.py simulate_station).

Its configuration rules are pure logic, tested as a table. Everything else runs over a real socket against a
real daphne process: the simulator is only useful if it behaves like a charger towards the real server."""

import pytest

from stations.calls import call_and_wait
from stations.models import Connector, OcppCall, Station
from stations.services.admission import station_set_password
from stations.simulator.v16_configuration import Configuration, default_configuration
from tests.simulated import running_station, simulator_process
from tests.waiting import wait_for

# --- configuration rules (OCPP 1.6 §5.3, §5.8, §9.1; security whitepaper §7) -------------------------


def configuration(**kwargs) -> Configuration:
    return Configuration(default_configuration(2), **kwargs)


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("HeartbeatInterval", "60", "Accepted"),
        ("heartbeatinterval", "60", "Accepted"),  # CiString keys are case-insensitive
        ("HeartbeatInterval", "soon", "Rejected"),  # §5.3: not the expected format
        ("MeterValueSampleInterval", "-1", "Rejected"),  # out of range
        ("WebSocketPingInterval", "-5", "Rejected"),  # §9.1.34: negative values are not allowed
        ("WebSocketPingInterval", "30", "RebootRequired"),
        ("NumberOfConnectors", "4", "Rejected"),  # read-only
        ("SupportedFeatureProfiles", "Core", "Rejected"),  # read-only
        ("NoSuchKey", "1", "NotSupported"),
        ("AuthorizeRemoteTxRequests", "false", "Accepted"),
        ("AuthorizeRemoteTxRequests", "maybe", "Rejected"),
        ("MeterValuesSampledData", "Energy.Active.Import.Register,Voltage.L1,SoC", "Accepted"),
        ("MeterValuesSampledData", "Energy.Active.Import.Register,Bogus", "Rejected"),
        ("MeterValuesSampledData", ",".join(["Voltage"] * 9), "Rejected"),  # over ...MaxLength (8)
        ("AuthorizationKey", "0123456789abcdef0123456789abcdef01234567", "Accepted"),
        ("AuthorizationKey", "short", "Rejected"),  # whitepaper A00.FR.205: at least 16 bytes
        ("SecurityProfile", "0", "Rejected"),  # A05.FR.01: only upwards
        ("SecurityProfile", "1", "Rejected"),  # A05.FR.02: no AuthorizationKey yet
        ("SecurityProfile", "2", "Rejected"),  # A05.FR.03: no TLS certificates here
    ],
)
def test_change_configuration_answers_like_a_charger(key, value, expected):
    assert configuration().change(key, value) == expected


def test_a_change_that_is_not_accepted_leaves_the_value_alone():
    config = configuration()
    config.change("HeartbeatInterval", "soon")
    assert config.value("HeartbeatInterval") == "300"
    config.change("HeartbeatInterval", "60")
    assert config.value("HeartbeatInterval") == "60"


def test_a_key_configured_to_be_rejected_is_rejected_with_a_valid_value():
    config = configuration(reject_keys={"LightIntensity"})
    assert config.change("LightIntensity", "50") == "Rejected"
    assert config.value("LightIntensity") == "100"


def test_security_profile_1_is_accepted_once_an_authorization_key_is_set():
    config = configuration()
    config.change("AuthorizationKey", "0123456789abcdef0123")
    assert config.change("SecurityProfile", "1") == "Accepted"


def test_get_configuration_without_keys_lists_core_keys_with_read_only_flags():
    keys, unknown = configuration().get(None)
    by_name = {entry["key"]: entry for entry in keys}
    assert unknown == []
    for required in (
        "HeartbeatInterval",
        "MeterValueSampleInterval",
        "MeterValuesSampledData",
        "ClockAlignedDataInterval",
        "ConnectionTimeOut",
        "AuthorizeRemoteTxRequests",
        "LocalAuthorizeOffline",
        "LocalPreAuthorize",
        "StopTransactionOnInvalidId",
        "ResetRetries",
    ):
        assert by_name[required]["readonly"] is False
    assert by_name["NumberOfConnectors"] == {"key": "NumberOfConnectors", "readonly": True, "value": "2"}
    assert by_name["SupportedFeatureProfiles"]["readonly"] is True
    assert by_name["GetConfigurationMaxKeys"]["readonly"] is True


def test_get_configuration_puts_unrecognised_keys_in_unknown_key():
    keys, unknown = configuration().get(["HeartbeatInterval", "NoSuchKey"])
    assert keys == [{"key": "HeartbeatInterval", "readonly": False, "value": "300"}]
    assert unknown == ["NoSuchKey"]


def test_authorization_key_value_is_never_read_back():
    config = configuration()
    config.change("AuthorizationKey", "0123456789abcdef0123")
    listed = [configuration_key for configuration_key in config.get(None)[0]]
    asked = config.get(["AuthorizationKey"])[0]
    # Whitepaper §7.2: write-only. The key is listed (the charger supports it), its value never is.
    assert {"key": "AuthorizationKey", "readonly": False} in listed
    assert asked == [{"key": "AuthorizationKey", "readonly": False}]
    assert "0123456789abcdef0123" not in repr(config.get(None))


# --- against the real server ---------------------------------------------------------------------------


def call(ocpp_id: str, action: str, payload: dict) -> OcppCall:
    station = Station.objects.get(ocpp_id=ocpp_id)
    return call_and_wait(station=station, action=action, payload=payload, source="test")


def test_simulator_boots_and_the_station_appears_needing_configuration(daphne_server):
    with running_station(daphne_server, "SIM-BOOT-1", connectors=2) as sim:
        sim.wait_booted()
        station = wait_for(lambda: Station.objects.filter(ocpp_id="SIM-BOOT-1", is_connected=True).first())
        assert station.serial_number == "SIM-SIM-BOOT-1"
        assert station.vendor == "EfluxSim"
        assert station.firmware_version == "1.6.0-sim"
        assert station.setup_state == Station.SetupState.NEEDS_CONFIGURATION
        assert station.last_boot_at is not None
        statuses = wait_for(
            lambda: (
                dict(Connector.objects.filter(station=station).values_list("connector_id", "status"))
                if Connector.objects.filter(station=station).count() == 3
                else None
            )
        )
        assert statuses == {0: "Available", 1: "Available", 2: "Available"}
        assert sim.station.registration_status == "Accepted"
        assert sim.station.heartbeat_interval > 0  # adopted from BootNotification.conf


def test_heartbeats_go_out_at_the_interval_and_are_answered(daphne_server):
    with running_station(daphne_server, "SIM-HB-1", heartbeat_interval=1) as sim:
        sim.wait_booted()
        wait_for(
            sim.alive(lambda: sum(1 for s in sim.station.sent if s[0] == "Heartbeat" and s[2]) >= 2),
            message=sim.describe,
        )
        answered = [s for s in sim.station.sent if s[0] == "Heartbeat"]
        assert all(response and "currentTime" in response for _, _, response in answered)


def test_csms_reads_configuration_with_unknown_keys_over_the_socket(daphne_server):
    with running_station(daphne_server, "SIM-CFG-1") as sim:
        sim.wait_booted()
        result = call("SIM-CFG-1", "GetConfiguration", {"key": ["HeartbeatInterval", "NoSuchKey"]})
        assert result.status == OcppCall.Status.ANSWERED, result.error_description
        assert result.response["unknownKey"] == ["NoSuchKey"]
        assert [k["key"] for k in result.response["configurationKey"]] == ["HeartbeatInterval"]

        everything = call("SIM-CFG-1", "GetConfiguration", {})
        keys = {k["key"]: k for k in everything.response["configurationKey"]}
        assert keys["NumberOfConnectors"]["readonly"] is True
        assert "value" not in keys["AuthorizationKey"]


def test_csms_changes_configuration_and_gets_each_kind_of_answer(daphne_server):
    with running_station(daphne_server, "SIM-CFG-2", reject_keys={"LightIntensity"}) as sim:
        sim.wait_booted()
        answers = {
            key: call("SIM-CFG-2", "ChangeConfiguration", {"key": key, "value": value}).response["status"]
            for key, value in [
                ("MeterValueSampleInterval", "30"),
                ("LightIntensity", "50"),
                ("NumberOfConnectors", "4"),
                ("NoSuchKey", "1"),
                ("WebSocketPingInterval", "60"),
            ]
        }
        assert answers == {
            "MeterValueSampleInterval": "Accepted",
            "LightIntensity": "Rejected",
            "NumberOfConnectors": "Rejected",
            "NoSuchKey": "NotSupported",
            "WebSocketPingInterval": "RebootRequired",
        }
        assert sim.station.configuration.value("MeterValueSampleInterval") == "30"


def test_reset_really_disconnects_reconnects_and_boots_again(daphne_server):
    with running_station(daphne_server, "SIM-RESET-1") as sim:
        sim.wait_booted()
        first_boot = wait_for(lambda: Station.objects.get(ocpp_id="SIM-RESET-1").last_boot_at)

        result = call("SIM-RESET-1", "Reset", {"type": "Soft"})
        assert result.response == {"status": "Accepted"}

        sim.wait_booted(count=2)
        assert sim.station.connection_count == 2
        station = wait_for(
            lambda: Station.objects.filter(ocpp_id="SIM-RESET-1", last_boot_at__gt=first_boot).first()
        )
        assert station.is_connected


def test_configuration_survives_a_reset(daphne_server):
    with running_station(daphne_server, "SIM-RESET-2") as sim:
        sim.wait_booted()
        assert call(
            "SIM-RESET-2", "ChangeConfiguration", {"key": "ConnectionTimeOut", "value": "90"}
        ).response["status"] == ("Accepted")
        call("SIM-RESET-2", "Reset", {"type": "Hard"})
        sim.wait_booted(count=2)
        again = call("SIM-RESET-2", "GetConfiguration", {"key": ["ConnectionTimeOut"]})
        assert again.response["configurationKey"] == [
            {"key": "ConnectionTimeOut", "readonly": False, "value": "90"}
        ]


def test_a_profile_1_charger_uses_an_accepted_authorization_key_from_the_next_connection(daphne_server):
    old_key, new_key = "old-password-0123456789", "00112233445566778899aabbccddeeff00112233"
    station_set_password(station=Station.objects.create(ocpp_id="SIM-KEY-1"), password=old_key)
    with running_station(daphne_server, "SIM-KEY-1", password=old_key) as sim:
        sim.wait_booted()
        assert sim.station.configuration.value("SecurityProfile") == "1"  # installed with a password
        result = call("SIM-KEY-1", "ChangeConfiguration", {"key": "AuthorizationKey", "value": new_key})
        assert result.response == {"status": "Accepted"}
        assert sim.station.password == new_key
        # An operator requires exactly the new key now; the reconnect after Reset must present it.
        station_set_password(station=Station.objects.get(ocpp_id="SIM-KEY-1"), password=new_key)
        call("SIM-KEY-1", "Reset", {"type": "Soft"})
        sim.wait_booted(count=2)
        assert sim.station.last_error is None


def test_a_profile_0_charger_stores_the_key_and_sends_credentials_only_once_the_profile_is_raised(
    daphne_server,
):
    # Security whitepaper §7.6 / A05: HTTP Basic from SecurityProfile 1 on; raising it makes the charger reconnect.
    key = "00112233445566778899aabbccddeeff00112233"
    with running_station(daphne_server, "SIM-KEY-0") as sim:
        sim.wait_booted()
        assert call(
            "SIM-KEY-0", "ChangeConfiguration", {"key": "AuthorizationKey", "value": key}
        ).response == {"status": "Accepted"}
        assert sim.station.password == key and sim.station._basic_auth_password() is None
        # The server requires the key from now on: only a charger that sends it gets back in.
        station_set_password(station=Station.objects.get(ocpp_id="SIM-KEY-0"), password=key)
        raised = call("SIM-KEY-0", "ChangeConfiguration", {"key": "SecurityProfile", "value": "1"})
        assert raised.response == {"status": "Accepted"}
        wait_for(
            sim.alive(lambda: sim.station.connection_count >= 2 and sim.station.connected),
            message=sim.describe,
        )
        assert sim.station._basic_auth_password() == key and sim.station.last_error is None


def test_a_state_file_keeps_configuration_and_password_across_runs(daphne_server, tmp_path):
    state = tmp_path / "cp.json"
    key = "ffeeddccbbaa99887766554433221100ffeeddcc"
    with running_station(daphne_server, "SIM-STATE-1", state_file=state) as sim:
        sim.wait_booted()
        call("SIM-STATE-1", "ChangeConfiguration", {"key": "MeterValueSampleInterval", "value": "15"})
        call("SIM-STATE-1", "ChangeConfiguration", {"key": "AuthorizationKey", "value": key})
        call("SIM-STATE-1", "ChangeConfiguration", {"key": "SecurityProfile", "value": "1"})
        wait_for(
            sim.alive(lambda: sim.station.connection_count >= 2 and sim.station.connected),
            message=sim.describe,
        )
    station_set_password(station=Station.objects.get(ocpp_id="SIM-STATE-1"), password=key)
    with running_station(daphne_server, "SIM-STATE-1", state_file=state) as sim:
        sim.wait_booted()  # the server now requires the key: only the stored password gets in
        assert sim.station.configuration.value("MeterValueSampleInterval") == "15"
        assert sim.station.configuration.value("SecurityProfile") == "1"


def test_a_wrong_password_is_refused_and_the_right_one_connects(daphne_server):
    station = Station.objects.create(ocpp_id="SIM-AUTH-1")
    station_set_password(station=station, password="right-password-0123456789")
    with running_station(daphne_server, "SIM-AUTH-1", password="wrong-password-000000") as sim:
        wait_for(sim.alive(lambda: sim.station.last_error is not None), message=sim.describe)
        assert "401" in sim.station.last_error
        assert sim.station.boot_count == 0
    with running_station(daphne_server, "SIM-AUTH-1", password="right-password-0123456789") as sim:
        sim.wait_booted()


def test_trigger_message_sends_the_requested_message(daphne_server):
    with running_station(daphne_server, "SIM-TRIG-1") as sim:
        sim.wait_booted()
        result = call("SIM-TRIG-1", "TriggerMessage", {"requestedMessage": "Heartbeat"})
        assert result.response == {"status": "Accepted"}
        wait_for(
            sim.alive(lambda: ("TriggerMessage", {"requestedMessage": "Heartbeat"}) in sim.station.received),
            message=sim.describe,
        )
        wait_for(
            sim.alive(lambda: any(action == "Heartbeat" for action, _, _ in sim.station.sent)),
            message=sim.describe,
        )
        refused = call(
            "SIM-TRIG-1", "TriggerMessage", {"requestedMessage": "StatusNotification", "connectorId": 9}
        )
        assert refused.response == {"status": "Rejected"}


def test_change_availability_reports_the_connector_unavailable(daphne_server):
    with running_station(daphne_server, "SIM-AVAIL-1") as sim:
        sim.wait_booted()
        result = call("SIM-AVAIL-1", "ChangeAvailability", {"connectorId": 2, "type": "Inoperative"})
        assert result.response == {"status": "Accepted"}
        wait_for(
            lambda: Connector.objects.filter(
                station__ocpp_id="SIM-AVAIL-1", connector_id=2, status="Unavailable"
            ).exists()
        )


def test_data_transfer_is_answered_unknown_vendor(daphne_server):
    with running_station(daphne_server, "SIM-DT-1") as sim:
        sim.wait_booted()
        result = call("SIM-DT-1", "DataTransfer", {"vendorId": "com.example"})
        assert result.response == {"status": "UnknownVendorId"}


def test_simulate_station_command_boots_and_logs_in_plain_words(daphne_server, tmp_path):
    with simulator_process(
        daphne_server, "SIM-CMD-1", "--connectors", "1", "--reject-key", "LightIntensity", tmp_path=tmp_path
    ) as proc:
        proc.wait_for_output("SIM-CMD-1: online")
        station = wait_for(lambda: Station.objects.filter(ocpp_id="SIM-CMD-1", is_connected=True).first())
        assert station.setup_state == Station.SetupState.NEEDS_CONFIGURATION
        rejected = call("SIM-CMD-1", "ChangeConfiguration", {"key": "LightIntensity", "value": "10"})
        assert rejected.response == {"status": "Rejected"}
        proc.wait_for_output("CSMS calls ChangeConfiguration")
    output = proc.output()
    assert "→ BootNotification" in output
    assert "← BootNotification.conf" in output
    assert "SIM-CMD-1: stopped" in output


def sent(sim, action: str) -> list[tuple[dict, dict | None]]:
    return [(request, response) for name, request, response in sim.station.sent if name == action]


def statuses(sim, connector_id: int) -> list[str]:
    return [r["status"] for r, _ in sent(sim, "StatusNotification") if r["connectorId"] == connector_id]


def test_remote_start_and_stop_run_a_whole_transaction(daphne_server):
    Station.objects.create(ocpp_id="SIM-TX-1", free_charging=True)  # any card is accepted here
    with running_station(daphne_server, "SIM-TX-1", power_w=0, meter_wh=5000) as sim:
        sim.wait_booted()
        started = call("SIM-TX-1", "RemoteStartTransaction", {"idTag": "REMOTE1", "connectorId": 1})
        assert started.response == {"status": "Accepted"}
        wait_for(sim.alive(lambda: sim.station.connectors[1].status == "Charging"), message=sim.describe)
        transaction_id = sim.station.connectors[1].transaction_id
        # AuthorizeRemoteTxRequests is true by default: the card was authorized first (OCPP 1.6 §5.11).
        assert [request["idTag"] for request, _ in sent(sim, "Authorize")] == ["REMOTE1"]
        [(start, start_answer)] = sent(sim, "StartTransaction")
        assert start["meterStart"] == 5000 and start_answer["transactionId"] == transaction_id
        wait_for(
            lambda: Connector.objects.filter(
                station__ocpp_id="SIM-TX-1", connector_id=1, status="Charging"
            ).exists()
        )

        sim.station.add_energy(1, 1234)
        stopped = call("SIM-TX-1", "RemoteStopTransaction", {"transactionId": transaction_id})
        assert stopped.response == {"status": "Accepted"}
        # sent() lists a call once it is answered: wait for the last one of the sequence.
        wait_for(sim.alive(lambda: statuses(sim, 1)[-1] == "Available"), message=sim.describe)
        [(stop, stop_answer)] = sent(sim, "StopTransaction")
        assert stop["meterStop"] == 6234 and stop["reason"] == "Remote"
        assert stop_answer is not None  # the server answered it
        contexts = [v["context"] for sample in stop["transactionData"] for v in sample["sampledValue"]]
        assert contexts[0] == "Transaction.Begin" and contexts[-1] == "Transaction.End"
        assert statuses(sim, 1)[-4:] == ["Preparing", "Charging", "Finishing", "Available"]


def test_remote_stop_of_an_unknown_transaction_is_rejected(daphne_server):
    with running_station(daphne_server, "SIM-TX-2") as sim:
        sim.wait_booted()
        result = call("SIM-TX-2", "RemoteStopTransaction", {"transactionId": 987654})
        assert result.response == {"status": "Rejected"}


def test_a_swiped_card_the_server_does_not_know_starts_nothing(daphne_server):
    with running_station(daphne_server, "SIM-TX-3") as sim:
        sim.wait_booted()
        assert sim.swipe("UNKNOWN-CARD") is None
        assert sent(sim, "StartTransaction") == []
        assert sim.station.connectors[1].status == "Available"


def test_a_swiped_card_starts_a_local_session_with_meter_values(daphne_server):
    Station.objects.create(ocpp_id="SIM-TX-4", free_charging=True)
    with running_station(daphne_server, "SIM-TX-4", meter_value_interval=1) as sim:
        sim.wait_booted()
        transaction_id = sim.swipe("LOCAL-CARD")
        assert transaction_id is not None
        wait_for(
            sim.alive(lambda: len([r for r, a in sent(sim, "MeterValues") if a is not None]) >= 2),
            message=sim.describe,
        )
        meter_values = [request for request, _ in sent(sim, "MeterValues")]
        assert all(m["transactionId"] == transaction_id for m in meter_values)
        measurands = {v["measurand"] for v in meter_values[0]["meterValue"][0]["sampledValue"]}
        assert measurands == {
            "Energy.Active.Import.Register",
            "Power.Active.Import",
            "Current.Import",
            "Voltage",
            "SoC",
        }
        result = sim.call(sim.station.stop_transaction, connector_id=1)
        assert result["transactionId"] == transaction_id


def test_the_load_generator_boots_its_stations_and_counts_answered_calls(daphne_server):
    import asyncio

    from bench import load

    args = load.parser().parse_args(
        ["--url", f"{daphne_server.ws_url}/ocpp/", "--stations", "3", "--rate", "6", "--duration", "2"]
        + ["--ramp", "0.5", "--prefix", "LOADTEST"]
    )
    result = asyncio.run(load.run(args))
    assert result["connected"] == 3 and result["boot_accepted"] == 3
    assert result["errors"] == {} and result["closed_early"] == 0
    assert result["steady_calls"] > 0
    assert sum(s["count"] for s in result["steady_latency_by_action"].values()) >= result["steady_calls"]
    assert Station.objects.filter(ocpp_id__startswith="LOADTEST-").count() == 3


def test_firmware_update_and_diagnostics_report_their_progress(daphne_server):
    with running_station(daphne_server, "SIM-FW-1", status_step_delay=0.05) as sim:
        sim.wait_booted()
        update = call(
            "SIM-FW-1",
            "UpdateFirmware",
            {"location": "http://127.0.0.1/fw.bin", "retrieveDate": "2020-01-01T00:00:00Z"},
        )
        assert update.status == OcppCall.Status.ANSWERED and update.response == {}
        wait_for(lambda: Station.objects.filter(ocpp_id="SIM-FW-1", firmware_status="Installed").exists())
        # The simulator records a message once its answer is back, which may be after the CSMS stored it.
        wait_for(lambda: len(sent(sim, "FirmwareStatusNotification")) == 4, message=sim.describe)
        assert [r["status"] for r, _ in sent(sim, "FirmwareStatusNotification")] == [
            "Downloading",
            "Downloaded",
            "Installing",
            "Installed",
        ]
        diagnostics = call("SIM-FW-1", "GetDiagnostics", {"location": "ftp://127.0.0.1/upload/"})
        assert diagnostics.response["fileName"].startswith("diagnostics-SIM-FW-1-")
        wait_for(lambda: Station.objects.filter(ocpp_id="SIM-FW-1", diagnostics_status="Uploaded").exists())


def test_unlock_connector_and_clear_cache_are_answered(daphne_server):
    with running_station(daphne_server, "SIM-UNL-1") as sim:
        sim.wait_booted()
        assert call("SIM-UNL-1", "UnlockConnector", {"connectorId": 1}).response == {"status": "Unlocked"}
        assert call("SIM-UNL-1", "UnlockConnector", {"connectorId": 7}).response == {"status": "NotSupported"}
        assert call("SIM-UNL-1", "ClearCache", {}).response == {"status": "Accepted"}
