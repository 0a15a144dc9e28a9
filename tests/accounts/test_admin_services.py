"""The Django admin goes through the services: the same rules and side effects as the portal, the services'
refusals as admin form errors, and the records stations and pricing produced read only."""

import datetime

import pytest
from django.apps import apps
from django.urls import reverse

from accounts.models import AccessGroup, AuditEvent, ChargeCard, Membership
from billing.models import BillingPlan, ChargingSession, MeterValue
from stations.models import (
    ConfigurationJob,
    Connector,
    MessageLog,
    OcppCall,
    Station,
    StationConfigurationKey,
    StationReset,
)
from tests.personas import make_member, make_user

Role = Membership.Role


def admin_url(model, action="changelist", *args):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{action}", args=args)


def _put(data: dict, bound_field) -> None:
    value = bound_field.value()
    name = bound_field.html_name
    if value is None or value is False:
        return
    if value is True:
        data[name] = "on"
    elif isinstance(value, datetime.datetime):  # the admin's split date/time widget
        data[f"{name}_0"], data[f"{name}_1"] = value.date().isoformat(), value.time().isoformat()
    elif isinstance(value, list | tuple):
        data[name] = [getattr(v, "pk", v) for v in value]
    else:
        data[name] = getattr(value, "pk", value)


def form_data(page, **changes) -> dict:
    """What an admin change page posts back when saved as shown, with `changes` on top."""
    data: dict = {}
    for bound_field in page.context["adminform"].form:
        _put(data, bound_field)
    for inline in page.context["inline_admin_formsets"]:
        for bound_field in inline.formset.management_form:
            _put(data, bound_field)
        for form in inline.formset.forms:
            for bound_field in form:
                _put(data, bound_field)
    for name, value in changes.items():
        if value is None:
            data.pop(name, None)
        else:
            data[name] = value
    return data


def post_change(client, obj, **changes):
    url = admin_url(type(obj), "change", obj.pk)
    return client.post(url, form_data(client.get(url), **changes))


def admin_events():
    return AuditEvent.objects.filter(action__startswith="admin.")


def flash(response) -> str:
    return " ".join(str(m) for m in response.context["messages"])


@pytest.fixture
def superuser(db):
    return make_user("root", is_superuser=True, is_staff=True)


# --- station settings: station_settings_update ----------------------------------------------------------


def test_disabling_a_station_in_the_admin_sends_change_availability(client_for, operator, own_station):
    response = post_change(client_for(operator), own_station, is_disabled="on")
    assert response.status_code == 302
    assert Station.objects.get(pk=own_station.pk).is_disabled
    # The station is offline here: the call is recorded as undeliverable, as on the Settings page.
    call = OcppCall.objects.get(station=own_station, action="ChangeAvailability")
    assert call.payload == {"connectorId": 0, "type": "Inoperative"}
    assert call.status == OcppCall.Status.OFFLINE and call.source == "admin" and call.requested_by == operator
    event = AuditEvent.objects.get(action="station.settings")
    assert event.changes == {"is_disabled": ["False", "True"]} and event.result["call_status"] == "offline"
    assert not admin_events().exists()  # the service's event is the record; no second row


def test_enabling_a_station_in_the_admin_makes_it_operative(client_for, operator, own_station):
    Station.objects.filter(pk=own_station.pk).update(is_disabled=True)
    response = post_change(client_for(operator), own_station, is_disabled=None)
    assert response.status_code == 302
    call = OcppCall.objects.get(station=own_station, action="ChangeAvailability")
    assert call.payload == {"connectorId": 0, "type": "Operative"}


def test_station_fields_outside_the_settings_are_saved_and_audited_by_the_admin(
    client_for, operator, own_station
):
    response = post_change(client_for(operator), own_station, vendor="Zaptec")
    assert response.status_code == 302
    assert Station.objects.get(pk=own_station.pk).vendor == "Zaptec"
    assert not OcppCall.objects.filter(station=own_station).exists()
    assert not AuditEvent.objects.filter(action="station.settings").exists()
    event = admin_events().get(action="admin.stations_station.update")
    assert event.changes == {"vendor": ["Alfen", "Zaptec"]}


def test_station_settings_refused_by_the_service_are_a_form_error(
    client_for, operator, pending_station, alice_account
):
    retired = BillingPlan.objects.create(name="Retired", is_active=False)
    response = post_change(
        client_for(operator), pending_station, account=alice_account.pk, billing_plan=retired.pk
    )
    assert response.status_code == 200
    assert "Pick an active billing plan." in response.context["adminform"].form.non_field_errors()
    pending_station.refresh_from_db()
    assert pending_station.account_id is None and pending_station.setup_state == "activation_pending"
    assert not AuditEvent.objects.exists()  # rolled back: no half-saved station, no audit


# --- connectors: stations.services.connectors.connector_errors ------------------------------------------


def test_inline_connector_with_a_phase_voltage_for_three_phase_is_refused(client_for, operator, own_station):
    response = post_change(
        client_for(operator),
        own_station,
        **{
            "connectors-0-standard": "type2",
            "connectors-0-format": "socket",
            "connectors-0-power_type": "ac_3_phase",
            "connectors-0-max_voltage": "230",
            "connectors-0-max_amperage": "32",
        },
    )
    assert response.status_code == 200
    (inline,) = response.context["inline_admin_formsets"]
    assert inline.formset.forms[0].errors["max_voltage"] == [
        "For AC 3-phase enter 380–480 V (enter the line-to-line voltage, e.g. 400 V)."
    ]
    assert Connector.objects.get(station=own_station, connector_id=1).max_voltage is None


def test_inline_connector_within_the_rules_is_saved(client_for, operator, own_station):
    response = post_change(
        client_for(operator),
        own_station,
        **{
            "connectors-0-standard": "type2",
            "connectors-0-format": "socket",
            "connectors-0-power_type": "ac_3_phase",
            "connectors-0-max_voltage": "400",
            "connectors-0-max_amperage": "32",
        },
    )
    assert response.status_code == 302
    assert Connector.objects.get(station=own_station, connector_id=1).max_voltage == 400


def test_connector_admin_follows_the_connector_rules(client_for, operator, own_station):
    connector = own_station.connectors.get(connector_id=1)
    response = post_change(
        client_for(operator), connector, standard="ccs2", format="socket", power_type="dc", max_voltage="800"
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["format"] == ["CCS2 (Combo 2) comes as a cable only."]


# --- memberships: membership_set_role / membership_remove (the last Account admin stays) ----------------


def test_role_change_of_the_last_account_admin_is_a_form_error(
    client_for, operator, account_owner, alice_account
):
    membership = Membership.objects.get(user=account_owner, account=alice_account)
    response = post_change(client_for(operator), membership, role=Role.DRIVER)
    assert response.status_code == 200
    assert response.context["adminform"].form.non_field_errors() == [
        "Alice Charging BV needs at least one Account admin."
    ]
    membership.refresh_from_db()
    assert membership.role == Role.ACCOUNT_ADMIN
    assert not AuditEvent.objects.exists()


def test_role_change_in_the_admin_is_the_services_change(
    client_for, operator, account_owner, driver, alice_account
):
    make_member("second_admin", alice_account, Role.ACCOUNT_ADMIN)
    membership = Membership.objects.get(user=account_owner, account=alice_account)
    response = post_change(client_for(operator), membership, role=Role.BILLING_ADMIN)
    assert response.status_code == 302
    membership.refresh_from_db()
    assert membership.role == Role.BILLING_ADMIN
    event = AuditEvent.objects.get(action="membership.update")
    assert event.changes == {"role": ["account_admin", "billing_admin"]} and event.actor == operator
    assert not admin_events().exists()


def test_membership_cannot_be_moved_to_another_person(
    client_for, operator, account_owner, driver, alice_account
):
    make_member("second_admin", alice_account, Role.ACCOUNT_ADMIN)
    membership = Membership.objects.get(user=account_owner, account=alice_account)
    response = post_change(client_for(operator), membership, user=driver.pk)
    assert response.status_code == 200
    assert "user" in response.context["adminform"].form.errors


def _member_row(page, user) -> str:
    (inline,) = page.context["inline_admin_formsets"]
    return next(f.prefix for f in inline.formset.forms if f.instance.user_id == user.pk)


def test_last_admin_demoted_on_the_account_page_is_an_error_on_their_row(
    client_for, operator, account_owner, driver, alice_account
):
    client = client_for(operator)
    url = admin_url(type(alice_account), "change", alice_account.pk)
    page = client.get(url)
    row = _member_row(page, account_owner)
    response = client.post(url, form_data(page, **{f"{row}-role": Role.DRIVER}))
    assert response.status_code == 200
    (inline,) = response.context["inline_admin_formsets"]
    form = next(f for f in inline.formset.forms if f.prefix == row)
    assert form.non_field_errors() == ["Alice Charging BV needs at least one Account admin."]
    assert Membership.objects.get(user=account_owner).role == Role.ACCOUNT_ADMIN


def test_handing_over_the_admin_role_on_the_account_page_in_one_save_works(
    client_for, operator, account_owner, driver, alice_account
):
    client = client_for(operator)
    url = admin_url(type(alice_account), "change", alice_account.pk)
    page = client.get(url)
    changes = {
        f"{_member_row(page, account_owner)}-role": Role.DRIVER,
        f"{_member_row(page, driver)}-role": Role.ACCOUNT_ADMIN,
    }
    response = client.post(url, form_data(page, **changes))
    assert response.status_code == 302
    assert Membership.objects.get(user=driver).role == Role.ACCOUNT_ADMIN
    assert Membership.objects.get(user=account_owner).role == Role.DRIVER
    assert AuditEvent.objects.filter(action="membership.update").count() == 2
    assert not admin_events().exists()


def test_removing_the_last_admin_on_the_account_page_is_refused(
    client_for, operator, account_owner, alice_account
):
    client = client_for(operator)
    url = admin_url(type(alice_account), "change", alice_account.pk)
    page = client.get(url)
    response = client.post(url, form_data(page, **{f"{_member_row(page, account_owner)}-DELETE": "on"}))
    assert response.status_code == 200
    (inline,) = response.context["inline_admin_formsets"]
    assert inline.formset.non_form_errors() == ["Alice Charging BV needs at least one Account admin."]
    assert Membership.objects.filter(user=account_owner).exists()


def test_deleting_the_last_admin_membership_is_refused(client_for, operator, account_owner, alice_account):
    membership = Membership.objects.get(user=account_owner, account=alice_account)
    response = client_for(operator).post(
        admin_url(Membership, "delete", membership.pk), {"post": "yes"}, follow=True
    )
    assert response.status_code == 200
    assert "Alice Charging BV needs at least one Account admin." in flash(response)
    assert Membership.objects.filter(pk=membership.pk).exists()
    assert not AuditEvent.objects.exists()


def test_deleting_a_membership_goes_through_membership_remove(client_for, operator, driver, account_owner):
    membership = Membership.objects.get(user=driver)
    response = client_for(operator).post(admin_url(Membership, "delete", membership.pk), {"post": "yes"})
    assert response.status_code == 302
    assert not Membership.objects.filter(pk=membership.pk).exists()
    assert AuditEvent.objects.get().action == "membership.delete"


def test_bulk_deleting_the_last_admin_membership_is_refused(client_for, operator, account_owner, driver):
    selected = [m.pk for m in Membership.objects.filter(user__in=[account_owner, driver])]
    response = client_for(operator).post(
        admin_url(Membership),
        {"action": "delete_selected", "_selected_action": selected, "post": "yes"},
        follow=True,
    )
    assert "needs at least one Account admin" in flash(response)
    assert Membership.objects.filter(pk__in=selected).count() == 2  # all or nothing
    assert not AuditEvent.objects.exists()


def test_deleting_the_login_of_the_last_account_admin_is_refused(client_for, operator, account_owner):
    response = client_for(operator).post(
        admin_url(type(account_owner), "delete", account_owner.pk), {"post": "yes"}, follow=True
    )
    assert "needs at least one Account admin" in flash(response)
    assert type(account_owner).objects.filter(pk=account_owner.pk).exists()


# --- cards: card_save -----------------------------------------------------------------------------------


def _card(alice_account, **fields):
    return {
        "id_tag": "de-abc-123",
        "kind": "roaming",
        "account": alice_account.pk,
        "status": "active",
        **fields,
    }


def test_roaming_card_without_its_partner_is_refused(client_for, operator, alice_account):
    response = client_for(operator).post(admin_url(ChargeCard, "add"), _card(alice_account))
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["roaming_party"] == [
        "A roaming card names its roaming partner."
    ]
    assert not ChargeCard.objects.exists()


def test_card_added_in_the_admin_is_saved_by_card_save(client_for, operator, alice_account):
    response = client_for(operator).post(
        admin_url(ChargeCard, "add"), _card(alice_account, roaming_party="Hubject")
    )
    assert response.status_code == 302
    card = ChargeCard.objects.get()
    assert card.id_tag == "DEABC123"  # normalised like the portal and the OCPP lookup
    event = AuditEvent.objects.get()
    assert event.action == "card.create" and event.object_id == str(card.pk)


def test_existing_card_turned_roaming_without_partner_is_refused(client_for, operator, own_card):
    response = post_change(client_for(operator), own_card, kind="roaming")
    assert response.status_code == 200
    assert "roaming_party" in response.context["adminform"].form.errors
    own_card.refresh_from_db()
    assert own_card.kind == ChargeCard.Kind.OWN


# --- records: read only for everyone --------------------------------------------------------------------


def _records(station):
    now = datetime.datetime(2026, 1, 5, 8, 0, tzinfo=datetime.UTC)
    session = ChargingSession.objects.create(
        station=station, connector_id=1, transaction_id=7, started_at=now
    )
    return [
        session,
        MeterValue.objects.create(
            station=station, session=session, connector_id=1, timestamp=now, received_at=now, raw_value="10"
        ),
        OcppCall.objects.create(station=station, action="Reset", payload={"type": "Soft"}),
        MessageLog.objects.create(station=station, direction="in", kind=2, action="Heartbeat", payload="[]"),
        ConfigurationJob.objects.create(station=station),
        StationConfigurationKey.objects.create(station=station, key="HeartbeatInterval", desired_value="300"),
        StationReset.objects.create(station=station),
    ]


@pytest.mark.parametrize("who", ["superuser", "operator"])
def test_records_are_viewable_but_never_added_changed_or_deleted(request, who, client_for, own_station):
    client = client_for(request.getfixturevalue(who))
    for record in _records(own_station):
        model = type(record)
        label = model._meta.label
        assert client.get(admin_url(model)).status_code == 200, label
        detail = client.get(admin_url(model, "change", record.pk))
        assert detail.status_code == 200 and 'name="_save"' not in detail.content.decode(), label
        assert client.get(admin_url(model, "add")).status_code == 403, label
        assert client.post(admin_url(model, "change", record.pk), {}).status_code == 403, label
        assert client.get(admin_url(model, "delete", record.pk)).status_code == 403, label
        assert client.post(admin_url(model, "delete", record.pk), {"post": "yes"}).status_code == 403, label
        assert model.objects.filter(pk=record.pk).exists(), label


def test_auto_registered_records_are_read_only():
    from django.contrib import admin

    from accounts.admin import ReadOnlyAdmin

    for label in [
        "billing.ChargingSession",
        "billing.MeterValue",
        "stations.OcppCall",
        "stations.MessageLog",
        "stations.ConfigurationJob",
        "stations.StationConfigurationKey",
        "stations.StationReset",
        "accounts.AuditEvent",
    ]:
        assert isinstance(admin.site._registry[apps.get_model(label)], ReadOnlyAdmin), label


# --- accounts and locations: account_create / account_update / location_save ---------------------------


def test_account_added_with_its_admin_in_the_admin_goes_through_the_services(client_for, operator, driver):
    client = client_for(operator)
    Account = apps.get_model("accounts", "Account")
    data = form_data(
        client.get(admin_url(Account, "add")),
        name="Carla Fleet BV",
        kind="company",
        vat_rate="21.00",
        **{
            "memberships-TOTAL_FORMS": "1",
            "memberships-0-user": driver.pk,
            "memberships-0-role": Role.ACCOUNT_ADMIN,
        },
    )
    response = client.post(admin_url(Account, "add"), data)
    assert response.status_code == 302, response.context and response.context["errors"]
    account = Account.objects.get(name="Carla Fleet BV")
    assert Membership.objects.get(account=account).user == driver
    assert set(AuditEvent.objects.values_list("action", flat=True)) == {"account.create", "membership.create"}


def test_location_changed_in_the_admin_is_saved_by_location_save(client_for, operator, own_location):
    response = post_change(client_for(operator), own_location, name="Alice HQ, level -1")
    assert response.status_code == 302
    event = AuditEvent.objects.get()
    assert event.action == "location.update" and event.changes["name"] == [
        "Alice HQ car park",
        "Alice HQ, level -1",
    ]


def test_deleting_a_login_removes_its_memberships_through_the_service(client_for, operator, driver):
    response = client_for(operator).post(admin_url(type(driver), "delete", driver.pk), {"post": "yes"})
    assert response.status_code == 302
    assert not type(driver).objects.filter(pk=driver.pk).exists()
    assert sorted(AuditEvent.objects.values_list("action", flat=True)) == [
        "admin.accounts_user.delete",
        "membership.delete",
    ]


# --- rules that used to live in portal forms only ----------------------------------------------------


def test_card_for_a_holder_outside_the_account_is_refused_in_the_admin(
    client_for, operator, alice_account, driver
):
    Membership.objects.filter(user=driver).delete()
    response = client_for(operator).post(
        admin_url(ChargeCard, "add"),
        _card(alice_account, kind="own", holder=driver.pk),
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["holder"] == [
        f"{driver} is not a member of {alice_account}."
    ]
    assert not ChargeCard.objects.exists()


def test_station_with_another_accounts_location_is_refused_in_the_admin(
    client_for, operator, own_station, foreign_location
):
    response = post_change(client_for(operator), own_station, location=foreign_location.pk)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["location"]
    assert errors == [
        f"{foreign_location} belongs to {foreign_location.account}, not to {own_station.account}."
    ]
    assert Station.objects.get(pk=own_station.pk).location_id != foreign_location.pk


# --- access groups: access_group_save / access_group_delete -----------------------------------------------


def _group(account, **fields):
    return {"account": account.pk, "name": "Staff", "terms": "free", "currency": "EUR", **fields}


def test_access_group_with_another_accounts_card_is_refused_in_the_admin(
    client_for, operator, alice_account, foreign_card
):
    response = client_for(operator).post(
        admin_url(AccessGroup, "add"), _group(alice_account, cards=[foreign_card.pk])
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.non_field_errors() == [
        f"Cards of another account: {foreign_card.id_tag}."
    ]
    assert not AccessGroup.objects.exists()


def test_access_group_added_in_the_admin_is_saved_by_the_service(
    client_for, operator, alice_account, own_card, own_station
):
    response = client_for(operator).post(
        admin_url(AccessGroup, "add"), _group(alice_account, cards=[own_card.pk], stations=[own_station.pk])
    )
    assert response.status_code == 302
    group = AccessGroup.objects.get()
    assert list(group.cards.all()) == [own_card] and list(group.stations.all()) == [own_station]
    event = AuditEvent.objects.get()
    assert event.action == "access_group.create"
    assert event.changes["cards"] == [None, own_card.id_tag]
    assert not admin_events().exists()


def test_reduced_access_group_without_a_price_is_refused_in_the_admin(client_for, operator, alice_account):
    response = client_for(operator).post(
        admin_url(AccessGroup, "add"), _group(alice_account, terms="reduced")
    )
    assert response.status_code == 200
    assert "A reduced tariff needs at least one price" in str(response.context["adminform"].form.errors)
    assert not AccessGroup.objects.exists()


def test_shared_access_group_keeps_other_accounts_links_when_saved_in_the_admin(
    client_for, operator, alice_account, own_station, foreign_station
):
    group = AccessGroup.objects.create(account=alice_account, name="Shared", is_shared=True)
    group.stations.set([own_station, foreign_station])
    response = post_change(client_for(operator), group, name="Shared staff")
    assert response.status_code == 302
    group.refresh_from_db()
    assert group.name == "Shared staff"
    assert set(group.stations.all()) == {own_station, foreign_station}
    assert AuditEvent.objects.get().action == "access_group.update"


def test_deleting_an_access_group_in_the_admin_goes_through_the_service(client_for, operator, alice_account):
    group = AccessGroup.objects.create(account=alice_account, name="Staff")
    response = client_for(operator).post(admin_url(AccessGroup, "delete", group.pk), {"post": "yes"})
    assert response.status_code == 302
    assert not AccessGroup.objects.exists()
    assert AuditEvent.objects.get().action == "access_group.delete"
