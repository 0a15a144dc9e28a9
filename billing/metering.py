"""Meter value normalisation (OCPP 1.6 §7.43 SampledValue, §7.31 Measurand, §7.45 UnitOfMeasure).
Pure: no Django. Takes the MeterValue dicts as the ocpp library hands them to the handlers (snake_case
keys, nested ones too) and returns rows with the value in a base unit (Wh, W, A, V, %, ...)."""

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from eflux.lib.ocpp_time import parse_ocpp_datetime

ENERGY_IMPORT_REGISTER = "Energy.Active.Import.Register"
POWER_IMPORT = "Power.Active.Import"
SOC = "SoC"

MAX_VALUE = Decimal(10) ** 15

# k-prefixed units scale by 1000 into their base unit; the rest are already base units.
_SCALE = {
    "kWh": ("Wh", 1000),
    "kvarh": ("varh", 1000),
    "kW": ("W", 1000),
    "kvar": ("var", 1000),
    "kVA": ("VA", 1000),
}

# §7.43: a sampledValue without fields is an Energy.Active.Import.Register reading in Wh. Other measurands
# sent without a unit get their natural unit.
_DEFAULT_UNIT = {
    "Current": "A",
    "Voltage": "V",
    "Power.Factor": "",
    "Power.Reactive": "var",
    "Power": "W",
    "Frequency": "Hz",
    "SoC": "Percent",
    "Temperature": "Celsius",
    "RPM": "",
    "Energy.Reactive": "varh",
    "Energy": "Wh",
}


@dataclass(frozen=True)
class Sample:
    timestamp: datetime
    measurand: str
    phase: str
    location: str
    context: str
    unit: str  # as reported (may be empty)
    format: str
    raw_value: str
    value: Decimal | None  # in the base unit, None when not numeric (SignedData, garbage)

    @property
    def is_energy_register(self) -> bool:
        # Phase-less reading only: a per-phase register is a component, not the session total.
        return self.measurand == ENERGY_IMPORT_REGISTER and not self.phase and self.value is not None

    @property
    def energy_wh(self) -> int | None:
        if not self.is_energy_register:
            return None
        return int(self.value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def default_unit(measurand: str) -> str:
    for prefix, unit in _DEFAULT_UNIT.items():
        if measurand.startswith(prefix):
            return unit
    return ""


def to_base_unit(raw: str, unit: str, measurand: str) -> Decimal | None:
    try:
        value = Decimal(str(raw).strip())
    except (InvalidOperation, ValueError):
        return None
    if not value.is_finite():
        return None
    unit = unit or default_unit(measurand)
    _, factor = _SCALE.get(unit, (unit, 1))
    value = value * factor
    # The column holds 16 integer digits and 4 decimals; a larger reading is garbage, kept raw only.
    if abs(value) >= MAX_VALUE:
        return None
    return value.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)


def parse_meter_values(meter_values: list, *, fallback_timestamp: datetime) -> tuple[list[Sample], list[str]]:
    """Flatten MeterValue[] into samples. Returns (samples, problems); a bad timestamp falls back to
    fallback_timestamp (the receive time) and is reported as a problem, never dropped."""
    samples: list[Sample] = []
    problems: list[str] = []
    for mv in meter_values or []:
        ts = parse_ocpp_datetime(mv.get("timestamp"), strict=False)
        if ts is None:
            problems.append("bad_meter_timestamp")
            ts = fallback_timestamp
        for sv in mv.get("sampled_value") or []:
            measurand = sv.get("measurand") or ENERGY_IMPORT_REGISTER
            fmt = sv.get("format") or "Raw"
            unit = sv.get("unit") or ""
            raw = str(sv.get("value", ""))
            value = None if fmt == "SignedData" else to_base_unit(raw, unit, measurand)
            if value is None and fmt != "SignedData":
                problems.append("bad_meter_value")
            # Lengths cut to the columns: the schema's enums normally guarantee them, but a stored odd value
            # beats a failed (and eventually dropped) transaction message.
            samples.append(
                Sample(
                    timestamp=ts,
                    measurand=str(measurand)[:48],
                    phase=str(sv.get("phase") or "")[:8],
                    location=str(sv.get("location") or "")[:8],
                    context=str(sv.get("context") or "")[:32],
                    unit=str(unit)[:16],
                    format=str(fmt)[:16],
                    raw_value=raw,
                    value=value,
                )
            )
    return samples, problems


def last_energy_wh(samples: list[Sample]) -> int | None:
    """The latest phase-less Energy.Active.Import.Register reading, in integer Wh."""
    best = None
    for s in samples:
        if s.is_energy_register and (best is None or s.timestamp >= best.timestamp):
            best = s
    return best.energy_wh if best else None
