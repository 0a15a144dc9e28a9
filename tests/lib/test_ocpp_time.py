"""eflux.lib.ocpp_time: the one OCPP dateTime parser, strict and lenient."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from eflux.lib.ocpp_time import format_ocpp_datetime, parse_ocpp_datetime

T = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    "value, expected",
    [
        ("2024-05-01T12:30:00Z", T),
        ("2024-05-01T12:30:00.000Z", T),
        ("2024-05-01T12:30:00+00:00", T),
        ("2024-05-01T14:30:00+02:00", T),  # converted to UTC
        ("2024-05-01T12:30:00", T),  # no zone: UTC
        (" 2024-05-01T12:30:00Z ", T),
        (datetime(2024, 5, 1, 12, 30), T),
        (datetime(2024, 5, 1, 14, 30, tzinfo=timezone(timedelta(hours=2))), T),
    ],
)
def test_it_reads_iso_8601_as_aware_utc_in_both_modes(value, expected):
    for strict in (True, False):
        parsed = parse_ocpp_datetime(value, strict=strict)
        assert parsed == expected and parsed.tzinfo is UTC


@pytest.mark.parametrize("value", ["", "yesterday", "2024-13-01T00:00:00Z", "2024-05-01T25:00:00Z", 12])
def test_strict_raises_and_lenient_returns_none_for_an_unreadable_value(value):
    with pytest.raises(ValueError):
        parse_ocpp_datetime(value, strict=True)
    assert parse_ocpp_datetime(value, strict=False) is None


def test_an_absent_value_is_none_in_both_modes():
    assert parse_ocpp_datetime(None, strict=True) is None
    assert parse_ocpp_datetime(None, strict=False) is None


def test_it_formats_utc_with_z():
    assert format_ocpp_datetime(T) == "2024-05-01T12:30:00Z"
    assert format_ocpp_datetime(T.astimezone(timezone(timedelta(hours=2)))) == "2024-05-01T12:30:00Z"
