"""Operator commands to a station (Reset, and the audit of any command's answer) and the one reading of what
a call's outcome means, used by the CLI, remote start/stop, the configuration page and the audit trail."""

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.audit import audit_record
from accounts.models import AuditEvent
from eflux.jobs import enqueue
from stations import calls
from stations.models import OcppCall, Station, StationConfigurationKey, StationReset

AUDIT_TASK = "stations.tasks.call_result_to_audit_task"

# Answers that mean "done as asked": OCPP 1.6 §7 status enumerations (ConfigurationStatus, ResetStatus,
# AvailabilityStatus Scheduled = accepted for later, UnlockStatus Unlocked, RemoteStartStopStatus, ...).
ACCEPTED_ANSWERS = frozenset({"Accepted", "RebootRequired", "Scheduled", "Unlocked"})


@dataclass(frozen=True)
class CallMeaning:
    ok: bool  # the station did (or will do) what was asked
    call_status: str  # OcppCall.Status
    answer: str  # the station's status field, or the CALLERROR code; "" without either
    text: str  # one line for humans, without the action name


def call_meaning(call: OcppCall) -> CallMeaning:
    """What a call's outcome means, in one place."""
    status = call.status
    if status == OcppCall.Status.ANSWERED:
        answer = str((call.response or {}).get("status", "")) if isinstance(call.response, dict) else ""
        if not answer:  # e.g. GetConfiguration, DataTransfer without status: the answer is the payload
            return CallMeaning(True, status, "", "the station answered")
        return CallMeaning(answer in ACCEPTED_ANSWERS, status, answer, f"the station answered {answer}")
    if status == OcppCall.Status.CALL_ERROR:
        text = f"the station answered CALLERROR {call.error_code}"
        if call.error_description:
            text += f" ({call.error_description})"
        return CallMeaning(False, status, call.error_code, text)
    if status == OcppCall.Status.TIMED_OUT:
        why = f" ({call.error_description})" if call.error_description else ""
        return CallMeaning(False, status, "", f"timed out after {call.timeout_seconds} s{why}")
    if status == OcppCall.Status.OFFLINE:
        why = f" ({call.error_description})" if call.error_description else ""
        return CallMeaning(False, status, "", f"the station is offline{why}")
    return CallMeaning(False, status, "", call.get_status_display().lower())


def call_audit_result(call: OcppCall) -> dict:
    """The station's answer to a call as the audit trail keeps it."""
    meaning = call_meaning(call)
    result = {"action": call.action, "call_status": call.status, "meaning": meaning.text, "ok": meaning.ok}
    if call.response:
        result["response"] = call.response
    if call.error_code or call.error_description:
        result["error"] = f"{call.error_code}: {call.error_description}".strip(": ")
    return result


# --- reset ----------------------------------------------------------------------------------------

# OCPP 1.6 §7.41 ResetType: Soft "restart the application software" is a full restart of the charger's
# software: it re-reads its configuration and boots again (BootNotification), which is what the manual's
# "reset with the right configuration" needs. Hard is the spec's "last resort" and may lose queued messages.
DEFAULT_RESET_KIND = StationReset.Kind.SOFT
# OCPP 2.0.1 ResetEnumType (B11/B12): OnIdle waits for running transactions to end (the default, as gentle as
# 1.6 Soft), Immediate ends them and restarts now.
RESET_KINDS_201 = (StationReset.Kind.ON_IDLE, StationReset.Kind.IMMEDIATE)
RESET_KINDS_16 = (StationReset.Kind.SOFT, StationReset.Kind.HARD)


def reset_kinds(station: Station) -> tuple[str, ...]:
    """The reset types of the station's OCPP version, the default first."""
    return RESET_KINDS_201 if station.is_ocpp201 else RESET_KINDS_16


@transaction.atomic
def station_reset(*, station: Station, kind: str, acting_user) -> StationReset:
    reset = StationReset.objects.create(station=station, kind=kind, requested_by=acting_user)
    call = calls.call_send(
        station=station, action="Reset", payload={"type": kind}, requested_by=acting_user, source="portal"
    )
    reset.call = call
    event = audit_record(
        actor=acting_user,
        action="station.reset",
        obj=station,
        station=station,
        account=station.account,
        changes={"type": kind},
        result=call_audit_result(call),
    )
    reset.audit_event = event
    reset.save(update_fields=["call", "audit_event"])
    if not call.is_final:
        enqueue(AUDIT_TASK, call.pk, event.pk)
    return reset


def reset_progress(reset: StationReset | None, station: Station, now=None) -> list[dict] | None:
    """Steps of a reset as the operator sees them, derived from the call and the station's presence."""
    if reset is None:
        return None
    call = reset.call
    answer = (call.response or {}).get("status") if call and call.response else None
    steps = []
    if call is None or call.status in (OcppCall.Status.PENDING, OcppCall.Status.SENT):
        steps.append({"label": f"{reset.kind} reset sent, waiting for the station's answer", "state": "busy"})
    elif call.status == OcppCall.Status.ANSWERED and answer == "Accepted":
        steps.append({"label": f"{reset.kind} reset accepted by the station", "state": "done"})
    elif call.status == OcppCall.Status.ANSWERED and answer == "Scheduled":
        # OCPP 2.0.1 B12: an OnIdle reset waits for the running transactions to end.
        steps.append(
            {"label": f"{reset.kind} reset scheduled: after the running sessions end", "state": "done"}
        )
    else:
        reason = answer or call.get_status_display()
        steps.append({"label": f"Reset failed: {reason}", "state": "failed"})
        return steps
    booted = bool(
        station.last_boot_at and station.last_boot_at >= reset.requested_at and station.is_connected
    )
    went_down = bool(
        booted
        or (station.disconnected_at and station.disconnected_at >= reset.requested_at)
        or not station.is_connected
    )
    steps.append({"label": "Station disconnected (restarting)", "state": "done" if went_down else "busy"})
    if booted:
        steps.append({"label": "Station back online and booted", "state": "done"})
        # After the boot the configuration is read back (stations.services.configuration_read): the reset
        # is over when "Station reported" shows what the station holds after it.
        keys = StationConfigurationKey.objects.filter(station=station, is_secret=False)
        if keys.exists():
            unread = keys.filter(Q(read_at__isnull=True) | Q(read_at__lt=station.last_boot_at)).exists()
            steps.append(
                {
                    "label": "Configuration read back after the reboot",
                    "state": "busy" if unread else "done",
                }
            )
        return steps
    refused = bool(
        station.last_refused_at
        and station.last_refused_at >= reset.requested_at
        and station.refused_since_connect
    )
    if refused:
        # Not "back online…" spinning with no reason: say why its reconnect is refused (it keeps retrying).
        attempt = station.connection_attempts.first()
        hint = f" {attempt.hint}" if attempt and attempt.hint else ""
        steps.append(
            {"label": f"Station's reconnect refused: {station.last_refusal_reason}.{hint}", "state": "failed"}
        )
    give_up = reset.requested_at + timedelta(seconds=settings.STATION_WAIT_GIVE_UP_SECONDS)
    if now is None:
        now = timezone.now()
    if now >= give_up:
        minutes = max(1, round(settings.STATION_WAIT_GIVE_UP_SECONDS / 60))
        why = "its reconnects are refused (see above)" if refused else "it has not connected and booted again"
        steps.append(
            {
                "label": f"Gave up waiting: the station did not come back within {minutes} min; {why}. "
                "Check the charger on site, then reset again.",
                "state": "failed",
            }
        )
        return steps
    steps.append(
        {
            "label": f"Waiting for the station to come back online and boot (until "
            f"{timezone.localtime(give_up):%H:%M:%S})",
            "state": "busy" if went_down else "todo",
        }
    )
    return steps


def reset_outcome(steps: list[dict] | None) -> str:
    """The reset as one state for the overview checklist: done | failed | busy | todo."""
    if not steps:
        return "todo"
    states = {s["state"] for s in steps}
    if "busy" in states or "todo" in states:
        return "busy"
    return "failed" if "failed" in states else "done"


def call_result_to_audit(*, call_id: int, audit_id: int) -> None:
    """Wait for the station's answer to a call and store it with the operator's audit event."""
    call = OcppCall.objects.filter(pk=call_id).first()
    if call is None:
        return
    call = calls.call_wait(call)
    AuditEvent.objects.filter(pk=audit_id).update(result=call_audit_result(call))
