"""Websocket subprotocol (OCPP-J 1.6 §3.1.2, OCPP-J 2.0.1 part 4 §3.1.2) → ChargePoint class."""

from .v16 import ChargePointV16
from .v201 import ChargePointV201

CHARGE_POINT_CLASSES = {
    "ocpp2.0.1": ChargePointV201,
    "ocpp1.6": ChargePointV16,
}
# Our preference when a station offers both (part 4 §3.2: the server picks one of the offered subprotocols):
# the newer protocol, whatever order the station listed them in.
PREFERENCE = ("ocpp2.0.1", "ocpp1.6")


def choose_subprotocol(offered: list[str]) -> str | None:
    for name in PREFERENCE:
        if name in offered:
            return name
    return None


def version_of(subprotocol: str) -> str:
    """ "ocpp2.0.1" -> "2.0.1": the schema directory (stations/ocpp/validation.py) and the profile version."""
    return (subprotocol or "ocpp1.6").removeprefix("ocpp")
