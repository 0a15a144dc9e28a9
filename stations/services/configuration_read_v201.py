"""Reading a 2.0.1 station's configuration back with GetVariables (OCPP 2.0.1 part 2 B06), the counterpart of
1.6's GetConfiguration read-back (configuration_read.py stores the answers on the key rows the same way).

Keys are "Component.Variable" (configuration_v201.split_key). B06.FR.05: never more getVariableData in one
request than the station's ItemsPerMessageGetVariables (DeviceDataCtrlr.ItemsPerMessage, instance GetVariables,
from its NotifyReport); a station that did not report it is asked in chunks of DEFAULT_ITEMS. The write-only
BasicAuthPassword is never asked (B06.FR.09: it would be Rejected; its rows are is_secret)."""

from __future__ import annotations

from collections.abc import Callable

from stations.models import DeviceVariable, OcppCall

from .configuration_v201 import split_key

DEFAULT_ITEMS = 10  # a modest request when the station did not say how many it takes


def items_per_message(station_pk: int) -> int:
    """ItemsPerMessageGetVariables from the device model (part 2 §2.1.17), else DEFAULT_ITEMS. A station that
    reports ItemsPerMessage without the GetVariables instance (like the simulator) is taken at that value."""
    found = dict(
        DeviceVariable.objects.filter(
            station_id=station_pk,
            component="DeviceDataCtrlr",
            component_instance="",
            evse_number=-1,
            variable="ItemsPerMessage",
            variable_instance__in=["GetVariables", ""],
        ).values_list("variable_instance", "value")
    )
    for instance in ("GetVariables", ""):
        value = (found.get(instance) or "").strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    return DEFAULT_ITEMS


def get_variables_payloads(keys: list[str], per_message: int) -> list[dict]:
    """GetVariablesRequest payloads for the keys, at most per_message variables each (B06.FR.05)."""
    data = []
    for key in keys:
        component, variable = split_key(key)
        if component and variable:
            data.append({"component": {"name": component}, "variable": {"name": variable}})
    size = max(per_message, 1)
    return [{"getVariableData": data[i : i + size]} for i in range(0, len(data), size)]


def get_variables_read(
    *, station_pk: int, keys: list[str], send: Callable[[dict], OcppCall]
) -> tuple[dict[str, dict], set[str]] | None:
    """Ask for the keys with GetVariables and return ({"component.variable" (lower case): {"value"}}, the
    lower-case keys that were answered). Accepted results carry the value; UnknownComponent, UnknownVariable,
    NotSupportedAttributeType and Rejected are answered without one (B06.FR.06-09). A chunk that got no
    answer (offline, timed out, CALLERROR) leaves its keys unanswered. None: nothing was answered."""
    reported: dict[str, dict] = {}
    answered: set[str] = set()
    for payload in get_variables_payloads(keys, items_per_message(station_pk)):
        call = send(payload)
        if call.status != OcppCall.Status.ANSWERED or not isinstance(call.response, dict):
            if call.status == OcppCall.Status.OFFLINE:
                break  # the rest would not be answered either
            continue
        for result in call.response.get("getVariableResult") or []:
            component = (result.get("component") or {}).get("name", "")
            variable = (result.get("variable") or {}).get("name", "")
            key = f"{component}.{variable}".lower()
            answered.add(key)
            if result.get("attributeStatus") == "Accepted":
                # B06.FR.13: an attribute without a value is reported as an empty string.
                reported[key] = {"value": str(result.get("attributeValue") or "")}
    return (reported, answered) if answered else None
