"""Secrets never reach the journal: the AuthorizationKey value (OCPP-J 1.6 §6.4 / errata 3.12, the HTTP
Basic password) is masked wherever a {"key": "AuthorizationKey", "value": ...} pair appears: in
ChangeConfiguration.req and in GetConfiguration.conf (a charger may wrongly report the write-only key). OCPP 2.0.1:
SecurityCtrlr.BasicAuthPassword (A01, WriteOnly) wherever an attributeValue names that variable (SetVariables
data and results, GetVariables results, NotifyReport attributes)."""

import json
import re

MASK = "********"
SECRET_KEYS = {"authorizationkey"}
SECRET_VARIABLES = {"basicauthpassword"}
_SECRET_NAMES = tuple(SECRET_KEYS | SECRET_VARIABLES)


def mask(obj):
    if isinstance(obj, dict):
        out = {k: mask(v) for k, v in obj.items()}
        key = obj.get("key")
        if isinstance(key, str) and key.lower() in SECRET_KEYS and "value" in out:
            out["value"] = MASK
        variable = obj.get("variable")
        name = variable.get("name") if isinstance(variable, dict) else None
        if isinstance(name, str) and name.lower() in SECRET_VARIABLES:
            if "attributeValue" in out:
                out["attributeValue"] = MASK
            for attribute in out.get("variableAttribute") or []:
                if isinstance(attribute, dict) and "value" in attribute:
                    attribute["value"] = MASK
        return out
    if isinstance(obj, list):
        return [mask(v) for v in obj]
    return obj


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable(text: str) -> str:
    """Text any database column holds: U+0000 (PostgreSQL text cannot) and lone surrogates (not encodable as
    UTF-8) become their JSON escapes. In a JSON frame that is the same JSON; in a raw invalid frame it is
    the escape a reader of the journal recognises."""
    if text.isascii() and "\x00" not in text:
        return text
    return _UNSTORABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def mask_raw(text: str) -> str:
    # A frame that failed to parse cannot be masked field by field; keep it only if it cannot hold a secret.
    lowered = text.lower()
    if "authorizationkey" in lowered or "basicauthpassword" in lowered:
        return "<frame withheld: it mentions a password and could not be parsed>"
    return storable(text)


def dumps(frame) -> str:
    text = json.dumps(frame, separators=(",", ":"), ensure_ascii=False)
    # Walk the frame only when it can hold a secret's name: mask() compares key.lower() / name.lower(), and
    # lower() maps each character alike inside the whole text, so a frame whose lowered text lacks every
    # name has nothing to mask (walking every frame was ~1 % of a loaded process's CPU).
    lowered = text.lower()
    if any(name in lowered for name in _SECRET_NAMES):
        text = json.dumps(mask(frame), separators=(",", ":"), ensure_ascii=False)
    return storable(text)


def dumps_call(raw, message_id: str, action: str, payload) -> str:
    """The journal text of a CALL that parsed from `raw`: the station's own text when it holds no escape
    (so its characters are the parsed strings' characters: a secret's name cannot hide in one) and no
    secret's name, else the frame encoded again and masked (dumps). The same JSON either way; encoding a
    3-phase MeterValues again was ~40 us of a daphne process's CPU per frame."""
    if isinstance(raw, str) and "\\" not in raw:
        lowered = raw.lower()
        if not any(name in lowered for name in _SECRET_NAMES):
            return storable(raw)
    return dumps([2, message_id, action, payload])


# Card identifiers in a journal frame, for readers who may not see cards and sessions (Field Service Technicians):
# OCPP 1.6 idTag / parentIdTag (Authorize, Start/StopTransaction, RemoteStart, ReserveNow, SendLocalList) and
# 2.0.1 idToken.idToken. The stored payload is JSON text: the keys are matched exactly, the string value replaced.
_ID_TAG = re.compile(r'("(?:idTag|parentIdTag|idToken)"\s*:\s*)"(?:[^"\\]|\\.)*"')


def mask_id_tags(text: str) -> str:
    return _ID_TAG.sub(lambda m: f'{m.group(1)}"{MASK}"', text)
