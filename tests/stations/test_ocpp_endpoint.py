"""The OCPP-J 1.6 endpoint over a real socket against a real daphne process: boot, heartbeat, status,
journal, presence, reconnect, duplicate connections, subprotocol and identity checks, HTTP Basic auth."""

import asyncio
import json
from datetime import UTC, datetime

import pytest
from websockets.exceptions import InvalidStatus

from stations.models import Connector, MessageLog, OcppCall, Station
from stations.services.admission import station_set_password
from tests.stations.ocpp_helpers import (
    BOOT,
    basic_auth,
    connect,
    exchange,
    fixture_frames,
    heartbeat_ok,
)
from tests.waiting import await_for, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_unknown_station_registers_itself_and_boot_is_accepted(daphne_server):
    async def scenario():
        async with await connect(daphne_server, "CP-NEW-1") as ws:
            assert ws.subprotocol == "ocpp1.6"
            return await exchange(ws, [2, "boot-1", "BootNotification", BOOT])

    answer = asyncio.run(scenario())
    assert answer[0] == 3 and answer[1] == "boot-1"
    assert answer[2]["status"] == "Accepted"
    assert answer[2]["interval"] == 300
    assert answer[2]["currentTime"].endswith("Z")
    assert abs((datetime.fromisoformat(answer[2]["currentTime"]) - datetime.now(UTC)).total_seconds()) < 300
    station = Station.objects.get(ocpp_id="CP-NEW-1")
    assert station.setup_state == Station.SetupState.NEEDS_CONFIGURATION
    assert (station.vendor, station.model, station.serial_number) == ("Alfen BV", "NG920-60503", "ACE0012345")
    assert (station.charge_box_serial_number, station.firmware_version) == ("BOX-77", "5.8.1-4123")
    assert (station.iccid, station.imsi) == ("8931081234567890123", "204081234567890")
    assert (station.meter_type, station.meter_serial_number) == ("Carlo Gavazzi EM340", "MTR-42")
    assert station.last_boot_at is not None
    assert station.ocpp_version == "ocpp1.6"
    assert station.registered_from_ip == "127.0.0.1"


def test_recorded_boot_session_is_answered_frame_by_frame(daphne_server):
    """tests/fixtures/ocpp/boot_session.json: frames as a charger sent them, with the shape of each answer."""
    session = fixture_frames("boot_session.json")

    async def scenario():
        answers = []
        async with await connect(daphne_server, "CP-REC-1") as ws:
            for step in session:
                answers.append(await exchange(ws, step["send"]))
        return answers

    for step, answer in zip(session, asyncio.run(scenario()), strict=True):
        expect = step["expect"]
        assert answer[0] == expect[0] and answer[1] == expect[1]
        for key, value in expect[2].items():
            assert answer[2][key] == value
    connectors = {c.connector_id: c for c in Connector.objects.filter(station__ocpp_id="CP-REC-1")}
    assert set(connectors) == {0, 1, 2}
    assert connectors[2].status == "Faulted" and connectors[2].error_code == "GroundFailure"
    assert connectors[2].vendor_error_code == "E17"
    station = Station.objects.get(ocpp_id="CP-REC-1")
    assert (station.firmware_status, station.diagnostics_status) == ("Installed", "Uploaded")
    assert (station.security_event, station.security_event_info) == ("SettingSystemTime", "NTP sync")
    assert station.security_event_at == datetime(2026, 11, 24, 8, 0, 1, tzinfo=UTC)


def test_heartbeat_answers_utc_time_and_refreshes_last_seen(daphne_server):
    long_ago = datetime(2020, 1, 1, tzinfo=UTC)

    async def scenario():
        async with await connect(daphne_server, "CP-HB-1") as ws:
            await heartbeat_ok(ws, "hb-0")
            await asyncio.to_thread(
                lambda: Station.objects.filter(ocpp_id="CP-HB-1").update(last_seen_at=long_ago)
            )
            return await exchange(ws, [2, "hb-1", "Heartbeat", {}])

    answer = asyncio.run(scenario())
    assert answer[:2] == [3, "hb-1"] and answer[2]["currentTime"].endswith("Z")
    assert Station.objects.get(ocpp_id="CP-HB-1").last_seen_at > long_ago


def test_older_status_notification_never_overwrites_newer_state(daphne_server):
    async def scenario():
        async with await connect(daphne_server, "CP-ST-1") as ws:
            newer = {
                "connectorId": 1,
                "errorCode": "NoError",
                "status": "Charging",
                "timestamp": "2026-11-24T10:00:05Z",
            }
            older = {
                "connectorId": 1,
                "errorCode": "NoError",
                "status": "Preparing",
                "timestamp": "2026-11-24T10:00:01Z",
            }
            a = await exchange(ws, [2, "s-1", "StatusNotification", newer])
            b = await exchange(ws, [2, "s-2", "StatusNotification", older])
            return a, b

    a, b = asyncio.run(scenario())
    assert a == [3, "s-1", {}] and b == [3, "s-2", {}]  # both acknowledged
    connector = Connector.objects.get(station__ocpp_id="CP-ST-1", connector_id=1)
    assert connector.status == "Charging"
    assert connector.status_timestamp == datetime(2026, 11, 24, 10, 0, 5, tzinfo=UTC)


def test_every_frame_is_journaled_with_the_answer_linked_to_its_request(daphne_server):
    async def scenario():
        async with await connect(daphne_server, "CP-J-1") as ws:
            await exchange(ws, [2, "j-1", "Heartbeat", {}])

    asyncio.run(scenario())
    rows = list(MessageLog.objects.filter(station__ocpp_id="CP-J-1").order_by("id"))
    assert [(r.direction, r.kind, r.message_id) for r in rows] == [
        ("in", MessageLog.Kind.CALL, "j-1"),
        ("out", MessageLog.Kind.CALLRESULT, "j-1"),
    ]
    assert rows[0].action == "Heartbeat" and json.loads(rows[0].payload) == [2, "j-1", "Heartbeat", {}]
    assert rows[1].response_to_id == rows[0].id
    assert rows[0].connection_id == Station.objects.get(ocpp_id="CP-J-1").connection_id


def test_presence_follows_connect_and_disconnect(daphne_server):
    async def scenario():
        async with await connect(daphne_server, "CP-P-1") as ws:
            await heartbeat_ok(ws)
            station = await asyncio.to_thread(Station.objects.get, ocpp_id="CP-P-1")
            assert station.is_connected and station.connection_id

    asyncio.run(scenario())
    wait_for(lambda: not Station.objects.get(ocpp_id="CP-P-1").is_connected, message="CP-P-1 offline")
    assert Station.objects.get(ocpp_id="CP-P-1").disconnected_at is not None


def test_reconnect_keeps_the_station_and_marks_it_online_again(daphne_server):
    async def scenario():
        for i in range(2):
            async with await connect(daphne_server, "CP-RC-1") as ws:
                assert await heartbeat_ok(ws, f"hb-{i}")
            await await_for(
                lambda: not Station.objects.get(ocpp_id="CP-RC-1").is_connected, message="CP-RC-1 offline"
            )
        async with await connect(daphne_server, "CP-RC-1") as ws:
            assert await heartbeat_ok(ws)
            return await asyncio.to_thread(Station.objects.get, ocpp_id="CP-RC-1")

    station = asyncio.run(scenario())
    assert station.is_connected
    assert Station.objects.filter(ocpp_id="CP-RC-1").count() == 1


def test_newest_connection_wins_and_old_ones_late_disconnect_keeps_station_online(daphne_server):
    async def scenario():
        old = await connect(daphne_server, "CP-DUP-1")
        assert await heartbeat_ok(old, "old-1")
        new = await connect(daphne_server, "CP-DUP-1")
        # The old socket is closed by the server.
        await asyncio.wait_for(old.wait_closed(), 20)
        assert await heartbeat_ok(new, "new-1")
        station = await asyncio.to_thread(Station.objects.get, ocpp_id="CP-DUP-1")
        await new.close()
        return old.close_code, station

    close_code, station = asyncio.run(scenario())
    assert close_code == 1000
    assert station.is_connected  # the old socket's disconnect came after the new connect
    rows = MessageLog.objects.filter(station=station, message_id="new-1", direction="in")
    assert rows.get().connection_id == station.connection_id


@pytest.mark.parametrize(
    "offered", [None, ("ocpp1.5",), ("ocpp2.0", "ocpp1.2")], ids=["none", "1.5", "others"]
)
def test_no_supported_subprotocol_completes_handshake_without_one_and_closes(daphne_server, offered):
    async def scenario():
        ws = await connect(daphne_server, "CP-SP-1", subprotocols=offered)
        subprotocol = ws.subprotocol
        await asyncio.wait_for(ws.wait_closed(), 20)
        return subprotocol, ws.close_code

    assert asyncio.run(scenario()) == (None, 1000)
    assert not Station.objects.filter(ocpp_id="CP-SP-1").exists()


@pytest.mark.parametrize("identity", ["", "x" * 49, "CP%201", "CP:1", "CP%C3%A91", "CP%231", "CP%2F1"])
def test_invalid_identity_is_refused_with_404(daphne_server, identity):
    async def scenario():
        with pytest.raises(InvalidStatus) as refused:
            await connect(daphne_server, identity)
        return refused.value.response.status_code

    assert asyncio.run(scenario()) == 404
    assert not Station.objects.exists()


def test_identity_with_all_allowed_characters_is_accepted(daphne_server):
    identity = "aZ09*-_=+|@." + "x" * 36  # 48 characters

    async def scenario():
        async with await connect(daphne_server, identity) as ws:
            return await heartbeat_ok(ws)

    assert asyncio.run(scenario())
    assert Station.objects.filter(ocpp_id=identity).exists()


def test_station_with_password_accepts_correct_basic_auth(daphne_server):
    station_set_password(station=Station.objects.create(ocpp_id="CP-AUTH-1"), password="0123456789abcdef0123")

    async def scenario():
        async with await connect(
            daphne_server, "CP-AUTH-1", headers=basic_auth("CP-AUTH-1", "0123456789abcdef0123")
        ) as ws:
            return await heartbeat_ok(ws)

    assert asyncio.run(scenario())
    assert Station.objects.get(ocpp_id="CP-AUTH-1").password_hash.startswith("pbkdf2_sha256_station$")


@pytest.mark.parametrize(
    "headers",
    [
        None,
        basic_auth("CP-AUTH-2", "wrong-password-00000"),
        basic_auth("CP-OTHER", "0123456789abcdef0123"),  # username must be the OCPP ID
        {"Authorization": "Bearer 0123456789abcdef0123"},
        {"Authorization": "Basic not-base64!"},
    ],
    ids=["missing", "wrong-password", "wrong-username", "not-basic", "garbled"],
)
def test_station_with_password_refuses_wrong_or_missing_auth_with_401(daphne_server, headers):
    station_set_password(station=Station.objects.create(ocpp_id="CP-AUTH-2"), password="0123456789abcdef0123")

    async def scenario():
        with pytest.raises(InvalidStatus) as refused:
            await connect(daphne_server, "CP-AUTH-2", headers=headers)
        return refused.value.response

    response = asyncio.run(scenario())
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic")
    station = Station.objects.get(ocpp_id="CP-AUTH-2")
    assert not station.is_connected and station.last_seen_at is None
    assert "0123456789abcdef0123" not in daphne_server.output()


def test_new_station_registrations_are_throttled_per_address(transactional_db, tmp_path):
    from tests.conftest import start_daphne

    server = start_daphne(tmp_path, OCPP_NEW_STATIONS_PER_IP_PER_HOUR=2)
    try:

        async def scenario():
            for ocpp_id in ["CP-T-1", "CP-T-2"]:
                async with await connect(server, ocpp_id) as ws:
                    assert await heartbeat_ok(ws)
            with pytest.raises(InvalidStatus) as refused:
                await connect(server, "CP-T-3")
            # A known station from the same address still gets in.
            async with await connect(server, "CP-T-1") as ws:
                assert await heartbeat_ok(ws)
            return refused.value.response.status_code

        assert asyncio.run(scenario()) == 404
    finally:
        server.stop()
    assert sorted(Station.objects.values_list("ocpp_id", flat=True)) == ["CP-T-1", "CP-T-2"]


def test_a_changed_password_is_required_on_the_next_connect(daphne_server):
    """The per-process memory of verified passwords must not outlive a password change."""
    s = Station.objects.create(ocpp_id="CP-AUTH-3")
    station_set_password(station=s, password="old-key-0123456789ab")

    async def attempt(password):
        try:
            async with await connect(
                daphne_server, "CP-AUTH-3", headers=basic_auth("CP-AUTH-3", password)
            ) as ws:
                return await heartbeat_ok(ws)
        except InvalidStatus as refused:
            return refused.response.status_code

    assert asyncio.run(attempt("old-key-0123456789ab")) is True
    station_set_password(station=s, password="new-key-0123456789ab")
    assert asyncio.run(attempt("old-key-0123456789ab")) == 401
    assert asyncio.run(attempt("new-key-0123456789ab")) is True


@pytest.mark.parametrize("attempt", range(4))
def test_an_answer_sent_right_before_the_close_is_recorded_not_offline(daphne_server, attempt):
    # A charger that answers Reset and closes its socket at once (shutdown_delay=0): the answer was received
    # before the close, so the call is answered, not "station offline". Repeated: it was a race (3 in 4).
    from stations.calls import call_and_wait
    from tests.simulated import running_station

    ocpp_id = f"CLOSE-FAST-{attempt}"
    with running_station(daphne_server, ocpp_id, shutdown_delay=0) as sim:
        sim.wait_booted()
        station = wait_for(lambda: Station.objects.filter(ocpp_id=ocpp_id, is_connected=True).first())
        result = call_and_wait(station=station, action="Reset", payload={"type": "Soft"}, timeout=20)
        assert result.status == OcppCall.Status.ANSWERED, (result.status, result.error_description)
        assert result.response == {"status": "Accepted"}
        sim.wait_booted(count=2)
