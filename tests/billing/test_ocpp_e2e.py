"""Transaction messages end to end: a raw OCPP-J 1.6 client on a real websocket against a real daphne
process (tests/conftest.py daphne_server). With DATABASE_URL/REDIS_URL set this runs against PostgreSQL;
the database-failure tests at the end need PostgreSQL and are marked `services`."""

import contextlib
import json
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest
from websockets.sync.client import connect

from billing.models import ChargingSession, MeterValue
from tests.tcp_proxy import TcpProxy

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def iso(dt: datetime) -> str:
    return dt.isoformat().replace("+00:00", "Z")


class RawStation:
    """Sends exact frames and returns the answer to each; CSMS-initiated calls in between (auto
    configuration after boot, ...) are answered NotSupported so they never block the test."""

    def __init__(self, server, ocpp_id: str):
        self.ws = connect(f"{server.ws_url}/ocpp/{ocpp_id}", subprotocols=["ocpp1.6"], open_timeout=20)

    def call(self, action: str, payload: dict, message_id: str | None = None, timeout: float = 30) -> list:
        message_id = message_id or uuid.uuid4().hex[:20]
        self.ws.send(json.dumps([2, message_id, action, payload]))
        while True:
            frame = json.loads(self.ws.recv(timeout=timeout))
            if frame[0] == 2:
                self.ws.send(json.dumps([4, frame[1], "NotSupported", "test client", {}]))
                continue
            if frame[1] == message_id:
                return frame

    def result(self, action: str, payload: dict, message_id: str | None = None) -> dict:
        frame = self.call(action, payload, message_id)
        assert frame[0] == 3, f"expected CALLRESULT for {action}, got {frame}"
        return frame[2]

    def boot(self):
        return self.result("BootNotification", {"chargePointVendor": "Test", "chargePointModel": "Raw"})

    def close(self):
        self.ws.close()


@pytest.fixture
def station_client(daphne_server):
    clients = []

    def make(ocpp_id: str) -> RawStation:
        client = RawStation(daphne_server, ocpp_id)
        clients.append(client)
        client.boot()
        return client

    yield make
    for c in clients:
        c.close()


@pytest.fixture
def tariff_station(own_station):
    """Public station (other accounts' cards pay), a tariff with all three components, account VAT 21%."""
    own_station.allow_roaming = True
    own_station.price_per_kwh = D("0.30")
    own_station.price_per_session = D("0.50")
    own_station.price_per_hour = D("1.20")
    own_station.save()
    return own_station


def test_card_authorized_session_started_metered_stopped_and_priced_over_a_real_socket(
    transactional_db, station_client, tariff_station, foreign_card
):
    cp = station_client(tariff_station.ocpp_id)

    auth = cp.result("Authorize", {"idTag": foreign_card.id_tag.lower()})
    assert auth["idTagInfo"] == {"status": "Accepted", "parentIdTag": f"ACCOUNT-{foreign_card.account_id}"}

    started = cp.result(
        "StartTransaction",
        {"connectorId": 1, "idTag": foreign_card.id_tag, "meterStart": 1_000_000, "timestamp": iso(T0)},
    )
    tx = started["transactionId"]
    assert isinstance(tx, int) and 0 < tx < 2**31
    assert started["idTagInfo"]["status"] == "Accepted"

    for minutes, kwh, kw in ((30, "1005.2", "10.4"), (90, "1015.9", "10.7")):
        assert (
            cp.result(
                "MeterValues",
                {
                    "connectorId": 1,
                    "transactionId": tx,
                    "meterValue": [
                        {
                            "timestamp": iso(T0 + timedelta(minutes=minutes)),
                            "sampledValue": [
                                {"value": kwh, "unit": "kWh", "measurand": "Energy.Active.Import.Register"},
                                {"value": kw, "unit": "kW", "measurand": "Power.Active.Import"},
                                {"value": "16.2", "unit": "A", "measurand": "Current.Import", "phase": "L1"},
                            ],
                        }
                    ],
                },
            )
            == {}
        )

    stopped = cp.result(
        "StopTransaction",
        {
            "transactionId": tx,
            "idTag": foreign_card.id_tag,
            "meterStop": 1_023_456,
            "timestamp": iso(T0 + timedelta(hours=2, minutes=15)),
            "reason": "EVDisconnected",
            "transactionData": [
                {
                    "timestamp": iso(T0),
                    "sampledValue": [{"value": "1000000", "context": "Transaction.Begin"}],
                },
                {
                    "timestamp": iso(T0 + timedelta(hours=2, minutes=15)),
                    "sampledValue": [{"value": "1023456", "context": "Transaction.End"}],
                },
            ],
        },
    )
    assert stopped["idTagInfo"]["status"] == "Accepted"

    s = ChargingSession.objects.get(transaction_id=tx)
    # Hand computed: 23.456 kWh x 0.30 = 7.0368 -> 7.04; session 0.50; 2.25 h x 1.20 = 2.70;
    # subtotal 10.24; VAT 21% = 2.1504 -> 2.15; total 12.39.
    assert (s.energy_wh, s.duration_seconds) == (23_456, 8100)
    assert (s.energy_amount, s.session_amount, s.time_amount) == (D("7.04"), D("0.50"), D("2.70"))
    assert (s.subtotal, s.vat_rate, s.vat_amount, s.total) == (D("10.24"), D("21.00"), D("2.15"), D("12.39"))
    assert (s.status, s.stop_reason, s.auth_reason, s.needs_review) == (
        "completed",
        "EVDisconnected",
        "public",
        False,
    )
    assert MeterValue.objects.filter(session=s).count() == 8  # 2 x 3 sampled + 2 in transactionData
    assert MeterValue.objects.get(session=s, measurand="Power.Active.Import", value=D("10700")).phase == ""

    # The journal holds the StopTransaction before its answer (written before processing, by the endpoint).
    from stations.models import MessageLog

    stop_rows = list(
        MessageLog.objects.filter(action="StopTransaction").order_by("id").values_list("direction", "kind")
    )
    assert stop_rows == [("in", 2), ("out", 3)]


def test_repeated_start_and_stop_messages_never_double_over_a_real_socket(
    transactional_db, station_client, tariff_station, foreign_card
):
    cp = station_client(tariff_station.ocpp_id)
    start = {"connectorId": 2, "idTag": foreign_card.id_tag, "meterStart": 500, "timestamp": iso(T0)}
    first = cp.result("StartTransaction", start, message_id="start-1")
    # The station never saw our answer and sends the same StartTransaction under a new message id.
    again = cp.result("StartTransaction", start, message_id="start-2")
    assert again["transactionId"] == first["transactionId"]
    assert ChargingSession.objects.count() == 1

    stop = {
        "transactionId": first["transactionId"],
        "meterStop": 10_500,
        "timestamp": iso(T0 + timedelta(hours=1)),
    }
    cp.result("StopTransaction", stop, message_id="stop-1")
    before = ChargingSession.objects.values().get()
    assert before["total"] == D("5.69")  # 3.00 + 0.50 + 1.20 = 4.70, + 21% VAT 0.987 -> 0.99
    cp.result("StopTransaction", stop, message_id="stop-2")
    cp.result("StopTransaction", {**stop, "meterStop": 99_999}, message_id="stop-3")
    assert ChargingSession.objects.values().get() == before

    # MeterValues that arrive after the stop attach to the session without reopening it.
    cp.result(
        "MeterValues",
        {
            "connectorId": 2,
            "transactionId": first["transactionId"],
            "meterValue": [
                {"timestamp": iso(T0 + timedelta(minutes=59)), "sampledValue": [{"value": "10400"}]}
            ],
        },
    )
    s = ChargingSession.objects.get()
    assert (s.status, s.total, s.meter_values.count()) == ("completed", before["total"], 1)


def test_odd_transaction_messages_are_answered_stored_and_flagged_over_a_real_socket(
    transactional_db, station_client, tariff_station, foreign_card
):
    cp = station_client(tariff_station.ocpp_id)
    for tx in (777_777, 0, -1):
        answer = cp.result(
            "StopTransaction",
            {"transactionId": tx, "meterStop": 4200, "timestamp": iso(T0), "idTag": foreign_card.id_tag},
        )
        assert answer["idTagInfo"]["status"] == "Accepted"
    flags = {
        s.reported_transaction_id: s.review_flags
        for s in ChargingSession.objects.filter(origin="orphan_stop")
    }
    assert "unknown_transaction" in flags[777_777]
    assert "transaction_id_zero" in flags[0]
    assert "transaction_id_minus_one" in flags[-1]

    future = datetime.now(UTC) + timedelta(days=3)
    started = cp.result(
        "StartTransaction",
        {"connectorId": 1, "idTag": "NOBODY", "meterStart": 9000, "timestamp": iso(future)},
    )
    assert started["idTagInfo"] == {"status": "Invalid"} and started["transactionId"] > 0
    cp.result(
        "StopTransaction",
        {"transactionId": started["transactionId"], "meterStop": 8000, "timestamp": iso(future)},
    )
    s = ChargingSession.objects.get(transaction_id=started["transactionId"])
    assert {"future_timestamp", "meter_stop_below_start", "not_accepted"} <= set(s.review_flags)
    assert (s.meter_stop, s.energy_wh, s.started_at) == (
        8000,
        0,
        future.replace(microsecond=future.microsecond),
    )

    cp.result(
        "MeterValues",
        {
            "connectorId": 0,
            "meterValue": [
                {"timestamp": iso(T0), "sampledValue": [{"value": "123456", "context": "Sample.Clock"}]}
            ],
        },
    )
    assert MeterValue.objects.filter(connector_id=0, session=None, context="Sample.Clock").count() == 1


def test_a_station_can_never_stop_another_stations_session_over_a_real_socket(
    transactional_db, station_client, tariff_station, foreign_station, foreign_card
):
    a = station_client(tariff_station.ocpp_id)
    b = station_client(foreign_station.ocpp_id)
    tx = a.result(
        "StartTransaction",
        {"connectorId": 1, "idTag": foreign_card.id_tag, "meterStart": 0, "timestamp": iso(T0)},
    )["transactionId"]
    b.result(
        "StopTransaction",
        {"transactionId": tx, "meterStop": 50_000, "timestamp": iso(T0 + timedelta(hours=1))},
    )
    b.result(
        "MeterValues",
        {
            "connectorId": 1,
            "transactionId": tx,
            "meterValue": [{"timestamp": iso(T0), "sampledValue": [{"value": "1"}]}],
        },
    )
    session = ChargingSession.objects.get(transaction_id=tx)
    assert (session.status, session.meter_stop, session.meter_values.count()) == ("active", None, 0)
    foreign = ChargingSession.objects.get(station=foreign_station)
    assert "transaction_of_other_station" in foreign.review_flags


# --- the database fails while a StopTransaction arrives ------------------------------------------


def _stop_payload(tx):
    return {
        "transactionId": tx,
        "meterStop": 11_000,
        "timestamp": iso(T0 + timedelta(hours=1)),
        "reason": "Local",
    }


@contextlib.contextmanager
def refusing_writes(table: str, operation: str):
    """PostgreSQL refuses `operation` on `table` with SQLSTATE 57P01 (admin_shutdown, what a server going
    down sends) while the block runs; the endpoint's journal keeps working."""
    from django.db import connection

    with connection.cursor() as c:
        c.execute(
            "CREATE FUNCTION eflux_test_db_down() RETURNS trigger AS $$ BEGIN "
            "RAISE EXCEPTION 'terminating connection due to administrator command' USING ERRCODE = '57P01'; "
            "END $$ LANGUAGE plpgsql"
        )
        c.execute(
            f"CREATE TRIGGER eflux_test_db_down BEFORE {operation} ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION eflux_test_db_down()"
        )
    try:
        yield
    finally:
        with connection.cursor() as c:
            c.execute(f"DROP TRIGGER eflux_test_db_down ON {table}")
            c.execute("DROP FUNCTION eflux_test_db_down()")


@pytest.mark.services
def test_database_error_during_stop_is_answered_callerror_and_the_retry_is_stored_once(
    transactional_db, station_client, tariff_station, foreign_card
):
    """Failure injected exactly at our write: a trigger makes PostgreSQL refuse the session UPDATE with
    SQLSTATE 57P01 (admin_shutdown, what a server going down sends), while the journal keeps working. The
    station must get CALLERROR InternalError (OCPP-J errata §3.3: "failure to process the message", so it
    retries per 1.6 §3.7.1), never a confirmation; its retry after recovery is stored exactly once."""
    cp = station_client(tariff_station.ocpp_id)
    tx = cp.result(
        "StartTransaction",
        {"connectorId": 1, "idTag": foreign_card.id_tag, "meterStart": 1000, "timestamp": iso(T0)},
    )["transactionId"]
    with refusing_writes("billing_chargingsession", "UPDATE"):
        answer = cp.call("StopTransaction", _stop_payload(tx), message_id="stop-attempt-1")
        assert answer[0] == 4 and answer[2] == "InternalError", answer
        assert ChargingSession.objects.get(transaction_id=tx).status == "active"

    # The station retries the same message (a new message id, same content): stored once, then repeats
    # change nothing.
    cp.result("StopTransaction", _stop_payload(tx), message_id="stop-attempt-2")
    cp.result("StopTransaction", _stop_payload(tx), message_id="stop-attempt-3")
    s = ChargingSession.objects.get(transaction_id=tx)
    assert (s.status, s.meter_stop, s.energy_wh, s.stop_message_id) == (
        "completed",
        11_000,
        10_000,
        "stop-attempt-2",
    )
    assert ChargingSession.objects.count() == 1


@pytest.mark.services
def test_database_error_during_start_is_answered_callerror_and_the_retry_gets_one_session(
    transactional_db, station_client, tariff_station, foreign_card
):
    cp = station_client(tariff_station.ocpp_id)
    start = {"connectorId": 1, "idTag": foreign_card.id_tag, "meterStart": 1000, "timestamp": iso(T0)}
    with refusing_writes("billing_chargingsession", "INSERT"):
        answer = cp.call("StartTransaction", start, message_id="start-attempt-1")
        assert answer[0] == 4 and answer[2] == "InternalError", answer
    first = cp.result("StartTransaction", start, message_id="start-attempt-2")
    again = cp.result("StartTransaction", start, message_id="start-attempt-3")
    assert first["transactionId"] == again["transactionId"]
    assert ChargingSession.objects.get().start_message_id == "start-attempt-2"


@pytest.mark.services
def test_database_error_during_meter_values_is_answered_callerror_and_the_retry_is_stored_once(
    transactional_db, station_client, tariff_station, foreign_card
):
    cp = station_client(tariff_station.ocpp_id)
    tx = cp.result(
        "StartTransaction",
        {"connectorId": 1, "idTag": foreign_card.id_tag, "meterStart": 0, "timestamp": iso(T0)},
    )["transactionId"]
    values = {
        "connectorId": 1,
        "transactionId": tx,
        "meterValue": [{"timestamp": iso(T0 + timedelta(minutes=5)), "sampledValue": [{"value": "900"}]}],
    }
    with refusing_writes("billing_metervalue", "INSERT"):
        answer = cp.call("MeterValues", values, message_id="mv-attempt-1")
        assert answer[0] == 4 and answer[2] == "InternalError", answer
    cp.result("MeterValues", values, message_id="mv-attempt-2")
    assert MeterValue.objects.count() == 1
    assert ChargingSession.objects.get().energy_wh == 900


@pytest.mark.services
@pytest.mark.parametrize("conn_max_age", ["0", "600"], ids=["fresh-connections", "persistent-connections"])
def test_postgresql_down_while_stop_arrives_never_confirms_and_the_retry_is_stored_once(
    transactional_db, tmp_path, tariff_station, foreign_card, conn_max_age
):
    """The whole database disappears for the server process (TCP proxy cut, see tests/tcp_proxy.py), so the journal
    write that precedes processing fails too. The station must never see a confirmation: it gets CALLERROR
    InternalError, or no answer / a closed socket (to the station a missing answer is a failure as well, and
    it keeps the message, 1.6 §3.7). After the database is back the station reconnects and sends the same
    StopTransaction again: stored exactly once, and a further repeat changes nothing.
    (The other test above covers the failure hitting only our write, where the answer must be CALLERROR.)
    With persistent connections (DB_CONN_MAX_AGE) the server's broken connections must heal as well."""
    from django.db import connection
    from websockets.exceptions import ConnectionClosed, WebSocketException

    from tests.conftest import start_daphne

    db = connection.settings_dict
    proxy = TcpProxy((db.get("HOST") or "127.0.0.1", int(db.get("PORT") or 5432)))
    url = f"postgres://{db.get('USER') or 'postgres'}@127.0.0.1:{proxy.port}/{db['NAME']}"
    server = start_daphne(tmp_path, DATABASE_URL=url, DB_CONN_MAX_AGE=conn_max_age)
    try:
        cp = RawStation(server, tariff_station.ocpp_id)
        cp.boot()
        tx = cp.result(
            "StartTransaction",
            {"connectorId": 1, "idTag": foreign_card.id_tag, "meterStart": 1000, "timestamp": iso(T0)},
        )["transactionId"]

        proxy.cut()
        try:
            # Bounds how long we wait for an answer; no answer at all is an acceptable outcome here.
            answer = cp.call("StopTransaction", _stop_payload(tx), message_id="stop-while-down", timeout=10)
        except (ConnectionClosed, TimeoutError):
            answer = None
        assert answer is None or (answer[0] == 4 and answer[2] == "InternalError"), answer
        assert (
            ChargingSession.objects.get(transaction_id=tx).status == "active"
        )  # read directly, not via proxy

        proxy.restore()
        # Like a charger: retry the queued message until it is confirmed, reconnecting when the socket went
        # away (an error answer or a closed socket both mean "not processed"; bounded attempts).
        confirmed = None
        for attempt in range(1, 6):
            try:
                if answer is None or attempt > 1:
                    cp.close()
                    cp = RawStation(server, tariff_station.ocpp_id)
                    cp.boot()
                frame = cp.call("StopTransaction", _stop_payload(tx), message_id=f"stop-retry-{attempt}")
            except (WebSocketException, OSError, AssertionError):  # refused, closed, timed out (TimeoutError)
                continue
            if frame[0] == 3:
                confirmed = frame[1]
                break
        assert confirmed is not None
        cp.result("StopTransaction", _stop_payload(tx), message_id="stop-retry-again")
        s = ChargingSession.objects.get(transaction_id=tx)
        assert (s.status, s.meter_stop, s.energy_wh, s.stop_message_id) == (
            "completed",
            11_000,
            10_000,
            confirmed,
        )
        assert ChargingSession.objects.count() == 1
        cp.close()
    finally:
        server.stop()
        proxy.close()


def test_recorded_session_frames_are_answered_as_recorded_and_priced(
    transactional_db, station_client, tariff_station, foreign_card
):
    """tests/fixtures/ocpp/transaction_session.json: a three-phase session as a charger sends it (kWh
    registers, per-phase currents, SoC, a clock-aligned connector 0 reading, a retried StartTransaction and
    a retried StopTransaction). $TX is the transactionId we hand out, $PARENT the card's parentIdTag."""
    from pathlib import Path

    steps = json.loads(
        (Path(__file__).parent.parent / "fixtures" / "ocpp" / "transaction_session.json").read_text()
    )
    cp = station_client(tariff_station.ocpp_id)
    values = {"$PARENT": f"ACCOUNT-{foreign_card.account_id}"}

    def fill(obj):
        if isinstance(obj, dict):
            return {k: fill(v) for k, v in obj.items()}
        if isinstance(obj, list):
            return [fill(v) for v in obj]
        return values.get(obj, obj) if isinstance(obj, str) else obj

    for step in steps:
        _, message_id, action, payload = fill(step["send"])
        answer = cp.call(action, payload, message_id=message_id)
        if "$TX" not in values and action == "StartTransaction":
            values["$TX"] = answer[2]["transactionId"]
        assert answer == fill(step["expect"]), (action, answer)

    s = ChargingSession.objects.get()
    # 8.412 kWh x 0.30 = 2.5236 -> 2.52; 0.50; 0.75 h x 1.20 = 0.90; 3.92 + 21% (0.8232 -> 0.82) = 4.74
    assert (s.energy_wh, s.duration_seconds, s.total, s.needs_review) == (8412, 2700, D("4.74"), False)
    assert MeterValue.objects.filter(session=s).count() == 9
    clock = MeterValue.objects.get(connector_id=0)
    assert (clock.session, clock.context, clock.value) == (None, "Sample.Clock", D("2399512"))
