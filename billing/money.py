"""Invoice arithmetic: pure functions on Decimal, no Django (table-driven tests in tests/billing/test_money.py).

Rule (as billing/pricing.py for a session): every line amount is already rounded once (ROUND_HALF_UP); an
invoice's VAT is computed per rate on the sum of its rounded lines at that rate and rounded once per rate;
subtotal = sum of lines, VAT total = sum of the per-rate VAT, total = subtotal + VAT total. So the lines CSV,
the PDF and the stored totals agree to the cent by construction."""

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from billing.pricing import ZERO, round_money


@dataclass(frozen=True)
class VatGroup:
    rate: Decimal  # percent
    base: Decimal
    vat: Decimal


@dataclass(frozen=True)
class Totals:
    subtotal: Decimal
    vat_total: Decimal
    total: Decimal
    groups: tuple[VatGroup, ...]


def line_amount(quantity: Decimal, unit_price: Decimal) -> Decimal:
    return round_money(Decimal(quantity) * Decimal(unit_price))


def invoice_totals(lines: Iterable[tuple[Decimal, Decimal]]) -> Totals:
    """lines: (amount excl. VAT, VAT rate in percent) per line."""
    bases: dict[Decimal, Decimal] = {}
    for amount, rate in lines:
        rate = Decimal(rate).quantize(Decimal("0.01"))
        bases[rate] = bases.get(rate, ZERO) + Decimal(amount)
    groups = tuple(
        VatGroup(rate=rate, base=base, vat=round_money(base * rate / Decimal(100)))
        for rate, base in sorted(bases.items())
    )
    subtotal = sum((g.base for g in groups), ZERO)
    vat_total = sum((g.vat for g in groups), ZERO)
    return Totals(subtotal=subtotal, vat_total=vat_total, total=subtotal + vat_total, groups=groups)


def payout_amount(*, self_billing_total: Decimal, platform_fees: Decimal) -> Decimal:
    """Net payout to a station owner: what its self-billing invoice says it is owed (incl. VAT, if any) minus
    what its usage invoice of the same run charges as platform fees (incl. VAT). Never below zero: a
    negative balance is collected by the usage invoice, not by a negative transfer."""
    return max(ZERO, Decimal(self_billing_total) - Decimal(platform_fees))
