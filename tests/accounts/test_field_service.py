"""Field Service Technicians see exactly the stations their company services, technical parts only."""

from django.urls import reverse

from stations.models import Station


def test_technician_lists_exactly_the_serviced_station(
    fst, own_station, foreign_station, pending_station, client_for
):
    body = client_for(fst).get(reverse("stations:list")).content.decode()
    assert own_station.ocpp_id in body
    assert foreign_station.ocpp_id not in body and pending_station.ocpp_id not in body


def test_technician_sees_technical_pages_without_prices(fst, own_station, client_for):
    client = client_for(fst)
    for name in ("stations:detail", "stations:configuration", "stations:connectors", "stations:commands"):
        response = client.get(reverse(name, args=[own_station.pk]))
        assert response.status_code == 200, name
        body = response.content.decode()
        assert "0.35" not in body and "price" not in body.lower(), name
        assert reverse("stations:settings", args=[own_station.pk]) not in body, name
    assert client.get(reverse("stations:settings", args=[own_station.pk])).status_code == 404


def test_technician_gets_404_for_a_station_serviced_by_someone_else(fst, foreign_station, client_for):
    client = client_for(fst)
    for name in ("stations:detail", "stations:configuration", "stations:connectors", "stations:commands"):
        assert client.get(reverse(name, args=[foreign_station.pk])).status_code == 404, name


def test_technician_of_a_station_that_changes_service_company_loses_it(
    fst, own_station, client_for, bob_account
):
    Station.objects.filter(pk=own_station.pk).update(field_service_account=bob_account)
    assert client_for(fst).get(reverse("stations:detail", args=[own_station.pk])).status_code == 404


def test_technician_sees_no_cards_groups_or_sessions(fst, own_card, own_access_group, client_for):
    client = client_for(fst)
    assert client.get(reverse("card_list")).status_code == 403
    assert client.get(reverse("card_edit", args=[own_card.pk])).status_code == 404
    assert client.get(reverse("access_group_list")).status_code == 403
    assert own_card.id_tag not in client.get(reverse("billing:session_list")).content.decode()
