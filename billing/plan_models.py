"""Plan prices (dated versions), subscriptions (who pays which plan for which station or card) and the
self-billing agreement a station owner accepts before a reimbursement invoice is drawn up in its name
(EU VAT Directive Art. 224). Imported by billing.models; services are in billing/services/plans.py."""

from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q

from accounts.models import OwnedByAccountQuerySet
from billing.validators import validate_iban, validate_vat_number

_NOT_NEGATIVE = [MinValueValidator(Decimal("0"), message="Enter an amount of zero or more.")]
_price = dict(max_digits=10, decimal_places=4, default=Decimal("0"), validators=_NOT_NEGATIVE)


class BillingPlanPrice(models.Model):
    """The prices of a plan from `effective_from` on, excl. VAT. Rows are only ever added: a period fee uses
    the version in force on the first day of the period, a per-session or per-kWh fee the version in force on
    the session's end day."""

    plan = models.ForeignKey("billing.BillingPlan", on_delete=models.CASCADE, related_name="prices")
    effective_from = models.DateField()
    # Station plans: per period, per connector per period, once per device, platform fee per kWh on
    # other accounts' sessions. Card plans: per period, once per card, per session.
    price_per_period = models.DecimalField("per period (month)", **_price)
    price_per_connector_period = models.DecimalField("per connector per period", **_price)
    price_once = models.DecimalField("one-time (first invoice)", **_price)
    price_per_session = models.DecimalField("per session", **_price)
    platform_fee_per_kwh = models.DecimalField("platform fee per kWh on others' sessions", **_price)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)

    class Meta:
        ordering = ["plan", "effective_from"]
        constraints = [
            # price_on(day): the latest version on or before a day, one per date.
            models.UniqueConstraint(fields=["plan", "effective_from"], name="planprice_unique_plan_date"),
            models.CheckConstraint(
                condition=Q(price_per_period__gte=0)
                & Q(price_per_connector_period__gte=0)
                & Q(price_once__gte=0)
                & Q(price_per_session__gte=0)
                & Q(platform_fee_per_kwh__gte=0),
                name="planprice_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.plan} from {self.effective_from}"


class SubscriptionQuerySet(OwnedByAccountQuerySet):
    def open(self):
        return self.filter(ends_on__isnull=True)

    def active_in(self, start, end):
        """Subscriptions active on at least one day of [start, end) (dates)."""
        return self.filter(starts_on__lt=end).filter(Q(ends_on__isnull=True) | Q(ends_on__gte=start))


class Subscription(models.Model):
    """A plan paid by `account` (the payer: the station's or the card's account) for one station or card,
    from starts_on to ends_on inclusive (open while ends_on is empty)."""

    account = models.ForeignKey("accounts.Account", on_delete=models.PROTECT, related_name="subscriptions")
    plan = models.ForeignKey("billing.BillingPlan", on_delete=models.PROTECT, related_name="subscriptions")
    station = models.ForeignKey(
        "stations.Station", on_delete=models.PROTECT, null=True, blank=True, related_name="subscriptions"
    )
    card = models.ForeignKey(
        "accounts.ChargeCard", on_delete=models.PROTECT, null=True, blank=True, related_name="subscriptions"
    )
    starts_on = models.DateField()
    ends_on = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = SubscriptionQuerySet.as_manager()

    class Meta:
        ordering = ["-starts_on", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(station__isnull=False) & Q(card__isnull=True))
                | (Q(station__isnull=True) & Q(card__isnull=False)),
                name="subscription_station_xor_card",
            ),
            # One open plan per station and per card: assigning a new plan ends the old one first.
            models.UniqueConstraint(
                fields=["station"],
                condition=Q(ends_on__isnull=True, station__isnull=False),
                name="subscription_one_open_per_station",
            ),
            models.UniqueConstraint(
                fields=["card"],
                condition=Q(ends_on__isnull=True, card__isnull=False),
                name="subscription_one_open_per_card",
            ),
        ]
        indexes = [
            # The run: subscriptions of a period, per payer.
            models.Index(fields=["account", "starts_on"], name="subscription_account_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.plan} for {self.station or self.card} (paid by {self.account})"

    @property
    def device_key(self) -> str:
        return f"station:{self.station_id}" if self.station_id else f"card:{self.card_id}"


class SelfBillingAgreement(models.Model):
    """The station owner's prior agreement that the platform draws up its reimbursement invoices
    (Art. 224: prior agreement, acceptance procedure, the mention "Self-billing"). Without an accepted,
    unrevoked agreement with an IBAN no self-billing invoice is issued; revenue stays open in the ledger."""

    class SupplierKind(models.TextChoices):
        PRIVATE = "private", "Private person (no VAT)"
        BUSINESS = "business", "VAT-registered business"

    account = models.ForeignKey("accounts.Account", on_delete=models.CASCADE, related_name="self_billing")
    supplier_kind = models.CharField(max_length=16, choices=SupplierKind.choices)
    legal_name = models.CharField(max_length=200)
    address = models.TextField()
    country = models.CharField(max_length=2, default="NL")
    vat_number = models.CharField(max_length=32, blank=True, validators=[validate_vat_number])
    kvk_number = models.CharField("KvK (Chamber of Commerce) number", max_length=16, blank=True)
    iban = models.CharField("IBAN", max_length=34, validators=[validate_iban])
    terms_version = models.CharField(max_length=16, default="2026-1")
    accepted_at = models.DateTimeField()
    accepted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-accepted_at"]
        constraints = [
            # The agreement in force: at most one unrevoked per account.
            models.UniqueConstraint(
                fields=["account"], condition=Q(revoked_at__isnull=True), name="selfbilling_one_active"
            ),
        ]

    def __str__(self) -> str:
        return f"Self-billing agreement {self.account} ({self.accepted_at:%Y-%m-%d})"
