"""A raw OCPP-J client for frame-level tests: real websocket, exact frames, no simulator logic."""

import asyncio
import base64
import json
import threading
from pathlib import Path

import websockets

from tests.waiting import wait_for

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "ocpp"


def fixture_frames(name: str) -> list:
    return json.loads((FIXTURES / name).read_text())


def basic_auth(user: str, password: str) -> dict:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


async def connect(server, ocpp_id: str, *, subprotocols=("ocpp1.6",), headers=None, **kw):
    return await websockets.connect(
        f"{server.ws_url}/ocpp/{ocpp_id}",
        subprotocols=list(subprotocols) if subprotocols else None,
        additional_headers=headers,
        open_timeout=20,
        **kw,
    )


async def exchange(ws, frame, timeout: float = 20):
    """Send a frame (list → JSON, str → as is) and return the next frame parsed."""
    await ws.send(frame if isinstance(frame, str) else json.dumps(frame))
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def handshake(server, ocpp_id: str, password: str | None = None, *, subprotocols=("ocpp1.6",)):
    """Connect (with HTTP Basic when `password` is given) and send a Heartbeat: True if answered, else the
    HTTP status the handshake was refused with."""
    headers = basic_auth(ocpp_id, password) if password else None
    try:
        async with await connect(server, ocpp_id, headers=headers, subprotocols=subprotocols) as ws:
            return await heartbeat_ok(ws)
    except websockets.InvalidStatus as refused:
        return refused.response.status_code


async def heartbeat_ok(ws, message_id: str = "hb-after") -> bool:
    answer = await exchange(ws, [2, message_id, "Heartbeat", {}])
    return answer[0] == 3 and answer[1] == message_id and "currentTime" in answer[2]


BOOT = {
    "chargePointVendor": "Alfen BV",
    "chargePointModel": "NG920-60503",
    "chargePointSerialNumber": "ACE0012345",
    "chargeBoxSerialNumber": "BOX-77",
    "firmwareVersion": "5.8.1-4123",
    "iccid": "8931081234567890123",
    "imsi": "204081234567890",
    "meterType": "Carlo Gavazzi EM340",
    "meterSerialNumber": "MTR-42",
}


DEFAULT_ANSWERS = {
    "GetConfiguration": {
        "configurationKey": [
            {"key": "HeartbeatInterval", "readonly": False, "value": "300"},
            {
                "key": "AuthorizationKey",
                "readonly": False,
                "value": "deadbeefdeadbeefdeadbeefdeadbeefdeadbeef",
            },
        ],
        "unknownKey": [],
    },
    "UnlockConnector": {"status": "Unlocked"},
    "GetDiagnostics": {"fileName": "diagnostics.zip"},
    "UpdateFirmware": {},
}


class ScriptedStation:
    """A charger on its own thread and loop that answers CSMS calls: at once with a valid default answer,
    or held until the test releases it, or never (actions in `never_answer`), or with a CALLERROR."""

    def __init__(self, server, ocpp_id, *, never_answer=(), hold=(), errors=None, headers=None):
        self.server, self.ocpp_id = server, ocpp_id
        self.never_answer, self.hold = set(never_answer), set(hold)
        self.errors = errors or {}
        self.headers = headers
        self.received: list = []  # CALL frames from the CSMS, in arrival order
        # ("received" | "answered", action) in the order they happened: shows whether a CALL arrived while
        # an earlier one was still unanswered (OCPP-J 1.6 §4.1.1).
        self.events: list[tuple[str, str]] = []
        self.held: dict[str, list] = {}
        self.connected = threading.Event()
        self.closed = threading.Event()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._run(), self.loop)
        if not self.connected.wait(30):
            raise AssertionError(f"{self.ocpp_id} did not connect")
        return self

    def __exit__(self, *exc):
        asyncio.run_coroutine_threadsafe(self.ws.close(), self.loop).result(10)
        self.closed.wait(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    async def _run(self):
        self.ws = await connect(self.server, self.ocpp_id, headers=self.headers)
        self._pending_answers: dict[str, asyncio.Future] = {}
        self.connected.set()
        try:
            async for raw in self.ws:
                frame = json.loads(raw)
                if frame[0] == 2:
                    self.received.append(frame)
                    action = frame[2]
                    self.events.append(("received", action))
                    if action in self.never_answer:
                        continue
                    if action in self.hold:
                        self.held[frame[1]] = frame
                        continue
                    await self._answer(frame)
                else:
                    future = self._pending_answers.pop(frame[1], None)
                    if future:
                        future.set_result(frame)
        except websockets.ConnectionClosed:
            pass
        finally:
            self.closed.set()

    async def _answer(self, frame):
        action = frame[2]
        # Recorded before it leaves: whatever the CSMS sends because of this answer comes after it.
        self.events.append(("answered", action))
        if action in self.errors:
            code, description = self.errors[action]
            await self.ws.send(json.dumps([4, frame[1], code, description, {}]))
        else:
            await self.ws.send(json.dumps([3, frame[1], DEFAULT_ANSWERS.get(action, {"status": "Accepted"})]))

    def release(self, message_id: str):
        asyncio.run_coroutine_threadsafe(self._answer(self.held.pop(message_id)), self.loop).result(10)

    def request(self, frame: list) -> list:
        """Send a CALL as the station and return the CSMS answer."""

        async def go():
            future = self.loop.create_future()
            self._pending_answers[frame[1]] = future
            await self.ws.send(json.dumps(frame))
            return await asyncio.wait_for(future, 20)

        return asyncio.run_coroutine_threadsafe(go(), self.loop).result(30)

    def wait_received(self, count: int, timeout: float = 30) -> list:
        wait_for(
            lambda: len(self.received) >= count,
            timeout=timeout,
            message=lambda: f"{count} CALL(s) at {self.ocpp_id}, got {[f[2] for f in self.received]}",
        )
        return self.received
