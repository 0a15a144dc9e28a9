"""OCPP 2.0.1 beside 1.6 on the same URL, over a real socket against a real daphne process: subprotocol
negotiation, boot (Accepted and Pending), StatusNotification per EVSE and connector, the B02/B03 SecurityError
rule, the 2.0.1 error spellings (part 4 §4.3) with the connection kept, NotifyReport / NotifyEvent storage."""

import json

import pytest
from django.urls import reverse

from stations.models import ConfigurationJob, Connector, DeviceVariable, MessageLog, Station, StationEvent
from tests.stations.ocpp201_helpers import BOOT, RawStation201

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def client201(daphne_server):
    clients = []

    def make(ocpp_id: str, **kw) -> RawStation201:
        client = RawStation201(daphne_server, ocpp_id, **kw)
        clients.append(client)
        return client

    yield make
    for c in clients:
        c.close()


def test_it_prefers_201_when_both_are_offered_and_records_the_version(client201):
    cp = client201("CP201-NEG", subprotocols=("ocpp1.6", "ocpp2.0.1"))
    assert cp.ws.subprotocol == "ocpp2.0.1"
    answer = cp.boot()
    assert answer["status"] == "Accepted" and answer["interval"] == 300
    station = Station.objects.get(ocpp_id="CP201-NEG")
    assert station.ocpp_version == "ocpp2.0.1"
    assert (station.vendor, station.model, station.serial_number) == (
        "Elinta Charge Solutions GmbH",
        "CityCharge Mini 2",
        "ELI-201-0001",
    )
    assert (station.iccid, station.imsi, station.firmware_version) == (
        "8931081234567890123",
        "204081234567890",
        "2.4.1",
    )
    assert (station.boot_status, station.boot_reason) == ("Accepted", "PowerUp")
    assert station.setup_state == Station.SetupState.NEEDS_CONFIGURATION


def test_a_16_only_station_still_gets_16(client201):
    cp = client201("CP16-NEG", subprotocols=("ocpp1.6",))
    assert cp.ws.subprotocol == "ocpp1.6"


def test_status_notification_maps_evse_and_connector_to_platform_connectors(client201):
    cp = client201("CP201-STATUS")
    cp.boot()
    for evse, conn, status in ((1, 1, "Available"), (2, 1, "Occupied"), (2, 2, "Faulted")):
        payload = {
            "timestamp": "2026-11-20T08:00:00Z",
            "connectorStatus": status,
            "evseId": evse,
            "connectorId": conn,
        }
        assert cp.result("StatusNotification", payload) == {}
    rows = list(
        Connector.objects.filter(station__ocpp_id="CP201-STATUS")
        .order_by("connector_id")
        .values_list("connector_id", "evse_number", "evse_connector", "status")
    )
    assert rows == [(1, 1, 1, "Available"), (2, 2, 1, "Occupied"), (3, 2, 2, "Faulted")]


def test_a_pending_station_gets_security_error_for_anything_but_boot(client201, daphne_server):
    station = Station.objects.create(ocpp_id="CP201-PENDING")
    ConfigurationJob.objects.create(station=station, status=ConfigurationJob.Status.WAITING)
    cp = client201("CP201-PENDING")
    answer = cp.boot()
    assert answer["status"] == "Pending" and answer["interval"] > 0
    refused = cp.call("Heartbeat", {}, message_id="hb-pending")
    assert refused[:3] == [4, "hb-pending", "SecurityError"]
    status = {
        "timestamp": "2026-11-20T08:00:00Z",
        "connectorStatus": "Available",
        "evseId": 1,
        "connectorId": 1,
    }
    assert cp.call("StatusNotification", status)[2] == "SecurityError"
    assert not Connector.objects.filter(station=station).exists()
    # Accepted once the job is over: the next boot is answered Accepted and the station may speak.
    ConfigurationJob.objects.filter(station=station).update(status=ConfigurationJob.Status.DONE)
    assert cp.boot(reason="Triggered")["status"] == "Accepted"
    assert cp.result("Heartbeat", {})["currentTime"]


def test_a_station_that_never_booted_gets_security_error(client201):
    cp = client201("CP201-NOBOOT")
    assert cp.call("Heartbeat", {}, message_id="hb-1")[:3] == [4, "hb-1", "SecurityError"]


@pytest.mark.parametrize(
    "frame, message_id, code",
    [
        ("not json", "-1", "RpcFrameworkError"),
        ('{"an": "object"}', "-1", "RpcFrameworkError"),
        ('[2, "only-three", "Heartbeat"]', "only-three", "RpcFrameworkError"),
        ('[7, "type-seven", "Heartbeat", {}]', "type-seven", "MessageTypeNotSupported"),
        ('[2, "' + "x" * 37 + '", "Heartbeat", {}]', "x" * 37, "RpcFrameworkError"),
        (
            '[2, "no-field", "StatusNotification", {"timestamp": "2026-11-20T08:00:00Z"}]',
            "no-field",
            "OccurrenceConstraintViolation",
        ),
        ('[2, "extra", "Heartbeat", {"surprise": 1}]', "extra", "FormatViolation"),
        (
            '[2, "wrong-type", "StatusNotification", {"timestamp": "2026-11-20T08:00:00Z", "connectorStatus": "Available", "evseId": "one", "connectorId": 1}]',
            "wrong-type",
            "TypeConstraintViolation",
        ),
        (
            '[2, "bad-enum", "StatusNotification", {"timestamp": "2026-11-20T08:00:00Z", "connectorStatus": "Sleeping", "evseId": 1, "connectorId": 1}]',
            "bad-enum",
            "PropertyConstraintViolation",
        ),
        ('[2, "unknown", "MakeCoffee", {}]', "unknown", "NotImplemented"),
        (
            '[2, "bad-time", "StatusNotification", {"timestamp": "yesterday", "connectorStatus": "Available", "evseId": 1, "connectorId": 1}]',
            "bad-time",
            "TypeConstraintViolation",
        ),
    ],
)
def test_each_malformed_input_gets_the_201_error_code_and_the_connection_lives(
    client201, frame, message_id, code
):
    cp = client201("CP201-BAD")
    cp.boot()
    cp.send_raw(frame)
    answer = cp.next_answer(message_id)
    assert answer[0] == 4 and answer[1] == message_id and answer[2] == code, answer
    assert isinstance(answer[3], str) and answer[4] == {}
    assert cp.result("Heartbeat", {})["currentTime"]  # still connected and served


def test_notify_report_stores_the_device_model_per_component_and_variable(client201):
    cp = client201("CP201-REPORT")
    cp.boot()
    report = {
        "requestId": 7,
        "generatedAt": "2026-11-20T08:00:00Z",
        "seqNo": 0,
        "tbc": False,
        "reportData": [
            {
                "component": {"name": "OCPPCommCtrlr"},
                "variable": {"name": "HeartbeatInterval"},
                "variableAttribute": [{"type": "Actual", "value": "120", "mutability": "ReadWrite"}],
                "variableCharacteristics": {"dataType": "integer", "unit": "s", "supportsMonitoring": False},
            },
            {
                "component": {"name": "Connector", "evse": {"id": 1, "connectorId": 1}},
                "variable": {"name": "ConnectorType"},
                "variableAttribute": [{"value": "cType2", "mutability": "ReadOnly"}],
                "variableCharacteristics": {"dataType": "string", "supportsMonitoring": False},
            },
        ],
    }
    assert cp.result("NotifyReport", report) == {}
    rows = {
        (r.component, r.variable): r for r in DeviceVariable.objects.filter(station__ocpp_id="CP201-REPORT")
    }
    assert rows["OCPPCommCtrlr", "HeartbeatInterval"].value == "120"
    assert rows["OCPPCommCtrlr", "HeartbeatInterval"].unit == "s"
    connector_type = rows["Connector", "ConnectorType"]
    assert (connector_type.value, connector_type.readonly, connector_type.evse_number) == ("cType2", True, 1)


def test_notify_event_is_stored_once_and_maps_availability_and_faults(client201, client, operator):
    cp = client201("CP201-EVENT")
    cp.boot()
    events = {
        "generatedAt": "2026-11-20T08:00:00Z",
        "seqNo": 0,
        "eventData": [
            {
                "eventId": 1,
                "timestamp": "2026-11-20T08:00:00Z",
                "trigger": "Delta",
                "actualValue": "Unavailable",
                "component": {"name": "Connector", "evse": {"id": 1, "connectorId": 1}},
                "variable": {"name": "AvailabilityState"},
                "eventNotificationType": "HardWiredNotification",
            },
            {
                "eventId": 2,
                "timestamp": "2026-11-20T08:01:00Z",
                "trigger": "Alerting",
                "actualValue": "true",
                "techCode": "GroundFault",
                "component": {"name": "EVSE", "evse": {"id": 2}},
                "variable": {"name": "Problem"},
                "eventNotificationType": "HardWiredMonitor",
            },
        ],
    }
    assert cp.result("NotifyEvent", events) == {}
    assert cp.result("NotifyEvent", events) == {}  # resent: stored once
    assert StationEvent.objects.filter(station__ocpp_id="CP201-EVENT").count() == 2
    status = dict(
        Connector.objects.filter(station__ocpp_id="CP201-EVENT").values_list("evse_number", "status")
    )
    assert status == {1: "Unavailable", 2: "Faulted"}
    assert Connector.objects.get(station__ocpp_id="CP201-EVENT", evse_number=2).error_code == "GroundFault"
    # The station page lists them, with the registration status.
    client.force_login(operator)
    station = Station.objects.get(ocpp_id="CP201-EVENT")
    page = client.get(reverse("stations:detail", args=[station.pk])).content.decode()
    assert (
        "AvailabilityState" in page and "GroundFault" in page and 'id="station-boot-status">Accepted' in page
    )


def test_notifications_and_data_transfer_are_answered_and_journaled(client201):
    cp = client201("CP201-NOTE")
    cp.boot()
    assert (
        cp.result(
            "SecurityEventNotification", {"type": "FirmwareUpdated", "timestamp": "2026-11-20T08:00:00Z"}
        )
        == {}
    )
    assert cp.result("FirmwareStatusNotification", {"status": "Installed", "requestId": 3}) == {}
    assert cp.result("LogStatusNotification", {"status": "Uploaded", "requestId": 4}) == {}
    assert cp.result("DataTransfer", {"vendorId": "com.example"}) == {"status": "UnknownVendorId"}
    station = Station.objects.get(ocpp_id="CP201-NOTE")
    assert (station.security_event, station.firmware_status, station.diagnostics_status) == (
        "FirmwareUpdated",
        "Installed",
        "Uploaded",
    )
    journaled = MessageLog.objects.filter(station=station, direction=MessageLog.Direction.IN).values_list(
        "action", flat=True
    )
    assert {"BootNotification", "SecurityEventNotification", "DataTransfer"} <= set(journaled)
    boot = MessageLog.objects.filter(
        station=station, action="BootNotification", kind=MessageLog.Kind.CALL
    ).first()
    assert json.loads(boot.payload)[3] == BOOT


@pytest.mark.parametrize(
    "action, payload",
    [
        ("NotifyDisplayMessages", {"requestId": 1}),
        (
            "ReportChargingProfiles",
            {
                "requestId": 2,
                "chargingLimitSource": "CSO",
                "evseId": 1,
                "chargingProfile": [
                    {
                        "id": 1,
                        "stackLevel": 0,
                        "chargingProfilePurpose": "TxDefaultProfile",
                        "chargingProfileKind": "Absolute",
                        "chargingSchedule": [
                            {
                                "id": 1,
                                "chargingRateUnit": "A",
                                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16}],
                            }
                        ],
                    }
                ],
            },
        ),
        (
            "NotifyCustomerInformation",
            {"data": "none", "seqNo": 0, "generatedAt": "2026-11-20T08:00:00Z", "requestId": 3},
        ),
        ("NotifyMonitoringReport", {"requestId": 4, "seqNo": 0, "generatedAt": "2026-11-20T08:00:00Z"}),
        ("ReservationStatusUpdate", {"reservationId": 5, "reservationUpdateStatus": "Expired"}),
        ("NotifyChargingLimit", {"chargingLimit": {"chargingLimitSource": "EMS"}}),
        ("ClearedChargingLimit", {"chargingLimitSource": "EMS"}),
        ("PublishFirmwareStatusNotification", {"status": "Published"}),
    ],
)
def test_results_of_csms_requests_are_journaled_and_acknowledged(client201, action, payload):
    cp = client201("CP201-RESULTS")
    cp.boot()
    assert cp.result(action, payload, message_id="r-1") == {}
    row = MessageLog.objects.get(station__ocpp_id="CP201-RESULTS", action=action, kind=MessageLog.Kind.CALL)
    assert json.loads(row.payload)[3] == payload
