"""The part of a simulated charger that does not depend on the OCPP version: connect (subprotocol, HTTP Basic
auth), boot until the CSMS accepts, heartbeat, serve the CSMS's calls, reconnect with back-off or after a
reboot, send our calls one at a time and log them, and keep in an optional JSON file what a charger keeps
across reboots.

A version module subclasses StationConnection (stations/simulator/v16.py for OCPP 1.6) and supplies the
messages: the library ChargePoint with the handlers, BootNotification, Heartbeat, the connector statuses after
boot and the meter loop of a running transaction."""

from __future__ import annotations

import abc
import asyncio
import base64
import contextlib
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

import websockets
from ocpp.charge_point import ChargePoint, remove_nones, serialize_as_dict, snake_to_camel_case
from websockets.asyncio.client import connect

log = logging.getLogger("eflux.simulator")

SECRET_KEYS = frozenset({"authorizationkey"})  # security whitepaper A01.FR.12: never disclosed in logs
# BootNotification.conf status; the same word in OCPP 1.6 (RegistrationStatus) and 2.0.1
# (RegistrationStatusEnumType).
ACCEPTED = "Accepted"


class Connector(Protocol):
    """What the connection loop and the state file use of a connector; the version module has the rest."""

    connector_id: int
    meter_wh: float  # the energy register, kept across reboots
    operative: bool  # availability, kept across reboots
    transaction_id: int | str | None
    meter_task: asyncio.Task | None  # sends meter values while the transaction runs


class StationConnection(abc.ABC):
    """Connect, boot, live and reconnect, for one charger.

    configuration: the version's key store; the loop uses int(key), keys[key].value, snapshot() and load(),
    and the keys named by the class attributes below. connectors: by id, 0 being the charger itself."""

    subprotocol: str  # the websocket subprotocol (OCPP-J 1.6 §3.1.2), e.g. "ocpp1.6"
    heartbeat_key: str  # the key that holds the heartbeat interval the CSMS gave at boot
    ping_interval_key: str  # the key that holds the websocket ping interval (0: no pings)
    password_key: str  # the key that holds the HTTP Basic auth password

    def __init__(
        self,
        url: str,
        ocpp_id: str,
        *,
        configuration: Any,
        connectors: dict[int, Connector],
        password: str | None,
        vendor: str,
        model: str,
        serial_number: str,
        firmware_version: str,
        heartbeat_interval: int | None,
        reboot_delay: float,
        reconnect: bool,
        response_timeout: int,
        state_file: str | Path | None,
    ):
        self.base_url = url
        self.ocpp_id = ocpp_id
        self.url = url.rstrip("/") + "/" + quote(ocpp_id, safe="")
        self.password = password
        self.vendor, self.model = vendor, model
        self.serial_number = serial_number
        self.firmware_version = firmware_version
        self.heartbeat_override = heartbeat_interval
        self.reboot_delay = reboot_delay
        self.reconnect = reconnect
        self.response_timeout = response_timeout
        self.state_file = Path(state_file) if state_file else None
        self.configuration = configuration
        self.connectors = connectors
        # Observable state (see stations/simulator/__init__.py).
        self.connected = False
        self.boot_count = 0
        self.connection_count = 0
        self.registration_status: str | None = None
        self.heartbeat_interval: int | None = None
        self.last_error: str | None = None
        self.received: list[tuple[str, dict]] = []
        self.sent: list[tuple[str, dict, dict | None]] = []
        self._cp: ChargePoint | None = None
        self._ws = None
        self._stop = False
        self._wake: asyncio.Event | None = None
        self._reboot_pending = False
        self._must_boot = True  # power-on; OCPP-J 1.6 §5.4: a plain reconnect does not boot again
        self._session_tasks: set[asyncio.Task] = set()
        # Transaction messages queued while offline (OCPP 1.6 §4.7 / §4.10).
        self._pending_messages: list = []
        self._load_state()

    # -- what the version module supplies ---------------------------------------------------------

    @abc.abstractmethod
    def _charge_point(self, ws) -> ChargePoint:
        """The library ChargePoint, with this version's handlers, for one connection."""

    @abc.abstractmethod
    def _boot_notification(self):
        """The BootNotification request."""

    @abc.abstractmethod
    def _heartbeat(self):
        """The Heartbeat request."""

    @abc.abstractmethod
    async def _report_all_statuses(self) -> None:
        """After an accepted boot: the status of every connector."""

    @abc.abstractmethod
    async def _meter_loop(self, connector) -> None:
        """Meter values while the connector's transaction runs."""

    # -- public API ------------------------------------------------------------------------------

    async def run(self) -> None:
        """Connect, boot and serve until stop(). Reconnects after a dropped connection (back-off 1..30 s),
        and after Reset (reboot_delay)."""
        self._wake = asyncio.Event()
        backoff = 1.0
        while not self._stop:
            try:
                await self._session()
                backoff = 1.0
            except (OSError, TimeoutError, websockets.exceptions.WebSocketException) as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("%s: cannot connect to %s: %s", self.ocpp_id, self.url, self.last_error)
            if self._stop or (not self.reconnect and not self._reboot_pending):
                break
            if self._reboot_pending:
                delay, self._reboot_pending = self.reboot_delay, False
                log.info("%s: rebooting, back in %.1f s", self.ocpp_id, delay)
            else:
                delay, backoff = backoff, min(backoff * 2, 30.0)
                log.info("%s: reconnecting in %.0f s", self.ocpp_id, delay)
            await self._sleep(delay)
        for connector in self.connectors.values():
            if connector.meter_task:
                connector.meter_task.cancel()
        self._save_state()

    async def stop(self) -> None:
        """Disconnect and make run() return."""
        self._stop = True
        if self._wake:
            self._wake.set()
        await self._close()

    async def wait_until(self, predicate: Callable[[], bool], timeout: float = 30.0) -> None:
        """Wait for a condition on this station's state (polled; the simulator is not performance-critical)."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.ocpp_id}: condition not reached in {timeout} s")
            await asyncio.sleep(0.05)

    async def wait_booted(self, count: int = 1, timeout: float = 30.0) -> None:
        """Wait until the CSMS has accepted `count` BootNotifications and the connector statuses went out."""
        await self.wait_until(lambda: self.boot_count >= count and self.connected, timeout)

    # -- connection ------------------------------------------------------------------------------

    def _basic_auth_password(self) -> str | None:
        """The password to send with HTTP Basic on the next connection, or None to send no credentials."""
        return self.password

    async def _session(self) -> None:
        headers = {}
        password = self._basic_auth_password()
        if password:
            # Security whitepaper A00.FR.202-204: HTTP Basic, username = the identity in the URL.
            token = base64.b64encode(f"{self.ocpp_id}:{password}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        ping = self.configuration.int(self.ping_interval_key)
        log.info("%s: connecting to %s%s", self.ocpp_id, self.url, " (HTTP Basic auth)" if headers else "")
        async with connect(
            self.url,
            subprotocols=[self.subprotocol],
            additional_headers=headers,
            open_timeout=self.response_timeout,
            ping_interval=ping or None,  # OCPP 1.6 §9.1.34: 0 disables client-side pings
            compression=None,  # chargers rarely negotiate permessage-deflate; it costs server memory
        ) as ws:
            if ws.subprotocol != self.subprotocol:
                # OCPP-J 1.6 §3.1.2: the server must agree on the subprotocol, else we do not talk.
                raise websockets.exceptions.InvalidHandshake(f"server did not accept {self.subprotocol}")
            self._ws = ws
            self._cp = self._charge_point(ws)
            self.connection_count += 1
            self.last_error = None
            log.info("%s: connected (subprotocol %s)", self.ocpp_id, ws.subprotocol)
            serve = self._spawn(self._cp.start())
            life = self._spawn(self._life())
            try:
                await serve
            except websockets.exceptions.ConnectionClosed as exc:
                log.info("%s: connection closed (%s)", self.ocpp_id, exc.rcvd or "no close frame")
            finally:
                self.connected = False
                life.cancel()
                for task in list(self._session_tasks):
                    task.cancel()
                self._session_tasks.clear()
                self._cp = self._ws = None

    async def _life(self) -> None:
        if self._must_boot:
            await self._boot_until_accepted()
            await self._report_all_statuses()
        self.connected = True
        interval = self.heartbeat_override or self.heartbeat_interval or 300
        log.info("%s: online (boots: %d, heartbeat every %d s)", self.ocpp_id, self.boot_count, interval)
        await self._flush_pending()
        for connector in self.connectors.values():
            if connector.transaction_id is not None and connector.meter_task is None:
                connector.meter_task = asyncio.ensure_future(self._meter_loop(connector))
        while True:
            interval = self.heartbeat_override or self.heartbeat_interval or 300
            await self._sleep(max(interval, 1))
            if self._stop:
                return
            await self._call(self._heartbeat())

    async def _boot_until_accepted(self) -> None:
        while True:
            response = await self._call(self._boot_notification())
            if response is not None:
                self._apply_boot_response(response)
                if response.status == ACCEPTED:
                    self._must_boot = False
                    self.boot_count += 1
                    return
            # OCPP 1.6 §4.2: Pending/Rejected (or no answer): try again after the interval; while Pending the
            # CSMS may still send us calls, which the receive loop keeps answering.
            interval = response.interval if response is not None and response.interval > 0 else 10
            await self._sleep(interval)
            if self._stop:
                return

    def _apply_boot_response(self, response) -> None:
        self.registration_status = response.status
        if response.status == ACCEPTED and response.interval > 0:
            # OCPP 1.6 §4.2.1: the charger adopts the interval as its HeartbeatInterval.
            self.heartbeat_interval = response.interval
            self.configuration.keys[self.heartbeat_key].value = str(response.interval)

    async def _close(self) -> None:
        ws = self._ws
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close()

    def _spawn(self, coro) -> asyncio.Task:
        task = asyncio.ensure_future(coro)
        self._session_tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task) -> None:
        self._session_tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            if not isinstance(exc, websockets.exceptions.ConnectionClosed):
                log.error("%s: internal error: %r", self.ocpp_id, exc, exc_info=exc)

    async def _sleep(self, seconds: float) -> None:
        """Sleep, but wake up early when stop() is called."""
        if self._stop or seconds <= 0:
            return
        wake = self._wake or asyncio.Event()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), seconds)

    async def _call(self, payload):
        """Send one call (one outstanding at a time, OCPP-J 1.6 §4.1.1) and log it like a person would."""
        action = type(payload).__name__
        cp = self._cp
        if cp is None:
            log.info("%s: offline, not sent: %s", self.ocpp_id, action)
            return None
        request = _request_dict(payload)
        log.info("%s → %s %s", self.ocpp_id, action, _compact(request))
        try:
            response = await cp.call(payload, suppress=False)
        except Exception as exc:  # CALLERROR, timeout, closed socket: a charger logs and carries on
            log.warning("%s ✗ %s failed: %s: %s", self.ocpp_id, action, type(exc).__name__, exc)
            self.sent.append((action, request, None))
            return None
        answer = _request_dict(response)
        log.info("%s ← %s.conf %s", self.ocpp_id, action, _compact(answer))
        self.sent.append((action, request, answer))
        return response

    def _received(self, action: str, payload: dict) -> None:
        payload = {k: v for k, v in payload.items() if v is not None}
        log.info("%s ⇐ CSMS calls %s %s", self.ocpp_id, action, _compact(payload))
        self.received.append((str(action), payload))

    async def _flush_pending(self) -> None:
        while self._pending_messages and self._cp is not None:
            await self._call(self._pending_messages.pop(0))

    # -- persistence -----------------------------------------------------------------------------

    def _load_state(self) -> None:
        if not self.state_file or not self.state_file.exists():
            return
        state = json.loads(self.state_file.read_text())
        self.configuration.load(state.get("configuration", {}))
        authorization_key = state.get("authorization_key")
        if authorization_key:
            self.configuration.keys[self.password_key].value = authorization_key
            self.password = authorization_key
        for cid, saved in state.get("connectors", {}).items():
            connector = self.connectors.get(int(cid))
            if connector:
                connector.meter_wh = float(saved.get("meter_wh", connector.meter_wh))
                connector.operative = bool(saved.get("operative", True))

    def _save_state(self) -> None:
        if not self.state_file:
            return
        config = self.configuration.snapshot()
        authorization_key = config.pop(self.password_key, None)
        state = {
            "configuration": config,
            # Whitepaper A01.FR.10: on the charge point the password is stored in clear text.
            "authorization_key": authorization_key or self.password,
            "connectors": {
                str(c.connector_id): {"meter_wh": round(c.meter_wh, 1), "operative": c.operative}
                for c in self.connectors.values()
            },
        }
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2))
        tmp.replace(self.state_file)


def mask_secret(key: str, value):
    return "********" if key.lower() in SECRET_KEYS else value


def _compact(payload) -> str:
    text = json.dumps(payload, separators=(",", ":"), default=str)
    return text if len(text) <= 300 else text[:297] + "..."


def _request_dict(payload) -> dict:
    data = snake_to_camel_case(remove_nones(serialize_as_dict(payload)))
    return {k: mask_secret(k, v) for k, v in data.items()}
