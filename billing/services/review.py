"""Review flags: what was odd about a transaction message. Sanity checks never refuse a transaction message
(OCPP 1.6 §4.8, §4.10: "SHOULD NOT ever cause the Central System to not respond"); the data is stored as
reported and the session is flagged for an operator to look at."""

from datetime import datetime, timedelta

from billing.models import ChargingSession
from eflux.lib.ocpp_time import parse_ocpp_datetime

# Station clocks drift; a timestamp further ahead than this, or older than MAX_AGE, is flagged for review.
MAX_CLOCK_AHEAD = timedelta(minutes=10)
MAX_AGE = timedelta(days=30)

INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)


class Flag:
    FUTURE_TIMESTAMP = "future_timestamp"
    OLD_TIMESTAMP = "old_timestamp"
    BAD_TIMESTAMP = "bad_timestamp"
    METER_STOP_BELOW_START = "meter_stop_below_start"
    STOP_BEFORE_START = "stop_before_start"
    UNKNOWN_TRANSACTION = "unknown_transaction"
    TRANSACTION_ZERO = "transaction_id_zero"
    TRANSACTION_MINUS_ONE = "transaction_id_minus_one"  # errata §3.18: start never delivered
    FOREIGN_TRANSACTION = "transaction_of_other_station"
    CLOSED_BY_NEW_START = "closed_by_new_start"
    STOPPED_AFTER_SUPERSEDED = "stop_after_closed_by_new_start"
    NOT_ACCEPTED = "not_accepted"
    NO_START_METER = "no_start_meter"
    BAD_METER_VALUE = "bad_meter_value"
    BAD_INTEGER = "integer_out_of_range"
    # OCPP 2.0.1 TransactionEvent (billing/services/transaction_events.py).
    EVENTS_MISSING = "transaction_events_missing"
    STARTED_NOT_RECEIVED = "transaction_started_not_received"


FLAG_LABELS = {
    Flag.FUTURE_TIMESTAMP: "Timestamp in the future",
    Flag.OLD_TIMESTAMP: "Timestamp far in the past",
    Flag.BAD_TIMESTAMP: "Unreadable timestamp (receive time used)",
    Flag.METER_STOP_BELOW_START: "Meter stop below meter start (energy counted as 0)",
    Flag.STOP_BEFORE_START: "Stop time before start time (duration counted as 0)",
    Flag.UNKNOWN_TRANSACTION: "Stop for a transaction this station never started",
    Flag.TRANSACTION_ZERO: "Transaction id 0",
    Flag.TRANSACTION_MINUS_ONE: "Transaction id -1 (start not delivered)",
    Flag.FOREIGN_TRANSACTION: "Transaction id belongs to another station (not touched)",
    Flag.CLOSED_BY_NEW_START: "Closed because a new transaction started on the connector",
    Flag.STOPPED_AFTER_SUPERSEDED: "Station's stop arrived after the session was closed by a new start",
    Flag.NOT_ACCEPTED: "Card was not accepted",
    Flag.NO_START_METER: "Meter start or stop missing (energy counted as 0)",
    Flag.BAD_METER_VALUE: "Unreadable meter value",
    Flag.BAD_INTEGER: "A number outside the storable range (kept empty)",
    Flag.EVENTS_MISSING: "Some TransactionEvents (seqNo) of this transaction never arrived",
    Flag.STARTED_NOT_RECEIVED: "The transaction's Started event has not arrived",
}


def flag(session: ChargingSession, *flags: str) -> None:
    for f in flags:
        if f and f not in session.review_flags:
            session.review_flags = [*session.review_flags, f]
    session.needs_review = bool(session.review_flags)


def fit_integer(value, bounds, flags: list) -> int | None:
    """The integer if its column can hold it; else None and a review flag (never a failed message)."""
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():  # 1000.0: an integer to JSON Schema draft 6+
        value = int(value)
    if isinstance(value, int) and bounds[0] <= value <= bounds[1]:
        return value
    flags.append(Flag.BAD_INTEGER)
    return None


def check_time(value, received_at: datetime) -> tuple[datetime, list[str]]:
    """The station's timestamp and its review flags; an unreadable one is replaced by the receive time."""
    ts = parse_ocpp_datetime(value, strict=False)
    if ts is None:
        return received_at, [Flag.BAD_TIMESTAMP]
    flags = []
    if ts > received_at + MAX_CLOCK_AHEAD:
        flags.append(Flag.FUTURE_TIMESTAMP)
    elif ts < received_at - MAX_AGE:
        flags.append(Flag.OLD_TIMESTAMP)
    return ts, flags
