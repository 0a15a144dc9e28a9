"""Payload validation against the `ocpp` library's own JSON schemas, compiled once with fastjsonschema.

Same schemas and the same semantics as the library's jsonschema Draft4Validator (formats are not checked,
as the library does not check them), at ~13 us instead of ~400 us per MeterValues (docs/benchmarks.md). The three
1.6 messages whose schemas use `multipleOf: 0.1` keep the library's Decimal-based jsonschema path, since
binary floats make `21.4` fail a float multipleOf check.

Errors come out as version-neutral *kinds*; each ChargePoint class maps a kind to the error code its OCPP
version spells (1.6: FormationViolation, OccurenceConstraintViolation, ...)."""

import decimal
import json
from functools import cache
from pathlib import Path

import fastjsonschema
import ocpp
from jsonschema import Draft4Validator
from jsonschema.exceptions import ValidationError as SchemaValidationError

SCHEMA_ROOT = Path(ocpp.__file__).resolve().parent

CALL, CALLRESULT = 2, 3

# Error kinds (OCPP-J 1.6 §4.2.3 table, names neutral; see ChargePoint.ERRORS for the spelling).
FORMATION = "formation"  # syntactically incorrect / not the PDU structure
PROTOCOL = "protocol"  # incomplete
PROPERTY = "property"  # a field holds an invalid value
OCCURRENCE = "occurrence"  # a field is missing or repeated too often
TYPE = "type"  # a field has the wrong data type (or length, which is part of the 1.6 type, e.g. CiString20)
NOT_IMPLEMENTED = "not_implemented"
# OCPP-J 2.0.1 part 4 §4.3 only: the RPC wrapper is unreadable, the MessageTypeId is unknown, a security rule.
RPC_FRAMEWORK = "rpc_framework"
MESSAGE_TYPE = "message_type"
SECURITY = "security"
NOT_SUPPORTED = "not_supported"
INTERNAL = "internal"

# JSON-schema keyword that failed → error kind. Keyed by object: either library may name no keyword (None,
# jsonschema's Unset), which falls back to FORMATION.
_RULE_KIND: dict[object, str] = {
    "type": TYPE,
    "maxLength": TYPE,
    "minLength": TYPE,
    "multipleOf": TYPE,
    "format": TYPE,
    "required": OCCURRENCE,
    "minItems": OCCURRENCE,
    "maxItems": OCCURRENCE,
    "uniqueItems": OCCURRENCE,
    "enum": PROPERTY,
    "minimum": PROPERTY,
    "maximum": PROPERTY,
    "exclusiveMinimum": PROPERTY,
    "exclusiveMaximum": PROPERTY,
    "pattern": PROPERTY,
    "additionalProperties": FORMATION,
}

_DECIMAL_SCHEMAS = {
    ("1.6", CALL, "SetChargingProfile"),
    ("1.6", CALL, "RemoteStartTransaction"),
    ("1.6", CALLRESULT, "GetCompositeSchedule"),
}


class PayloadInvalid(Exception):
    def __init__(self, kind: str, description: str):
        super().__init__(description)
        self.kind, self.description = kind, description


def schema_file(version: str, message_type: int, action: str) -> Path:
    name = action
    if message_type == CALLRESULT:
        name += "Response"
    elif version != "1.6":
        name += "Request"
    return SCHEMA_ROOT / f"v{version.replace('.', '')}" / "schemas" / f"{name}.json"


def has_schema(version: str, action: str) -> bool:
    return schema_file(version, CALL, action).is_file()


@cache
def _compiled(version: str, message_type: int, action: str):
    path = schema_file(version, message_type, action)
    text = path.read_text(encoding="utf-8-sig")
    if (version, message_type, action) in _DECIMAL_SCHEMAS:
        return "decimal", Draft4Validator(json.loads(text, parse_float=decimal.Decimal))
    return "fast", fastjsonschema.compile(json.loads(text), use_formats=False)


def validate(version: str, message_type: int, action: str, payload) -> None:
    """Raise PayloadInvalid if `payload` does not match the schema of `action` (CALL or CALLRESULT)."""
    try:
        how, validator = _compiled(version, message_type, action)
    except FileNotFoundError:
        raise PayloadInvalid(NOT_IMPLEMENTED, f"no schema for {action}") from None
    if how == "fast":
        try:
            validator(payload)
        except fastjsonschema.JsonSchemaValueException as e:
            raise PayloadInvalid(_RULE_KIND.get(e.rule, FORMATION), e.message) from None
        return
    try:
        validator.validate(json.loads(json.dumps(payload), parse_float=decimal.Decimal))
    except SchemaValidationError as e:
        raise PayloadInvalid(_RULE_KIND.get(e.validator, FORMATION), e.message) from None
