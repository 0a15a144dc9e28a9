"""OCPP dateTime values (1.6 §2.1: ISO 8601, UTC expected; OCPP-J §3.15: UTC with "Z" recommended).
Pure: no Django."""

from datetime import UTC, datetime


def parse_ocpp_datetime(value, *, strict: bool) -> datetime | None:
    """The aware UTC datetime of an OCPP dateTime, or None when the field is absent.

    A value without a zone is read as UTC: the spec expects UTC, and chargers that omit the "Z" mean it.
    An unreadable value raises ValueError when strict; otherwise it is None, for callers that must keep
    the message anyway (transaction messages, OCPP 1.6 §4.8/§4.10) and substitute the receive time."""
    if value is None:
        return None
    if isinstance(value, datetime):
        dt = value
    else:
        try:
            dt = datetime.fromisoformat(str(value).strip())
        except ValueError:
            if strict:
                raise ValueError(f"not an ISO 8601 date-time: {value!r}") from None
            return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def format_ocpp_datetime(value: datetime) -> str:
    """An aware datetime in the wire form the spec recommends: UTC with the "Z" designator."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
