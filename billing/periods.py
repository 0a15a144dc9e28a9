"""Billing periods: calendar months in the billing time zone (settings.BILLING_TIMEZONE, default
Europe/Amsterdam). Pure functions, no Django. Month edges are local midnights converted with zoneinfo, so
the DST changes in March and October move the UTC instant, never the calendar day a session belongs to."""

import re
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

PERIOD_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


class PeriodError(ValueError):
    pass


def parse_period(text: str) -> tuple[int, int]:
    m = PERIOD_RE.match((text or "").strip())
    if not m:
        raise PeriodError(f"{text!r} is not a period: use YYYY-MM, e.g. 2026-11.")
    year, month = int(m.group(1)), int(m.group(2))
    if year < 2000 or year > 2999:
        raise PeriodError(f"{text!r}: the year must be between 2000 and 2999.")
    return year, month


def period_name(year: int, month: int) -> str:
    return f"{year:04d}-{month:02d}"


def next_month(year: int, month: int) -> tuple[int, int]:
    return (year + 1, 1) if month == 12 else (year, month + 1)


def add_months(year: int, month: int, n: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + n
    return index // 12, index % 12 + 1


def month_dates(year: int, month: int) -> tuple[date, date]:
    """First day of the month and first day of the next (exclusive end)."""
    ny, nm = next_month(year, month)
    return date(year, month, 1), date(ny, nm, 1)


def month_bounds(year: int, month: int, tz: str) -> tuple[datetime, datetime]:
    """[start, end) of the month as aware UTC datetimes: local midnight of the 1st to local midnight of the
    next 1st in `tz`."""
    zone = ZoneInfo(tz)
    start, end = month_dates(year, month)
    return (
        datetime(start.year, start.month, 1, tzinfo=zone).astimezone(UTC),
        datetime(end.year, end.month, 1, tzinfo=zone).astimezone(UTC),
    )


def period_of(moment: datetime, tz: str) -> str:
    local = moment.astimezone(ZoneInfo(tz))
    return period_name(local.year, local.month)


def previous_period(now: datetime, tz: str) -> str:
    local = now.astimezone(ZoneInfo(tz))
    return period_name(*add_months(local.year, local.month, -1))


def local_date(moment: datetime, tz: str) -> date:
    return moment.astimezone(ZoneInfo(tz)).date()
