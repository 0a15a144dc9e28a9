"""The tariff fields a station's settings and an access group's reduced terms share, in a module of their own:
accounts.models and stations.models both use them, and billing.models depends on accounts."""

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
