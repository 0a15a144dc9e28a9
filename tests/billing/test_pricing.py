"""billing.pricing: table-driven, Decimal only, one rounding per line (ROUND_HALF_UP)."""

from decimal import Decimal as D

import pytest

from billing.pricing import Tariff, price_session

# (case, tariff (kwh, session, hour), energy_wh, seconds, vat %, expected (energy, session, time, subtotal, vat, total))
CASES = [
    (
        "all three components and VAT",
        ("0.35", "1.00", "2.00"),
        12345,
        5400,
        "21",
        ("4.32", "1.00", "3.00", "8.32", "1.75", "10.07"),
    ),
    (
        "energy line rounds half up, not to even",
        ("0.125", None, None),
        1000,
        0,
        "0",
        ("0.13", "0.00", "0.00", "0.13", "0.00", "0.13"),
    ),
    (
        "energy just below half a cent rounds down",
        ("0.0049", None, None),
        1000,
        0,
        "0",
        ("0.00", "0.00", "0.00", "0.00", "0.00", "0.00"),
    ),
    (
        "energy exactly half a cent rounds up",
        ("0.005", None, None),
        1000,
        0,
        "21",
        ("0.01", "0.00", "0.00", "0.01", "0.00", "0.01"),
    ),
    (
        "VAT rounds half up",
        ("0.50", None, None),
        1000,
        0,
        "21",
        ("0.50", "0.00", "0.00", "0.50", "0.11", "0.61"),
    ),
    (
        "a third of an hour",
        (None, None, "2.00"),
        0,
        1200,
        "0",
        ("0.00", "0.00", "0.67", "0.67", "0.00", "0.67"),
    ),
    (
        "session price with four decimals",
        (None, "0.4550", None),
        0,
        0,
        "0",
        ("0.00", "0.46", "0.00", "0.46", "0.00", "0.46"),
    ),
    (
        "each line rounded once: two sub-cent lines stay zero",
        ("0.50", None, "0.50"),
        8,
        29,
        "0",
        ("0.00", "0.00", "0.00", "0.00", "0.00", "0.00"),
    ),
    (
        "empty tariff costs nothing",
        (None, None, None),
        50000,
        7200,
        "21",
        ("0.00", "0.00", "0.00", "0.00", "0.00", "0.00"),
    ),
    (
        "negative energy counts as zero",
        ("0.30", None, None),
        -500,
        0,
        "21",
        ("0.00", "0.00", "0.00", "0.00", "0.00", "0.00"),
    ),
    (
        "negative duration counts as zero",
        (None, None, "3.00"),
        0,
        -60,
        "21",
        ("0.00", "0.00", "0.00", "0.00", "0.00", "0.00"),
    ),
    (
        "long session: 3 days, 250 kWh, reduced VAT 9%",
        ("0.2999", "0.99", "0.10"),
        250000,
        3 * 86400,
        "9",
        ("74.98", "0.99", "7.20", "83.17", "7.49", "90.66"),
    ),
    (
        "VAT with decimals",
        ("1", None, None),
        10000,
        0,
        "20.5",
        ("10.00", "0.00", "0.00", "10.00", "2.05", "12.05"),
    ),
]


@pytest.mark.parametrize("case,tariff,energy_wh,seconds,vat,expected", CASES, ids=[c[0] for c in CASES])
def test_price_session_table(case, tariff, energy_wh, seconds, vat, expected):
    kwh, session, hour = (None if v is None else D(v) for v in tariff)
    price = price_session(
        tariff=Tariff(price_per_kwh=kwh, price_per_session=session, price_per_hour=hour, currency="EUR"),
        energy_wh=energy_wh,
        duration_seconds=seconds,
        vat_rate=D(vat),
    )
    got = (
        price.energy_amount,
        price.session_amount,
        price.time_amount,
        price.subtotal,
        price.vat_amount,
        price.total,
    )
    assert got == tuple(D(e) for e in expected)
    assert price.total == price.subtotal + price.vat_amount
    assert all(x.as_tuple().exponent == -2 for x in got)


def test_free_session_costs_zero_keeps_currency_and_is_marked_free():
    price = price_session(
        tariff=Tariff(
            price_per_kwh=D("0.35"), price_per_session=D("1"), price_per_hour=D("2"), currency="GBP"
        ),
        energy_wh=20000,
        duration_seconds=3600,
        vat_rate=D("20"),
        free=True,
    )
    assert price.is_free
    assert price.currency == "GBP"
    assert (price.subtotal, price.vat_amount, price.total) == (D("0.00"), D("0.00"), D("0.00"))


def test_price_reports_energy_in_kwh_and_duration_in_hours_exactly():
    price = price_session(tariff=Tariff(), energy_wh=12345, duration_seconds=5400, vat_rate=D("21"))
    assert price.energy_kwh == D("12.345")
    assert price.duration_hours == D("1.5")


def test_pricing_never_uses_floats():
    price = price_session(
        tariff=Tariff(price_per_kwh=D("0.1")), energy_wh=3000, duration_seconds=0, vat_rate=D("0")
    )
    # 3 x 0.1 in binary floating point is 0.30000000000000004; Decimal keeps it exact.
    assert price.energy_amount == D("0.30")
    assert isinstance(price.total, D)
