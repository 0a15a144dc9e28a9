"""CSMS → station calls, from any process: a view, a Celery task, a management command, the shell.

The OcppCall row is the queue. call_send() writes it and, after the commit, wakes whichever consumer holds
the station's socket (process-local hand-off, else the channel layer). That consumer sends one call at a
time in id order (OCPP-J 1.6 §4.1.1: one outstanding CALL per connection), records the answer, the
CALLERROR or the timeout in the row, then takes the next. Because the row is the queue, a lost wake-up
(channels-redis drops messages over capacity) only delays a call until the consumer's next look at the
table: on connect, after each answer, and on each sweep (calls_sweep, below).

call_wait() re-reads the row with short sleeps (50 ms growing to 250 ms). A reply channel would answer a
little sooner, but polling works unchanged in every mode (no channel layer in a Celery worker's embedded
default, no shared loop with daphne) and the row is where the result must be anyway."""

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import timedelta

from asgiref.sync import async_to_sync, sync_to_async
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from eflux.asyncdb import db

from . import process_channel
from .models import MessageLog, OcppCall, Station
from .ocpp import masking, registry
from .ocpp import validation as v

logger = logging.getLogger(__name__)

SUPPORTED_ACTIONS = frozenset(
    {
        "GetConfiguration",
        "ChangeConfiguration",
        "Reset",
        "ChangeAvailability",
        "UnlockConnector",
        "ClearCache",
        "TriggerMessage",
        "RemoteStartTransaction",
        "RemoteStopTransaction",
        "DataTransfer",
        "GetDiagnostics",
        "UpdateFirmware",
    }
)
# OCPP 2.0.1 CSMS-initiated messages (part 2, use cases B-P). The payload is validated against the library's
# 2.0.1 schema before it is queued, so each is as safe to send as the ones the portal builds.
SUPPORTED_ACTIONS_201 = frozenset(
    {
        "GetVariables",
        "SetVariables",
        "GetBaseReport",
        "GetReport",
        "Reset",
        "ChangeAvailability",
        "UnlockConnector",
        "TriggerMessage",
        "RequestStartTransaction",
        "RequestStopTransaction",
        "GetTransactionStatus",
        "ClearCache",
        "DataTransfer",
        "GetLog",
        "UpdateFirmware",
        "SetNetworkProfile",
        "SendLocalList",
        "GetLocalListVersion",
        "ReserveNow",
        "CancelReservation",
        "SetChargingProfile",
        "GetChargingProfiles",
        "ClearChargingProfile",
        "GetCompositeSchedule",
        "SetDisplayMessage",
        "GetDisplayMessages",
        "ClearDisplayMessage",
        "CustomerInformation",
        "InstallCertificate",
        "DeleteCertificate",
        "GetInstalledCertificateIds",
        "CertificateSigned",
        "SetVariableMonitoring",
        "ClearVariableMonitoring",
        "SetMonitoringBase",
        "SetMonitoringLevel",
        "GetMonitoringReport",
        "PublishFirmware",
        "UnpublishFirmware",
        "CostUpdated",
    }
)
ACTIONS_BY_VERSION = {"1.6": SUPPORTED_ACTIONS, "2.0.1": SUPPORTED_ACTIONS_201}
# A SENT call whose connection died without cleaning up (a killed process) is settled this long after its
# own timeout; a PENDING call gives up after queue wait + timeout when nothing ever takes it.
SETTLE_GRACE = timedelta(seconds=10)


class CallInvalid(ValueError):
    """The action is not supported or the payload does not match the action's schema."""


def _validate(action: str, payload: dict, version: str) -> None:
    supported = ACTIONS_BY_VERSION.get(version or "1.6", SUPPORTED_ACTIONS)
    if action not in supported:
        raise CallInvalid(
            f"unsupported action {action!r} for OCPP {version or '1.6'}; supported: {', '.join(sorted(supported))}"
        )
    try:
        v.validate(version or "1.6", v.CALL, action, payload)
    except v.PayloadInvalid as e:
        raise CallInvalid(f"invalid {action} payload: {e.description}") from None


def call_send(
    *,
    station: Station,
    action: str,
    payload: dict,
    requested_by=None,
    source: str = "",
    timeout: int | None = None,
    send_within: int | None = None,
) -> OcppCall:
    """Queue a call for `station` and return at once. A station that is not connected gets an OFFLINE row.
    A call not sent within `send_within` seconds (default OCPP_CALL_QUEUE_SECONDS) is settled as timed out
    and never sent afterwards."""
    # One read for both: the version the station negotiated on its live connection (a caller's object may be
    # older than its last connect) and whether it is connected.
    connected, subprotocol, holder = Station.objects.filter(pk=station.pk).values_list(
        "is_connected", "ocpp_version", "server_process"
    ).first() or (False, "", "")
    version = (subprotocol or station.ocpp_version or "ocpp1.6").removeprefix("ocpp")
    _validate(action, payload, version)
    now = timezone.now()
    call = OcppCall.objects.create(
        station=station,
        action=action,
        # A stored payload never holds a secret once sent; until then it must (it is the queue).
        payload=payload,
        status=OcppCall.Status.PENDING if connected else OcppCall.Status.OFFLINE,
        timeout_seconds=timeout or settings.OCPP_CALL_TIMEOUT,
        send_by=now + timedelta(seconds=send_within or settings.OCPP_CALL_QUEUE_SECONDS),
        requested_by=requested_by,
        source=source[:32],
        finished_at=None if connected else now,
        error_description="" if connected else "the station is not connected",
    )
    if not connected:
        call.payload = masking.mask(payload)
        OcppCall.objects.filter(pk=call.pk).update(payload=call.payload)
    else:
        transaction.on_commit(lambda: wake(call.station_id, holder))
    return call


def wake(station_pk: int, process_id: str | None = None) -> None:
    """Tell the consumer holding the station's socket to look at its queue: here directly, else through the
    channel group of the process holding it (`process_id`, read from the station's row when not given)."""
    if registry.wake_local(station_pk):
        return
    if not process_channel.reachable():
        return  # embedded mode, socket in another process: the sweep picks it up
    if process_id is None:
        process_id = (
            Station.objects.filter(pk=station_pk, is_connected=True)
            .values_list("server_process", flat=True)
            .first()
        )
    if process_id:  # the row is the queue; if this is lost, the sweep finds it
        async_to_sync(process_channel.send)(process_id, {"type": "ocpp.wake", "station_pk": station_pk})


def call_wait(call: OcppCall, *, timeout: float | None = None) -> OcppCall:
    """Block until the call has a final status and return the refreshed row. With `timeout`, return after
    that many seconds even if it is still pending/sent. Without, the call's own timeout bounds the wait
    (plus the time it may queue behind others), after which it is settled as timed out."""
    start = time.monotonic()
    delay = 0.05
    while True:
        call.refresh_from_db()
        if call.is_final:
            return call
        if timeout is not None and time.monotonic() - start >= timeout:
            return call
        if timeout is None and _settle_if_stale(call):
            continue
        time.sleep(delay)
        delay = min(delay * 1.5, 0.25)


def call_and_wait(**kwargs) -> OcppCall:
    call = call_send(**kwargs)
    if call.is_final:
        return call
    if transaction.get_connection().in_atomic_block:
        raise RuntimeError("call_and_wait inside a transaction would wait for a row nobody can see yet")
    return call_wait(call)


async def acall_send(**kwargs) -> OcppCall:
    return await sync_to_async(call_send)(**kwargs)


async def acall_wait(call: OcppCall, *, timeout: float | None = None) -> OcppCall:
    start = time.monotonic()
    delay = 0.05
    while True:
        await sync_to_async(call.refresh_from_db)()
        if call.is_final or (timeout is not None and time.monotonic() - start >= timeout):
            return call
        if timeout is None and await sync_to_async(_settle_if_stale)(call):
            continue
        await asyncio.sleep(delay)
        delay = min(delay * 1.5, 0.25)


async def acall_and_wait(**kwargs) -> OcppCall:
    call = await acall_send(**kwargs)
    return call if call.is_final else await acall_wait(call)


NOT_SENT_IN_TIME = "not sent before its deadline: the station did not take it in time"


def _send_by(call: OcppCall):
    return call.send_by or call.created_at + timedelta(seconds=settings.OCPP_CALL_QUEUE_SECONDS)


def _settle_if_stale(call: OcppCall) -> bool:
    now = timezone.now()
    own = timedelta(seconds=call.timeout_seconds)
    if call.status == OcppCall.Status.SENT and call.sent_at and now > call.sent_at + own + SETTLE_GRACE:
        why = "no answer and the connection that sent it is gone"
    elif call.status == OcppCall.Status.PENDING and now > _send_by(call):
        why = NOT_SENT_IN_TIME
    else:
        return False
    return bool(
        OcppCall.objects.filter(pk=call.pk, status=call.status).update(
            status=OcppCall.Status.TIMED_OUT, finished_at=now, error_description=why
        )
    )


# --- used by the consumer that holds the socket (stations/consumers.py) ---------------------------


@dataclass(frozen=True)
class ClaimedCall:
    call_id: int
    message_id: str
    action: str
    payload: dict
    timeout: float
    journal_id: int


@transaction.atomic
def call_claim_next(*, station_pk: int, connection_id: str) -> ClaimedCall | None:
    """Take the station's oldest pending call if none is outstanding, mark it sent by this connection, and
    journal the CALL frame, in one transaction. The station row lock serialises two connections of the same
    station in different processes (the old one is about to close)."""
    live = (
        Station.objects.select_for_update()
        .filter(pk=station_pk, connection_id=connection_id, is_connected=True)
        .values_list("pk", flat=True)
    )
    if not list(live):
        return None
    if OcppCall.objects.filter(station_id=station_pk, status=OcppCall.Status.SENT).exists():
        return None
    now = timezone.now()
    # Past its deadline: settled, never sent (a Reset minutes after anyone asked for it is worse than none).
    OcppCall.objects.filter(station_id=station_pk, status=OcppCall.Status.PENDING, send_by__lt=now).update(
        status=OcppCall.Status.TIMED_OUT, finished_at=now, error_description=NOT_SENT_IN_TIME
    )
    call = (
        OcppCall.objects.filter(station_id=station_pk, status=OcppCall.Status.PENDING).order_by("id").first()
    )
    if call is None:
        return None
    OcppCall.objects.filter(pk=call.pk).update(
        status=OcppCall.Status.SENT,
        sent_at=now,
        connection_id=connection_id,
        payload=masking.mask(call.payload),
    )
    journal = MessageLog.objects.create(
        station_id=station_pk,
        direction=MessageLog.Direction.OUT,
        kind=MessageLog.Kind.CALL,
        action=call.action,
        message_id=call.message_id,
        payload=masking.dumps([2, call.message_id, call.action, call.payload]),
        connection_id=connection_id,
        created_at=now,
    )
    return ClaimedCall(call.pk, call.message_id, call.action, call.payload, call.timeout_seconds, journal.pk)


class CallOutcome:
    """What came back for a CALL on the socket: a result, a CALLERROR, nothing in time, or a closed socket."""

    def __init__(self, kind: str, payload=None, error_code: str = "", description: str = "", details=None):
        self.kind = kind  # "result" | "error" | "timeout" | "closed"
        self.payload, self.error_code, self.description, self.details = (
            payload,
            error_code,
            description,
            details,
        )


def failed_outcome(description: str) -> CallOutcome:
    return CallOutcome("error", None, "InternalError", f"could not send: {description}")


def call_record_outcome(*, call_id: int, outcome: CallOutcome) -> None:
    status = {
        "result": OcppCall.Status.ANSWERED,
        "error": OcppCall.Status.CALL_ERROR,
        "timeout": OcppCall.Status.TIMED_OUT,
    }.get(outcome.kind, OcppCall.Status.OFFLINE)
    response = outcome.payload
    if outcome.kind == "error" and outcome.details:
        response = {
            "errorDetails": outcome.details,
            **({"payload": outcome.payload} if outcome.payload else {}),
        }
    OcppCall.objects.filter(pk=call_id, status=OcppCall.Status.SENT).update(
        status=status,
        response=masking.mask(response) if response is not None else None,
        error_code=outcome.error_code[:64],
        error_description=outcome.description or ("no answer in time" if outcome.kind == "timeout" else ""),
        finished_at=timezone.now(),
    )


def calls_sweep() -> list[int]:
    """Settle calls nobody will finish; return the stations that have pending calls (to wake locally)."""
    now = timezone.now()
    open_calls = OcppCall.objects.filter(status__in=[OcppCall.Status.PENDING, OcppCall.Status.SENT])
    for call in open_calls.filter(status=OcppCall.Status.SENT).only(
        "pk", "status", "sent_at", "timeout_seconds"
    ):
        if call.sent_at and now > call.sent_at + timedelta(seconds=call.timeout_seconds) + SETTLE_GRACE:
            OcppCall.objects.filter(pk=call.pk, status=OcppCall.Status.SENT).update(
                status=OcppCall.Status.TIMED_OUT,
                finished_at=now,
                error_description="no answer and the connection that sent it is gone",
            )
    open_calls.filter(status=OcppCall.Status.PENDING, send_by__lt=now).update(
        status=OcppCall.Status.TIMED_OUT, finished_at=now, error_description=NOT_SENT_IN_TIME
    )
    # Queued in the instant the station went away (call_send saw it connected, the disconnect ran first).
    open_calls.filter(
        status=OcppCall.Status.PENDING, station__is_connected=False, created_at__lt=now - timedelta(seconds=2)
    ).update(
        status=OcppCall.Status.OFFLINE, finished_at=now, error_description="the station is not connected"
    )
    return list(
        open_calls.filter(status=OcppCall.Status.PENDING)
        .order_by()
        .values_list("station_id", flat=True)
        .distinct()
    )


# --- the per-process sweeper ------------------------------------------------------------------------
# The safety net for everything a wake-up message can miss: every few seconds it settles calls whose
# connection died without cleaning up and wakes local consumers that have pending calls (a wake-up dropped by
# channels-redis over capacity, or a call queued by another process in embedded mode, e.g. `manage.py
# ocpp_call` against SQLite).

_sweeper: asyncio.Task | None = None


def sweeper_ensure() -> None:
    """Start this process's sweeper on the running loop (the consumer calls it on each connect)."""
    global _sweeper
    if _sweeper is None or _sweeper.done():
        _sweeper = asyncio.get_running_loop().create_task(_sweep_forever())


async def _sweep_forever() -> None:
    sweep = db(calls_sweep)
    while True:
        await asyncio.sleep(settings.OCPP_CALL_SWEEP_SECONDS)
        try:
            for station_pk in await sweep():
                consumer = registry.local_consumer(station_pk)
                if consumer is not None:
                    consumer.wake()
        except Exception:  # keep sweeping: a database hiccup must not end the safety net
            logger.exception("OCPP call sweep failed")
