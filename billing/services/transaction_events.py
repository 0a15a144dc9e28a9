"""OCPP 2.0.1 TransactionEvent (part 2 E01-E15): one event of a station's transaction into the same
ChargingSession a 1.6 StartTransaction / StopTransaction makes, with the same guarantees (billing/services/
__init__.py): one database transaction per message, answered only after the commit; a replay is stored once.

2.0.1 differs from 1.6 in ways that shape this module:
- the station names the transaction (transactionInfo.transactionId, identifierString[36]), so the session is
  found by it (its dedupe key), and our own integer transaction_id only serves the version-neutral tables;
- events are numbered per station (seqNo, E.FR "seqNo ... incremental"): (station, transactionId, seqNo) seen
  before is a replay and changes nothing (TransactionEventRecord's unique constraint);
- events can arrive out of order or not at all (queued offline, E04; lost, E.FR.x): whichever event comes
  first creates the session, a late Started corrects its start, and an Ended whose seqNo range has holes is
  flagged for review (never refused, like 1.6 §4.10);
- meter values travel inside the events (the Transaction.Begin / Transaction.End contexts give the start and
  stop registers, as 1.6 transactionData did), and the idToken may come only in a later Updated event."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from billing import metering
from billing.authorization import Decision, authorize
from billing.models import ChargingSession, MeterValue, TransactionEventRecord
from billing.services.meter_values import meter_rows, meter_rows_insert
from billing.services.review import Flag, check_time, flag
from billing.services.sessions import (
    _apply_price,
    _close_superseded,
    _digest,
    _get_station,
    _new_transaction_id,
    _snapshot_terms,
)
from eflux.lib.id_tags import ID_TAG_MAX, normalize_id_tag

STARTED, UPDATED, ENDED = "Started", "Updated", "Ended"
# ReadingContextEnumType: the registers at the start and the end of the transaction.
CONTEXT_BEGIN, CONTEXT_END = "Transaction.Begin", "Transaction.End"


@dataclass
class EventResult:
    session: ChargingSession
    decision: Decision | None  # when the event carried an idToken (its idTokenInfo is answered)
    replay: bool

    @property
    def total_cost(self) -> Decimal | None:
        """E.FR / TransactionEventResponse.totalCost: "SHALL only be sent when charging has ended"."""
        if self.session.status != ChargingSession.Status.COMPLETED:
            return None
        return self.session.total


# A tag no card can hold (cards are printable ASCII, eflux/lib/id_tags.py) and authorize() keeps as it is.
NO_CARD_TAG = "\x01"


def id_token_tag(id_token: dict) -> str:
    """The card tag of a 2.0.1 IdTokenType for billing.authorization. idToken is CiString36, cards hold 1.6
    CiString20 tags: a longer token must match no card, never the card whose tag is its 20-character prefix
    (authorize() cuts to 20), so it is decided as NO_CARD_TAG (unknown card)."""
    raw = str(id_token.get("id_token") or "")
    tag = normalize_id_tag(raw, strict=False)
    return NO_CARD_TAG if len(raw) > ID_TAG_MAX and len(tag) == ID_TAG_MAX else tag


def session_key(transaction_id: str) -> str:
    return _digest("ocpp2.0.1", transaction_id)


def _register(samples, context: str | None = None):
    registers = [s for s in samples if s.is_energy_register and s.energy_wh is not None]
    if context is not None:
        registers = [s for s in registers if s.context == context]
    return sorted(registers, key=lambda s: s.timestamp)


def _new_session(
    *, station, key, tx_id, connector_id, started_at, received_at, message_id
) -> ChargingSession:
    for _attempt in range(8):
        session = ChargingSession(
            station=station,
            account=station.account,
            connector_id=connector_id,
            transaction_id=_new_transaction_id(),
            dedupe_key=key,
            started_at=started_at,
            start_received_at=received_at,
            start_message_id=message_id or "",
        )
        _snapshot_terms(session, station, authorize(station=station, id_tag="", now=received_at))
        try:
            with transaction.atomic():
                session.save()
            return session
        except IntegrityError:  # a transactionId collision: draw again
            continue
    raise RuntimeError("could not allocate a transaction id")


@transaction.atomic
def transaction_event_record(
    *,
    station_id: int,
    event_type: str,
    timestamp: str,
    trigger_reason: str,
    seq_no: int,
    transaction_info: dict,
    connector_id: int | None = None,
    id_token: dict | None = None,
    meter_value: list | None = None,
    offline: bool = False,
    message_id: str = "",
    received_at: datetime | None = None,
) -> EventResult:
    """`meter_value` in the 1.6 shape billing.metering reads (the handler converts 2.0.1 sampledValues)."""
    received_at = received_at or timezone.now()
    station = _get_station(station_id)
    tx_id = str(transaction_info["transaction_id"])
    event_at, time_flags = check_time(timestamp, received_at)
    tag = id_token_tag(id_token) if id_token else None
    decision = authorize(station=station, id_tag=tag or "", now=received_at) if id_token else None
    if tag == NO_CARD_TAG:
        tag = normalize_id_tag(
            (id_token or {}).get("id_token"), strict=False
        )  # stored as the station sent it

    key = session_key(tx_id)
    # The station row lock orders concurrent events of one station (a replay racing its original).
    list(type(station).objects.select_for_update().filter(pk=station.pk).values_list("pk", flat=True))
    session = ChargingSession.objects.select_for_update().filter(station=station, dedupe_key=key).first()
    record = TransactionEventRecord(
        station=station,
        transaction_id=tx_id,
        seq_no=seq_no,
        event_type=event_type,
        trigger_reason=trigger_reason[:32],
        timestamp=event_at,
        offline=offline,
        charging_state=str(transaction_info.get("charging_state") or "")[:16],
        stopped_reason=str(transaction_info.get("stopped_reason") or "")[:32],
        message_id=message_id[:64],
        received_at=received_at,
    )
    if TransactionEventRecord.objects.filter(station=station, transaction_id=tx_id, seq_no=seq_no).exists():
        if session is None:  # cannot happen (the record and its session commit together); answer plainly
            session = _new_session(
                station=station,
                key=key,
                tx_id=tx_id,
                connector_id=connector_id,
                started_at=event_at,
                received_at=received_at,
                message_id=message_id,
            )
        return EventResult(session, decision, replay=True)

    samples, problems = metering.parse_meter_values(meter_value or [], fallback_timestamp=received_at)
    if session is None:
        if connector_id is not None:
            # The 1.6 connector-reuse rule: a new transaction on a connector whose session never ended (its
            # Ended was lost). Whatever event of the new one arrives first: events of a station come in order.
            for old in ChargingSession.objects.select_for_update().filter(
                station=station, connector_id=connector_id, status=ChargingSession.Status.ACTIVE
            ):
                begin = _register(samples, CONTEXT_BEGIN) or _register(samples)
                _close_superseded(
                    old,
                    new_start=event_at,
                    new_meter_start=begin[0].energy_wh if begin else None,
                    received_at=received_at,
                )
        session = _new_session(
            station=station,
            key=key,
            tx_id=tx_id,
            connector_id=connector_id,
            started_at=event_at,
            received_at=received_at,
            message_id=message_id,
        )
    record.session = session
    record.save()

    _apply_event(
        session, event_type, event_at, samples, transaction_info, connector_id, message_id, received_at
    )
    if tag is not None and decision is not None and (event_type == STARTED or not session.id_tag):
        # E.FR: the idToken authorizes the transaction; it may arrive after the start (TxStartPoint
        # EVConnected). Its terms become the session's price snapshot.
        session.id_tag = tag[:ID_TAG_MAX]
        # The terms before the token (an unauthorized start) no longer apply, nor does their review flag.
        session.review_flags = [f for f in session.review_flags if f != Flag.NOT_ACCEPTED]
        _snapshot_terms(session, station, decision)
    flag(session, *time_flags, *([Flag.BAD_METER_VALUE] if problems else []))
    _check_sequence(session, tx_id)
    if session.status == ChargingSession.Status.COMPLETED:
        _apply_price(session)
    session.save()
    meter_rows_insert(
        meter_rows(
            station.pk, session.pk, session.connector_id or 0, session.transaction_id, samples, received_at
        )
    )
    return EventResult(session, decision, replay=False)


def _apply_event(session, event_type, event_at, samples, info, connector_id, message_id, received_at) -> None:
    if connector_id is not None and session.connector_id is None:
        session.connector_id = connector_id
    begin = _register(samples, CONTEXT_BEGIN)
    end = _register(samples, CONTEXT_END)
    registers = _register(samples)
    if event_type == STARTED:
        session.started_at = event_at
        session.start_received_at = received_at
        session.start_message_id = message_id or session.start_message_id
        if begin or registers:
            session.meter_start = (begin or registers)[0].energy_wh
    else:
        if session.started_at is None or event_at < session.started_at:
            session.started_at = event_at
        if session.meter_start is None and (begin or registers):
            session.meter_start = (begin or registers)[0].energy_wh
    if event_type == ENDED:
        last = end or registers
        if last:
            session.meter_stop = last[-1].energy_wh
        elif session.meter_stop is None:
            session.meter_stop = _last_stored_register(session)
        session.stopped_at = event_at
        session.stop_received_at = received_at
        session.stop_reason = str(info.get("stopped_reason") or "Local")[:32]  # E06: absent means Local
        session.stop_message_id = message_id or ""
        session.stop_source = ChargingSession.StopSource.STATION
        session.status = ChargingSession.Status.COMPLETED
    elif session.status == ChargingSession.Status.ACTIVE and session.meter_start is not None and registers:
        session.energy_wh = max(0, int(registers[-1].energy_wh) - session.meter_start)


def _last_stored_register(session) -> int | None:
    value = (
        MeterValue.objects.filter(
            session=session, measurand=metering.ENERGY_IMPORT_REGISTER, phase="", value__isnull=False
        )
        .order_by("-timestamp", "-id")
        .values_list("value", flat=True)
        .first()
    )
    return int(value) if value is not None else None


def _check_sequence(session, tx_id: str) -> None:
    """Review flags for what has not arrived: the Started event, and (once Ended is in) any seqNo between the
    first and the last event received. They clear themselves when the late events come in."""
    rows = list(
        TransactionEventRecord.objects.filter(
            station_id=session.station_id, transaction_id=tx_id
        ).values_list("seq_no", "event_type")
    )
    seqs = sorted(s for s, _ in rows)
    types = {t for _, t in rows}
    wanted = set()
    if STARTED not in types:
        wanted.add(Flag.STARTED_NOT_RECEIVED)
    if ENDED in types and seqs and seqs[-1] - seqs[0] + 1 != len(seqs):
        wanted.add(Flag.EVENTS_MISSING)
    for f in (Flag.STARTED_NOT_RECEIVED, Flag.EVENTS_MISSING):
        if f not in wanted and f in session.review_flags:
            session.review_flags = [x for x in session.review_flags if x != f]
    flag(session, *sorted(wanted))
    session.needs_review = bool(session.review_flags)
