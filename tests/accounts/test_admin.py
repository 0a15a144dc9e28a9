"""Django admin: every model registered, scoped by account for non-operator staff, audited."""

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.urls import reverse

from accounts.models import AuditEvent, ChargeCard

APPS = ("accounts", "stations", "billing")


def admin_url(model, action="changelist", *args):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{action}", args=args)


@pytest.fixture
def staff_owner(account_owner):
    """An Account admin who was also given admin access and model permissions by the platform."""
    account_owner.is_staff = True
    account_owner.save()
    perms = Permission.objects.filter(
        content_type__app_label__in=APPS, codename__regex=r"^(view|change|add|delete)_"
    )
    account_owner.user_permissions.set(perms)
    return account_owner


def test_every_model_has_an_admin():
    missing = [
        m._meta.label
        for app in APPS
        for m in apps.get_app_config(app).get_models()
        if not admin.site.is_registered(m)
    ]
    assert not missing


def test_operator_opens_every_changelist(operator, client_for, own_station, own_card, own_access_group):
    client = client_for(operator)
    for app in APPS:
        for model in apps.get_app_config(app).get_models():
            response = client.get(admin_url(model))
            assert response.status_code == 200, f"{model._meta.label}: {response.status_code}"


def test_staff_account_admin_sees_only_their_accounts_rows(
    staff_owner, client_for, own_card, foreign_card, own_station, foreign_station
):
    client = client_for(staff_owner)
    cards = client.get(admin_url(ChargeCard)).content.decode()
    assert own_card.id_tag in cards and foreign_card.id_tag not in cards
    Station = apps.get_model("stations", "Station")
    stations = client.get(admin_url(Station)).content.decode()
    assert own_station.ocpp_id in stations and foreign_station.ocpp_id not in stations
    # A foreign row's change page is not reachable (the admin treats it as missing).
    response = client.get(admin_url(ChargeCard, "change", foreign_card.pk))
    assert response.status_code == 302
    response = client.get(admin_url(Station, "change", foreign_station.pk))
    assert response.status_code == 302


def test_staff_account_admin_cannot_pick_foreign_accounts(
    staff_owner, client_for, bob_account, alice_account
):
    client = client_for(staff_owner)
    page = client.get(admin_url(ChargeCard, "add")).content.decode()
    assert alice_account.name in page and bob_account.name not in page
    response = client.post(
        admin_url(ChargeCard, "add"),
        {"id_tag": "SNEAKY01", "kind": "own", "account": bob_account.pk, "status": "active"},
    )
    assert response.status_code == 200  # the form again: not a valid choice
    assert not ChargeCard.objects.filter(id_tag="SNEAKY01").exists()


def test_staff_without_model_permissions_sees_nothing(account_owner, client_for, own_card):
    account_owner.is_staff = True
    account_owner.save()
    client = client_for(account_owner)
    assert client.get(admin_url(ChargeCard)).status_code == 403


def test_operator_only_models_are_hidden_from_staff(staff_owner, client_for, billing_plan):
    BillingPlan = apps.get_model("billing", "BillingPlan")
    assert client_for(staff_owner).get(admin_url(BillingPlan)).status_code == 403


def test_admin_changes_are_audited_with_before_and_after(operator, client_for, own_card, alice_account):
    client = client_for(operator)
    response = client.post(
        admin_url(ChargeCard, "change", own_card.pk),
        {
            "id_tag": "04:a2:5b:99",
            "kind": "own",
            "label": own_card.label,
            "account": alice_account.pk,
            "holder": own_card.holder_id,
            "roaming_party": "",
            "status": "blocked",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    own_card.refresh_from_db()
    assert own_card.id_tag == "04A25B99"  # normalised like everywhere else
    # Saved by card_save, which audits: its event is the record, the admin writes none beside it.
    event = AuditEvent.objects.get(action="card.update")
    assert event.actor == operator and event.account == alice_account
    assert event.changes["status"] == ["active", "blocked"]
    assert event.changes["id_tag"] == ["ALICE0001", "04A25B99"]
    assert not AuditEvent.objects.filter(action__startswith="admin.").exists()


def test_admin_deletes_are_audited(operator, client_for, own_card):
    client = client_for(operator)
    response = client.post(admin_url(ChargeCard, "delete", own_card.pk), {"post": "yes"})
    assert response.status_code == 302
    assert not ChargeCard.objects.filter(pk=own_card.pk).exists()
    event = AuditEvent.objects.get(action="admin.accounts_chargecard.delete")
    assert event.object_id == str(own_card.pk) and event.actor == operator


def test_station_settings_changed_in_admin_are_audited_on_the_station(operator, client_for, own_station):
    Station = apps.get_model("stations", "Station")
    client = client_for(operator)
    page = client.get(admin_url(Station, "change", own_station.pk))
    assert page.status_code == 200
    form = page.context["adminform"].form
    data = {}
    for name, field in form.fields.items():
        value = form.initial.get(name, field.initial)
        if value is None:
            continue
        if isinstance(value, list):
            data[name] = [getattr(v, "pk", v) for v in value]
        elif hasattr(value, "pk"):
            data[name] = value.pk
        elif isinstance(value, bool):
            if value:
                data[name] = "on"
        else:
            data[name] = value
    data["free_charging"] = "on"
    for formset in page.context["inline_admin_formsets"]:
        mgmt = formset.formset.management_form
        for name in mgmt.fields:
            data[f"{mgmt.prefix}-{name}"] = mgmt.initial.get(name, mgmt[name].value())
        for i, f in enumerate(formset.formset.forms):
            for name in f.fields:
                value = f.initial.get(name)
                if value is not None:
                    data[f"{f.prefix}-{name}"] = getattr(value, "pk", value)
            data[f"{formset.formset.prefix}-{i}-id"] = f.instance.pk
            data[f"{formset.formset.prefix}-{i}-station"] = own_station.pk
    response = client.post(admin_url(Station, "change", own_station.pk), data)
    assert response.status_code == 302, (
        response.context["adminform"].form.errors if response.context else response
    )
    # The settings fields are saved (and audited) by the Settings page's service; nothing else changed, so
    # the admin writes no row of its own.
    event = AuditEvent.objects.get(action="station.settings")
    assert event.station_id == own_station.pk and event.actor == operator
    assert event.changes == {"free_charging": ["False", "True"]}
    assert not AuditEvent.objects.filter(action__startswith="admin.").exists()


def test_the_audit_log_is_read_only_in_admin(operator, client_for, own_card, account_owner):
    from accounts.audit import audit_record

    event = audit_record(actor=account_owner, action="card.update", obj=own_card)
    client = client_for(operator)
    assert client.get(admin_url(AuditEvent)).status_code == 200
    client.post(admin_url(AuditEvent, "delete", event.pk), {"post": "yes"})
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_staff_account_admin_cannot_edit_a_login_shared_with_another_account(
    staff_owner, client_for, driver, bob_account, operator
):
    from accounts.models import Membership, User

    client = client_for(staff_owner)
    assert client.get(admin_url(User, "change", driver.pk)).status_code == 200
    Membership.objects.create(user=driver, account=bob_account, role=Membership.Role.DRIVER)
    page = client.get(admin_url(User, "change", driver.pk))
    # View only now: no save button, and a POST is refused.
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    assert client.post(admin_url(User, "change", driver.pk), {"username": "hijacked"}).status_code == 403
    assert client.get(admin_url(User, "change", operator.pk)).status_code == 302  # not even visible
