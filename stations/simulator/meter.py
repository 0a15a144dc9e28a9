"""The simulated charger's meter: one energy register per connector that moves with wall time while a
transaction runs, and the readings it gives for a list of measurands (a configuration key's value).

What it measures does not depend on the OCPP version; a reading is shaped as an OCPP 1.6 SampledValue
(value a string, format Raw, unit), the form the 1.6 MeterValues and StopTransaction messages carry."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol

from ocpp.v16.enums import Measurand, Phase

MEASURANDS = frozenset(m.value for m in Measurand)
PHASES = frozenset(p.value for p in Phase)


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class Metered(Protocol):
    """What the meter reads and moves on a connector."""

    meter_wh: float  # the energy register, never reset
    power_w: float  # charging power while a transaction runs
    soc: float
    last_sample_at: float  # time.monotonic() of the last advance
    transaction_id: int | str | None  # the meter moves only while there is one


def advance_meter(connector: Metered) -> None:
    now = time.monotonic()
    if connector.transaction_id is not None and connector.last_sample_at:
        hours = (now - connector.last_sample_at) / 3600
        connector.meter_wh += connector.power_w * hours
        connector.soc = min(100.0, connector.soc + connector.power_w * hours / 600)  # a 60 kWh battery
    connector.last_sample_at = now


def meter_sample(connector: Metered, measurands: list[str], *, context: str) -> dict:
    """One MeterValue (timestamp, sampledValue) with a reading for each item of `measurands`, which are
    measurand names, optionally with a phase ("Voltage.L1")."""
    charging = connector.transaction_id is not None or context == "Transaction.End"
    power = connector.power_w if charging and context != "Transaction.End" else 0.0
    current = power / (3 * 230.0)
    values = []
    for item in measurands:
        measurand, _, phase = item.rpartition(".")
        if phase not in PHASES:
            measurand, phase = item, ""
        base = {"context": context, "measurand": measurand, "format": "Raw"}
        if measurand == Measurand.energy_active_import_register:
            values.append({**base, "value": str(int(connector.meter_wh)), "unit": "Wh", "location": "Outlet"})
        elif measurand == Measurand.power_active_import:
            values.append({**base, "value": f"{power:.0f}", "unit": "W", "location": "Outlet"})
        elif measurand == Measurand.current_import:
            values += [
                {**base, "value": f"{current:.1f}", "unit": "A", "phase": p, "location": "Outlet"}
                for p in ([phase] if phase else ["L1", "L2", "L3"])
            ]
        elif measurand == Measurand.voltage:
            values += [
                {**base, "value": "230.0", "unit": "V", "phase": p, "location": "Outlet"}
                for p in ([phase] if phase else ["L1-N", "L2-N", "L3-N"])
            ]
        elif measurand == Measurand.soc and charging:
            values.append({**base, "value": f"{connector.soc:.0f}", "unit": "Percent", "location": "EV"})
        elif measurand == Measurand.frequency:
            values.append({**base, "value": "50.0"})
        elif measurand == Measurand.temperature:
            values.append({**base, "value": "31.5", "unit": "Celsius", "location": "Body"})
    return {"timestamp": utc_now(), "sampledValue": values}
