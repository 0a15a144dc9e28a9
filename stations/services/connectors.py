"""Configure Connectors: the connector rules (one table for the form, the admin and the service), the derived
maximum power, and saving every connector of a station at once with EVSE ID autopick."""

import math
from decimal import Decimal

from django.db import transaction

from accounts.audit import audit_record
from stations.models import Connector, Station

from .evse_ids import evse_id_autopick
from .setup import station_setup_advance

Std = Connector.Standard
PT = Connector.PowerType
Fmt = Connector.Format

DC_STANDARDS = {Std.CCS2, Std.CCS1, Std.CHADEMO}
DOMESTIC = {Std.DOMESTIC_E, Std.DOMESTIC_F, Std.DOMESTIC_G}

# Power types, formats and limits per connector standard. Sources: IEC 62196-2 (Type 1, Type 2, Type 3C),
# IEC 62196-3 (CCS, CHAdeMO: DC, always a tethered cable), IEC 60884 / CEE 7 domestic sockets (16 A, 230 V).
# Type 2 is offered both ways: a socket (the driver brings the cable, "case B") or a fixed cable ("case C").
# Type 1 vehicle connectors only exist on a cable (there is no Type 1 socket-outlet) and are single phase.
STANDARD_RULES = {
    Std.TYPE2: {"power": {PT.AC_1_PHASE, PT.AC_3_PHASE}, "format": {Fmt.SOCKET, Fmt.CABLE}, "amps": 63},
    Std.TYPE1: {"power": {PT.AC_1_PHASE}, "format": {Fmt.CABLE}, "amps": 80},
    Std.TYPE3C: {"power": {PT.AC_1_PHASE, PT.AC_3_PHASE}, "format": {Fmt.SOCKET}, "amps": 63},
    Std.CCS2: {"power": {PT.DC}, "format": {Fmt.CABLE}, "amps": 500},
    Std.CCS1: {"power": {PT.DC}, "format": {Fmt.CABLE}, "amps": 500},
    Std.CHADEMO: {"power": {PT.DC}, "format": {Fmt.CABLE}, "amps": 400},
    **{d: {"power": {PT.AC_1_PHASE}, "format": {Fmt.SOCKET}, "amps": 16} for d in DOMESTIC},
}

# Voltage ranges per power type. AC 1-phase: phase-to-neutral. AC 3-phase: line-to-line (400 V in Europe),
# which is what the derived power √3 × V × A expects; 380-480 V so that a phase voltage (230 V) typed by mistake
# is caught rather than understating the power by √3. DC: the charger's maximum output voltage.
VOLTAGE_RANGE = {PT.AC_1_PHASE: (100, 250), PT.AC_3_PHASE: (380, 480), PT.DC: (50, 1000)}
MIN_AMPS = {PT.AC_1_PHASE: 6, PT.AC_3_PHASE: 6, PT.DC: 1}  # IEC 61851-1: AC charging needs at least 6 A


def connector_form_errors(data: dict) -> dict[str, str]:
    """connector_errors for a form's cleaned data (the portal's Configure Connectors and the admin's)."""
    return connector_errors(
        standard=data.get("standard"),
        format=data.get("format"),
        power_type=data.get("power_type"),
        voltage=data.get("max_voltage"),
        amperage=data.get("max_amperage"),
    )


def connector_errors(
    *,
    standard: str | None,
    format: str | None,
    power_type: str | None,
    voltage: int | None,
    amperage: int | None,
) -> dict[str, str]:
    """Field → message for a connector that breaks the rules above; empty when it is valid. Missing values
    are not reported here (required-ness is the caller's business)."""
    errors: dict[str, str] = {}
    rule = STANDARD_RULES.get(standard) if standard else None
    if rule and power_type and power_type not in rule["power"]:
        allowed = " or ".join(PT(p).label for p in sorted(rule["power"]))
        errors["power_type"] = f"{Std(standard).label} is {allowed} only."
    if rule and format and format not in rule["format"]:
        allowed = " or ".join(Fmt(f).label.lower() for f in sorted(rule["format"]))
        errors["format"] = f"{Std(standard).label} comes as a {allowed} only."
    if power_type == PT.DC and format == Fmt.SOCKET and "format" not in errors:
        errors["format"] = "DC chargers always have a fixed cable."
    if power_type in VOLTAGE_RANGE and voltage is not None:
        lo, hi = VOLTAGE_RANGE[power_type]
        if not lo <= voltage <= hi:
            hint = " (enter the line-to-line voltage, e.g. 400 V)" if power_type == PT.AC_3_PHASE else ""
            errors["max_voltage"] = f"For {PT(power_type).label} enter {lo}–{hi} V{hint}."
    if power_type in MIN_AMPS and amperage is not None:
        hi = rule["amps"] if rule else 1000
        if not MIN_AMPS[power_type] <= amperage <= hi:
            what = Std(standard).label if rule else PT(power_type).label
            errors["max_amperage"] = f"For {what} enter {MIN_AMPS[power_type]}–{hi} A."
    return errors


SQRT3 = Decimal(str(math.sqrt(3)))


def max_power_watts(power_type: str, voltage: int | None, amperage: int | None) -> int | None:
    """AC 1-phase: V x A (V phase-to-neutral). AC 3-phase: sqrt(3) x V x A with V the line-to-line voltage
    (400 V in Europe, so 400 V x 32 A = 22.2 kW). DC: V x A."""
    if not power_type or not voltage or not amperage:
        return None
    watts = Decimal(voltage) * Decimal(amperage)
    if power_type == Connector.PowerType.AC_3_PHASE:
        watts *= SQRT3
    return int(watts.quantize(Decimal("1")))


@transaction.atomic
def connectors_configure(*, station: Station, cleaned: list[dict], acting_user) -> list[Connector]:
    """Save every connector form at once, autopick EVSE IDs; Activation pending if the rest is done too."""
    fields = ["standard", "format", "power_type", "max_voltage", "max_amperage"]
    changes, saved = {}, []
    for data in cleaned:
        connector = Connector.objects.select_for_update().get(
            station=station, connector_id=data["connector_id"]
        )
        before = {f: getattr(connector, f) for f in fields}
        for f in fields:
            setattr(connector, f, data[f])
        connector.save(update_fields=fields)
        evse = evse_id_autopick(connector=connector)
        if evse is None:
            raise NoEvseIdAvailable()
        diff = {f: [before[f], getattr(connector, f)] for f in fields if before[f] != getattr(connector, f)}
        diff["evse_id"] = evse.evse_id
        changes[str(connector.connector_id)] = diff
        saved.append(connector)
    # Activation pending only after Auto Configuration and Reset too (issue 13: not on connectors alone).
    station_setup_advance(station_pk=station.pk)
    audit_record(
        actor=acting_user,
        action="station.connectors",
        obj=station,
        station=station,
        account=station.account,
        changes=changes,
    )
    return saved


class NoEvseIdAvailable(Exception):
    pass
