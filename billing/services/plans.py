"""Billing plans, their dated prices and the subscriptions that make an account pay one (operator manual step 8:
"The account owner will pay for this billing plan"). The portal, the Settings step, customer activation and
the admin call these."""

from datetime import date
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.audit import audit_record
from billing.models import BillingPlan, BillingPlanPrice, SelfBillingAgreement, Subscription
from billing.periods import local_date
from billing.validators import normalize_currency, normalize_iban, normalize_vat_number

PRICE_FIELDS = (
    "price_per_period",
    "price_per_connector_period",
    "price_once",
    "price_per_session",
    "platform_fee_per_kwh",
)
# Which prices each kind of plan has (the form shows only these; the others stay zero).
PRICES_BY_KIND = {
    BillingPlan.Kind.STATION: (
        "price_per_period",
        "price_per_connector_period",
        "price_once",
        "platform_fee_per_kwh",
    ),
    BillingPlan.Kind.CARD: ("price_per_period", "price_once", "price_per_session"),
}


def billing_today() -> date:
    return local_date(timezone.now(), settings.BILLING_TIMEZONE)


def _clean_prices(kind: str, prices: dict) -> dict:
    allowed = PRICES_BY_KIND[kind]
    out, errors = {}, {}
    for field in PRICE_FIELDS:
        value = prices.get(field) if field in allowed else None
        value = Decimal("0") if value in (None, "") else Decimal(value)
        if value < 0:
            errors[field] = "Enter an amount of zero or more."
        out[field] = value
    if errors:
        raise ValidationError(errors)
    return out


@transaction.atomic
def plan_create(
    *,
    name: str,
    kind: str,
    currency: str,
    prices: dict,
    description: str = "",
    effective_from=None,
    acting_user,
) -> BillingPlan:
    plan = BillingPlan(name=name, kind=kind, currency=normalize_currency(currency), description=description)
    plan.full_clean()
    plan.save()
    version = BillingPlanPrice.objects.create(
        plan=plan,
        effective_from=effective_from or billing_today(),
        created_by=acting_user,
        **_clean_prices(kind, prices),
    )
    audit_record(
        actor=acting_user,
        action="billing.plan_create",
        obj=plan,
        changes={"plan": [None, plan.name], **{f: [None, str(getattr(version, f))] for f in PRICE_FIELDS}},
    )
    return plan


@transaction.atomic
def plan_update(
    *, plan: BillingPlan, name: str, description: str, is_active: bool, acting_user
) -> BillingPlan:
    """Name, text and whether new subscriptions may pick it; prices change through plan_price_add."""
    plan = BillingPlan.objects.select_for_update().get(pk=plan.pk)
    before = {"name": plan.name, "description": plan.description, "is_active": plan.is_active}
    plan.name, plan.description, plan.is_active = name, description, is_active
    plan.full_clean()
    plan.save()
    changes = {k: [v, getattr(plan, k)] for k, v in before.items() if v != getattr(plan, k)}
    audit_record(actor=acting_user, action="billing.plan_update", obj=plan, changes=changes)
    return plan


@transaction.atomic
def plan_price_add(*, plan: BillingPlan, effective_from: date, prices: dict, acting_user) -> BillingPlanPrice:
    """A new price version. History is never rewritten: the date must be today or later and after every
    existing version, so a period already billed (or being billed) keeps the price it was billed at."""
    plan = BillingPlan.objects.select_for_update().get(pk=plan.pk)
    today = billing_today()
    latest = plan.prices.order_by("-effective_from").first()
    if effective_from < today:
        raise ValidationError({"effective_from": "A new price cannot start in the past."})
    if latest is not None and effective_from <= latest.effective_from:
        raise ValidationError(
            {"effective_from": f"Must be after the latest price version ({latest.effective_from:%Y-%m-%d})."}
        )
    version = BillingPlanPrice.objects.create(
        plan=plan, effective_from=effective_from, created_by=acting_user, **_clean_prices(plan.kind, prices)
    )
    audit_record(
        actor=acting_user,
        action="billing.plan_price_add",
        obj=plan,
        changes={
            f: [str(getattr(latest, f)) if latest else None, str(getattr(version, f))] for f in PRICE_FIELDS
        }
        | {"effective_from": [None, effective_from.isoformat()]},
    )
    return version


def _subscribe(
    *, device: dict, payer, plan: BillingPlan, acting_user, obj, station=None
) -> Subscription | None:
    current = Subscription.objects.select_for_update().filter(**device, ends_on__isnull=True).first()
    if (
        current is not None
        and current.plan_id == getattr(plan, "pk", None)
        and current.account_id == payer.pk
    ):
        return current
    today = billing_today()
    if current is not None:
        # Ends the day before the new one starts; one started today is replaced (nothing billed on it yet:
        # the run bills a month only after the month ended).
        if current.starts_on >= today:
            current.delete()
        else:
            current.ends_on = date.fromordinal(today.toordinal() - 1)
            current.save(update_fields=["ends_on"])
    new = None
    if plan is not None and payer is not None:
        if not plan.is_active:
            raise ValidationError("Pick an active billing plan.")
        new = Subscription.objects.create(account=payer, plan=plan, starts_on=today, **device)
    audit_record(
        actor=acting_user,
        action="billing.subscription",
        obj=obj,
        station=station,
        account=payer,
        changes={
            "billing_plan": [str(current.plan) if current else None, str(plan) if plan else None],
            "payer": [str(current.account) if current else None, str(payer) if payer else None],
        },
    )
    return new


@transaction.atomic
def subscription_for_station(*, station, plan: BillingPlan | None, acting_user) -> Subscription | None:
    """The station's plan, paid by the station's account (Settings step 8, customer activation)."""
    if plan is not None and plan.kind != BillingPlan.Kind.STATION:
        raise ValidationError({"billing_plan": f"{plan} is a card plan, not a station plan."})
    return _subscribe(
        device={"station": station},
        payer=station.account,
        plan=plan,
        acting_user=acting_user,
        obj=station,
        station=station,
    )


@transaction.atomic
def subscription_for_card(*, card, plan: BillingPlan | None, acting_user) -> Subscription | None:
    """A card's plan, paid by the card's account."""
    if plan is not None and plan.kind != BillingPlan.Kind.CARD:
        raise ValidationError({"plan": f"{plan} is a station plan, not a card plan."})
    if plan is not None and card.account_id is None:
        raise ValidationError({"plan": "This card has no account to pay a plan."})
    return _subscribe(device={"card": card}, payer=card.account, plan=plan, acting_user=acting_user, obj=card)


@transaction.atomic
def self_billing_agreement_accept(
    *,
    account,
    supplier_kind: str,
    legal_name: str,
    address: str,
    country: str,
    vat_number: str,
    kvk_number: str,
    iban: str,
    acting_user,
) -> SelfBillingAgreement:
    """Records the station owner's acceptance (Art. 224); a new acceptance replaces the one in force."""
    agreement = SelfBillingAgreement(
        account=account,
        supplier_kind=supplier_kind,
        legal_name=legal_name,
        address=address,
        country=(country or "").upper(),
        vat_number=normalize_vat_number(vat_number),
        kvk_number=(kvk_number or "").strip(),
        iban=normalize_iban(iban),
        accepted_at=timezone.now(),
        accepted_by=acting_user,
    )
    if supplier_kind == SelfBillingAgreement.SupplierKind.BUSINESS and not agreement.vat_number:
        raise ValidationError({"vat_number": "A VAT-registered business needs its VAT number here."})
    agreement.full_clean(exclude=["account", "accepted_by"])
    SelfBillingAgreement.objects.select_for_update().filter(account=account, revoked_at__isnull=True).update(
        revoked_at=agreement.accepted_at
    )
    agreement.save()
    audit_record(
        actor=acting_user,
        action="billing.self_billing_accept",
        obj=agreement,
        account=account,
        changes={
            "iban": [None, agreement.iban[:4] + "…" + agreement.iban[-4:]],
            "kind": [None, supplier_kind],
        },
    )
    return agreement


def self_billing_agreement_for(account) -> SelfBillingAgreement | None:
    return SelfBillingAgreement.objects.filter(account=account, revoked_at__isnull=True).first()
