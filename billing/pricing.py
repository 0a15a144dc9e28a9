"""Session pricing: pure functions on Decimal, no Django. The service layer builds a Tariff from the
station's (or access group's) fields, calls price_session() and copies the result onto the session.

Rule: energy (kWh) x price per kWh + price per session + duration (hours) x price per hour, all excl. VAT;
each line is rounded once (ROUND_HALF_UP) to the currency's minor unit; VAT is computed on the sum of the
rounded lines at the account's rate and rounded once; total = subtotal + VAT."""

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

ZERO = Decimal("0")
CENT = Decimal("0.01")
WH_PER_KWH = Decimal(1000)
SECONDS_PER_HOUR = Decimal(3600)


def round_money(amount: Decimal, quantum: Decimal = CENT) -> Decimal:
    return amount.quantize(quantum, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Tariff:
    """Prices excl. VAT. None and zero both mean "no charge for this component"."""

    price_per_kwh: Decimal | None = None
    price_per_session: Decimal | None = None
    price_per_hour: Decimal | None = None
    currency: str = "EUR"

    @property
    def is_zero(self) -> bool:
        return not any((self.price_per_kwh, self.price_per_session, self.price_per_hour))


@dataclass(frozen=True)
class Price:
    currency: str
    energy_wh: int
    duration_seconds: int
    vat_rate: Decimal  # percent
    energy_amount: Decimal
    session_amount: Decimal
    time_amount: Decimal
    subtotal: Decimal  # excl. VAT
    vat_amount: Decimal
    total: Decimal  # incl. VAT
    is_free: bool

    @property
    def energy_kwh(self) -> Decimal:
        return Decimal(self.energy_wh) / WH_PER_KWH

    @property
    def duration_hours(self) -> Decimal:
        return Decimal(self.duration_seconds) / SECONDS_PER_HOUR


def price_session(
    *, tariff: Tariff, energy_wh: int, duration_seconds: int, vat_rate: Decimal, free: bool = False
) -> Price:
    """Price one session. Negative energy or duration (bad meter or clock data) count as zero: the
    service flags such sessions for review instead of billing a negative amount."""
    energy_wh = max(0, int(energy_wh))
    duration_seconds = max(0, int(duration_seconds))
    vat_rate = Decimal(vat_rate)
    if free:
        tariff = Tariff(currency=tariff.currency)
    per_kwh = tariff.price_per_kwh or ZERO
    per_session = tariff.price_per_session or ZERO
    per_hour = tariff.price_per_hour or ZERO

    # One rounding per line; the multiplications are exact in Decimal (28 digits of precision).
    energy_amount = round_money(Decimal(energy_wh) * per_kwh / WH_PER_KWH)
    session_amount = round_money(per_session)
    time_amount = round_money(Decimal(duration_seconds) * per_hour / SECONDS_PER_HOUR)
    subtotal = energy_amount + session_amount + time_amount
    vat_amount = round_money(subtotal * vat_rate / Decimal(100))
    return Price(
        currency=tariff.currency,
        energy_wh=energy_wh,
        duration_seconds=duration_seconds,
        vat_rate=vat_rate,
        energy_amount=energy_amount,
        session_amount=session_amount,
        time_amount=time_amount,
        subtotal=subtotal,
        vat_amount=vat_amount,
        total=subtotal + vat_amount,
        is_free=free,
    )
