"""stations.ocpp.case converts exactly as the `ocpp` library does, for every property name in the library's
OCPP 1.6 and 2.0.1 schemas, both directions, nested."""

import json
from pathlib import Path

import ocpp
import pytest
from ocpp.charge_point import camel_to_snake_case, snake_to_camel_case

from stations.ocpp import case

SCHEMAS = Path(ocpp.__file__).parent


def _names(node, out: set):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "properties" and isinstance(value, dict):
                out.update(value)
            _names(value, out)
    elif isinstance(node, list):
        for value in node:
            _names(value, out)
    return out


NAMES = sorted(
    set().union(*(_names(json.loads(p.read_text()), set()) for p in SCHEMAS.glob("v*/schemas/*.json")))
)


def test_the_schemas_give_hundreds_of_names():
    assert len(NAMES) > 300 and "meterValue" in NAMES and "stateOfCharge" in NAMES


@pytest.mark.parametrize("name", NAMES)
def test_each_schema_name_converts_as_the_library_converts_it(name):
    assert case.to_snake({name: 1}) == camel_to_snake_case({name: 1})
    snake = next(iter(camel_to_snake_case({name: 1})))
    assert case.to_camel({snake: 1}) == snake_to_camel_case({snake: 1})


def test_nested_payloads_convert_as_the_library_converts_them():
    payload = {
        "connectorId": 1,
        "transactionId": 7,
        "meterValue": [
            {
                "timestamp": "2026-12-01T10:00:00Z",
                "sampledValue": [
                    {"value": "1.5", "measurand": "Current.Import", "phase": "L1", "unit": "A"},
                    {"value": "80", "measurand": "SoC", "unit": "Percent"},
                ],
            }
        ],
        "idTagInfo": {"status": "Accepted", "parentIdTag": "P"},
    }
    assert case.to_snake(payload) == camel_to_snake_case(payload)
    snake = camel_to_snake_case(payload)
    assert case.to_camel(snake) == snake_to_camel_case(snake)
