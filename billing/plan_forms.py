"""Forms for billing plans, card plans and the self-billing agreement. Each bad value is reported next to its
field: negative prices, a currency that is not ISO 4217, an invalid IBAN or VAT number."""

from decimal import Decimal

from django import forms

from billing.models import BillingPlan, SelfBillingAgreement
from billing.services.plans import PRICE_FIELDS, PRICES_BY_KIND
from billing.validators import (
    normalize_currency,
    normalize_iban,
    normalize_vat_number,
    validate_currency,
    validate_iban,
    validate_vat_number,
)

PRICE_LABELS = {
    "price_per_period": "Per period (month), excl. VAT",
    "price_per_connector_period": "Per connector per period, excl. VAT (station plans)",
    "price_once": "One-time, on the first invoice (per device / per card), excl. VAT",
    "price_per_session": "Per session, excl. VAT (card plans)",
    "platform_fee_per_kwh": "Platform fee per kWh on other accounts' sessions, excl. VAT (station plans)",
}


def _price_field(name):
    return forms.DecimalField(
        label=PRICE_LABELS[name],
        min_value=Decimal("0"),
        max_digits=10,
        decimal_places=4,
        required=False,
        initial=Decimal("0"),
    )


class PricesMixin:
    def clean_prices_for(self, kind):
        data = self.cleaned_data
        for name in PRICE_FIELDS:
            if name not in PRICES_BY_KIND.get(kind, ()) and data.get(name):
                self.add_error(name, f"A {BillingPlan.Kind(kind).label.lower()} plan has no such price.")
        return {name: data.get(name) or Decimal("0") for name in PRICE_FIELDS}


class PlanForm(PricesMixin, forms.Form):
    name = forms.CharField(max_length=100)
    kind = forms.ChoiceField(choices=BillingPlan.Kind.choices)
    currency = forms.CharField(max_length=3, initial="EUR", help_text="ISO 4217, e.g. EUR")
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    price_per_period = _price_field("price_per_period")
    price_per_connector_period = _price_field("price_per_connector_period")
    price_once = _price_field("price_once")
    price_per_session = _price_field("price_per_session")
    platform_fee_per_kwh = _price_field("platform_fee_per_kwh")

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        if BillingPlan.objects.filter(name__iexact=name).exists():
            raise forms.ValidationError("A plan with this name exists already.")
        return name

    def clean_currency(self):
        code = normalize_currency(self.cleaned_data["currency"])
        validate_currency(code)
        return code

    def clean(self):
        super().clean()
        if self.cleaned_data.get("kind"):
            self.cleaned_data["prices"] = self.clean_prices_for(self.cleaned_data["kind"])
        return self.cleaned_data


class PlanEditForm(forms.Form):
    name = forms.CharField(max_length=100)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    is_active = forms.BooleanField(required=False, label="Active (can be picked for new stations and cards)")

    def __init__(self, *args, plan, **kwargs):
        self.plan = plan
        super().__init__(*args, **kwargs)

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        if BillingPlan.objects.filter(name__iexact=name).exclude(pk=self.plan.pk).exists():
            raise forms.ValidationError("A plan with this name exists already.")
        return name


class PlanPriceForm(PricesMixin, forms.Form):
    effective_from = forms.DateField(
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Today or later; a period fee uses the price in force on the first day of the period.",
    )
    price_per_period = _price_field("price_per_period")
    price_per_connector_period = _price_field("price_per_connector_period")
    price_once = _price_field("price_once")
    price_per_session = _price_field("price_per_session")
    platform_fee_per_kwh = _price_field("platform_fee_per_kwh")

    def __init__(self, *args, plan, **kwargs):
        self.plan = plan
        super().__init__(*args, **kwargs)
        for name in PRICE_FIELDS:
            if name not in PRICES_BY_KIND[plan.kind]:
                del self.fields[name]

    def clean(self):
        super().clean()
        self.cleaned_data["prices"] = self.clean_prices_for(self.plan.kind)
        return self.cleaned_data


class CardPlanForm(forms.Form):
    plan = forms.ModelChoiceField(
        BillingPlan.objects.filter(is_active=True, kind=BillingPlan.Kind.CARD),
        required=False,
        empty_label="No plan",
    )


class SelfBillingForm(forms.Form):
    supplier_kind = forms.ChoiceField(
        choices=SelfBillingAgreement.SupplierKind.choices, label="You receive the revenue as"
    )
    legal_name = forms.CharField(max_length=200)
    address = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), help_text="A street address, no P.O. box"
    )
    country = forms.CharField(max_length=2, initial="NL", help_text="ISO 3166-1 alpha-2")
    vat_number = forms.CharField(max_length=32, required=False, label="VAT number (businesses)")
    kvk_number = forms.CharField(max_length=16, required=False, label="KvK number")
    iban = forms.CharField(max_length=42, label="IBAN for payouts")
    accept = forms.BooleanField(
        label="I agree that the platform draws up self-billing invoices in my name for the revenue of my "
        "stations; an invoice counts as accepted unless I dispute it within 14 days."
    )

    def clean_iban(self):
        value = normalize_iban(self.cleaned_data["iban"])
        validate_iban(value)
        return value

    def clean_vat_number(self):
        value = normalize_vat_number(self.cleaned_data["vat_number"])
        validate_vat_number(value)
        return value

    def clean_country(self):
        value = self.cleaned_data["country"].strip().upper()
        if len(value) != 2 or not value.isalpha():
            raise forms.ValidationError("Two letters, e.g. NL.")
        return value

    def clean(self):
        super().clean()
        d = self.cleaned_data
        if d.get("supplier_kind") == SelfBillingAgreement.SupplierKind.BUSINESS and not d.get("vat_number"):
            if "vat_number" not in self.errors:
                self.add_error("vat_number", "A VAT-registered business needs its VAT number here.")
        return d
