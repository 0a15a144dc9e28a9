"""Strict OCPP-J RPC framing (OCPP-J 1.6 §4): parse one websocket text frame into a message.

Stricter than `ocpp.messages.unpack`: NaN/Infinity and duplicate object keys are not JSON (RFC 8259 §6,
§4 "names SHOULD be unique"; a duplicate would let two readers see two different payloads), message ids are
strings of at most 36 characters (§4.1.4, errata 3.7), and every envelope problem is reported with the
message id when it can be read, "-1" when it cannot (the convention OCPP-J 2.0.1 §4.2.3 made explicit)."""

import json
import re
from dataclasses import dataclass

from . import validation as v

MAX_MESSAGE_ID = 36
UNKNOWN_ID = "-1"


@dataclass
class Frame:
    message_type: int
    message_id: str
    action: str = ""  # CALL only
    payload: object = None  # CALL / CALLRESULT payload
    error_code: str = ""  # CALLERROR only
    error_description: str = ""
    error_details: object = None


class FrameInvalid(Exception):
    """`kind` is the OCPP-J 1.6 classification. `envelope` says the RPC wrapper itself is broken (not the payload):
    OCPP-J 2.0.1 part 4 §4.3 answers those RpcFrameworkError (MessageTypeNotSupported for an unknown
    MessageTypeId, §4.1.3), whatever 1.6 calls them."""

    def __init__(
        self,
        kind: str,
        description: str,
        message_id: str = UNKNOWN_ID,
        message_type: int = 0,
        *,
        envelope: bool = True,
    ):
        super().__init__(description)
        self.kind, self.description = kind, description
        self.message_id, self.message_type = message_id, message_type
        self.envelope = envelope


def _no_constant(name):
    raise ValueError(f"{name} is not valid JSON")


def _no_duplicates(pairs):
    obj = {}
    for key, value in pairs:
        if key in obj:
            raise ValueError(f"duplicate key {key!r}")
        obj[key] = value
    return obj


_decoder = json.JSONDecoder(parse_constant=_no_constant, object_pairs_hook=_no_duplicates)


def loads_strict(text: str):
    return _decoder.decode(text)


# The deepest OCPP 1.6 message (SetChargingProfile inside RemoteStartTransaction) nests 6 levels. A frame
# nested hundreds deep is still JSON, but every recursive walk after parsing (masking, case conversion,
# validation) would hit Python's recursion limit.
MAX_DEPTH = 32


_SURROGATE = re.compile("[\ud800-\udfff]")


def _walk(obj) -> tuple[bool, str]:
    """One pass over the parsed message: (nested too deep, the first problem with a string or "").

    A JSON escape of a lone UTF-16 surrogate ("\\ud800") parses into a string that is not Unicode text: it
    cannot be encoded as UTF-8 (RFC 8259 §8.1 requires UTF-8 between systems; §8.2 leaves such strings'
    meaning undefined), so no database column holds it. U+0000 is valid JSON but no field of OCPP carries it
    and PostgreSQL text cannot store it. Checked once here, so nothing downstream meets either."""
    stack = [(obj, 1)]
    problem = ""
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            return True, problem
        if isinstance(node, dict):
            for key, child in node.items():
                problem = problem or _string_problem(key)
                if isinstance(child, dict | list):
                    stack.append((child, depth + 1))
                elif isinstance(child, str):
                    problem = problem or _string_problem(child)
        elif isinstance(node, list):
            for child in node:
                if isinstance(child, dict | list):
                    stack.append((child, depth + 1))
                elif isinstance(child, str):
                    problem = problem or _string_problem(child)
    return False, problem


def _string_problem(s: str) -> str:
    if s.isascii():
        return "a string holds U+0000" if "\x00" in s else ""
    if _SURROGATE.search(s):
        return "a string holds a lone UTF-16 surrogate (not Unicode text)"
    return "a string holds U+0000" if "\x00" in s else ""


def parse(text: str) -> Frame:
    try:
        msg = loads_strict(text)
    except (ValueError, RecursionError) as e:
        raise FrameInvalid(v.FORMATION, f"not valid JSON: {e}") from None
    # The walk can only find something when the text has a \u escape (the only way a lone surrogate or U+0000
    # gets into a parsed string: the decoder refuses raw control characters) or more brackets than MAX_DEPTH;
    # most frames have neither, and the walk was ~a quarter of our own per-frame CPU.
    if "\\u" in text or text.count("[") + text.count("{") > MAX_DEPTH:
        too_deep, string_problem = _walk(msg)
    else:
        too_deep, string_problem = False, ""
    if too_deep:
        raise FrameInvalid(v.FORMATION, f"nested deeper than {MAX_DEPTH} levels")
    if not isinstance(msg, list):
        raise FrameInvalid(v.FORMATION, "an OCPP-J message is a JSON array")
    if not msg:
        raise FrameInvalid(v.PROTOCOL, "empty array: no MessageTypeId")
    message_type = msg[0]
    message_id = msg[1] if len(msg) > 1 and isinstance(msg[1], str) else UNKNOWN_ID
    if type(message_type) is not int:
        raise FrameInvalid(v.TYPE, "MessageTypeId must be an integer", message_id)
    if message_type not in (2, 3, 4):
        raise FrameInvalid(v.PROPERTY, f"MessageTypeId {message_type} is not 2, 3 or 4", message_id)
    expected = {2: 4, 3: 3, 4: 5}[message_type]
    if len(msg) < expected:
        raise FrameInvalid(
            v.PROTOCOL, f"message has {len(msg)} of {expected} elements", message_id, message_type
        )
    if len(msg) > expected:
        raise FrameInvalid(
            v.FORMATION, f"message has {len(msg)} elements, expected {expected}", message_id, message_type
        )
    if not isinstance(msg[1], str):
        raise FrameInvalid(v.TYPE, "UniqueId must be a string", UNKNOWN_ID, message_type)
    if not msg[1]:
        raise FrameInvalid(v.PROPERTY, "UniqueId must not be empty", UNKNOWN_ID, message_type)
    if len(msg[1]) > MAX_MESSAGE_ID:
        # Echo the id anyway: it is the only way the sender can match the error to its request.
        raise FrameInvalid(v.TYPE, f"UniqueId longer than {MAX_MESSAGE_ID} characters", msg[1], message_type)
    if string_problem:
        # OCPP-J 1.6 §4.2.3 FormationViolation: "Payload for Action is syntactically incorrect".
        raise FrameInvalid(v.FORMATION, string_problem, msg[1], message_type, envelope=False)
    if message_type == 2:
        if not isinstance(msg[2], str) or not msg[2]:
            raise FrameInvalid(v.TYPE, "Action must be a non-empty string", message_id, message_type)
        return Frame(2, message_id, action=msg[2], payload=msg[3])
    if message_type == 3:
        return Frame(3, message_id, payload=msg[2])
    if not isinstance(msg[2], str) or not isinstance(msg[3], str):
        raise FrameInvalid(v.TYPE, "ErrorCode and ErrorDescription must be strings", message_id, message_type)
    return Frame(4, message_id, error_code=msg[2], error_description=msg[3], error_details=msg[4])
