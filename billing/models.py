from decimal import Decimal

from django.core.validators import MinValueValidator
from django.db import models

_price = dict(
    max_digits=10, decimal_places=4, null=True, blank=True, validators=[MinValueValidator(Decimal("0"))]
)


class TariffFields(models.Model):
    """Energy tariff, excl. VAT. Used by a station's settings and by an access group's reduced terms;
    billing.pricing works on the plain Tariff value built from these fields."""

    price_per_kwh = models.DecimalField("price per kWh (excl. VAT)", **_price)
    price_per_session = models.DecimalField("price per session (excl. VAT)", **_price)
    price_per_hour = models.DecimalField("price per hour (excl. VAT)", **_price)
    currency = models.CharField(max_length=3, default="EUR")

    class Meta:
        abstract = True


class BillingPlan(models.Model):
    """What the account owner pays the platform for a station."""

    name = models.CharField(max_length=100, unique=True)
    monthly_fee = models.DecimalField(max_digits=10, decimal_places=2, default=Decimal("0"))
    currency = models.CharField(max_length=3, default="EUR")
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
