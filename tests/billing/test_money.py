"""Pure money and period computations (billing/money.py, billing/periods.py): table-driven, no database."""

from datetime import UTC, datetime
from decimal import Decimal as D

import pytest

from billing.money import invoice_totals, line_amount, payout_amount
from billing.periods import PeriodError, month_bounds, parse_period, period_of, previous_period

AMS = "Europe/Amsterdam"


@pytest.mark.parametrize(
    "lines,subtotal,vat_total,groups",
    [
        ([], D("0"), D("0"), []),
        ([(D("10.00"), D("21"))], D("10.00"), D("2.10"), [("21.00", "10.00", "2.10")]),
        # VAT per rate on the sum of rounded lines, rounded once: 3 x 0.05 at 21 % is 0.03, not 3 x 0.01.
        ([(D("0.05"), D("21"))] * 3, D("0.15"), D("0.03"), [("21.00", "0.15", "0.03")]),
        (
            [(D("3.50"), D("9")), (D("5.00"), D("21")), (D("1.25"), D("9"))],
            D("9.75"),
            D("1.48"),
            [("9.00", "4.75", "0.43"), ("21.00", "5.00", "1.05")],
        ),
        ([(D("7.00"), D("0"))], D("7.00"), D("0.00"), [("0.00", "7.00", "0.00")]),
        # A credit note: negative lines, the same identities.
        (
            [(D("-10.00"), D("21")), (D("-0.25"), D("21"))],
            D("-10.25"),
            D("-2.15"),
            [("21.00", "-10.25", "-2.15")],
        ),
    ],
)
def test_invoice_totals(lines, subtotal, vat_total, groups):
    t = invoice_totals(lines)
    assert (t.subtotal, t.vat_total, t.total) == (subtotal, vat_total, subtotal + vat_total)
    assert [(str(g.rate), str(g.base), str(g.vat)) for g in t.groups] == groups
    assert sum((g.base for g in t.groups), D(0)) == t.subtotal
    assert sum((g.vat for g in t.groups), D(0)) == t.vat_total


@pytest.mark.parametrize(
    "qty,price,amount",
    [(D("12.345"), D("0.02"), D("0.25")), (D("2"), D("4"), D("8.00")), (D("0.125"), D("0.2"), D("0.03"))],
)
def test_line_amount_rounds_half_up_once(qty, price, amount):
    assert line_amount(qty, price) == amount


@pytest.mark.parametrize(
    "sb,fees,payout",
    [(D("7.00"), D("0.48"), D("6.52")), (D("1.00"), D("5.00"), D("0")), (D("0"), D("0"), D("0"))],
)
def test_payout(sb, fees, payout):
    assert payout_amount(self_billing_total=sb, platform_fees=fees) == payout


@pytest.mark.parametrize(
    "moment,period",
    [
        (datetime(2026, 1, 31, 22, 30, tzinfo=UTC), "2026-01"),  # 31 Jan 23:30 local (CET, UTC+1)
        (datetime(2026, 1, 31, 23, 30, tzinfo=UTC), "2026-02"),  # 1 Feb 00:30 local
        (datetime(2026, 3, 31, 21, 59, tzinfo=UTC), "2026-03"),  # 31 Mar 23:59 CEST (after the March change)
        (datetime(2026, 3, 31, 22, 0, tzinfo=UTC), "2026-04"),
        (
            datetime(2026, 10, 31, 22, 59, tzinfo=UTC),
            "2026-10",
        ),  # 31 Oct 23:59 CET (after the October change)
        (datetime(2026, 10, 31, 23, 0, tzinfo=UTC), "2026-11"),
    ],
)
def test_b11_month_edges_in_the_billing_time_zone(moment, period):
    assert period_of(moment, AMS) == period


@pytest.mark.parametrize(
    "year,month,start,end",
    [
        (2026, 1, datetime(2025, 12, 31, 23, tzinfo=UTC), datetime(2026, 1, 31, 23, tzinfo=UTC)),
        (2026, 3, datetime(2026, 2, 28, 23, tzinfo=UTC), datetime(2026, 3, 31, 22, tzinfo=UTC)),  # 743 h
        (2026, 10, datetime(2026, 9, 30, 22, tzinfo=UTC), datetime(2026, 10, 31, 23, tzinfo=UTC)),  # 745 h
        (2026, 12, datetime(2026, 11, 30, 23, tzinfo=UTC), datetime(2026, 12, 31, 23, tzinfo=UTC)),
    ],
)
def test_month_bounds_are_local_midnights(year, month, start, end):
    assert month_bounds(year, month, AMS) == (start, end)


@pytest.mark.parametrize("text", ["2026-13", "2026-00", "26-01", "2026/01", "", "1999-12", "x"])
def test_bad_periods_are_refused(text):
    with pytest.raises(PeriodError):
        parse_period(text)


def test_previous_period_on_the_first_of_the_month_local():
    # 1 Jan 2027 00:30 in Amsterdam is still 31 Dec in UTC: the run bills December.
    assert previous_period(datetime(2026, 12, 31, 23, 30, tzinfo=UTC), AMS) == "2026-12"
