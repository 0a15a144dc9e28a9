"""A simulated OCPP 1.6J charge point, for people (``manage.py simulate_station``), tests and demos.

It is a client, written against the OCPP 1.6 edition 2 spec and the OCPP-J 1.6 spec, using the mobilityhouse
``ocpp`` library's v16 ChargePoint over a ``websockets`` connection with subprotocol ``ocpp1.6``. It knows nothing
about the server's code: it talks to it over a real socket, like a charger in the field.

Use from asyncio::

    from stations.simulator import SimulatedStation

    station = SimulatedStation("ws://127.0.0.1:8000/ocpp/", "CP-1", connectors=2, reject_keys={"LightIntensity"})
    task = asyncio.create_task(station.run())      # connects, boots, reports connectors 0..N, heartbeats;
    await station.wait_booted()                    # reconnects (with back-off) until stop()
    transaction_id = await station.swipe("CARD-1")  # a local session with a card (Authorize, StartTransaction)
    station.add_energy(1, 1500)                    # the meter moves by 1.5 kWh (deterministic, for tests)
    await station.stop_transaction(connector_id=1)  # StopTransaction with meterStop and transactionData
    await station.stop()                           # closes the socket; run() returns
    await task

From synchronous code (pytest, Playwright tests) use ``tests/simulated.py`` (``running_station``), which runs one
of these on a background thread, or ``manage.py simulate_station`` in a subprocess.

What the CSMS can do to it (each answered as a charger would, clause in the handler):
GetConfiguration, ChangeConfiguration, Reset, ChangeAvailability, UnlockConnector, ClearCache, TriggerMessage,
RemoteStartTransaction, RemoteStopTransaction, DataTransfer, GetDiagnostics, UpdateFirmware. Anything else gets
the library's NotImplemented CALLERROR.

State that a real charger keeps across reboots (configuration, AuthorizationKey, meter registers, connector
availability) lives on this object, so it survives reconnects and Reset, and optionally in a JSON file
(``state_file``). Inspect for tests: ``boot_count``, ``registration_status``, ``heartbeat_interval``,
``connectors[i]`` (status, transaction_id, meter_wh), ``configuration.value(key)``, ``password``,
``received`` (CSMS calls as ``(action, payload)``), ``sent`` (our calls as ``(action, payload, response)``).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import websockets
from ocpp.routing import after, on
from ocpp.v16 import ChargePoint as _OcppChargePoint
from ocpp.v16 import call, call_result
from ocpp.v16.enums import (
    Action,
    AuthorizationStatus,
    AvailabilityStatus,
    AvailabilityType,
    ChargePointErrorCode,
    ChargePointStatus,
    ClearCacheStatus,
    ConfigurationStatus,
    DataTransferStatus,
    DiagnosticsStatus,
    FirmwareStatus,
    Measurand,
    MessageTrigger,
    Phase,
    Reason,
    RegistrationStatus,
    RemoteStartStopStatus,
    ResetStatus,
    ResetType,
    TriggerMessageStatus,
    UnlockStatus,
)
from websockets.asyncio.client import connect

log = logging.getLogger("eflux.simulator")

SUBPROTOCOL = "ocpp1.6"
MEASURANDS = frozenset(m.value for m in Measurand)
PHASES = frozenset(p.value for p in Phase)
SECRET_KEYS = frozenset({"authorizationkey"})  # security whitepaper A01.FR.12: never disclosed in logs


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


# --- configuration ---------------------------------------------------------------------------------


@dataclass
class ConfigKey:
    value: str | None
    readonly: bool = False
    kind: str = "string"  # "int", "bool", "csl" or "string"
    minimum: int | None = None
    maximum: int | None = None
    items: frozenset[str] | None = None  # allowed CSL items
    max_items_key: str | None = None  # "[KeyName]MaxLength" (OCPP 1.6 §5.3)
    write_only: bool = False  # security whitepaper §7.2 AuthorizationKey


def _measurand_csl(default: str) -> ConfigKey:
    return ConfigKey(default, kind="csl", items=MEASURANDS)


def default_configuration(connectors: int) -> dict[str, ConfigKey]:
    """The OCPP 1.6 §9.1 Core keys a typical AC charger reports, plus the security whitepaper's §7 keys.
    Accessibility as §9 states it; where the spec leaves "R or RW" to the implementation, RW."""
    rotation = ",".join(f"{i}.RST" for i in range(connectors + 1))
    keys = {
        "AllowOfflineTxForUnknownId": ConfigKey("false", kind="bool"),  # §9.1.1
        "AuthorizationCacheEnabled": ConfigKey("true", kind="bool"),  # §9.1.2
        "AuthorizeRemoteTxRequests": ConfigKey("true", kind="bool"),  # §9.1.3
        "BlinkRepeat": ConfigKey("3", kind="int", minimum=0, maximum=100),  # §9.1.4
        "ClockAlignedDataInterval": ConfigKey("0", kind="int", minimum=0, maximum=86400),  # §9.1.5
        "ConnectionTimeOut": ConfigKey("60", kind="int", minimum=0, maximum=3600),  # §9.1.6
        "ConnectorPhaseRotation": ConfigKey(rotation, kind="csl"),  # §9.1.7
        "ConnectorPhaseRotationMaxLength": ConfigKey(str(connectors + 1), readonly=True, kind="int"),
        "GetConfigurationMaxKeys": ConfigKey("50", readonly=True, kind="int"),  # §9.1.9
        "HeartbeatInterval": ConfigKey("300", kind="int", minimum=0, maximum=86400),  # §9.1.10
        "LightIntensity": ConfigKey("100", kind="int", minimum=0, maximum=100),  # §9.1.11
        "LocalAuthorizeOffline": ConfigKey("true", kind="bool"),  # §9.1.12
        "LocalPreAuthorize": ConfigKey("false", kind="bool"),  # §9.1.13
        "MaxEnergyOnInvalidId": ConfigKey("0", kind="int", minimum=0),  # §9.1.14
        "MeterValuesAlignedData": _measurand_csl("Energy.Active.Import.Register"),  # §9.1.15
        "MeterValuesAlignedDataMaxLength": ConfigKey("8", readonly=True, kind="int"),
        "MeterValuesSampledData": _measurand_csl(  # §9.1.17
            "Energy.Active.Import.Register,Power.Active.Import,Current.Import,Voltage,SoC"
        ),
        "MeterValuesSampledDataMaxLength": ConfigKey("8", readonly=True, kind="int"),
        "MeterValueSampleInterval": ConfigKey("60", kind="int", minimum=0, maximum=3600),  # §9.1.19
        "MinimumStatusDuration": ConfigKey("0", kind="int", minimum=0),  # §9.1.20
        "NumberOfConnectors": ConfigKey(str(connectors), readonly=True, kind="int"),  # §9.1.21
        "ResetRetries": ConfigKey("3", kind="int", minimum=0, maximum=10),  # §9.1.22
        "StopTransactionOnEVSideDisconnect": ConfigKey("true", kind="bool"),  # §9.1.23
        "StopTransactionOnInvalidId": ConfigKey("true", kind="bool"),  # §9.1.24
        "StopTxnAlignedData": _measurand_csl(""),  # §9.1.25
        "StopTxnAlignedDataMaxLength": ConfigKey("8", readonly=True, kind="int"),
        "StopTxnSampledData": _measurand_csl("Energy.Active.Import.Register"),  # §9.1.27
        "StopTxnSampledDataMaxLength": ConfigKey("8", readonly=True, kind="int"),
        # §9.1.29: only what this simulator really implements.
        "SupportedFeatureProfiles": ConfigKey(
            "Core,FirmwareManagement,RemoteTrigger", readonly=True, kind="csl"
        ),
        "SupportedFeatureProfilesMaxLength": ConfigKey("6", readonly=True, kind="int"),
        "TransactionMessageAttempts": ConfigKey("3", kind="int", minimum=0, maximum=10),  # §9.1.31
        "TransactionMessageRetryInterval": ConfigKey("60", kind="int", minimum=0),  # §9.1.32
        "UnlockConnectorOnEVSideDisconnect": ConfigKey("true", kind="bool"),  # §9.1.33
        # §9.1.34: "Negative values are not allowed" (minimum 0 → Rejected).
        "WebSocketPingInterval": ConfigKey("0", kind="int", minimum=0, maximum=3600),
        # Security whitepaper §7.2: write-only, "so that it cannot be accidentally stored in plaintext by the
        # Central System when it reads out all configuration keys". A00.FR.205: 16 to 40 characters.
        "AuthorizationKey": ConfigKey(None, kind="string", minimum=16, maximum=40, write_only=True),
        "SecurityProfile": ConfigKey("0", kind="int", minimum=0, maximum=3),  # whitepaper §7.6
    }
    for name, key in keys.items():
        if key.kind == "csl" and f"{name}MaxLength" in keys:
            key.max_items_key = f"{name}MaxLength"
    return keys


class Configuration:
    """The charger's key store: GetConfiguration (§5.8) and ChangeConfiguration (§5.3) semantics, no I/O."""

    def __init__(
        self,
        keys: dict[str, ConfigKey],
        *,
        reject_keys: Iterable[str] = (),
        reboot_keys: Iterable[str] = ("WebSocketPingInterval",),
    ):
        self.keys = keys
        # CiString keys are case-insensitive (§7 CiString50Type): match them so, answer with our spelling.
        self._names = {name.lower(): name for name in keys}
        self.reject_keys = {k.lower() for k in reject_keys}
        self.reboot_keys = {k.lower() for k in reboot_keys}

    def name(self, key: str) -> str | None:
        return self._names.get(key.lower())

    def value(self, key: str) -> str | None:
        return self.keys[self._names[key.lower()]].value

    def int(self, key: str, default: int = 0) -> int:
        try:
            return int(self.value(key) or default)
        except ValueError:
            return default

    def bool(self, key: str) -> bool:
        return (self.value(key) or "").lower() == "true"

    def csl(self, key: str) -> list[str]:
        return [item.strip() for item in (self.value(key) or "").split(",") if item.strip()]

    def get(self, keys: list[str] | None) -> tuple[list[dict], list[str]]:
        """(configurationKey, unknownKey) for GetConfiguration.conf (§6.24). An empty or missing list means
        every key (§5.8). A write-only key is listed without a value."""
        if not keys:
            names, unknown = list(self.keys), []
        else:
            names, unknown = [], []
            for requested in keys:
                name = self.name(requested)
                if name is None:
                    unknown.append(requested)
                elif name not in names:
                    names.append(name)
        entries = []
        for name in names:
            key = self.keys[name]
            entry = {"key": name, "readonly": key.readonly}
            if not key.write_only and key.value is not None:
                entry["value"] = key.value
            entries.append(entry)
        return entries, unknown

    def change(self, key: str, value: str) -> ConfigurationStatus:
        """Apply ChangeConfiguration.req by the rules of §5.3. The caller acts on the side effects."""
        name = self.name(key)
        if name is None:
            return ConfigurationStatus.not_supported
        spec = self.keys[name]
        if spec.readonly or name.lower() in self.reject_keys:
            return ConfigurationStatus.rejected
        normalized = self._validate(spec, value)
        if normalized is None:
            # §5.3: "out-of-range values and ... values that do not conform to an expected format".
            return ConfigurationStatus.rejected
        if name == "SecurityProfile" and not self._security_profile_allowed(int(normalized)):
            return ConfigurationStatus.rejected
        spec.value = normalized
        if name.lower() in self.reboot_keys:
            return ConfigurationStatus.reboot_required
        return ConfigurationStatus.accepted

    def _security_profile_allowed(self, new: int) -> bool:
        current = self.int("SecurityProfile")
        if new <= current:
            return False  # whitepaper A05.FR.01: only upwards
        if new >= 2:
            return False  # A05.FR.03/04: no TLS certificates in a simulator
        return self.keys["AuthorizationKey"].value is not None  # A05.FR.02

    def _validate(self, spec: ConfigKey, value: str) -> str | None:
        if spec.kind == "bool":
            return value.lower() if value.lower() in {"true", "false"} else None
        if spec.kind == "int":
            try:
                number = int(value.strip())
            except ValueError:
                return None
            if spec.minimum is not None and number < spec.minimum:
                return None
            if spec.maximum is not None and number > spec.maximum:
                return None
            return str(number)
        if spec.kind == "csl":
            items = [item.strip() for item in value.split(",") if item.strip()]
            if spec.items is not None:
                for item in items:
                    # "Voltage.L1" style: the measurand combined with a phase (§9.1.17).
                    measurand, _, phase = item.rpartition(".")
                    if item in spec.items or (measurand in spec.items and phase in PHASES):
                        continue
                    return None
            if spec.max_items_key and len(items) > self.int(spec.max_items_key, 1):
                return None
            return ",".join(items)
        if spec.minimum is not None and len(value) < spec.minimum:
            return None
        if spec.maximum is not None and len(value) > spec.maximum:
            return None
        return value

    def snapshot(self) -> dict[str, str]:
        return {name: key.value for name, key in self.keys.items() if key.value is not None}

    def load(self, values: dict[str, str]) -> None:
        for name, value in values.items():
            if name in self.keys and not self.keys[name].readonly:
                self.keys[name].value = value


# --- connectors and the meter ----------------------------------------------------------------------


@dataclass
class ConnectorState:
    connector_id: int
    status: str = ChargePointStatus.available.value
    error_code: str = ChargePointErrorCode.no_error.value
    operative: bool = True
    inoperative_scheduled: bool = False  # §5.2: "Scheduled" until the transaction ends
    meter_wh: float = 0.0  # the energy register, never reset
    transaction_id: int | None = None
    id_tag: str | None = None
    meter_start: int | None = None
    soc: float = 20.0
    power_w: float = 0.0
    last_sample_at: float = 0.0
    transaction_samples: list[dict] = field(default_factory=list)
    meter_task: asyncio.Task | None = field(default=None, repr=False)

    @property
    def idle_status(self) -> str:
        return ChargePointStatus.available.value if self.operative else ChargePointStatus.unavailable.value


class _ChargePoint(_OcppChargePoint):
    """The library's ChargePoint with handlers that delegate to the SimulatedStation. One per connection.

    Trap: the library runs a CSMS call's handler inside its receive loop, so a handler must not await a call of
    its own (the answer could never be read). Follow-up messages go in @after hooks, which run as tasks."""

    def __init__(self, station: SimulatedStation, connection):
        super().__init__(station.ocpp_id, connection, response_timeout=station.response_timeout)
        self.station = station

    @on(Action.get_configuration)
    def on_get_configuration(self, key=None, **_):
        self.station._received(Action.get_configuration, {"key": key})
        known, unknown = self.station.configuration.get(key)
        return call_result.GetConfiguration(configuration_key=known, unknown_key=unknown or None)

    @on(Action.change_configuration)
    def on_change_configuration(self, key, value, **_):
        self.station._received(Action.change_configuration, {"key": key, "value": _mask(key, value)})
        status = self.station.configuration.change(key, value)
        self.station._config_changed(key, status)
        return call_result.ChangeConfiguration(status=status)

    @after(Action.change_configuration)
    async def after_change_configuration(self, key, value, **_):
        await self.station._after_config_change(key)

    @on(Action.reset)
    def on_reset(self, type, **_):
        self.station._received(Action.reset, {"type": type})
        return call_result.Reset(status=ResetStatus.accepted)  # §5.14

    @after(Action.reset)
    async def after_reset(self, type, **_):
        reason = Reason.hard_reset if type == ResetType.hard else Reason.soft_reset
        await self.station.reboot(reason=reason)

    @on(Action.change_availability)
    def on_change_availability(self, connector_id, type, **_):
        self.station._received(Action.change_availability, {"connectorId": connector_id, "type": type})
        return call_result.ChangeAvailability(status=self.station._change_availability(connector_id, type))

    @after(Action.change_availability)
    async def after_change_availability(self, connector_id, type, **_):
        await self.station._report_status_changes()

    @on(Action.unlock_connector)
    def on_unlock_connector(self, connector_id, **_):
        self.station._received(Action.unlock_connector, {"connectorId": connector_id})
        if connector_id not in self.station.connectors or connector_id == 0:
            return call_result.UnlockConnector(status=UnlockStatus.not_supported)
        return call_result.UnlockConnector(status=UnlockStatus.unlocked)

    @after(Action.unlock_connector)
    async def after_unlock_connector(self, connector_id, **_):
        connector = self.station.connectors.get(connector_id)
        # §5.18: with a transaction ongoing the charger stops it first (reason UnlockCommand).
        if connector and connector_id and connector.transaction_id is not None:
            await self.station.stop_transaction(connector_id=connector_id, reason=Reason.unlock_command)

    @on(Action.clear_cache)
    def on_clear_cache(self, **_):
        self.station._received(Action.clear_cache, {})
        return call_result.ClearCache(status=ClearCacheStatus.accepted)

    @on(Action.data_transfer)
    def on_data_transfer(self, vendor_id, **kwargs):
        self.station._received(Action.data_transfer, {"vendorId": vendor_id, **kwargs})
        return call_result.DataTransfer(status=DataTransferStatus.unknown_vendor_id)  # §4.3 / §5.6

    @on(Action.trigger_message)
    def on_trigger_message(self, requested_message, connector_id=None, **_):
        self.station._received(
            Action.trigger_message, {"requestedMessage": requested_message, "connectorId": connector_id}
        )
        if connector_id is not None and connector_id not in self.station.connectors:
            return call_result.TriggerMessage(status=TriggerMessageStatus.rejected)  # §5.17
        return call_result.TriggerMessage(status=TriggerMessageStatus.accepted)

    @after(Action.trigger_message)
    async def after_trigger_message(self, requested_message, connector_id=None, **_):
        if connector_id is None or connector_id in self.station.connectors:
            await self.station._triggered(requested_message, connector_id)

    @on(Action.get_diagnostics)
    def on_get_diagnostics(self, location, **kwargs):
        self.station._received(Action.get_diagnostics, {"location": location, **kwargs})
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        return call_result.GetDiagnostics(file_name=f"diagnostics-{self.station.ocpp_id}-{stamp}.log")

    @after(Action.get_diagnostics)
    async def after_get_diagnostics(self, location, **_):
        await self.station._upload_diagnostics()

    @on(Action.update_firmware)
    def on_update_firmware(self, location, retrieve_date, **kwargs):
        self.station._received(
            Action.update_firmware, {"location": location, "retrieveDate": retrieve_date, **kwargs}
        )
        return call_result.UpdateFirmware()

    @after(Action.update_firmware)
    async def after_update_firmware(self, location, retrieve_date, **_):
        await self.station._update_firmware(retrieve_date)

    @on(Action.remote_start_transaction)
    def on_remote_start_transaction(self, id_tag, connector_id=None, charging_profile=None, **_):
        self.station._received(
            Action.remote_start_transaction, {"idTag": id_tag, "connectorId": connector_id}
        )
        connector = self.station._free_connector(connector_id)
        if connector is None:
            return call_result.RemoteStartTransaction(status=RemoteStartStopStatus.rejected)
        connector.status = ChargePointStatus.preparing.value  # reserve it until the @after hook runs
        self.station._remote_starts.append(connector.connector_id)
        return call_result.RemoteStartTransaction(status=RemoteStartStopStatus.accepted)

    @after(Action.remote_start_transaction)
    async def after_remote_start_transaction(self, id_tag, connector_id=None, **_):
        # @after hooks run as tasks in the order the calls arrived: the queue pairs each with its connector.
        if self.station._remote_starts:
            connector_id = self.station._remote_starts.pop(0)
            # §5.11: authorize first only when AuthorizeRemoteTxRequests is true.
            authorize = self.station.configuration.bool("AuthorizeRemoteTxRequests")
            await self.station._begin_transaction(connector_id, id_tag, authorize=authorize)

    @on(Action.remote_stop_transaction)
    def on_remote_stop_transaction(self, transaction_id, **_):
        self.station._received(Action.remote_stop_transaction, {"transactionId": transaction_id})
        if self.station._connector_of_transaction(transaction_id) is None:
            return call_result.RemoteStopTransaction(status=RemoteStartStopStatus.rejected)
        return call_result.RemoteStopTransaction(status=RemoteStartStopStatus.accepted)

    @after(Action.remote_stop_transaction)
    async def after_remote_stop_transaction(self, transaction_id, **_):
        connector = self.station._connector_of_transaction(transaction_id)
        if connector is not None:
            await self.station.stop_transaction(connector_id=connector.connector_id, reason=Reason.remote)


def _mask(key: str, value):
    return "********" if key.lower() in SECRET_KEYS else value


def _compact(payload) -> str:
    text = json.dumps(payload, separators=(",", ":"), default=str)
    return text if len(text) <= 300 else text[:297] + "..."


# --- the station -----------------------------------------------------------------------------------


class SimulatedStation:
    def __init__(
        self,
        url: str,
        ocpp_id: str,
        *,
        password: str | None = None,
        connectors: int = 2,
        reject_keys: Iterable[str] = (),
        reboot_keys: Iterable[str] = ("WebSocketPingInterval",),
        heartbeat_interval: int | None = None,
        meter_value_interval: int | None = None,
        vendor: str = "EfluxSim",
        model: str = "SIM-AC22",
        serial_number: str | None = None,
        firmware_version: str = "1.6.0-sim",
        power_w: float = 11040.0,  # 3 phases x 16 A x 230 V
        meter_wh: int = 0,
        reboot_delay: float = 1.0,
        shutdown_delay: float = 0.5,
        reconnect: bool = True,
        response_timeout: int = 30,
        state_file: str | Path | None = None,
        status_step_delay: float = 0.2,
    ):
        """url: the CSMS's OCPP base URL (``ws://127.0.0.1:8000/ocpp/``); the identity is appended as the last
        path segment (OCPP-J 1.6 §3.1.1). heartbeat_interval: use this instead of the interval the CSMS
        returns in BootNotification.conf. reject_keys: keys whose ChangeConfiguration is always Rejected.
        reboot_keys: keys whose change answers RebootRequired. power_w: charging power while a transaction
        runs (the meter advances with wall time; 0 freezes it, add_energy() moves it by hand).
        shutdown_delay: after answering Reset, how long the charger takes before it closes the socket;
        reboot_delay: how long it stays away before reconnecting."""
        self.base_url = url
        self.ocpp_id = ocpp_id
        self.url = url.rstrip("/") + "/" + quote(ocpp_id, safe="")
        self.password = password
        self.vendor, self.model = vendor, model
        self.serial_number = serial_number or f"SIM-{ocpp_id}"[:25]
        self.firmware_version = firmware_version
        self.heartbeat_override = heartbeat_interval
        self.reboot_delay = reboot_delay
        self.shutdown_delay = shutdown_delay
        self.reconnect = reconnect
        self.response_timeout = response_timeout
        self.state_file = Path(state_file) if state_file else None
        self.status_step_delay = status_step_delay
        self.configuration = Configuration(
            default_configuration(connectors), reject_keys=reject_keys, reboot_keys=reboot_keys
        )
        if meter_value_interval is not None:
            self.configuration.keys["MeterValueSampleInterval"].value = str(meter_value_interval)
        self.connectors: dict[int, ConnectorState] = {
            i: ConnectorState(i, meter_wh=float(meter_wh), power_w=power_w if i else 0.0)
            for i in range(connectors + 1)
        }
        # Observable state (see the module docstring).
        self.connected = False
        self.boot_count = 0
        self.connection_count = 0
        self.registration_status: str | None = None
        self.heartbeat_interval: int | None = None
        self.last_error: str | None = None
        self.received: list[tuple[str, dict]] = []
        self.sent: list[tuple[str, dict, dict | None]] = []
        self.firmware_status = FirmwareStatus.idle.value
        self.diagnostics_status = DiagnosticsStatus.idle.value
        self._cp: _ChargePoint | None = None
        self._ws = None
        self._stop = False
        self._wake: asyncio.Event | None = None
        self._reboot_pending = False
        self._must_boot = True  # power-on; OCPP-J §5.4: a plain reconnect does not boot again
        self._session_tasks: set[asyncio.Task] = set()
        self._pending_messages: list = []  # transaction messages queued while offline (§4.7 / §4.10)
        self._remote_starts: list[int] = []  # connectors reserved by accepted RemoteStartTransactions
        self._security_profile_raised = False
        self._load_state()

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

    async def stop(self, *, stop_transactions: bool = False) -> None:
        """Disconnect and make run() return. stop_transactions: first end running sessions (reason Local),
        as an operator switching a charger off at the end of a demo would."""
        if stop_transactions:
            for connector in list(self.connectors.values()):
                if connector.transaction_id is not None:
                    await self.stop_transaction(connector_id=connector.connector_id, reason=Reason.local)
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

    async def reboot(self, *, reason: str = Reason.reboot) -> None:
        """What Reset does (§5.14): stop running transactions, really close the socket, come back after
        reboot_delay and boot again."""
        log.info("%s: reset (%s): shutting down", self.ocpp_id, reason)
        await self._sleep(self.shutdown_delay)
        for connector in list(self.connectors.values()):
            if connector.transaction_id is not None:
                await self.stop_transaction(connector_id=connector.connector_id, reason=reason)
        self._reboot_pending = True
        self._must_boot = True
        await self._close()

    async def swipe(self, id_tag: str, connector_id: int | None = None) -> int | None:
        """A driver presents a card: a local session on `connector_id` (or the first free connector).
        Returns the transaction id the CSMS assigned, or None if it did not start."""
        connector = self._free_connector(connector_id)
        if connector is None:
            log.warning("%s: no free connector for card %s", self.ocpp_id, id_tag)
            return None
        connector.status = ChargePointStatus.preparing.value
        return await self._begin_transaction(connector.connector_id, id_tag, authorize=True)

    async def stop_transaction(
        self, *, connector_id: int | None = None, reason: str = Reason.local, id_tag: str | None = None
    ) -> dict | None:
        """End the session on a connector (default: the first charging one): Finishing, StopTransaction with
        meterStop and transactionData (StopTxnSampledData), Available. Returns the StopTransaction payload."""
        if connector_id is None:
            connector = next(
                (c for c in self.connectors.values() if c.connector_id and c.transaction_id is not None), None
            )
        else:
            connector = self.connectors.get(connector_id)
        if connector is None or connector.transaction_id is None:
            return None
        if connector.meter_task and connector.meter_task is not asyncio.current_task():
            connector.meter_task.cancel()
        connector.meter_task = None
        self._advance_meter(connector)
        transaction_id = connector.transaction_id
        connector.transaction_id = None
        await self._set_status(connector, ChargePointStatus.finishing)
        end = self._sample(connector, context="Transaction.End", keys="StopTxnSampledData")
        payload = call.StopTransaction(
            meter_stop=int(connector.meter_wh),
            timestamp=utc_now(),
            transaction_id=transaction_id,
            reason=reason,
            id_tag=id_tag or connector.id_tag,
            transaction_data=[*connector.transaction_samples, end],
        )
        connector.id_tag = None
        connector.transaction_samples = []
        if self.connected:
            await self._call(payload)
        else:
            self._pending_messages.append(payload)  # §4.10: delivered after reconnecting
        if connector.inoperative_scheduled:
            connector.operative, connector.inoperative_scheduled = False, False
        await self._sleep(self.status_step_delay)
        await self._set_status(connector, connector.idle_status)
        self._save_state()
        return {"transactionId": transaction_id, "meterStop": payload.meter_stop, "reason": str(reason)}

    def add_energy(self, connector_id: int, wh: float) -> None:
        """Move a connector's energy register by `wh` (deterministic meter for tests)."""
        self.connectors[connector_id].meter_wh += wh

    async def send_meter_values(self, connector_id: int, *, context: str = "Sample.Periodic") -> None:
        connector = self.connectors[connector_id]
        self._advance_meter(connector)
        sample = self._sample(connector, context=context, keys="MeterValuesSampledData")
        if connector.transaction_id is not None and context == "Sample.Periodic":
            stop_sample = self._sample(connector, context=context, keys="StopTxnSampledData")
            if stop_sample["sampledValue"]:
                connector.transaction_samples.append(stop_sample)
        await self._call(
            call.MeterValues(
                connector_id=connector_id,
                meter_value=[sample],
                transaction_id=connector.transaction_id,
            )
        )

    # -- connection ------------------------------------------------------------------------------

    async def _session(self) -> None:
        headers = {}
        if self.password:
            # Security whitepaper A00.FR.202-204: HTTP Basic, username = the identity in the URL.
            token = base64.b64encode(f"{self.ocpp_id}:{self.password}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        ping = self.configuration.int("WebSocketPingInterval")
        log.info("%s: connecting to %s%s", self.ocpp_id, self.url, " (HTTP Basic auth)" if headers else "")
        async with connect(
            self.url,
            subprotocols=[SUBPROTOCOL],
            additional_headers=headers,
            open_timeout=self.response_timeout,
            ping_interval=ping or None,  # §9.1.34: 0 disables client-side pings
            compression=None,  # chargers rarely negotiate permessage-deflate; it costs server memory
        ) as ws:
            if ws.subprotocol != SUBPROTOCOL:
                # OCPP-J 1.6 §3.1.2: the server must agree on the subprotocol, else we do not talk.
                raise websockets.exceptions.InvalidHandshake(f"server did not accept {SUBPROTOCOL}")
            self._ws = ws
            self._cp = _ChargePoint(self, ws)
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
            await self._call(call.Heartbeat())

    async def _boot_until_accepted(self) -> None:
        while True:
            response = await self._call(
                call.BootNotification(
                    charge_point_vendor=self.vendor,
                    charge_point_model=self.model,
                    charge_point_serial_number=self.serial_number,
                    charge_box_serial_number=self.serial_number,
                    firmware_version=self.firmware_version,
                    meter_type="SIM-METER-3P",
                    meter_serial_number=f"M-{self.ocpp_id}"[:25],
                )
            )
            if response is not None:
                self._apply_boot_response(response)
                if response.status == RegistrationStatus.accepted:
                    self._must_boot = False
                    self.boot_count += 1
                    return
            # §4.2: Pending/Rejected (or no answer): try again after the interval; while Pending the CSMS
            # may still send us calls, which the receive loop keeps answering.
            interval = response.interval if response is not None and response.interval > 0 else 10
            await self._sleep(interval)
            if self._stop:
                return

    def _apply_boot_response(self, response) -> None:
        self.registration_status = response.status
        if response.status == RegistrationStatus.accepted and response.interval > 0:
            # §4.2.1: the charger adopts the interval as its HeartbeatInterval.
            self.heartbeat_interval = response.interval
            self.configuration.keys["HeartbeatInterval"].value = str(response.interval)

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
        """Send one call (the library allows one outstanding, OCPP-J §4.1.1) and log it like a person would."""
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

    # -- status ----------------------------------------------------------------------------------

    async def _set_status(self, connector: ConnectorState, status: str) -> None:
        connector.status = str(status)
        await self._send_status(connector)

    async def _send_status(self, connector: ConnectorState) -> None:
        await self._call(
            call.StatusNotification(
                connector_id=connector.connector_id,
                error_code=connector.error_code,
                status=connector.status,
                timestamp=utc_now(),
            )
        )

    async def _report_all_statuses(self) -> None:
        # §4.9: after boot, the status of every connector, 0 (the charger itself) included.
        for connector in self.connectors.values():
            if connector.transaction_id is not None:
                connector.status = ChargePointStatus.charging.value
            else:
                connector.status = connector.idle_status
            await self._send_status(connector)

    async def _report_status_changes(self) -> None:
        for connector in self.connectors.values():
            wanted = connector.idle_status if connector.transaction_id is None else connector.status
            if connector.status != wanted:
                await self._set_status(connector, wanted)

    def _change_availability(self, connector_id: int, kind: str) -> AvailabilityStatus:
        if connector_id not in self.connectors:
            return AvailabilityStatus.rejected
        # §5.2: connector 0 means the whole charger.
        targets = list(self.connectors.values()) if connector_id == 0 else [self.connectors[connector_id]]
        operative = kind == AvailabilityType.operative
        scheduled = False
        for connector in targets:
            if not operative and connector.transaction_id is not None:
                connector.inoperative_scheduled = True  # §5.2: "Scheduled" until the transaction ends
                scheduled = True
            else:
                connector.operative = operative
                connector.inoperative_scheduled = False
        self._save_state()
        return AvailabilityStatus.scheduled if scheduled else AvailabilityStatus.accepted

    def _free_connector(self, connector_id: int | None) -> ConnectorState | None:
        candidates = (
            [self.connectors.get(connector_id)]
            if connector_id
            else [c for c in self.connectors.values() if c.connector_id]
        )
        for connector in candidates:
            if (
                connector is not None
                and connector.connector_id
                and connector.operative
                and connector.transaction_id is None
                and connector.status == ChargePointStatus.available.value
            ):
                return connector
        return None

    def _connector_of_transaction(self, transaction_id: int) -> ConnectorState | None:
        return next((c for c in self.connectors.values() if c.transaction_id == transaction_id), None)

    # -- transactions ----------------------------------------------------------------------------

    async def _begin_transaction(self, connector_id: int, id_tag: str, *, authorize: bool) -> int | None:
        connector = self.connectors[connector_id]
        await self._set_status(connector, ChargePointStatus.preparing)
        if authorize:
            response = await self._call(call.Authorize(id_tag=id_tag))
            status = (response.id_tag_info or {}).get("status") if response else None
            if status != AuthorizationStatus.accepted:
                log.info("%s: card %s not accepted (%s)", self.ocpp_id, id_tag, status)
                await self._set_status(connector, connector.idle_status)
                return None
        self._advance_meter(connector)
        connector.meter_start = int(connector.meter_wh)
        connector.id_tag = id_tag
        connector.soc = 20.0
        response = await self._call(
            call.StartTransaction(
                connector_id=connector_id,
                id_tag=id_tag,
                meter_start=connector.meter_start,
                timestamp=utc_now(),
            )
        )
        if response is None:
            connector.id_tag = None
            await self._set_status(connector, connector.idle_status)
            return None
        connector.transaction_id = response.transaction_id
        begin = self._sample(connector, context="Transaction.Begin", keys="StopTxnSampledData")
        connector.transaction_samples = [begin] if begin["sampledValue"] else []
        connector.last_sample_at = time.monotonic()
        status = (response.id_tag_info or {}).get("status")
        if status != AuthorizationStatus.accepted and self.configuration.bool("StopTransactionOnInvalidId"):
            # §4.8 / §9.1.24: the CSMS refused the card in StartTransaction.conf: stop, reason DeAuthorized.
            await self.stop_transaction(connector_id=connector_id, reason=Reason.de_authorized)
            return None
        await self._set_status(connector, ChargePointStatus.charging)
        connector.meter_task = asyncio.ensure_future(self._meter_loop(connector))
        self._save_state()
        return connector.transaction_id

    async def _meter_loop(self, connector: ConnectorState) -> None:
        # §9.1.19: sampled every MeterValueSampleInterval seconds from the start of the transaction; 0 = none.
        while connector.transaction_id is not None:
            interval = self.configuration.int("MeterValueSampleInterval")
            await self._sleep(interval if interval > 0 else 5)
            if connector.transaction_id is None or self._stop:
                return
            if interval > 0 and self.connected:
                await self.send_meter_values(connector.connector_id)

    def _advance_meter(self, connector: ConnectorState) -> None:
        now = time.monotonic()
        if connector.transaction_id is not None and connector.last_sample_at:
            hours = (now - connector.last_sample_at) / 3600
            connector.meter_wh += connector.power_w * hours
            connector.soc = min(100.0, connector.soc + connector.power_w * hours / 600)  # a 60 kWh battery
        connector.last_sample_at = now

    def _sample(self, connector: ConnectorState, *, context: str, keys: str) -> dict:
        charging = connector.transaction_id is not None or context == "Transaction.End"
        power = connector.power_w if charging and context != "Transaction.End" else 0.0
        current = power / (3 * 230.0)
        values = []
        for item in self.configuration.csl(keys):
            measurand, _, phase = item.rpartition(".")
            if phase not in PHASES:
                measurand, phase = item, ""
            base = {"context": context, "measurand": measurand, "format": "Raw"}
            if measurand == Measurand.energy_active_import_register:
                values.append(
                    {**base, "value": str(int(connector.meter_wh)), "unit": "Wh", "location": "Outlet"}
                )
            elif measurand == Measurand.power_active_import:
                values.append({**base, "value": f"{power:.0f}", "unit": "W", "location": "Outlet"})
            elif measurand == Measurand.current_import:
                values += [
                    {**base, "value": f"{current:.1f}", "unit": "A", "phase": p, "location": "Outlet"}
                    for p in ([phase] if phase else ["L1", "L2", "L3"])
                ]
            elif measurand == Measurand.voltage:
                values += [
                    {**base, "value": "230.0", "unit": "V", "phase": p, "location": "Outlet"}
                    for p in ([phase] if phase else ["L1-N", "L2-N", "L3-N"])
                ]
            elif measurand == Measurand.soc and charging:
                values.append({**base, "value": f"{connector.soc:.0f}", "unit": "Percent", "location": "EV"})
            elif measurand == Measurand.frequency:
                values.append({**base, "value": "50.0"})
            elif measurand == Measurand.temperature:
                values.append({**base, "value": "31.5", "unit": "Celsius", "location": "Body"})
        return {"timestamp": utc_now(), "sampledValue": values}

    # -- configuration side effects, triggers, diagnostics, firmware ------------------------------

    def _config_changed(self, key: str, status: ConfigurationStatus) -> None:
        if status not in (ConfigurationStatus.accepted, ConfigurationStatus.reboot_required):
            return
        name = self.configuration.name(key)
        if name == "AuthorizationKey":
            # Whitepaper A01: the new password is used from the next connection on (A01.FR.03).
            self.password = self.configuration.keys["AuthorizationKey"].value
            log.info("%s: AuthorizationKey changed; used from the next connection on", self.ocpp_id)
        elif name == "HeartbeatInterval":
            self.heartbeat_interval = self.configuration.int("HeartbeatInterval")
        elif name == "SecurityProfile":
            self._security_profile_raised = True
        self._save_state()

    async def _after_config_change(self, key: str) -> None:
        if self.configuration.name(key) == "SecurityProfile" and self._security_profile_raised:
            # Whitepaper A05.FR.06/07: disconnect and reconnect with the new profile.
            self._security_profile_raised = False
            self._reboot_pending = True
            await self._close()

    async def _triggered(self, message: str, connector_id: int | None) -> None:
        if message == MessageTrigger.boot_notification:
            self._must_boot = True
            await self._boot_until_accepted()
        elif message == MessageTrigger.heartbeat:
            await self._call(call.Heartbeat())
        elif message == MessageTrigger.status_notification:
            targets = [connector_id] if connector_id is not None else list(self.connectors)
            for cid in targets:
                await self._send_status(self.connectors[cid])
        elif message == MessageTrigger.meter_values:
            targets = [connector_id] if connector_id else [c for c in self.connectors if c]
            for cid in targets:
                await self.send_meter_values(cid, context="Trigger")
        elif message == MessageTrigger.diagnostics_status_notification:
            await self._call(call.DiagnosticsStatusNotification(status=self.diagnostics_status))
        elif message == MessageTrigger.firmware_status_notification:
            await self._call(call.FirmwareStatusNotification(status=self.firmware_status))

    async def _upload_diagnostics(self) -> None:
        # No upload really happens (nothing leaves this machine); the notifications are as a charger sends.
        for status in (DiagnosticsStatus.uploading, DiagnosticsStatus.uploaded):
            self.diagnostics_status = status.value
            await self._call(call.DiagnosticsStatusNotification(status=status))
            await self._sleep(self.status_step_delay)

    async def _update_firmware(self, retrieve_date: str) -> None:
        # §5.19: wait for retrieveDate, then Downloading, Downloaded, Installing, Installed. Nothing is fetched.
        with contextlib.suppress(ValueError):
            start = datetime.fromisoformat(retrieve_date.replace("Z", "+00:00"))
            await self._sleep(min((start - datetime.now(UTC)).total_seconds(), 3600))
        for status in (
            FirmwareStatus.downloading,
            FirmwareStatus.downloaded,
            FirmwareStatus.installing,
            FirmwareStatus.installed,
        ):
            self.firmware_status = status.value
            await self._call(call.FirmwareStatusNotification(status=status))
            await self._sleep(self.status_step_delay)

    # -- persistence -----------------------------------------------------------------------------

    def _load_state(self) -> None:
        if not self.state_file or not self.state_file.exists():
            return
        state = json.loads(self.state_file.read_text())
        self.configuration.load(state.get("configuration", {}))
        authorization_key = state.get("authorization_key")
        if authorization_key:
            self.configuration.keys["AuthorizationKey"].value = authorization_key
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
        authorization_key = config.pop("AuthorizationKey", None)
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


def _request_dict(payload) -> dict:
    from ocpp.charge_point import remove_nones, serialize_as_dict, snake_to_camel_case

    data = snake_to_camel_case(remove_nones(serialize_as_dict(payload)))
    return {k: _mask(k, v) for k, v in data.items()}
