"""EVSE IDs for autopick: batches in eMI3 format, CSV for stickers, where each ID is assigned, and autopick
that never hands one ID to two connectors."""

import csv
import io
import re
import threading

import pytest
from django.db import close_old_connections, connection, transaction
from django.urls import reverse

from stations.models import Connector, EvseId
from stations.services import evse_ids
from tests.personas import make_station

# eMI3 EVSE ID (ISO 15118-2 Annex H): country, operator, 'E', power outlet id; '*' separators.
EMI3 = re.compile(r"^[A-Z]{2}\*[A-Z0-9]{3}\*E[A-Z0-9][A-Z0-9*]{0,30}$")


def test_batch_ids_follow_emi3_and_continue_the_sequence(operator):
    evse_ids.evse_id_batch_create(country_code="nl", operator_id="efl", count=3, acting_user=operator)
    evse_ids.evse_id_batch_create(country_code="NL", operator_id="EFL", count=2, acting_user=operator)
    ids = list(EvseId.objects.order_by("id").values_list("evse_id", flat=True))
    assert ids == [f"NL*EFL*E00000{i}" for i in range(1, 6)]
    assert all(EMI3.match(i) for i in ids)
    assert set(EvseId.objects.values_list("status", flat=True)) == {EvseId.Status.AVAILABLE}


def test_operator_generates_a_batch_in_the_portal(client_for, operator):
    response = client_for(operator).post(
        reverse("stations:evse_ids"), {"country_code": "DE", "operator_id": "X1Y", "count": "4"}
    )
    assert response.status_code == 302
    assert EvseId.objects.filter(evse_id__startswith="DE*X1Y*E").count() == 4


@pytest.mark.parametrize(
    "data,field",
    [
        ({"country_code": "N1", "operator_id": "EFL", "count": "3"}, "country_code"),
        ({"country_code": "NL", "operator_id": "EF", "count": "3"}, "operator_id"),
        ({"country_code": "NL", "operator_id": "EFL", "count": "0"}, "count"),
    ],
)
def test_batch_form_errors_are_shown_at_the_field(client_for, operator, data, field):
    body = client_for(operator).post(reverse("stations:evse_ids"), data).content.decode()
    block = body[body.index(f'id="field-{field}"') :][:800]
    assert 'class="error"' in block
    assert not EvseId.objects.exists()


@pytest.mark.parametrize("persona", ["account_owner", "fst", "driver"])
def test_only_operators_manage_evse_ids(client_for, request, persona):
    client = client_for(request.getfixturevalue(persona))
    assert client.get(reverse("stations:evse_ids")).status_code == 403
    assert client.get(reverse("stations:evse_id_export")).status_code == 403
    assert client.get(reverse("stations:evse_id_detail", args=["NL*EFL*E000001"])).status_code == 403


def test_csv_export_has_a_sticker_link_and_the_assignment(client_for, operator):
    station = make_station("CSV-1", connectors=(1,))
    evse_ids.evse_id_batch_create(country_code="NL", operator_id="EFL", count=2, acting_user=operator)
    with transaction.atomic():
        evse_ids.evse_id_autopick(connector=station.connectors.get())
    response = client_for(operator).get(reverse("stations:evse_id_export"))
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [r["evse_id"] for r in rows] == ["NL*EFL*E000001", "NL*EFL*E000002"]
    assert rows[0]["station"] == "CSV-1" and rows[0]["connector"] == "1" and rows[0]["status"] == "assigned"
    assert rows[1]["qr_payload"].startswith("http://testserver/evse-ids/NL*EFL*E000002")
    available = client_for(operator).get(reverse("stations:evse_id_export"), {"status": "available"})
    assert "NL*EFL*E000001" not in available.content.decode()


def test_each_id_shows_where_it_is_assigned(client_for, operator):
    station = make_station("WHERE-1", connectors=(1,))
    evse_ids.evse_id_batch_create(country_code="NL", operator_id="EFL", count=1, acting_user=operator)
    with transaction.atomic():
        evse = evse_ids.evse_id_autopick(connector=station.connectors.get())
    client = client_for(operator)
    assert "WHERE-1</a> connector 1" in client.get(reverse("stations:evse_ids")).content.decode()
    detail = client.get(reverse("stations:evse_id_detail", args=[evse.evse_id])).content.decode()
    assert "WHERE-1</a> connector 1" in detail


def _connectors(n):
    return [make_station(f"CONC-{i}", connectors=(1,)).connectors.get() for i in range(n)]


def _autopick_all(connectors, *, hold: threading.Barrier | None = None):
    results, errors = {}, []

    def worker(connector):
        try:
            with transaction.atomic():
                evse = evse_ids.evse_id_autopick(connector=connector)
                results[connector.pk] = evse.evse_id if evse else None
                if hold is not None:
                    hold.wait(timeout=60)  # every saver holds its pick at the same moment
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            close_old_connections()

    threads = [threading.Thread(target=worker, args=(c,)) for c in connectors]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    return results


@pytest.mark.django_db(transaction=True)
def test_concurrent_autopick_never_assigns_one_id_twice(operator):
    evse_ids.evse_id_batch_create(country_code="NL", operator_id="EFL", count=12, acting_user=operator)
    connectors = _connectors(8)
    results = _autopick_all(connectors)
    picked = list(results.values())
    assert None not in picked and len(set(picked)) == 8
    assert EvseId.objects.filter(status=EvseId.Status.ASSIGNED).count() == 8
    assert Connector.objects.filter(evse__isnull=False).count() == 8


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_concurrent_autopick_on_postgresql_skips_rows_locked_by_other_savers(operator):
    """All savers hold their transaction open at the same time: with SELECT ... FOR UPDATE SKIP LOCKED each
    takes a different row; a plain read would hand all of them the same 'next free' ID (and block)."""
    assert connection.vendor == "postgresql"
    evse_ids.evse_id_batch_create(country_code="NL", operator_id="EFL", count=10, acting_user=operator)
    connectors = _connectors(6)
    results = _autopick_all(connectors, hold=threading.Barrier(6))
    picked = sorted(results.values())
    assert picked == [f"NL*EFL*E00000{i}" for i in range(1, 7)]
