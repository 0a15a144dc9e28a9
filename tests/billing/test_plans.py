"""Billing plans in the portal: validation next to each field, dated price versions that never rewrite
history, and the subscriptions Settings step 8, customer activation and a card's plan create (payer = the
station's or the card's account)."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from accounts.models import AuditEvent
from billing.models import BillingPlan, BillingPlanPrice, SelfBillingAgreement, Subscription
from billing.services import plans
from stations.models import Station
from stations.services import station_settings
from tests.portal.test_settings import form_data, settings_url


def _plan_post(**overrides):
    data = {
        "name": "Plus",
        "kind": "station",
        "currency": "eur",
        "price_per_period": "5.00",
        "price_per_connector_period": "4.00",
        "price_once": "25",
        "price_per_session": "",
        "platform_fee_per_kwh": "0.02",
    }
    data.update(overrides)
    return data


def test_operator_creates_a_station_plan_with_currency_upper_cased(client_for, operator):
    response = client_for(operator).post(reverse("billing:plan_create"), _plan_post())
    assert response.status_code == 302
    plan = BillingPlan.objects.get(name="Plus")
    assert (plan.kind, plan.currency) == ("station", "EUR")
    version = plan.prices.get()
    assert (version.price_per_period, version.price_per_connector_period, version.price_once) == (
        Decimal("5.00"),
        Decimal("4.00"),
        Decimal("25"),
    )
    assert version.platform_fee_per_kwh == Decimal("0.02")
    assert AuditEvent.objects.filter(action="billing.plan_create").exists()


@pytest.mark.parametrize(
    "overrides,field,message",
    [
        ({"price_per_period": "-10.00"}, "price_per_period", "greater than or equal to 0"),
        ({"currency": "xx"}, "currency", "not an ISO 4217 currency"),
        ({"currency": "ABC"}, "currency", "not an ISO 4217 currency"),
        ({"price_once": "abc"}, "price_once", "Enter a number"),
        ({"price_per_session": "0.30"}, "price_per_session", "has no such price"),
        ({"kind": "card", "platform_fee_per_kwh": "0.02"}, "platform_fee_per_kwh", "has no such price"),
    ],
)
def test_a_bad_plan_value_is_shown_next_to_its_field_and_nothing_is_saved(
    client_for, operator, overrides, field, message
):
    response = client_for(operator).post(reverse("billing:plan_create"), _plan_post(**overrides))
    assert response.status_code == 200
    form = response.context["form"]
    assert any(message in e for e in form.errors[field]), form.errors
    assert message in response.content.decode()
    assert not BillingPlan.objects.filter(name="Plus").exists()


def test_the_service_refuses_negative_prices_too(operator):
    with pytest.raises(ValidationError) as exc:
        plans.plan_create(
            name="Neg", kind="card", currency="EUR", prices={"price_per_period": "-1"}, acting_user=operator
        )
    assert "price_per_period" in exc.value.message_dict
    assert not BillingPlan.objects.filter(name="Neg").exists()


def test_a_price_change_is_a_new_version_and_history_stays(operator):
    plan = plans.plan_create(
        name="Card Flex",
        kind="card",
        currency="EUR",
        prices={"price_per_session": "0.26"},
        acting_user=operator,
    )
    first = plan.prices.get()
    later = plans.billing_today() + timedelta(days=10)
    plans.plan_price_add(
        plan=plan, effective_from=later, prices={"price_per_session": "0.30"}, acting_user=operator
    )
    first.refresh_from_db()
    assert first.price_per_session == Decimal("0.2600")
    assert plan.price_on(plans.billing_today()).price_per_session == Decimal("0.2600")
    assert plan.price_on(later).price_per_session == Decimal("0.3000")
    # Backdating, or a date not after the latest version, would rewrite a billed period: refused.
    for day in (plans.billing_today() - timedelta(days=1), later):
        with pytest.raises(ValidationError) as exc:
            plans.plan_price_add(plan=plan, effective_from=day, prices={}, acting_user=operator)
        assert "effective_from" in exc.value.message_dict
    assert plan.prices.count() == 2


def test_the_price_form_shows_a_backdated_version_as_a_field_error(client_for, operator, billing_plan):
    response = client_for(operator).post(
        reverse("billing:plan_detail", args=[billing_plan.pk]),
        {"form": "price", "effective_from": "2001-01-01", "price_per_period": "3"},
    )
    assert response.status_code == 200
    assert "cannot start in the past" in response.content.decode()
    assert not billing_plan.prices.exists()


def test_settings_activation_creates_the_subscription_paid_by_the_station_account(
    client_for, operator, pending_station, alice_account, own_location, billing_plan
):
    response = client_for(operator).post(
        settings_url(pending_station),
        form_data(
            pending_station, billing_plan=billing_plan.pk, account=alice_account.pk, location=own_location.pk
        ),
    )
    assert response.status_code == 302
    sub = Subscription.objects.get(station=pending_station)
    assert (sub.plan, sub.account, sub.ends_on) == (billing_plan, alice_account, None)
    assert sub.starts_on == plans.billing_today()


def test_changing_the_plan_in_settings_ends_the_old_subscription(
    client_for, operator, own_station, billing_plan
):
    Subscription.objects.create(
        station=own_station, plan=billing_plan, account=own_station.account, starts_on=date(2026, 1, 1)
    )
    plus = BillingPlan.objects.create(name="Plus")
    response = client_for(operator).post(
        settings_url(own_station), form_data(own_station, billing_plan=plus.pk)
    )
    assert response.status_code == 302
    old, new = Subscription.objects.filter(station=own_station).order_by("starts_on")
    assert old.plan == billing_plan and old.ends_on == plans.billing_today() - timedelta(days=1)
    assert new.plan == plus and new.ends_on is None and new.account == own_station.account


def test_card_plans_are_not_offered_for_stations(client_for, operator, own_station):
    BillingPlan.objects.create(name="Card Comfort", kind="card")
    response = client_for(operator).get(settings_url(own_station))
    assert "Card Comfort" not in response.content.decode()


def test_customer_activation_creates_the_subscription(
    pending_station, alice_account, billing_plan, account_owner
):
    station_settings.station_activate(
        station=pending_station,
        account=alice_account,
        billing_plan=billing_plan,
        location=None,
        acting_user=account_owner,
    )
    assert Subscription.objects.get(station=pending_station).account == alice_account
    assert Station.objects.get(pk=pending_station.pk).setup_state == "active"


def test_card_gets_a_plan_paid_by_the_card_account(client_for, account_owner, own_card, alice_account):
    card_plan = BillingPlan.objects.create(name="Comfort", kind="card")
    response = client_for(account_owner).post(
        reverse("billing:card_plan", args=[own_card.pk]), {"plan": card_plan.pk}
    )
    assert response.status_code == 302
    sub = Subscription.objects.get(card=own_card)
    assert (sub.plan, sub.account) == (card_plan, alice_account)
    with pytest.raises(ValidationError):
        plans.subscription_for_card(
            card=own_card, plan=BillingPlan.objects.create(name="S"), acting_user=account_owner
        )


@pytest.mark.parametrize(
    "overrides,field",
    [
        ({"iban": "NL91ABNA0417164301"}, "iban"),
        ({"iban": "hello"}, "iban"),
        ({"supplier_kind": "business", "vat_number": ""}, "vat_number"),
        ({"supplier_kind": "business", "vat_number": "NL123"}, "vat_number"),
        ({"accept": ""}, "accept"),
    ],
)
def test_self_billing_agreement_validates_iban_and_vat_next_to_the_field(
    client_for, account_owner, alice_account, overrides, field
):
    data = {
        "supplier_kind": "private",
        "legal_name": "Alice",
        "address": "Damrak 1, Amsterdam",
        "country": "nl",
        "iban": "NL91 ABNA 0417 1643 00",
        "accept": "on",
        **overrides,
    }
    response = client_for(account_owner).post(reverse("billing:self_billing", args=[alice_account.pk]), data)
    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert not SelfBillingAgreement.objects.exists()


def test_self_billing_agreement_is_recorded_with_compact_iban(client_for, account_owner, alice_account):
    data = {
        "supplier_kind": "business",
        "legal_name": "Alice B.V.",
        "address": "Damrak 1, Amsterdam",
        "country": "NL",
        "vat_number": "nl 0044.95.445.B01",
        "kvk_number": "12345678",
        "iban": "nl91 abna 0417 1643 00",
        "accept": "on",
    }
    response = client_for(account_owner).post(reverse("billing:self_billing", args=[alice_account.pk]), data)
    assert response.status_code == 302
    agreement = SelfBillingAgreement.objects.get(account=alice_account)
    assert (agreement.iban, agreement.vat_number, agreement.accepted_by) == (
        "NL91ABNA0417164300",
        "NL004495445B01",
        account_owner,
    )


def test_existing_plans_keep_their_fee_as_a_price_version(db):
    """The 0003 migration's data step, run on rows shaped like the old model."""
    from importlib import import_module

    from django.apps import apps

    migration = import_module("billing.migrations.0005_plans_ledger_invoices")
    plan = BillingPlan.objects.create(name="Legacy", currency="EUR")
    plan.monthly_fee = Decimal("7.50")  # the old column, as the historical model still has it

    class _Apps:
        def get_model(self, app, name):
            model = apps.get_model(app, name)
            if name == "BillingPlan":

                class Manager:
                    @staticmethod
                    def all():
                        return [plan]

                return type("P", (), {"objects": Manager})
            return model

    migration.plans_to_price_versions(_Apps(), None)
    assert BillingPlanPrice.objects.get(plan=plan).price_per_period == Decimal("7.50")
