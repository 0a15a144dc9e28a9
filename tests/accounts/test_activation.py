"""Customer activation: Activation pending → Active in the customer's account."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from accounts.models import AuditEvent
from stations.models import EvseId, Station
from stations.services.station_settings import find_station_for_activation, station_activate


@pytest.fixture
def sticker(pending_station):
    connector = pending_station.connectors.get(connector_id=1)
    return EvseId.objects.create(
        evse_id="NL*EFL*E000777", country_code="NL", operator_id="EFL", sequence=777, connector=connector
    )


def test_it_finds_a_pending_station_by_ocpp_id_serial_or_sticker(pending_station, sticker):
    assert find_station_for_activation("pending-001") == pending_station
    assert find_station_for_activation(" PEND0001 ") == pending_station
    assert find_station_for_activation("NL*EFL*E000777") == pending_station
    assert find_station_for_activation("nlefle000777") == pending_station
    assert find_station_for_activation("") is None
    assert find_station_for_activation("NOPE") is None


def test_it_does_not_find_stations_that_are_not_pending(own_station, foreign_station):
    # A customer must not be able to probe which active stations exist.
    assert find_station_for_activation(own_station.ocpp_id) is None
    assert find_station_for_activation(foreign_station.serial_number) is None
    assert find_station_for_activation(own_station.ocpp_id, pending_only=False) == own_station


def test_it_activates_into_the_account_with_plan_and_location_and_audits(
    pending_station, alice_account, billing_plan, own_location, account_owner
):
    station = station_activate(
        station=pending_station,
        account=alice_account,
        billing_plan=billing_plan,
        location=own_location,
        acting_user=account_owner,
    )
    station.refresh_from_db()
    assert station.setup_state == Station.SetupState.ACTIVE
    assert (station.account, station.billing_plan, station.location) == (
        alice_account,
        billing_plan,
        own_location,
    )
    event = AuditEvent.objects.get(action="station.activate")
    assert event.actor == account_owner and event.station == station and event.account == alice_account
    assert event.changes["setup_state"] == ["activation_pending", "active"]


def test_it_refuses_a_station_that_is_not_pending(own_station, alice_account, billing_plan, account_owner):
    with pytest.raises(ValidationError, match="not waiting for activation"):
        station_activate(
            station=own_station,
            account=alice_account,
            billing_plan=billing_plan,
            location=None,
            acting_user=account_owner,
        )


def test_it_refuses_a_location_of_another_account(
    pending_station, alice_account, billing_plan, foreign_location, account_owner
):
    with pytest.raises(ValidationError, match="belongs to another account"):
        station_activate(
            station=pending_station,
            account=alice_account,
            billing_plan=billing_plan,
            location=foreign_location,
            acting_user=account_owner,
        )
    pending_station.refresh_from_db()
    assert pending_station.setup_state == Station.SetupState.ACTIVATION_PENDING


def test_it_refuses_activation_into_an_account_the_user_does_not_administer(
    pending_station, bob_account, billing_plan, account_owner, billing_admin, alice_account
):
    with pytest.raises(ValidationError, match="not an Account admin"):
        station_activate(
            station=pending_station,
            account=bob_account,
            billing_plan=billing_plan,
            location=None,
            acting_user=account_owner,
        )
    with pytest.raises(ValidationError, match="not an Account admin"):
        station_activate(
            station=pending_station,
            account=alice_account,
            billing_plan=billing_plan,
            location=None,
            acting_user=billing_admin,
        )


def test_it_refuses_an_inactive_billing_plan(pending_station, alice_account, billing_plan, account_owner):
    billing_plan.is_active = False
    billing_plan.save()
    with pytest.raises(ValidationError, match="active billing plan"):
        station_activate(
            station=pending_station,
            account=alice_account,
            billing_plan=billing_plan,
            location=None,
            acting_user=account_owner,
        )


def test_operator_activates_for_the_customer(
    pending_station, bob_account, billing_plan, foreign_location, operator
):
    station = station_activate(
        station=pending_station,
        account=bob_account,
        billing_plan=billing_plan,
        location=foreign_location,
        acting_user=operator,
    )
    assert station.account == bob_account and station.setup_state == Station.SetupState.ACTIVE


# --- the page ---------------------------------------------------------------------------------------


def test_account_admin_activates_through_the_page_with_the_sticker_evse_id(
    pending_station, sticker, alice_account, billing_plan, own_location, account_owner, client_for
):
    client = client_for(account_owner)
    response = client.post(
        reverse("station_activation"),
        {
            "query": "NL*EFL*E000777",
            "account": alice_account.pk,
            "billing_plan": billing_plan.pk,
            "location": own_location.pk,
        },
        follow=True,
    )
    assert response.status_code == 200
    assert "is now active in Alice Charging BV" in response.content.decode()
    pending_station.refresh_from_db()
    assert pending_station.account == alice_account and pending_station.setup_state == "active"


def test_the_page_explains_when_nothing_matches(
    alice_account, billing_plan, account_owner, client_for, own_station
):
    client = client_for(account_owner)
    response = client.post(
        reverse("station_activation"),
        {"query": own_station.ocpp_id, "account": alice_account.pk, "billing_plan": billing_plan.pk},
    )
    assert response.status_code == 200
    assert "No station waiting for activation" in response.content.decode()


def test_the_page_offers_only_accounts_the_user_administers(
    pending_station, bob_account, billing_plan, account_owner, client_for
):
    client = client_for(account_owner)
    response = client.post(
        reverse("station_activation"),
        {"query": pending_station.ocpp_id, "account": bob_account.pk, "billing_plan": billing_plan.pk},
    )
    assert "Select a valid choice" in response.content.decode()
    pending_station.refresh_from_db()
    assert pending_station.account is None


def test_htmx_lookup_renders_the_partial(pending_station, account_owner, client_for):
    client = client_for(account_owner)
    response = client.get(reverse("station_activation"), {"query": "PEND0001"}, HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert response.status_code == 200 and "<html" not in body
    assert "PENDING-001" in body and "waiting for activation" in body
    miss = client.get(reverse("station_activation"), {"query": "ALICE-001"}, HTTP_HX_REQUEST="true")
    assert "No station waiting for activation" in miss.content.decode()
