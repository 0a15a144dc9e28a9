"""billing.services: the rules behind StartTransaction / MeterValues / StopTransaction (OCPP 1.6 §3.7, §4.7,
§4.8, §4.10 and the errata), at the service level. The same rules over a real socket: test_ocpp_e2e.py."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest
from django.utils import timezone

from billing import services
from billing.models import ChargingSession, MeterValue

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def iso(dt: datetime) -> str:
    return dt.isoformat().replace("+00:00", "Z")


def start(station, tag="ALICE0001", connector=1, meter=1000, at=T0, received=None, **kw):
    return services.transaction_start(
        station_id=station.pk,
        connector_id=connector,
        id_tag=tag,
        meter_start=meter,
        timestamp=iso(at),
        received_at=received or at + timedelta(seconds=1),
        **kw,
    )


def stop(station, tx, meter=2000, at=T0 + timedelta(hours=1), received=None, **kw):
    return services.transaction_stop(
        station_id=station.pk,
        transaction_id=tx,
        meter_stop=meter,
        timestamp=iso(at),
        received_at=received or at + timedelta(seconds=1),
        **kw,
    )


@pytest.fixture
def tariff_station(own_station):
    own_station.allow_roaming = True
    own_station.price_per_kwh = D("0.35")
    own_station.price_per_session = D("1.00")
    own_station.price_per_hour = D("2.00")
    own_station.save()
    return own_station


def test_start_hands_out_a_random_positive_31_bit_transaction_id(own_station, own_card):
    ids = set()
    for c in range(1, 6):
        session, decision = start(own_station, connector=c, at=T0 + timedelta(minutes=c))
        assert decision.status == "Accepted"
        assert 0 < session.transaction_id < 2**31
        ids.add(session.transaction_id)
    assert len(ids) == 5
    # Not a sequence: consecutive sessions do not get consecutive ids.
    assert sorted(ids) != list(range(min(ids), min(ids) + 5))


def test_duplicate_start_with_new_message_id_gets_the_same_transaction_id(own_station, own_card):
    first, _ = start(own_station, message_id="m-1")
    again, decision = services.transaction_start(
        station_id=own_station.pk,
        connector_id=1,
        id_tag="alice0001",
        meter_start=1000,
        timestamp=T0.isoformat(),  # same instant, written with +00:00 instead of Z
        message_id="m-2",
        received_at=T0 + timedelta(minutes=5),
    )
    assert again.transaction_id == first.transaction_id
    assert decision.status == "Accepted"
    assert ChargingSession.objects.count() == 1


def test_stop_prices_the_session_with_all_three_components_and_vat(tariff_station, foreign_card):
    session, decision = start(tariff_station, tag=foreign_card.id_tag, meter=100_000)
    assert decision.reason == "public"
    result = stop(tariff_station, session.transaction_id, meter=112_345, at=T0 + timedelta(minutes=90))
    s = result.session
    assert (s.energy_wh, s.duration_seconds, s.status) == (12_345, 5400, "completed")
    # 12.345 kWh x 0.35 = 4.32075 -> 4.32; 1.00; 1.5 h x 2.00 = 3.00; 8.32 + 21% (1.7472 -> 1.75) = 10.07
    assert (s.energy_amount, s.session_amount, s.time_amount) == (D("4.32"), D("1.00"), D("3.00"))
    assert (s.subtotal, s.vat_amount, s.total) == (D("8.32"), D("1.75"), D("10.07"))
    assert not s.needs_review


def test_repeated_stop_is_confirmed_and_changes_nothing(tariff_station, foreign_card):
    session, _ = start(tariff_station, tag=foreign_card.id_tag)
    first = stop(tariff_station, session.transaction_id, meter=5000)
    before = ChargingSession.objects.values().get(pk=session.pk)
    again = stop(
        tariff_station, session.transaction_id, meter=9999, at=T0 + timedelta(hours=5), message_id="x"
    )
    assert first.changed and not again.changed
    assert ChargingSession.objects.values().get(pk=session.pk) == before


def test_price_snapshot_ignores_later_tariff_changes(tariff_station, foreign_card):
    session, _ = start(tariff_station, tag=foreign_card.id_tag, meter=0)
    tariff_station.price_per_kwh = D("9.99")
    tariff_station.save()
    s = stop(tariff_station, session.transaction_id, meter=10_000).session
    assert s.price_per_kwh == D("0.35")
    assert s.energy_amount == D("3.50")


def test_free_own_account_session_costs_zero_and_is_marked_free(tariff_station, own_card):
    session, _ = start(tariff_station, tag=own_card.id_tag, meter=0)
    s = stop(tariff_station, session.transaction_id, meter=30_000).session
    assert (s.is_free, s.auth_reason, s.total, s.energy_wh) == (True, "own_account", D("0"), 30_000)


def test_reduced_access_group_session_is_priced_by_the_group(tariff_station, foreign_card):
    from accounts.models import AccessGroup

    group = AccessGroup.objects.create(
        account=tariff_station.account, name="Tenants", terms="reduced", price_per_kwh=D("0.10")
    )
    group.stations.add(tariff_station)
    group.cards.add(foreign_card)
    session, _ = start(tariff_station, tag=foreign_card.id_tag, meter=0)
    s = stop(tariff_station, session.transaction_id, meter=10_000, at=T0 + timedelta(hours=2)).session
    # Group terms replace the station tariff entirely: no session fee, no time fee.
    assert (s.access_group, s.energy_amount, s.session_amount, s.time_amount) == (group, D("1.00"), 0, 0)
    assert s.total == D("1.21")


def test_roaming_session_pays_the_station_tariff(tariff_station):
    from accounts.models import ChargeCard

    ChargeCard.objects.create(id_tag="ROAM1", kind="roaming")
    session, decision = start(tariff_station, tag="ROAM1", meter=0)
    assert decision.reason == "roaming"
    s = stop(tariff_station, session.transaction_id, meter=1000, at=T0 + timedelta(hours=1)).session
    assert s.total == D("4.05")  # (0.35 + 1.00 + 2.00) x 1.21 = 4.0535 -> lines 3.35 + VAT 0.70


def test_start_with_a_refused_card_still_gets_a_transaction_id_and_is_flagged(own_station):
    session, decision = start(own_station, tag="UNKNOWN99")
    assert decision.status == "Invalid"
    assert session.transaction_id > 0
    assert session.auth_status == "Invalid"
    assert "not_accepted" in session.review_flags


@pytest.mark.parametrize(
    "tx,flag", [(424242, "unknown_transaction"), (0, "transaction_id_zero"), (-1, "transaction_id_minus_one")]
)
def test_stop_for_unknown_zero_or_minus_one_is_answered_stored_and_flagged(own_station, own_card, tx, flag):
    result = stop(own_station, tx, meter=5000, id_tag="ALICE0001")
    assert result.decision.status == "Accepted"
    s = result.session
    assert (s.origin, s.reported_transaction_id, s.transaction_id, s.meter_stop) == (
        "orphan_stop",
        tx,
        None,
        5000,
    )
    assert s.needs_review and flag in s.review_flags
    # The same message again: still one record.
    again = stop(own_station, tx, meter=5000, id_tag="ALICE0001")
    assert not again.changed
    assert ChargingSession.objects.filter(origin="orphan_stop").count() == 1


def test_orphan_stop_takes_its_start_from_the_transaction_begin_reading(tariff_station):
    data = [
        {
            "timestamp": iso(T0),
            "sampled_value": [{"value": "1.5", "unit": "kWh", "context": "Transaction.Begin"}],
        },
        {"timestamp": iso(T0 + timedelta(hours=1)), "sampled_value": [{"value": "3.5", "unit": "kWh"}]},
    ]
    s = stop(tariff_station, -1, meter=3500, transaction_data=data).session
    assert (s.meter_start, s.energy_wh, s.duration_seconds) == (1500, 2000, 3600)
    assert MeterValue.objects.filter(session=s, from_stop=True).count() == 2


def test_a_station_can_never_stop_another_stations_session(own_station, foreign_station, own_card):
    session, _ = start(own_station)
    result = stop(foreign_station, session.transaction_id, meter=99_999)
    session.refresh_from_db()
    assert session.status == "active" and session.meter_stop is None
    assert result.session.station == foreign_station
    assert "transaction_of_other_station" in result.session.review_flags
    # Nor attach meter values to it.
    services.meter_values_record(
        station_id=foreign_station.pk,
        connector_id=1,
        transaction_id=session.transaction_id,
        meter_value=[{"timestamp": iso(T0), "sampled_value": [{"value": "5"}]}],
    )
    assert not MeterValue.objects.filter(session=session).exists()
    assert MeterValue.objects.get(station=foreign_station).needs_review


def test_meter_stop_below_meter_start_is_stored_and_flagged(tariff_station, foreign_card):
    session, _ = start(tariff_station, tag=foreign_card.id_tag, meter=5000)
    s = stop(tariff_station, session.transaction_id, meter=4000).session
    assert (s.meter_stop, s.energy_wh, s.energy_amount) == (4000, 0, D("0.00"))
    assert "meter_stop_below_start" in s.review_flags


def test_timestamps_in_the_future_or_far_past_are_stored_and_flagged(own_station, own_card):
    now = timezone.now()
    future, _ = start(own_station, connector=1, at=now + timedelta(days=2), received=now)
    past, _ = start(own_station, connector=2, at=datetime(2001, 1, 1, tzinfo=UTC), received=now)
    assert future.started_at == now + timedelta(days=2) and "future_timestamp" in future.review_flags
    assert past.started_at.year == 2001 and "old_timestamp" in past.review_flags


def test_offline_session_is_priced_by_the_station_timestamps(tariff_station, foreign_card):
    # The station was offline for a week and delivers both messages now (§3.7: SHOULD process as any other).
    now = T0 + timedelta(days=7)
    session, _ = start(tariff_station, tag=foreign_card.id_tag, meter=0, received=now)
    s = stop(
        tariff_station, session.transaction_id, meter=0, at=T0 + timedelta(hours=3), received=now
    ).session
    assert (s.started_at, s.stopped_at, s.duration_seconds) == (T0, T0 + timedelta(hours=3), 10_800)
    assert s.time_amount == D("6.00")
    assert not s.needs_review


def test_meter_values_after_the_stop_attach_without_reopening(tariff_station, foreign_card):
    session, _ = start(tariff_station, tag=foreign_card.id_tag, meter=0)
    stopped = stop(tariff_station, session.transaction_id, meter=2000).session
    services.meter_values_record(
        station_id=tariff_station.pk,
        connector_id=1,
        transaction_id=session.transaction_id,
        meter_value=[{"timestamp": iso(T0 + timedelta(minutes=59)), "sampled_value": [{"value": "1990"}]}],
    )
    s = ChargingSession.objects.get(pk=session.pk)
    assert s.status == "completed" and s.energy_wh == 2000 and s.total == stopped.total
    assert s.meter_values.count() == 1


def test_new_start_on_a_busy_connector_closes_the_old_session_by_the_rule(tariff_station, foreign_card):
    old, _ = start(tariff_station, tag=foreign_card.id_tag, meter=1000)
    new, _ = start(tariff_station, tag=foreign_card.id_tag, meter=4000, at=T0 + timedelta(hours=2))
    old.refresh_from_db()
    assert (old.status, old.stop_source, old.meter_stop, old.stopped_at) == (
        "completed",
        "superseded",
        4000,
        T0 + timedelta(hours=2),
    )
    assert old.energy_wh == 3000 and old.total > 0
    assert "closed_by_new_start" in old.review_flags
    assert new.status == "active" and new.transaction_id != old.transaction_id
    # The lost StopTransaction arrives after all: the station's data replaces the inferred values.
    late = stop(tariff_station, old.transaction_id, meter=3500, at=T0 + timedelta(hours=1))
    assert late.changed
    assert (late.session.meter_stop, late.session.energy_wh, late.session.stop_source) == (
        3500,
        2500,
        "station",
    )


def test_meter_values_are_normalised_and_kept_with_or_without_a_transaction(own_station, own_card):
    session, _ = start(own_station, meter=10_000)
    services.meter_values_record(
        station_id=own_station.pk,
        connector_id=1,
        transaction_id=session.transaction_id,
        meter_value=[
            {
                "timestamp": iso(T0 + timedelta(minutes=5)),
                "sampled_value": [
                    {
                        "value": "12.3456",
                        "unit": "kWh",
                        "measurand": "Energy.Active.Import.Register",
                        "context": "Sample.Periodic",
                    },
                    {"value": "7.2", "unit": "kW", "measurand": "Power.Active.Import"},
                    {"value": "16.1", "unit": "A", "measurand": "Current.Import", "phase": "L1"},
                    {"value": "16.0", "unit": "A", "measurand": "Current.Import", "phase": "L2"},
                    {"value": "230.5", "unit": "V", "measurand": "Voltage", "phase": "L1-N"},
                    {"value": "81", "unit": "Percent", "measurand": "SoC", "location": "EV"},
                ],
            }
        ],
    )
    rows = {(m.measurand, m.phase): m for m in MeterValue.objects.filter(session=session)}
    assert rows[("Energy.Active.Import.Register", "")].value == D("12345.6")
    assert rows[("Power.Active.Import", "")].value == D("7200")
    assert rows[("Current.Import", "L2")].value == D("16.0")
    assert rows[("Voltage", "L1-N")].value == D("230.5")
    assert rows[("SoC", "")].value == D("81")
    session.refresh_from_db()
    assert session.energy_wh == 2346  # live progress: 12345.6 Wh rounds to 12346, minus 10000

    # Connector 0 main meter and clock-aligned values without a transaction are kept too.
    services.meter_values_record(
        station_id=own_station.pk,
        connector_id=0,
        meter_value=[{"timestamp": iso(T0), "sampled_value": [{"value": "555", "context": "Sample.Clock"}]}],
    )
    row = MeterValue.objects.get(connector_id=0)
    assert (row.session, row.context, row.value, row.needs_review) == (None, "Sample.Clock", D("555"), False)


def test_non_numeric_and_signed_meter_values_are_kept_raw(own_station):
    services.meter_values_record(
        station_id=own_station.pk,
        connector_id=1,
        meter_value=[
            {
                "timestamp": "not-a-time",
                "sampled_value": [{"value": "abc"}, {"value": "0A0B", "format": "SignedData"}],
            }
        ],
    )
    rows = list(MeterValue.objects.order_by("id"))
    assert [(r.raw_value, r.value) for r in rows] == [("abc", None), ("0A0B", None)]
    assert rows[0].needs_review


def test_numbers_beyond_the_columns_are_stored_empty_and_flagged_never_failing(own_station, own_card):
    huge = 2**70
    session, decision = services.transaction_start(
        station_id=own_station.pk,
        connector_id=huge,
        id_tag=own_card.id_tag,
        meter_start=huge,
        timestamp=iso(T0),
    )
    assert decision.status == "Accepted" and session.transaction_id > 0
    assert (session.connector_id, session.meter_start) == (None, None)
    assert "integer_out_of_range" in session.review_flags
    rows = services.meter_values_record(
        station_id=own_station.pk,
        connector_id=1,
        transaction_id=huge,
        meter_value=[
            {"timestamp": iso(T0), "sampled_value": [{"value": "1e30"}, {"value": "12.5", "unit": "kWh"}]}
        ],
    )
    assert [(r.raw_value, r.value, r.needs_review) for r in rows] == [
        ("1e30", None, True),
        ("12.5", D("12500"), True),
    ]
    result = stop(own_station, huge, meter=huge)
    assert result.session.origin == "orphan_stop" and "integer_out_of_range" in result.session.review_flags
    session.refresh_from_db()
    assert session.status == "active"  # an out-of-range id never matches a session


def test_retries_of_a_start_with_an_unreadable_timestamp_still_find_their_session(own_station, own_card):
    def send(received):
        return services.transaction_start(
            station_id=own_station.pk,
            connector_id=1,
            id_tag=own_card.id_tag,
            meter_start=10,
            timestamp="yesterday-ish",
            received_at=received,
        )[0]

    first = send(T0)
    again = send(T0 + timedelta(minutes=2))
    assert again.transaction_id == first.transaction_id
    assert first.started_at == T0 and "bad_timestamp" in first.review_flags


def test_a_meter_values_message_sent_again_is_not_stored_twice(own_station, own_card):
    session, _ = start(own_station, meter=0)
    message = dict(
        station_id=own_station.pk,
        connector_id=1,
        transaction_id=session.transaction_id,
        meter_value=[
            {
                "timestamp": iso(T0 + timedelta(minutes=5)),
                "sampled_value": [
                    {"value": "900"},
                    {"value": "7.1", "unit": "kW", "measurand": "Power.Active.Import"},
                ],
            }
        ],
    )
    services.meter_values_record(**message)
    services.meter_values_record(**message, received_at=T0 + timedelta(minutes=9))
    services.meter_values_record_many([message, message])  # two copies in one group commit
    assert MeterValue.objects.filter(session=session).count() == 2
    # A different reading at the same instant is a new value, not a copy.
    message["meter_value"][0]["sampled_value"] = [{"value": "901"}]
    services.meter_values_record(**message)
    assert MeterValue.objects.filter(session=session).count() == 3
