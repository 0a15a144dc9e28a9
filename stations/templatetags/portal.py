from decimal import Decimal

from django import template

from stations.services import connectors

register = template.Library()


@register.filter
def max_power_kw(connector) -> str:
    """Derived maximum power of a configured connector (see stations.connectors.max_power_watts)."""
    watts = connectors.max_power_watts(connector.power_type, connector.max_voltage, connector.max_amperage)
    return "—" if watts is None else f"{(Decimal(watts) / 1000).quantize(Decimal('0.1'))} kW"


# Audit values that are plain lists, not [before, after] pairs.
LIST_VALUES = {"keys"}


@register.filter
def audit_lines(data) -> list[str]:
    """An audit event's changes or result as short lines: 'field: before → after' or 'key: value'."""
    lines: list[str] = []

    def text(value) -> str:
        if value in (None, "", []):
            return "—"
        return ", ".join(str(v) for v in value) if isinstance(value, list) else str(value)

    def walk(name: str, value) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{name}.{k}" if name else str(k), v)
        elif isinstance(value, list) and len(value) == 2 and name.split(".")[-1] not in LIST_VALUES:
            lines.append(f"{name}: {text(value[0])} → {text(value[1])}")
        else:
            lines.append(f"{name}: {text(value)}")

    walk("", data or {})
    return lines
