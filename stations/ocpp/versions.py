"""Websocket subprotocol (OCPP-J 1.6 §3.1.2) → ChargePoint class. OCPP 2.0.1 plugs in here ("ocpp2.0.1")."""

from .v16 import ChargePointV16

CHARGE_POINT_CLASSES = {
    "ocpp1.6": ChargePointV16,
}


def choose_subprotocol(offered: list[str]) -> str | None:
    # The client lists its versions by preference (§3.1.2 example); take the first one we speak.
    for name in offered:
        if name in CHARGE_POINT_CLASSES:
            return name
    return None
