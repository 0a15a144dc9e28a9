"""OCPP 2.0.1 transactions end to end over a real socket against a real daphne process: Authorize with an
idToken, TransactionEvent Started/Updated/Ended priced as 1.6 sessions are (same decision, same snapshot),
totalCost in the Ended answer, replays stored once, out-of-order and missing events, offline events priced by
the station's clock. Every frame the CSMS sends is validated against the 2.0.1 schemas (RawStation201)."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest

from billing.models import ChargingSession, MeterValue, TransactionEventRecord
from billing.services.review import Flag
from stations.models import MessageLog
from tests.stations.ocpp201_helpers import RawStation201

pytestmark = pytest.mark.django_db(transaction=True)

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def iso(dt: datetime) -> str:
    return dt.isoformat().replace("+00:00", "Z")


def energy(dt: datetime, wh: float, context: str = "Sample.Periodic", multiplier: int = 0) -> dict:
    return {
        "timestamp": iso(dt),
        "sampledValue": [
            {
                "value": wh,
                "context": context,
                "measurand": "Energy.Active.Import.Register",
                "unitOfMeasure": {"unit": "Wh", "multiplier": multiplier},
            }
        ],
    }


def event(kind, seq, at, tx="TX-201-1", **extra) -> dict:
    payload = {
        "eventType": kind,
        "timestamp": iso(at),
        "triggerReason": {
            "Started": "Authorized",
            "Updated": "MeterValuePeriodic",
            "Ended": "EVCommunicationLost",
        }[kind],
        "seqNo": seq,
        "transactionInfo": {"transactionId": tx, **extra.pop("info", {})},
    }
    payload.update(extra)
    return payload


@pytest.fixture
def tariff_station(own_station):
    own_station.allow_roaming = True
    own_station.price_per_kwh = D("0.30")
    own_station.price_per_session = D("0.50")
    own_station.price_per_hour = D("1.20")
    own_station.save()
    return own_station


@pytest.fixture
def cp(daphne_server, tariff_station):
    client = RawStation201(daphne_server, tariff_station.ocpp_id)
    assert client.boot()["status"] == "Accepted"
    yield client
    client.close()


def test_authorize_uses_the_same_decision_as_16(cp, foreign_card, own_card, own_access_group):
    accepted = cp.result(
        "Authorize", {"idToken": {"idToken": foreign_card.id_tag.lower(), "type": "ISO14443"}}
    )
    assert accepted["idTokenInfo"] == {
        "status": "Accepted",
        "groupIdToken": {"idToken": f"ACCOUNT-{foreign_card.account_id}", "type": "Central"},
    }
    unknown = cp.result("Authorize", {"idToken": {"idToken": "NOBODY", "type": "ISO14443"}})
    assert unknown["idTokenInfo"]["status"] == "Invalid"
    # A token longer than any card tag never matches the card whose tag is its prefix.
    long = cp.result("Authorize", {"idToken": {"idToken": own_card.id_tag + "X" * 20, "type": "eMAID"}})
    assert long["idTokenInfo"]["status"] == "Invalid"


def test_a_session_is_started_metered_ended_priced_and_answered_with_total_cost(
    cp, tariff_station, foreign_card
):
    token = {"idToken": foreign_card.id_tag, "type": "ISO14443"}
    started = cp.result(
        "TransactionEvent",
        event(
            "Started",
            0,
            T0,
            evse={"id": 1, "connectorId": 1},
            idToken=token,
            meterValue=[energy(T0, 1_000_000, "Transaction.Begin")],
            info={"chargingState": "Charging"},
        ),
    )
    assert started["idTokenInfo"]["status"] == "Accepted" and "totalCost" not in started
    updated = cp.result(
        "TransactionEvent",
        event(
            "Updated",
            1,
            T0 + timedelta(minutes=30),
            meterValue=[energy(T0 + timedelta(minutes=30), 1005.2, multiplier=3)],
        ),
    )
    assert updated == {}
    live = ChargingSession.objects.get(station=tariff_station)
    assert live.status == "active" and live.energy_wh == 5_200
    ended = cp.result(
        "TransactionEvent",
        event(
            "Ended",
            2,
            T0 + timedelta(hours=2, minutes=15),
            meterValue=[energy(T0 + timedelta(hours=2, minutes=15), 1_023_456, "Transaction.End")],
            info={"stoppedReason": "EVDisconnected"},
        ),
    )
    s = ChargingSession.objects.get(station=tariff_station)
    assert s.status == "completed" and s.connector_id == 1
    assert (s.meter_start, s.meter_stop, s.energy_wh, s.duration_seconds) == (
        1_000_000,
        1_023_456,
        23_456,
        8_100,
    )
    assert (s.id_tag, s.stop_reason, s.auth_reason) == (foreign_card.id_tag, "EVDisconnected", "public")
    # 23.456 kWh x 0.30 = 7.04 (7.0368), + 0.50, + 2.25 h x 1.20 = 2.70 -> 10.24 net, VAT as the account's.
    assert (s.energy_amount, s.session_amount, s.time_amount, s.subtotal) == (
        D("7.04"),
        D("0.50"),
        D("2.70"),
        D("10.24"),
    )
    assert D(str(ended["totalCost"])) == s.total
    assert MeterValue.objects.filter(session=s).count() == 3
    assert not s.needs_review


def test_a_replayed_event_is_stored_once_and_answered_the_same(cp, tariff_station, foreign_card):
    token = {"idToken": foreign_card.id_tag, "type": "ISO14443"}
    cp.result(
        "TransactionEvent",
        event("Started", 0, T0, evse={"id": 1}, idToken=token, meterValue=[energy(T0, 500)]),
    )
    ended = event("Ended", 1, T0 + timedelta(hours=1), meterValue=[energy(T0 + timedelta(hours=1), 10_500)])
    first = cp.result("TransactionEvent", ended, message_id="end-1")
    again = cp.result("TransactionEvent", ended, message_id="end-1-retry")  # our answer was "lost"
    assert first == again and D(str(first["totalCost"])) > 0
    assert ChargingSession.objects.filter(station=tariff_station).count() == 1
    assert TransactionEventRecord.objects.filter(station=tariff_station).count() == 2
    assert MeterValue.objects.filter(station=tariff_station).count() == 2
    # Journaled before processing: both copies are in the journal, the answer after each.
    assert (
        MessageLog.objects.filter(
            station=tariff_station, action="TransactionEvent", kind=MessageLog.Kind.CALL
        ).count()
        == 3
    )


def test_out_of_order_and_missing_events_make_one_session_flagged_until_complete(
    cp, tariff_station, foreign_card
):
    token = {"idToken": foreign_card.id_tag, "type": "ISO14443"}
    # Ended first (Started and seqNo 1 still queued on the station), then Started, then the missing Updated.
    cp.result(
        "TransactionEvent",
        event(
            "Ended",
            2,
            T0 + timedelta(hours=1),
            tx="TX-OOO",
            meterValue=[energy(T0 + timedelta(hours=1), 20_000, "Transaction.End")],
        ),
    )
    s = ChargingSession.objects.get(station=tariff_station)
    assert s.status == "completed" and Flag.STARTED_NOT_RECEIVED in s.review_flags
    cp.result(
        "TransactionEvent",
        event(
            "Started",
            0,
            T0,
            tx="TX-OOO",
            evse={"id": 1, "connectorId": 1},
            idToken=token,
            meterValue=[energy(T0, 10_000, "Transaction.Begin")],
        ),
    )
    s.refresh_from_db()
    assert (s.started_at, s.meter_start, s.meter_stop, s.energy_wh, s.duration_seconds) == (
        T0,
        10_000,
        20_000,
        10_000,
        3600,
    )
    assert s.review_flags == [Flag.EVENTS_MISSING] and s.auth_reason == "public"
    cp.result(
        "TransactionEvent",
        event(
            "Updated",
            1,
            T0 + timedelta(minutes=30),
            tx="TX-OOO",
            meterValue=[energy(T0 + timedelta(minutes=30), 15_000)],
        ),
    )
    s.refresh_from_db()
    assert s.review_flags == [] and not s.needs_review
    assert ChargingSession.objects.filter(station=tariff_station).count() == 1
    assert s.total > 0


def test_offline_events_are_priced_by_the_station_clock(cp, tariff_station, foreign_card):
    token = {"idToken": foreign_card.id_tag, "type": "ISO14443"}
    yesterday = T0 - timedelta(days=1)
    cp.result(
        "TransactionEvent",
        event(
            "Started",
            0,
            yesterday,
            tx="TX-OFF",
            offline=True,
            evse={"id": 1},
            idToken=token,
            meterValue=[energy(yesterday, 0)],
        ),
    )
    answer = cp.result(
        "TransactionEvent",
        event(
            "Ended",
            1,
            yesterday + timedelta(hours=3),
            tx="TX-OFF",
            offline=True,
            meterValue=[energy(yesterday + timedelta(hours=3), 30_000)],
        ),
    )
    s = ChargingSession.objects.get(station=tariff_station)
    assert (s.started_at, s.stopped_at, s.duration_seconds, s.energy_wh) == (
        yesterday,
        yesterday + timedelta(hours=3),
        10_800,
        30_000,
    )
    # 30 kWh x 0.30 = 9.00 + 0.50 + 3 h x 1.20 = 3.60 -> 13.10 net.
    assert s.subtotal == D("13.10") and D(str(answer["totalCost"])) == s.total
    assert TransactionEventRecord.objects.filter(station=tariff_station, offline=True).count() == 2


def test_an_id_token_that_arrives_in_a_later_event_sets_the_terms(cp, tariff_station, foreign_card):
    # TxStartPoint EVConnected: the transaction starts before anyone is authorized.
    cp.result(
        "TransactionEvent", event("Started", 0, T0, tx="TX-LATE", evse={"id": 1}, meterValue=[energy(T0, 0)])
    )
    s = ChargingSession.objects.get(station=tariff_station)
    assert s.id_tag == "" and s.auth_status == "Invalid"
    answer = cp.result(
        "TransactionEvent",
        event(
            "Updated",
            1,
            T0 + timedelta(minutes=1),
            tx="TX-LATE",
            idToken={"idToken": foreign_card.id_tag, "type": "ISO14443"},
        ),
    )
    assert answer["idTokenInfo"]["status"] == "Accepted"
    s.refresh_from_db()
    assert (s.id_tag, s.auth_status, s.price_per_kwh) == (foreign_card.id_tag, "Accepted", D("0.30"))


def test_201_meter_values_outside_transactions_are_stored_per_evse(cp, tariff_station):
    payload = {"evseId": 0, "meterValue": [energy(T0, 42.5, "Sample.Clock", multiplier=3)]}
    assert cp.result("MeterValues", payload) == {}
    row = MeterValue.objects.get(station=tariff_station)
    assert (row.connector_id, row.value, row.session_id) == (0, D("42500"), None)


def test_a_new_transaction_on_a_busy_connector_closes_the_one_whose_end_was_lost(
    cp, tariff_station, foreign_card
):
    token = {"idToken": foreign_card.id_tag, "type": "ISO14443"}
    cp.result(
        "TransactionEvent",
        event(
            "Started",
            0,
            T0,
            tx="TX-LOST",
            evse={"id": 1, "connectorId": 1},
            idToken=token,
            meterValue=[energy(T0, 1_000)],
        ),
    )
    later = T0 + timedelta(hours=2)
    cp.result(
        "TransactionEvent",
        event(
            "Started",
            1,
            later,
            tx="TX-NEXT",
            evse={"id": 1, "connectorId": 1},
            idToken=token,
            meterValue=[energy(later, 9_000)],
        ),
    )
    old = ChargingSession.objects.get(station=tariff_station, started_at=T0)
    new = ChargingSession.objects.get(station=tariff_station, started_at=later)
    assert (old.status, old.stop_source, old.meter_stop, old.energy_wh) == (
        "completed",
        "superseded",
        9_000,
        8_000,
    )
    assert new.status == "active" and Flag.CLOSED_BY_NEW_START in old.review_flags
