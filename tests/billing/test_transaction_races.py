"""Never double under concurrency: the same transaction message processed at the same moment on two
connections (a station reconnects while its first attempt is still being handled). Real PostgreSQL, real
threads, each with its own connection; the constraints decide, not luck."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from billing import services
from billing.models import ChargingSession

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
THREADS = 6


def run_together(fn):
    barrier = threading.Barrier(THREADS)
    results, errors = [], []

    def worker():
        try:
            barrier.wait()
            results.append(fn())
        except Exception as e:  # surfaced below
            errors.append(e)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    return results


@pytest.mark.services
def test_concurrent_copies_of_one_start_transaction_make_one_session(transactional_db, own_station, own_card):
    results = run_together(
        lambda: (
            services.transaction_start(
                station_id=own_station.pk,
                connector_id=1,
                id_tag=own_card.id_tag,
                meter_start=100,
                timestamp=T0.isoformat(),
            )[0].transaction_id
        )
    )
    assert len(results) == THREADS and len(set(results)) == 1
    assert ChargingSession.objects.count() == 1


@pytest.mark.services
def test_concurrent_copies_of_one_stop_transaction_change_the_session_once(
    transactional_db, own_station, own_card
):
    session, _ = services.transaction_start(
        station_id=own_station.pk,
        connector_id=1,
        id_tag=own_card.id_tag,
        meter_start=100,
        timestamp=T0.isoformat(),
    )
    results = run_together(
        lambda: (
            services.transaction_stop(
                station_id=own_station.pk,
                transaction_id=session.transaction_id,
                meter_stop=5100,
                timestamp=(T0 + timedelta(hours=1)).isoformat(),
                transaction_data=[{"timestamp": T0.isoformat(), "sampled_value": [{"value": "100"}]}],
            ).changed
        )
    )
    assert sorted(results) == [False] * (THREADS - 1) + [True]
    session.refresh_from_db()
    assert (session.energy_wh, session.meter_values.count()) == (5000, 1)


@pytest.mark.services
def test_concurrent_different_starts_on_one_connector_leave_one_open_session(
    transactional_db, own_station, own_card
):
    counter = iter(range(THREADS))
    lock = threading.Lock()

    def start():
        with lock:
            i = next(counter)
        return services.transaction_start(
            station_id=own_station.pk,
            connector_id=1,
            id_tag=own_card.id_tag,
            meter_start=1000 * i,
            timestamp=(T0 + timedelta(minutes=i)).isoformat(),
        )[0].transaction_id

    results = run_together(start)
    assert len(set(results)) == THREADS
    assert ChargingSession.objects.filter(status="active").count() == 1
    assert ChargingSession.objects.filter(stop_source="superseded").count() == THREADS - 1
