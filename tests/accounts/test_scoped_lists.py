"""Lists, their htmx partials and exports show each role exactly its own rows."""

import pytest
from django.apps import apps
from django.urls import reverse

HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def sessions(own_station, foreign_station, own_card, foreign_card, alice_account, bob_account):
    ChargingSession = apps.get_model("billing", "ChargingSession")
    return {
        "alice": ChargingSession.objects.create(
            station=own_station,
            connector_id=1,
            card=own_card,
            id_tag=own_card.id_tag,
            account=alice_account,
            transaction_id=111111,
            status="completed",
        ),
        "bob": ChargingSession.objects.create(
            station=foreign_station,
            connector_id=1,
            card=foreign_card,
            id_tag=foreign_card.id_tag,
            account=bob_account,
            transaction_id=222222,
            status="completed",
        ),
    }


# persona -> (stations it lists, sessions it lists)
EXPECTED = {
    "operator": ({"ALICE-001", "BOB-001"}, {"alice", "bob"}),
    "account_owner": ({"ALICE-001"}, {"alice"}),
    "billing_admin": ({"ALICE-001"}, {"alice"}),
    "fst": ({"ALICE-001"}, set()),
    "driver": (set(), {"alice"}),
    "foreign_user": ({"BOB-001"}, {"bob"}),
}


def _shown(body: str, candidates: dict) -> set:
    return {name for name, needle in candidates.items() if needle in body}


@pytest.mark.parametrize("persona", sorted(EXPECTED))
def test_station_list_and_its_partial(persona, personas, own_station, foreign_station, client_for):
    client = client_for(personas[persona])
    stations = {"ALICE-001": own_station.ocpp_id, "BOB-001": foreign_station.ocpp_id}
    for extra in ({}, HX):
        body = client.get(reverse("stations:list"), **extra).content.decode()
        assert _shown(body, stations) == EXPECTED[persona][0], (persona, extra)


@pytest.mark.parametrize("persona", sorted(EXPECTED))
def test_session_list_partial_and_csv_export(persona, personas, sessions, client_for):
    client = client_for(personas[persona])
    # The page names each session's station; the export carries each session's idTag.
    for extra in ({}, HX):
        body = client.get(reverse("billing:session_list"), **extra).content.decode()
        assert _shown(body, {"alice": "ALICE-001", "bob": "BOB-001"}) == EXPECTED[persona][1], (
            persona,
            extra,
        )
    export = client.get(reverse("billing:session_export"))
    body = b"".join(export.streaming_content).decode()
    assert _shown(body, {"alice": "ALICE0001", "bob": "BOB0001"}) == EXPECTED[persona][1], (persona, "export")
