"""The OCPP 1.6J simulated charger, written against the OCPP 1.6 edition 2 spec, the OCPP-J 1.6 spec and the
OCPP 1.6 security whitepaper: the library's v16 ChargePoint with the handlers for the CSMS's calls, and what
they do to the station. Connectors and transactions: stations/simulator/v16_transactions.py; configuration
keys: stations/simulator/v16_configuration.py; connecting and booting: stations/simulator/connection.py.

What the CSMS can do to it (each answered as a charger would, clause in the handler):
GetConfiguration, ChangeConfiguration, Reset, ChangeAvailability, UnlockConnector, ClearCache, TriggerMessage,
RemoteStartTransaction, RemoteStopTransaction, DataTransfer, GetDiagnostics, UpdateFirmware. Anything else gets
the library's NotImplemented CALLERROR."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from ocpp.routing import after, on
from ocpp.v16 import ChargePoint as _OcppChargePoint
from ocpp.v16 import call, call_result
from ocpp.v16.enums import (
    Action,
    ChargePointStatus,
    ClearCacheStatus,
    ConfigurationStatus,
    DataTransferStatus,
    DiagnosticsStatus,
    FirmwareStatus,
    MessageTrigger,
    Reason,
    RemoteStartStopStatus,
    ResetStatus,
    ResetType,
    TriggerMessageStatus,
    UnlockStatus,
)

from .connection import log, mask_secret
from .v16_configuration import Configuration, default_configuration
from .v16_transactions import ConnectorState, TransactionsV16

SUBPROTOCOL = "ocpp1.6"


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
        self.station._received(Action.change_configuration, {"key": key, "value": mask_secret(key, value)})
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


class SimulatedStation(TransactionsV16):
    """An OCPP 1.6J charge point (usage: stations/simulator/__init__.py)."""

    subprotocol = SUBPROTOCOL
    heartbeat_key = "HeartbeatInterval"  # §9.1.10
    ping_interval_key = "WebSocketPingInterval"  # §9.1.34
    password_key = "AuthorizationKey"  # security whitepaper §7.2

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
        configuration = Configuration(
            default_configuration(connectors), reject_keys=reject_keys, reboot_keys=reboot_keys
        )
        if meter_value_interval is not None:
            configuration.keys["MeterValueSampleInterval"].value = str(meter_value_interval)
        if password:
            # Installed with a password: a security-profile-1 charger, the password its AuthorizationKey
            # (A00.FR.205). Without one it runs profile 0 (whitepaper §7.6 default). A state file overrides both.
            configuration.keys["AuthorizationKey"].value = password
            configuration.keys["SecurityProfile"].value = "1"
        super().__init__(
            url,
            ocpp_id,
            configuration=configuration,
            connectors={
                i: ConnectorState(i, meter_wh=float(meter_wh), power_w=power_w if i else 0.0)
                for i in range(connectors + 1)
            },
            password=password,
            vendor=vendor,
            model=model,
            serial_number=serial_number or f"SIM-{ocpp_id}"[:25],
            firmware_version=firmware_version,
            heartbeat_interval=heartbeat_interval,
            reboot_delay=reboot_delay,
            reconnect=reconnect,
            response_timeout=response_timeout,
            state_file=state_file,
        )
        self.shutdown_delay = shutdown_delay
        self.status_step_delay = status_step_delay
        self.firmware_status = FirmwareStatus.idle.value
        self.diagnostics_status = DiagnosticsStatus.idle.value
        self._remote_starts: list[int] = []  # connectors reserved by accepted RemoteStartTransactions
        self._security_profile_raised = False

    # -- public API ------------------------------------------------------------------------------

    async def stop(self, *, stop_transactions: bool = False) -> None:
        """Disconnect and make run() return. stop_transactions: first end running sessions (reason Local),
        as an operator switching a charger off at the end of a demo would."""
        if stop_transactions:
            for connector in list(self.connectors.values()):
                if connector.transaction_id is not None:
                    await self.stop_transaction(connector_id=connector.connector_id, reason=Reason.local)
        await super().stop()

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

    # -- what the connection loop asks of OCPP 1.6 ------------------------------------------------

    def _basic_auth_password(self) -> str | None:
        # Security whitepaper §7.6 / A00.FR.202: HTTP Basic from security profile 1 on. A profile-0 charger
        # stores an AuthorizationKey it is sent (A01.FR.01) but keeps connecting without credentials until
        # SecurityProfile is raised (A05).
        if self.configuration.int("SecurityProfile") < 1:
            return None
        return self.password

    def _charge_point(self, ws) -> _ChargePoint:
        return _ChargePoint(self, ws)

    def _boot_notification(self) -> call.BootNotification:
        return call.BootNotification(
            charge_point_vendor=self.vendor,
            charge_point_model=self.model,
            charge_point_serial_number=self.serial_number,
            charge_box_serial_number=self.serial_number,
            firmware_version=self.firmware_version,
            meter_type="SIM-METER-3P",
            meter_serial_number=f"M-{self.ocpp_id}"[:25],
        )

    def _heartbeat(self) -> call.Heartbeat:
        return call.Heartbeat()

    # -- configuration side effects, triggers, diagnostics, firmware ------------------------------

    def _config_changed(self, key: str, status: ConfigurationStatus) -> None:
        if status not in (ConfigurationStatus.accepted, ConfigurationStatus.reboot_required):
            return
        name = self.configuration.name(key)
        if name == "AuthorizationKey":
            # Whitepaper A01: the new password is used from the next connection on (A01.FR.03), by a charger that
            # uses HTTP Basic at all (security profile 1 and up; see _basic_auth_password).
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
