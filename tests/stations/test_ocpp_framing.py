"""Table-driven tests of the Django-free OCPP-J framing, validation and masking helpers."""

import json

import pytest

from stations.ocpp import framing, masking
from stations.ocpp import validation as v


@pytest.mark.parametrize(
    "text, kind, message_id",
    [
        ('[2, "a", "Heartbeat", {}', v.FORMATION, "-1"),
        ('[2, "a", "Heartbeat", {"x": NaN}]', v.FORMATION, "-1"),
        ('[2, "a", "Heartbeat", {"x": 1, "x": 2}]', v.FORMATION, "-1"),
        ('{"a": 1}', v.FORMATION, "-1"),
        ("[]", v.PROTOCOL, "-1"),
        ('[2, "a", "Heartbeat"]', v.PROTOCOL, "a"),
        ('[3, "a"]', v.PROTOCOL, "a"),
        ('[4, "a", "GenericError", ""]', v.PROTOCOL, "a"),
        ('[2, "a", "Heartbeat", {}, 1]', v.FORMATION, "a"),
        ('[9, "a", "Heartbeat", {}]', v.PROPERTY, "a"),
        ('[2.0, "a", "Heartbeat", {}]', v.TYPE, "a"),
        ('[true, "a", "Heartbeat", {}]', v.TYPE, "a"),
        ('[2, "", "Heartbeat", {}]', v.PROPERTY, "-1"),
        ('[2, "' + "x" * 37 + '", "Heartbeat", {}]', v.TYPE, "x" * 37),
    ],
)
def test_it_rejects_broken_frames_with_the_right_kind_and_id(text, kind, message_id):
    with pytest.raises(framing.FrameInvalid) as e:
        framing.parse(text)
    assert (e.value.kind, e.value.message_id) == (kind, message_id)


def test_it_accepts_a_36_character_id_and_nested_duplicate_free_payloads():
    frame = framing.parse('[2, "' + "x" * 36 + '", "DataTransfer", {"vendorId": "v", "data": "{\\"a\\":1}"}]')
    assert (frame.message_type, frame.action, frame.payload["vendorId"]) == (2, "DataTransfer", "v")


@pytest.mark.parametrize(
    "action, payload, kind",
    [
        ("BootNotification", {"chargePointVendor": "v"}, v.OCCURRENCE),
        ("BootNotification", {"chargePointVendor": "v" * 21, "chargePointModel": "m"}, v.TYPE),
        ("StatusNotification", {"connectorId": "1", "errorCode": "NoError", "status": "Available"}, v.TYPE),
        ("StatusNotification", {"connectorId": 1, "errorCode": "Oops", "status": "Available"}, v.PROPERTY),
        ("Heartbeat", {"extra": 1}, v.FORMATION),
        ("FlyToTheMoon", {}, v.NOT_IMPLEMENTED),
    ],
)
def test_schema_violations_map_to_ocpp_error_kinds(action, payload, kind):
    with pytest.raises(v.PayloadInvalid) as e:
        v.validate("1.6", v.CALL, action, payload)
    assert e.value.kind == kind


def test_decimal_schemas_accept_one_decimal_limits_like_the_library():
    profile = {
        "chargingProfileId": 1,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": {
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 21.4}],
        },
    }
    v.validate("1.6", v.CALL, "RemoteStartTransaction", {"idTag": "CARD", "chargingProfile": profile})
    # A binary-float multipleOf check would refuse 21.4 above; one more decimal really is off the 0.1 grid.
    profile["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"] = 21.45
    with pytest.raises(v.PayloadInvalid) as e:
        v.validate("1.6", v.CALL, "RemoteStartTransaction", {"idTag": "CARD", "chargingProfile": profile})
    assert e.value.kind == v.TYPE


@pytest.mark.parametrize(
    "obj, expected",
    [
        ({"key": "AuthorizationKey", "value": "s3cret"}, {"key": "AuthorizationKey", "value": masking.MASK}),
        ({"key": "authorizationkey", "value": "s3cret"}, {"key": "authorizationkey", "value": masking.MASK}),
        (
            [3, "m", {"configurationKey": [{"key": "AuthorizationKey", "readonly": False, "value": "s"}]}],
            [
                3,
                "m",
                {"configurationKey": [{"key": "AuthorizationKey", "readonly": False, "value": masking.MASK}]},
            ],
        ),
        ({"key": "HeartbeatInterval", "value": "300"}, {"key": "HeartbeatInterval", "value": "300"}),
    ],
)
def test_it_masks_authorization_key_values(obj, expected):
    assert masking.mask(obj) == expected
    # What the journal stores: the same masking (dumps skips the walk only when nothing can match).
    assert json.loads(masking.dumps(obj)) == expected


def test_the_journal_text_masks_a_key_spelled_with_a_kelvin_sign():
    # "\u212a".lower() == "k": mask() matches it, so the shortcut in dumps() must not skip it.
    frame = [2, "m", "ChangeConfiguration", {"key": "Authorization\u212aey", "value": "s3cret"}]
    assert "s3cret" not in masking.dumps(frame)


def test_the_journal_text_masks_the_201_basic_auth_password():
    # OCPP 2.0.1 A01: SetVariables SecurityCtrlr.BasicAuthPassword; the dumps() shortcut must know that name too.
    frame = [
        2,
        "m",
        "SetVariables",
        {
            "setVariableData": [
                {
                    "attributeValue": "s3cret-password-0123",
                    "component": {"name": "SecurityCtrlr"},
                    "variable": {"name": "BasicAuthPassword"},
                }
            ]
        },
    ]
    text = masking.dumps(frame)
    assert "s3cret-password-0123" not in text and masking.MASK in text


@pytest.mark.parametrize(
    "raw",
    [
        '[2, "m", "DataTransfer", {"vendorId": "v", "data": "{\\"key\\": \\"AuthorizationKey\\", \\"value\\": 1}"}]',
        '[2,"m","DataTransfer",{"vendorId":"v","data":"x","messageId":"AuthorizationKey"}]',
        '[2,"m","ChangeConfiguration",{"key":"Authorization\\u004bey","value":"s3cret"}]',
        '[2,"m","ChangeConfiguration",{"key":"Authorization\u212aey","value":"s3cret"}]',
        '[2,"m","ChangeConfiguration",{"key":"AUTHORIZATIONKEY","value":"s3cret"}]',
    ],
)
def test_a_call_that_could_hold_a_secret_is_journaled_as_the_masked_frame(raw):
    # The station's own text is kept only without escapes and without a secret's name in any spelling;
    # otherwise the text is the parsed frame encoded again, masked where mask() finds a secret.
    frame = framing.parse(raw)
    text = masking.dumps_call(raw, frame.message_id, frame.action, frame.payload)
    assert text == masking.dumps([2, frame.message_id, frame.action, frame.payload])
    assert "s3cret" not in text


def test_a_call_without_escapes_or_secrets_is_journaled_as_the_stations_own_text():
    raw = (
        '[2, "m-1", "MeterValues", {"connectorId": 1, "meterValue": [{"timestamp": "2026-12-01T20:00:00Z", '
        '"sampledValue": [{"value": "1.50E+3", "unit": "Wh"}]}]}]'
    )
    frame = framing.parse(raw)
    text = masking.dumps_call(raw, frame.message_id, frame.action, frame.payload)
    assert text == raw  # the station's spelling (spaces, 1.50E+3) kept: the same JSON
    assert json.loads(text) == [2, "m-1", "MeterValues", frame.payload]
