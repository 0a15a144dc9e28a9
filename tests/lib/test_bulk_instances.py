"""eflux.bulk's plain-statement instances (instances_select, instance_of, instance_insert, instance_update):
the same instances and rows as the ORM gives and writes, on whichever database the suite runs on."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Account
from billing.models import ChargingSession
from billing.services.sessions import ACCOUNT_FIELDS, STATION_FIELDS, _get_station
from eflux import bulk
from stations.models import Station

pytestmark = pytest.mark.django_db(transaction=True)


def _session(station, **kw) -> ChargingSession:
    fields = dict(
        station=station,
        connector_id=1,
        transaction_id=4242,
        dedupe_key="k1",
        id_tag="CARD1",
        meter_start=100,
        started_at=timezone.now() - timedelta(hours=1),
        price_per_kwh=Decimal("0.3500"),
        vat_rate=Decimal("21.00"),
        is_free=True,
        review_flags=["bad_timestamp", {"nested": 1}],
    )
    fields.update(kw)
    return ChargingSession(**fields)


@pytest.fixture
def station():
    return Station.objects.create(ocpp_id="BULK-1", serial_number="SN-1")


def _as_dict(obj) -> dict:
    return {f.attname: getattr(obj, f.attname) for f in type(obj)._meta.concrete_fields}


def test_instances_select_gives_what_the_orm_gives(station):
    saved = _session(station)
    saved.save()
    other = _session(station, transaction_id=4243, dedupe_key="k2", connector_id=2)
    other.save()

    found = bulk.instances_select(ChargingSession, "station_id = %s", [station.pk])
    assert [s.pk for s in found] == [saved.pk, other.pk]
    orm = ChargingSession.objects.get(pk=saved.pk)
    assert _as_dict(found[0]) == _as_dict(orm)
    # Types as the ORM converts them (Decimal, aware datetime, bool, JSON), also on SQLite.
    assert isinstance(found[0].price_per_kwh, Decimal) and found[0].price_per_kwh == Decimal("0.3500")
    assert found[0].review_flags == ["bad_timestamp", {"nested": 1}]
    assert found[0].is_free is True
    assert timezone.is_aware(found[0].started_at)
    assert not found[0]._state.adding and found[0]._state.db == "default"
    assert bulk.instances_select(ChargingSession, "station_id = %s", [station.pk + 1000]) == []


def test_instances_select_with_lock_inside_a_transaction(station):
    _session(station).save()
    with transaction.atomic():
        locked = bulk.instances_select(
            ChargingSession, "station_id = %s AND connector_id = %s", [station.pk, 1], lock=True
        )
    assert [s.connector_id for s in locked] == [1]


def test_instance_insert_sets_the_pk_and_ignores_a_unique_conflict(station):
    first = _session(station)
    assert bulk.instance_insert(first, ignore_conflicts=True) is True
    assert first.pk is not None and not first._state.adding
    stored = ChargingSession.objects.get(pk=first.pk)
    assert _as_dict(stored) == {
        **_as_dict(first),
        "created_at": stored.created_at,
        "updated_at": stored.updated_at,
    }
    assert (
        stored.created_at is not None and stored.updated_at is not None
    )  # auto_now(_add) as save() sets them

    # The same dedupe key of the same station (a unique constraint): not inserted, no exception, pk unset.
    twin = _session(station, transaction_id=9999)
    assert bulk.instance_insert(twin, ignore_conflicts=True) is False
    assert twin.pk is None
    assert ChargingSession.objects.count() == 1


def test_instance_insert_without_ignore_raises_on_a_conflict(station):
    bulk.instance_insert(_session(station))
    with pytest.raises(IntegrityError), transaction.atomic():
        bulk.instance_insert(_session(station, dedupe_key="other"))  # same transaction_id


def test_instance_update_writes_every_column_and_auto_now(station):
    session = _session(station)
    session.save()
    before = ChargingSession.objects.get(pk=session.pk).updated_at
    loaded = bulk.instances_select(ChargingSession, "id = %s", [session.pk])[0]
    loaded.meter_stop = 900
    loaded.total = Decimal("1.23")
    loaded.review_flags = ["x"]
    loaded.status = ChargingSession.Status.COMPLETED
    bulk.instance_update(loaded)
    stored = ChargingSession.objects.get(pk=session.pk)
    assert (stored.meter_stop, stored.total, stored.review_flags, stored.status) == (
        900,
        Decimal("1.23"),
        ["x"],
        "completed",
    )
    assert stored.updated_at >= before
    assert stored.created_at == session.created_at  # not touched by an update


def test_instance_update_refuses_an_instance_with_deferred_fields(station):
    session = _session(station)
    session.save()
    partial = ChargingSession.objects.only("id", "meter_stop").get(pk=session.pk)
    with pytest.raises(ValueError, match="deferred"):
        bulk.instance_update(partial)


def test_the_sessions_station_read_defers_the_rest_and_carries_its_account():
    account = Account.objects.create(name="Acme", vat_rate=Decimal("21.00"))
    station = Station.objects.create(
        ocpp_id="BULK-2", serial_number="SN-2", account=account, price_per_kwh=Decimal("0.2500")
    )
    loaded = _get_station(station.pk)
    assert loaded.get_deferred_fields() == {
        f.attname for f in Station._meta.concrete_fields if f.attname not in STATION_FIELDS
    }
    assert loaded.price_per_kwh == Decimal("0.2500")
    assert loaded.account.pk == account.pk and loaded.account.vat_rate == Decimal("21.00")
    assert loaded.account.get_deferred_fields() == {
        f.attname for f in Account._meta.concrete_fields if f.attname not in ACCOUNT_FIELDS
    }
    assert loaded.ocpp_id == "BULK-2"  # deferred: loads on access
    no_account = Station.objects.create(ocpp_id="BULK-3", serial_number="SN-3")
    assert _get_station(no_account.pk).account is None
    with pytest.raises(Station.DoesNotExist):
        _get_station(no_account.pk + 1000)
