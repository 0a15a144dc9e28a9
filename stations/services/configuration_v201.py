"""What Auto Configuration and Fix All do differently for an OCPP 2.0.1 station (configuration.py runs the job):
- read: GetBaseReport FullInventory (B07), then wait for the NotifyReport parts (B07.FR: the result comes in
  NotifyReport messages with the same requestId), stored per component/variable (device_model.py);
- set: SetVariables, one variable per call so each row shows its own SetVariableResult (B05);
- the per-variable answers: Accepted, RebootRequired, Rejected, UnknownComponent, UnknownVariable,
  NotSupportedAttributeType;
- when the job ends with the station held in Pending (B02.FR.01: configured before it is accepted), it is asked
  to boot again (TriggerMessage BootNotification, F06), and is then Accepted."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable

from django.conf import settings

from stations import calls
from stations.models import DeviceVariable, OcppCall, Station, StationConfigurationKey

from .commands import call_meaning

# (device_model.py says the same; not imported: it depends on messages.py, which depends on configuration.py)
ACCEPTED = "Accepted"

Key = StationConfigurationKey

# SetVariableStatusEnumType (part 2 §3.94) -> row state and the reason shown to the operator.
SET_VARIABLE_ANSWERS = {
    "Accepted": (Key.State.ACCEPTED, ""),
    "RebootRequired": (Key.State.REBOOT_REQUIRED, "Changed; takes effect after a reset (Reset Device)."),
    "Rejected": (Key.State.REJECTED, "The station rejected this value (SetVariables: Rejected)."),
    "UnknownComponent": (
        Key.State.UNKNOWN_COMPONENT,
        "The station has no such component (UnknownComponent).",
    ),
    "UnknownVariable": (Key.State.UNKNOWN_VARIABLE, "The component has no such variable (UnknownVariable)."),
    "NotSupportedAttributeType": (
        Key.State.NOT_SUPPORTED_ATTRIBUTE,
        "The variable has no Actual value to set (NotSupportedAttributeType).",
    ),
}


def split_key(key: str) -> tuple[str, str]:
    component, _, variable = key.partition(".")
    return component, variable


def read_device_model(
    *, station: Station, requested_by, wait: Callable[[OcppCall], OcppCall], beat: Callable[[], None]
) -> dict[str, dict] | None:
    """GetBaseReport FullInventory and the inventory it produced, as {"component.variable" (lower case):
    {"value", "readonly"}}. None: the station went offline. A station that refuses the report (or whose report
    does not complete in OCPP_CALL_TIMEOUT) is configured without knowing its values: every key is sent."""
    request_id = secrets.randbelow(2**31 - 1) + 1
    Station.objects.filter(pk=station.pk).update(
        device_report_request_id=request_id, device_report_done_at=None
    )
    call = wait(
        calls.call_send(
            station=station,
            action="GetBaseReport",
            payload={"requestId": request_id, "reportBase": "FullInventory"},
            requested_by=requested_by,
            source="auto_configuration",
        )
    )
    if call.status == OcppCall.Status.OFFLINE:
        return None
    if call.status == OcppCall.Status.ANSWERED and (call.response or {}).get("status") == "Accepted":
        deadline = time.monotonic() + settings.OCPP_CALL_TIMEOUT
        delay = 0.05
        done = Station.objects.filter(
            pk=station.pk, device_report_request_id=request_id, device_report_done_at__isnull=False
        )
        while not done.exists():
            if time.monotonic() > deadline:
                break
            beat()
            time.sleep(delay)
            delay = min(delay * 1.5, 0.5)
    reported: dict[str, dict] = {}
    rows = DeviceVariable.objects.filter(
        station=station, evse_number=-1, component_instance="", variable_instance=""
    )
    for row in rows:
        reported[f"{row.component}.{row.variable}".lower()] = {
            # A WriteOnly variable (BasicAuthPassword) reports no value; never compare against it.
            "value": "" if row.mutability == "WriteOnly" else row.value,
            "readonly": row.readonly,
        }
    return reported


def set_variable_payload(key: str, value: str) -> dict:
    component, variable = split_key(key)
    return {
        "setVariableData": [
            {
                "attributeType": "Actual",
                "attributeValue": value,
                "component": {"name": component},
                "variable": {"name": variable},
            }
        ]
    }


def answer_state(call: OcppCall) -> tuple[str, str]:
    """A SetVariables call's outcome for its single variable."""
    if call.status != OcppCall.Status.ANSWERED:
        meaning = call_meaning(call)
        state = Key.State.TIMED_OUT if call.status == OcppCall.Status.TIMED_OUT else Key.State.FAILED
        return state, (meaning.text[0].upper() + meaning.text[1:] + ".")[:300]
    results = (call.response or {}).get("setVariableResult") or []
    status = str(results[0].get("attributeStatus", "")) if results else ""
    state, reason = SET_VARIABLE_ANSWERS.get(status, (Key.State.FAILED, f"Unexpected answer {status!r}."))
    info = (results[0].get("attributeStatusInfo") or {}) if results else {}
    if info.get("reasonCode") and state != Key.State.ACCEPTED:
        reason = f"{reason} Station's reason: {info['reasonCode']}."
    return state, reason[:300]


def after_job(*, station: Station, requested_by) -> None:
    """B02.FR.01: a station held in Pending while it was configured may now be accepted: ask it to boot."""
    status = Station.objects.filter(pk=station.pk).values_list("boot_status", flat=True).first()
    if station.is_ocpp201 and status and status != ACCEPTED:
        calls.call_send(
            station=station,
            action="TriggerMessage",
            payload={"requestedMessage": "BootNotification"},
            requested_by=requested_by,
            source="auto_configuration",
        )
