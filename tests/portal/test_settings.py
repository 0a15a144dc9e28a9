"""Open Settings: activation through stations.services.station_settings.station_activate, tariffs, flags, access groups,
availability commands when 'disable' changes, errors at the field, audit."""

from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.models import AccessGroup
from stations.models import OcppCall, Station
from tests.conftest import start_daphne
from tests.simulated import running_station
from tests.waiting import wait_for


def form_data(station, **overrides):
    data = {
        "billing_plan": station.billing_plan_id or "",
        "account": station.account_id or "",
        "location": station.location_id or "",
        "field_service_account": station.field_service_account_id or "",
        "price_per_kwh": "",
        "price_per_session": "",
        "price_per_hour": "",
        "currency": "EUR",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def settings_url(station):
    return reverse("stations:settings", args=[station.pk])


def test_operator_activates_a_pending_station_for_a_customer(
    client_for, operator, pending_station, alice_account, own_location, billing_plan, service_account
):
    response = client_for(operator).post(
        settings_url(pending_station),
        form_data(
            pending_station,
            billing_plan=billing_plan.pk,
            account=alice_account.pk,
            location=own_location.pk,
            field_service_account=service_account.pk,
            price_per_kwh="0.29",
            price_per_session="0.50",
            price_per_hour="1.00",
            allow_roaming="on",
        ),
    )
    assert response.status_code == 302
    s = Station.objects.get(pk=pending_station.pk)
    assert s.setup_state == Station.SetupState.ACTIVE
    assert (s.account, s.location, s.billing_plan, s.field_service_account) == (
        alice_account,
        own_location,
        billing_plan,
        service_account,
    )
    assert (s.price_per_kwh, s.price_per_session, s.price_per_hour) == (
        Decimal("0.29"),
        Decimal("0.5"),
        Decimal("1"),
    )
    assert s.allow_roaming and not s.free_charging and not s.is_disabled
    assert s.audit_events.filter(
        action="station.activate", actor=operator
    ).exists()  # one activation code path
    settings_event = s.audit_events.get(action="station.settings")
    before, after = settings_event.changes["price_per_kwh"]
    assert before is None and Decimal(after) == Decimal("0.29")


@pytest.mark.parametrize(
    "overrides,field,message",
    [
        ({"price_per_kwh": "-1"}, "price_per_kwh", "A price cannot be negative."),
        ({"price_per_hour": "abc"}, "price_per_hour", "Enter a number"),
        ({"currency": "eu"}, "currency", "ISO 4217"),
        ({"location": "foreign"}, "location", "belongs to Bob Parking Ltd"),
        ({"billing_plan": ""}, "billing_plan", "Choose the billing plan"),
    ],
)
def test_form_errors_are_shown_at_the_field(
    client_for,
    operator,
    pending_station,
    alice_account,
    own_location,
    foreign_location,
    billing_plan,
    overrides,
    field,
    message,
):
    if overrides.get("location") == "foreign":
        overrides["location"] = foreign_location.pk
    data = form_data(
        pending_station, account=alice_account.pk, location=own_location.pk, billing_plan=billing_plan.pk
    )
    data.update(overrides)
    response = client_for(operator).post(settings_url(pending_station), data)
    assert response.status_code == 200
    body = response.content.decode()
    block = body[body.index(f'id="field-{field}"') :][:2000]
    block = block[: block.index('<div class="field') if '<div class="field' in block[10:] else None]
    assert 'class="error"' in block and message in block, block
    assert Station.objects.get(pk=pending_station.pk).setup_state == Station.SetupState.ACTIVATION_PENDING


def test_access_groups_are_linked_and_foreign_unshared_groups_refused(
    client_for, operator, own_station, alice_account, bob_account
):
    own = AccessGroup.objects.create(account=alice_account, name="Staff")
    foreign = AccessGroup.objects.create(account=bob_account, name="Tenants")
    client = client_for(operator)
    assert (
        client.post(settings_url(own_station), form_data(own_station, access_groups=[own.pk])).status_code
        == 302
    )
    assert list(own_station.access_groups.all()) == [own]
    response = client.post(
        settings_url(own_station), form_data(own_station, access_groups=[own.pk, foreign.pk])
    )
    assert "belongs to another account" in response.content.decode()


def test_account_owner_edits_tariff_but_cannot_move_the_station(
    client_for, account_owner, own_station, bob_account
):
    client = client_for(account_owner)
    body = client.get(settings_url(own_station)).content.decode()
    for operator_only in ("account", "billing_plan", "field_service_account"):
        assert f'name="{operator_only}"' not in body
    response = client.post(
        settings_url(own_station), form_data(own_station, account=bob_account.pk, price_per_kwh="0.41")
    )
    assert response.status_code == 302
    s = Station.objects.get(pk=own_station.pk)
    assert s.price_per_kwh == Decimal("0.41") and s.account_id == own_station.account_id


def test_disabling_an_offline_station_records_that_the_command_could_not_be_delivered(
    client_for, operator, own_station
):
    client_for(operator).post(settings_url(own_station), form_data(own_station, is_disabled="on"))
    call = OcppCall.objects.get(station=own_station, action="ChangeAvailability")
    assert (
        call.payload == {"connectorId": 0, "type": "Inoperative"} and call.status == OcppCall.Status.OFFLINE
    )
    assert Station.objects.get(pk=own_station.pk).is_disabled
    event = wait_for(
        lambda: own_station.audit_events.filter(
            action="station.settings", result__call_status="offline"
        ).first()
    )
    assert event.changes["is_disabled"] == ["False", "True"]


@pytest.fixture
def server(transactional_db, tmp_path):
    srv = start_daphne(tmp_path, OCPP_CALL_SWEEP_SECONDS="0.1")
    yield srv
    srv.stop()


def test_disable_sends_inoperative_and_enable_sends_operative(server, client_for, operator):
    inoperative = ("ChangeAvailability", {"connector_id": 0, "type": "Inoperative"})
    operative = ("ChangeAvailability", {"connector_id": 0, "type": "Operative"})
    with running_station(server, "AVAIL-1") as sim:
        sim.wait_booted()
        station = Station.objects.get(ocpp_id="AVAIL-1")
        client = client_for(operator)
        disable = client.post(settings_url(station), form_data(station, is_disabled="on"))
        assert disable.status_code == 302
        wait_for(sim.alive(lambda: inoperative in _received(sim)), message=sim.describe)
        wait_for(lambda: station.audit_events.filter(result__response={"status": "Accepted"}).exists())
        assert Station.objects.get(pk=station.pk).is_disabled
        enable = client.post(settings_url(station), form_data(station))
        assert enable.status_code == 302
        wait_for(sim.alive(lambda: operative in _received(sim)), message=sim.describe)
        assert not Station.objects.get(pk=station.pk).is_disabled
        assert _received(sim) == [inoperative, operative]


def _received(sim):
    out = []
    for action, payload in list(sim.station.received):
        if action == "ChangeAvailability":
            out.append(
                (
                    action,
                    {
                        "connector_id": payload.get("connector_id", payload.get("connectorId")),
                        "type": payload["type"],
                    },
                )
            )
    return out


def test_tariff_of_a_station_still_in_setup_is_saved_without_activating_it(client_for, operator, db):
    station = Station.objects.create(ocpp_id="SETUP-1", setup_state=Station.SetupState.SETUP_IN_PROGRESS)
    response = client_for(operator).post(settings_url(station), form_data(station, price_per_kwh="0.25"))
    assert response.status_code == 302
    station.refresh_from_db()
    assert station.price_per_kwh == Decimal("0.25")
    assert station.setup_state == Station.SetupState.SETUP_IN_PROGRESS


def test_account_admin_can_link_another_accounts_shared_group_but_not_a_private_one(
    client_for, account_owner, own_station, bob_account
):
    shared = AccessGroup.objects.create(account=bob_account, name="Bob's shared fleet", is_shared=True)
    private = AccessGroup.objects.create(account=bob_account, name="Bob's private", is_shared=False)
    client = client_for(account_owner)

    page = client.get(settings_url(own_station)).content.decode()
    assert "Bob&#x27;s shared fleet" in page or "Bob's shared fleet" in page
    assert "Bob&#x27;s private" not in page and "Bob's private" not in page

    response = client.post(settings_url(own_station), form_data(own_station, access_groups=[shared.pk]))
    assert response.status_code == 302
    assert list(own_station.access_groups.all()) == [shared]

    response = client.post(settings_url(own_station), form_data(own_station, access_groups=[private.pk]))
    assert response.status_code == 200  # the form again, with the error at the field
    assert list(own_station.access_groups.all()) == [shared]
