"""The fused path for Heartbeat, StatusNotification and MeterValues (stations/ocpp/base.py `_fused_call`,
stations/ocpp/journal.py `_write_exchanges`): the CALL's journal row, what it changes and our CALLRESULT's row
in one transaction, grouped across stations; a message whose effect fails is handled alone, the ordinary way.
In-process ChargePoints with a recording connection, on the suite's database (SQLite or PostgreSQL)."""

import asyncio
import json

import pytest

from billing.models import MeterValue
from stations.models import Connector, MessageLog, Station
from stations.ocpp import journal
from stations.ocpp.v16 import ChargePointV16
from stations.services import messages

pytestmark = pytest.mark.django_db(transaction=True)

STATUS = {"connectorId": 1, "errorCode": "NoError", "status": "Charging", "timestamp": "2026-12-01T10:00:00Z"}
METER = {
    "connectorId": 1,
    "meterValue": [
        {
            "timestamp": "2026-12-01T10:00:00Z",
            "sampledValue": [
                {"value": "1234", "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
                {"value": "7400", "measurand": "Power.Active.Import", "unit": "W"},
            ],
        }
    ],
}


class Recorder:
    def __init__(self):
        self.sent: list = []

    async def recv(self):
        return None

    async def send(self, text: str) -> None:
        self.sent.append(json.loads(text))


def charge_point(ocpp_id: str) -> tuple[ChargePointV16, Recorder]:
    station = Station.objects.create(ocpp_id=ocpp_id)
    Connector.objects.create(station=station, connector_id=1)
    connection = Recorder()
    cp = ChargePointV16(ocpp_id=ocpp_id, connection=connection, station_pk=station.pk, connection_id=ocpp_id)
    return cp, connection


def journal_of(ocpp_id: str) -> list[MessageLog]:
    return list(MessageLog.objects.filter(station__ocpp_id=ocpp_id).order_by("id"))


def test_each_message_is_answered_after_its_rows_and_effect_are_stored():
    stations = {name: charge_point(name) for name in ("FUSE-HB", "FUSE-SN", "FUSE-MV")}
    frames = {
        "FUSE-HB": [2, "hb-1", "Heartbeat", {}],
        "FUSE-SN": [2, "sn-1", "StatusNotification", STATUS],
        "FUSE-MV": [2, "mv-1", "MeterValues", METER],
    }

    async def scenario():
        # Concurrent: the three exchanges go to the database together.
        await asyncio.gather(*(cp.route_message(json.dumps(frames[n])) for n, (cp, _) in stations.items()))

    asyncio.run(scenario())
    for name, (_, connection) in stations.items():
        (answer,) = connection.sent
        assert answer[0] == 3 and answer[1] == frames[name][1]
        call, result = journal_of(name)
        assert (call.direction, call.kind, call.action) == ("in", MessageLog.Kind.CALL, frames[name][2])
        assert json.loads(call.payload) == frames[name]
        assert (result.direction, result.kind, result.response_to_id) == (
            "out",
            MessageLog.Kind.CALLRESULT,
            call.id,
        )
        assert json.loads(result.payload) == answer
        assert Station.objects.get(ocpp_id=name).last_seen_at is not None
    assert answer_of(stations["FUSE-HB"])["currentTime"].endswith("Z")
    assert Connector.objects.get(station__ocpp_id="FUSE-SN").status == "Charging"
    stored = MeterValue.objects.filter(station__ocpp_id="FUSE-MV")
    assert sorted(stored.values_list("measurand", "raw_value")) == [
        ("Energy.Active.Import.Register", "1234"),
        ("Power.Active.Import", "7400"),
    ]


def answer_of(pair) -> dict:
    return pair[1].sent[0][2]


def test_a_failing_effect_fails_only_its_own_message_which_is_journaled_and_answered_callerror(monkeypatch):
    """The batch of both stations fails on one station's effect; the other's is stored and answered, the
    failing one is journaled alone and answered InternalError (and nothing of its effect is kept)."""
    good, good_connection = charge_point("FUSE-OK")
    bad, bad_connection = charge_point("FUSE-BAD")
    report = messages.connector_status_report

    def failing(**kwargs):
        if kwargs["station_pk"] == bad.station_pk:
            Connector.objects.filter(station_id=bad.station_pk).update(status="Faulted")  # rolled back
            raise RuntimeError("the database refused this station's row")
        return report(**kwargs)

    monkeypatch.setattr(messages, "connector_status_report", failing)

    async def scenario():
        await asyncio.gather(
            good.route_message(json.dumps([2, "ok-1", "StatusNotification", STATUS])),
            bad.route_message(json.dumps([2, "bad-1", "StatusNotification", STATUS])),
        )

    asyncio.run(scenario())
    assert good_connection.sent == [[3, "ok-1", {}]]
    assert Connector.objects.get(station=good.station_pk).status == "Charging"
    (error,) = bad_connection.sent
    assert error[:3] == [4, "bad-1", "InternalError"]
    assert Connector.objects.get(station=bad.station_pk).status != "Faulted"
    call, answer = journal_of("FUSE-BAD")  # once, not once per attempt
    assert (call.kind, call.action, answer.kind, answer.response_to_id) == (
        MessageLog.Kind.CALL,
        "StatusNotification",
        MessageLog.Kind.CALLERROR,
        call.id,
    )


def test_an_invalid_or_unparseable_message_takes_the_ordinary_path():
    cp, connection = charge_point("FUSE-INVALID")

    async def scenario():
        await cp.route_message(json.dumps([2, "x-1", "StatusNotification", {"connectorId": 1}]))
        await cp.route_message(
            json.dumps([2, "x-2", "StatusNotification", {**STATUS, "timestamp": "yesterday"}])
        )

    asyncio.run(scenario())
    assert [frame[:3] for frame in connection.sent] == [
        [4, "x-1", "OccurenceConstraintViolation"],
        [4, "x-2", "TypeConstraintViolation"],
    ]
    kinds = [(row.kind, row.response_to_id is not None) for row in journal_of("FUSE-INVALID")]
    assert kinds == [(MessageLog.Kind.CALL, False), (MessageLog.Kind.CALLERROR, True)] * 2


def test_an_exchange_batch_is_all_or_nothing():
    cp, _ = charge_point("FUSE-ATOMIC")

    def explode(batch):
        raise RuntimeError("effect failed")

    effect, response = cp.fuse_heartbeat()
    row = cp._journal_row("in", MessageLog.Kind.CALL, "Heartbeat", "a-1", "[]", None)
    exchange = journal.Exchange(call=row, effect=journal.Effect(explode, {}, many=True), result=dict(row))
    with pytest.raises(RuntimeError):
        journal._write_exchanges([exchange])
    assert journal_of("FUSE-ATOMIC") == []
    assert Station.objects.get(ocpp_id="FUSE-ATOMIC").last_seen_at is None


def test_ocpp201_messages_are_fused_once_accepted_and_refused_before_that():
    """2.0.1: the fused path runs after B02/B03's refusal check like every CALL."""
    from stations.ocpp.v201 import ChargePointV201

    station = Station.objects.create(ocpp_id="FUSE-201", boot_status="Accepted")
    pending = Station.objects.create(ocpp_id="FUSE-201-PENDING", boot_status="Pending")
    connections = {s.ocpp_id: Recorder() for s in (station, pending)}
    cps = {
        s.ocpp_id: ChargePointV201(
            ocpp_id=s.ocpp_id, connection=connections[s.ocpp_id], station_pk=s.pk, connection_id=s.ocpp_id
        )
        for s in (station, pending)
    }
    status = [
        2,
        "s-1",
        "StatusNotification",
        {"timestamp": "2026-12-01T10:00:00Z", "connectorStatus": "Occupied", "evseId": 1, "connectorId": 1},
    ]
    meter = [
        2,
        "m-1",
        "MeterValues",
        {
            "evseId": 1,
            "meterValue": [
                {
                    "timestamp": "2026-12-01T10:00:00Z",
                    "sampledValue": [{"value": 1234.0, "measurand": "Energy.Active.Import.Register"}],
                }
            ],
        },
    ]

    async def scenario():
        for cp in cps.values():
            for frame in (status, meter):
                await cp.route_message(json.dumps(frame))

    asyncio.run(scenario())
    assert connections["FUSE-201"].sent == [[3, "s-1", {}], [3, "m-1", {}]]
    assert Connector.objects.get(station=station, evse_number=1).status == "Occupied"
    assert MeterValue.objects.filter(station=station).values_list("raw_value", flat=True).get() == "1234"
    rows = journal_of("FUSE-201")
    assert [(r.kind, r.response_to_id) for r in rows] == [
        (MessageLog.Kind.CALL, None),
        (MessageLog.Kind.CALLRESULT, rows[0].id),
        (MessageLog.Kind.CALL, None),
        (MessageLog.Kind.CALLRESULT, rows[2].id),
    ]
    assert [frame[:3] for frame in connections["FUSE-201-PENDING"].sent] == [
        [4, "s-1", "SecurityError"],
        [4, "m-1", "SecurityError"],
    ]
    assert not Connector.objects.filter(station=pending).exists()
    assert not MeterValue.objects.filter(station=pending).exists()


def _start(n: int) -> dict:
    return {"connectorId": 1, "idTag": f"TAG{n}", "meterStart": 1000, "timestamp": "2026-12-01T10:00:00Z"}


def test_start_and_stop_transaction_are_answered_from_what_their_exchange_stored(monkeypatch):
    """StartTransaction's answer carries the transactionId of the session stored in the same transaction as
    both journal rows; StopTransaction completes it the same way. Concurrent stations share the batch."""
    from billing.models import ChargingSession

    def ordinary(effects):
        raise AssertionError("the ordinary path ran: the exchange was not fused")

    monkeypatch.setattr(journal, "_effects_atomic", ordinary)

    stations = {name: charge_point(name) for name in ("FUSE-TX-1", "FUSE-TX-2")}

    async def scenario():
        await asyncio.gather(
            *(
                cp.route_message(json.dumps([2, f"start-{i}", "StartTransaction", _start(i)]))
                for i, (cp, _) in enumerate(stations.values())
            )
        )

    asyncio.run(scenario())
    for i, (name, (_, connection)) in enumerate(stations.items()):
        (answer,) = connection.sent
        assert answer[:2] == [3, f"start-{i}"]
        session = ChargingSession.objects.get(station__ocpp_id=name)
        assert answer[2]["transactionId"] == session.transaction_id
        assert answer[2]["idTagInfo"] == {"status": "Invalid"}  # an unknown card: stored, flagged, answered
        assert session.start_message_id == f"start-{i}" and session.status == "active"
        call, result = journal_of(name)
        assert (call.kind, call.action, result.kind, result.response_to_id) == (
            MessageLog.Kind.CALL,
            "StartTransaction",
            MessageLog.Kind.CALLRESULT,
            call.id,
        )
        assert json.loads(result.payload) == answer  # the journal holds exactly what was sent

    cp, connection = stations["FUSE-TX-1"]
    tx = connection.sent[0][2]["transactionId"]
    stop = {"transactionId": tx, "meterStop": 1500, "timestamp": "2026-12-01T11:00:00Z", "idTag": "TAG0"}
    asyncio.run(cp.route_message(json.dumps([2, "stop-0", "StopTransaction", stop])))
    assert connection.sent[1] == [3, "stop-0", {"idTagInfo": {"status": "Invalid"}}]
    session = ChargingSession.objects.get(transaction_id=tx)
    assert (session.status, session.meter_stop, session.energy_wh, session.stop_message_id) == (
        "completed",
        1500,
        500,
        "stop-0",
    )
    assert [row.kind for row in journal_of("FUSE-TX-1")] == [
        MessageLog.Kind.CALL,
        MessageLog.Kind.CALLRESULT,
    ] * 2

    # The same StartTransaction again (our answer was lost): the same transactionId, no second session.
    asyncio.run(cp.route_message(json.dumps([2, "start-0-again", "StartTransaction", _start(0)])))
    assert connection.sent[2][2]["transactionId"] == tx
    assert ChargingSession.objects.filter(station=cp.station_pk).count() == 1


def test_a_failing_start_fails_only_its_own_message_and_stores_nothing(monkeypatch):
    from billing import services
    from billing.models import ChargingSession

    good, good_connection = charge_point("FUSE-TX-OK")
    bad, bad_connection = charge_point("FUSE-TX-BAD")
    store = services.transaction_start_store

    def failing(**kwargs):
        session, decision = store(**kwargs)  # stored, then the transaction fails: rolled back
        if kwargs["station_id"] == bad.station_pk:
            raise RuntimeError("the database refused this station's session")
        return session, decision

    monkeypatch.setattr(services, "transaction_start_store", failing)

    async def scenario():
        await asyncio.gather(
            good.route_message(json.dumps([2, "ok-1", "StartTransaction", _start(1)])),
            bad.route_message(json.dumps([2, "bad-1", "StartTransaction", _start(2)])),
        )

    asyncio.run(scenario())
    (answer,) = good_connection.sent
    assert answer[2]["transactionId"] == ChargingSession.objects.get(station=good.station_pk).transaction_id
    (error,) = bad_connection.sent
    assert error[:3] == [4, "bad-1", "InternalError"]
    assert not ChargingSession.objects.filter(station=bad.station_pk).exists()
    call, reply = journal_of("FUSE-TX-BAD")  # journaled once, answered once
    assert (call.kind, reply.kind, reply.response_to_id) == (
        MessageLog.Kind.CALL,
        MessageLog.Kind.CALLERROR,
        call.id,
    )


def test_an_answer_that_fails_its_schema_is_never_sent_as_a_result(monkeypatch):
    """Built in the exchange's transaction, an invalid answer fails the exchange; the ordinary path then
    answers CALLERROR InternalError (its session kept, as that path always did: the station retries)."""
    from stations.ocpp import v16_transactions

    cp, connection = charge_point("FUSE-TX-SCHEMA")
    monkeypatch.setattr(v16_transactions, "_id_tag_info", lambda decision: {"status": "Bogus"})
    asyncio.run(cp.route_message(json.dumps([2, "s-1", "StartTransaction", _start(1)])))
    (error,) = connection.sent
    assert error[:3] == [4, "s-1", "InternalError"]
    assert [row.kind for row in journal_of("FUSE-TX-SCHEMA")] == [
        MessageLog.Kind.CALL,
        MessageLog.Kind.CALLERROR,
    ]
