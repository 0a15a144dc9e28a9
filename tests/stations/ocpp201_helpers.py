"""A raw OCPP-J 2.0.1 client for frame-level tests (real websocket, exact frames), and a check that every frame
the CSMS sends validates against the 2.0.1 schemas of the `ocpp` library, date-time formats included."""

import json
import re
import uuid

from websockets.sync.client import connect

from stations.ocpp import validation as v

# RFC 3339 date-time, as the 2.0.1 schemas declare ("format": "date-time") and part 2 §2.1 requires in UTC.
DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
DATE_TIME_FIELDS = {"currentTime", "cacheExpiryDateTime", "timestamp", "retrieveDateTime", "startDateTime"}

BOOT = {
    "reason": "PowerUp",
    "chargingStation": {
        "vendorName": "Elinta Charge Solutions GmbH",
        "model": "CityCharge Mini 2",
        "serialNumber": "ELI-201-0001",
        "firmwareVersion": "2.4.1",
        "modem": {"iccid": "8931081234567890123", "imsi": "204081234567890"},
    },
}


def _check_date_times(payload) -> None:
    if isinstance(payload, dict):
        for key, value in payload.items():
            if key in DATE_TIME_FIELDS:
                assert isinstance(value, str) and DATE_TIME.match(value), f"{key}={value!r} is no date-time"
            _check_date_times(value)
    elif isinstance(payload, list):
        for item in payload:
            _check_date_times(item)


class RawStation201:
    """Sends exact frames; every CALL and CALLRESULT the CSMS sends is validated against the 2.0.1 schema.
    CSMS-initiated calls are answered by `answers` (action -> payload) or, when missing, CALLERROR
    NotSupported, so they never block a test."""

    def __init__(self, server, ocpp_id: str, *, subprotocols=("ocpp2.0.1",), headers=None, answers=None):
        self.ws = connect(
            f"{server.ws_url}/ocpp/{ocpp_id}",
            subprotocols=list(subprotocols),
            additional_headers=headers,
            open_timeout=20,
        )
        self.answers = answers or {}
        self.received_calls: list[list] = []
        self._pending: dict[str, str] = {}

    def send_raw(self, text: str) -> None:
        self.ws.send(text)

    def next_answer(self, message_id: str, timeout: float = 30) -> list:
        while True:
            frame = json.loads(self.ws.recv(timeout=timeout))
            if frame[0] == 2:
                v.validate("2.0.1", v.CALL, frame[2], frame[3])
                _check_date_times(frame[3])
                self.received_calls.append(frame)
                answer = self.answers.get(frame[2])
                if answer is None:
                    self.ws.send(json.dumps([4, frame[1], "NotSupported", "test client", {}]))
                else:
                    self.ws.send(json.dumps([3, frame[1], answer]))
                continue
            if frame[1] == message_id:
                return frame

    def call(self, action: str, payload: dict, message_id: str | None = None) -> list:
        message_id = message_id or uuid.uuid4().hex[:20]
        self.ws.send(json.dumps([2, message_id, action, payload]))
        frame = self.next_answer(message_id)
        if frame[0] == 3:
            v.validate("2.0.1", v.CALLRESULT, action, frame[2])
            _check_date_times(frame[2])
        return frame

    def result(self, action: str, payload: dict, message_id: str | None = None) -> dict:
        frame = self.call(action, payload, message_id)
        assert frame[0] == 3, f"expected CALLRESULT for {action}, got {frame}"
        return frame[2]

    def boot(self, **overrides) -> dict:
        return self.result("BootNotification", {**BOOT, **overrides})

    def close(self) -> None:
        self.ws.close()
