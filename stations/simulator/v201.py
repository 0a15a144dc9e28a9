"""The OCPP 2.0.1 simulated charger, written against OCPP 2.0.1 edition 3 part 2 and OCPP-J part 4: the library's
v201 ChargePoint with the handlers for the CSMS's calls. EVSEs and transactions: v201_transactions.py; the device
model and its GetVariables/SetVariables rules: v201_device_model.py; connecting and booting: connection.py.

What the CSMS can do to it (each answered as a charger would):
GetBaseReport / GetReport (B07/B08: Accepted, then NotifyReport in parts of ItemsPerMessage), GetVariables,
SetVariables (B05/B06: per-variable status), Reset (B11/B12: Immediate reboots now, OnIdle after the running
transactions end, answering Scheduled), ChangeAvailability (G03), UnlockConnector (F05), TriggerMessage (F06),
RequestStartTransaction / RequestStopTransaction (F01/F03), GetTransactionStatus (E14), ClearCache (C11),
DataTransfer (P01). Anything else gets the library's NotImplemented CALLERROR."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ocpp.exceptions import OccurrenceConstraintViolationError
from ocpp.routing import after, on
from ocpp.v201 import ChargePoint as _OcppChargePoint
from ocpp.v201 import call, call_result
from ocpp.v201.enums import Action

from .connection import log
from .meter import utc_now
from .v201_device_model import DeviceModel, default_variables
from .v201_transactions import EvseState, TransactionsV201

SUBPROTOCOL = "ocpp2.0.1"


class _ChargePoint(_OcppChargePoint):
    """Handlers delegate to the SimulatedStation201; follow-up messages go in @after hooks (see v16.py)."""

    def __init__(self, station: SimulatedStation201, connection):
        super().__init__(station.ocpp_id, connection, response_timeout=station.response_timeout)
        self.station = station

    @on(Action.get_base_report)
    def on_get_base_report(self, request_id, report_base, **_):
        self.station._received(Action.get_base_report, {"requestId": request_id, "reportBase": report_base})
        return call_result.GetBaseReport(status="Accepted")

    @after(Action.get_base_report)
    async def after_get_base_report(self, request_id, **_):
        await self.station._send_report(request_id)

    @on(Action.get_report)
    def on_get_report(self, request_id, component_variable=None, **kwargs):
        self.station._received(
            Action.get_report, {"requestId": request_id, "componentVariable": component_variable, **kwargs}
        )
        # B08.FR.04/05: only the requested components/variables; nothing matches -> EmptyResultSet, no report.
        if component_variable and not self.station.configuration.report(component_variable):
            return call_result.GetReport(status="EmptyResultSet")
        return call_result.GetReport(status="Accepted")

    @after(Action.get_report)
    async def after_get_report(self, request_id, component_variable=None, **_):
        if not component_variable or self.station.configuration.report(component_variable):
            await self.station._send_report(request_id, component_variable)

    @on(Action.get_variables)
    def on_get_variables(self, get_variable_data, **_):
        self.station._received(Action.get_variables, {"getVariableData": get_variable_data})
        per_message = self.station.configuration.int("DeviceDataCtrlr.ItemsPerMessage", 20)
        if len(get_variable_data) > per_message:
            # B06.FR.16 lets a station refuse more than ItemsPerMessageGetVariables with a CALLERROR.
            raise OccurrenceConstraintViolationError(
                description=f"more than ItemsPerMessage ({per_message}) getVariableData"
            )
        results = []
        for item in get_variable_data:
            attribute = item.get("attribute_type", "Actual")
            status, value = self.station.configuration.get(item["component"], item["variable"], attribute)
            result = {
                "attribute_status": status,
                "component": item["component"],
                "variable": item["variable"],
            }
            if item.get("attribute_type"):
                result["attribute_type"] = attribute
            if value is not None:
                result["attribute_value"] = value
            results.append(result)
        return call_result.GetVariables(get_variable_result=results)

    @on(Action.set_variables)
    def on_set_variables(self, set_variable_data, **_):
        masked = [
            {**item, "attribute_value": "********"}
            if item["variable"].get("name") == "BasicAuthPassword"
            else item
            for item in set_variable_data
        ]
        self.station._received(Action.set_variables, {"setVariableData": masked})
        results = []
        for item in set_variable_data:
            attribute = item.get("attribute_type", "Actual")
            status = self.station.configuration.set(
                item["component"], item["variable"], item["attribute_value"], attribute
            )
            self.station._variable_set(item["component"], item["variable"], status)
            result = {
                "attribute_status": status,
                "component": item["component"],
                "variable": item["variable"],
            }
            if item.get("attribute_type"):
                result["attribute_type"] = attribute
            results.append(result)
        return call_result.SetVariables(set_variable_result=results)

    @on(Action.reset)
    def on_reset(self, type, evse_id=None, **_):
        self.station._received(Action.reset, {"type": type, "evseId": evse_id})
        if evse_id is not None:
            return call_result.Reset(status="Rejected")  # resetting a single EVSE is optional; not here
        busy = any(e.transaction_id for e in self.station.connectors.values())
        if type == "OnIdle" and busy:
            self.station._reset_on_idle = True
            return call_result.Reset(status="Scheduled")  # B12: reset once the transactions have ended
        return call_result.Reset(status="Accepted")

    @after(Action.reset)
    async def after_reset(self, type, evse_id=None, **_):
        if evse_id is None and not self.station._reset_on_idle:
            await self.station.reboot(reason="ImmediateReset" if type == "Immediate" else "Local")

    @on(Action.change_availability)
    def on_change_availability(self, operational_status, evse=None, **_):
        self.station._received(
            Action.change_availability, {"operationalStatus": operational_status, "evse": evse}
        )
        targets = [evse["id"]] if evse else [i for i in self.station.connectors if i]
        if any(t not in self.station.connectors for t in targets):
            return call_result.ChangeAvailability(status="Rejected")
        busy = False
        for t in targets:
            state = self.station.connectors[t]
            state.operative = operational_status == "Operative"
            busy = busy or state.transaction_id is not None
        return call_result.ChangeAvailability(status="Scheduled" if busy else "Accepted")

    @after(Action.change_availability)
    async def after_change_availability(self, operational_status, evse=None, **_):
        for state in self.station.connectors.values():
            if state.connector_id and state.transaction_id is None:
                wanted = "Available" if state.operative else "Unavailable"
                if state.status != wanted:
                    await self.station._set_status(state, wanted)

    @on(Action.unlock_connector)
    def on_unlock_connector(self, evse_id, connector_id, **_):
        self.station._received(Action.unlock_connector, {"evseId": evse_id, "connectorId": connector_id})
        state = self.station.connectors.get(evse_id)
        if state is None or evse_id == 0 or connector_id != 1:
            return call_result.UnlockConnector(status="UnknownConnector")
        if state.transaction_id is not None:
            return call_result.UnlockConnector(status="OngoingAuthorizedTransaction")  # F05.FR.02
        return call_result.UnlockConnector(status="Unlocked")

    @on(Action.trigger_message)
    def on_trigger_message(self, requested_message, evse=None, **_):
        self.station._received(Action.trigger_message, {"requestedMessage": requested_message, "evse": evse})
        known = {"BootNotification", "Heartbeat", "StatusNotification", "MeterValues", "TransactionEvent"}
        if requested_message not in known:
            return call_result.TriggerMessage(status="NotImplemented")
        if evse and evse.get("id") not in self.station.connectors:
            return call_result.TriggerMessage(status="Rejected")
        return call_result.TriggerMessage(status="Accepted")

    @after(Action.trigger_message)
    async def after_trigger_message(self, requested_message, evse=None, **_):
        await self.station._triggered(requested_message, (evse or {}).get("id"))

    @on(Action.request_start_transaction)
    def on_request_start_transaction(self, id_token, remote_start_id, evse_id=None, **_):
        self.station._received(
            Action.request_start_transaction,
            {"idToken": id_token, "remoteStartId": remote_start_id, "evseId": evse_id},
        )
        state = self.station._free_evse(evse_id)
        if state is None or self.station.registration_status != "Accepted":  # B02.FR.05
            return call_result.RequestStartTransaction(status="Rejected")
        state.remote_start_id = remote_start_id
        state.status = "Occupied"  # reserved until the @after hook runs
        self.station._remote_starts.append((state.connector_id, id_token))
        return call_result.RequestStartTransaction(status="Accepted")

    @after(Action.request_start_transaction)
    async def after_request_start_transaction(self, **_):
        if self.station._remote_starts:
            evse_id, token = self.station._remote_starts.pop(0)
            await self.station._begin_transaction(
                self.station.connectors[evse_id], token, trigger="RemoteStart"
            )

    @on(Action.request_stop_transaction)
    def on_request_stop_transaction(self, transaction_id, **_):
        self.station._received(Action.request_stop_transaction, {"transactionId": transaction_id})
        found = self.station._evse_of_transaction(transaction_id)
        return call_result.RequestStopTransaction(status="Accepted" if found else "Rejected")

    @after(Action.request_stop_transaction)
    async def after_request_stop_transaction(self, transaction_id, **_):
        found = self.station._evse_of_transaction(transaction_id)
        if found is not None:
            await self.station.stop_transaction(evse_id=found.connector_id, reason="Remote")

    @on(Action.get_transaction_status)
    def on_get_transaction_status(self, transaction_id=None, **_):
        self.station._received(Action.get_transaction_status, {"transactionId": transaction_id})
        ongoing = transaction_id is not None and self.station._evse_of_transaction(transaction_id) is not None
        queued = any(type(m).__name__ == "TransactionEvent" for m in self.station._pending_messages)
        if transaction_id is None:
            return call_result.GetTransactionStatus(messages_in_queue=queued)
        return call_result.GetTransactionStatus(messages_in_queue=queued, ongoing_indicator=ongoing)

    @on(Action.clear_cache)
    def on_clear_cache(self, **_):
        self.station._received(Action.clear_cache, {})
        return call_result.ClearCache(status="Accepted")

    @on(Action.data_transfer)
    def on_data_transfer(self, vendor_id, **kwargs):
        self.station._received(Action.data_transfer, {"vendorId": vendor_id, **kwargs})
        return call_result.DataTransfer(status="UnknownVendorId")


class SimulatedStation201(TransactionsV201):
    """An OCPP 2.0.1 charging station with `evses` EVSEs of one connector each."""

    subprotocol = SUBPROTOCOL
    heartbeat_key = "OCPPCommCtrlr.HeartbeatInterval"
    ping_interval_key = "OCPPCommCtrlr.WebSocketPingInterval"
    password_key = "SecurityCtrlr.BasicAuthPassword"

    def __init__(
        self,
        url: str,
        ocpp_id: str,
        *,
        password: str | None = None,
        evses: int = 2,
        reject_variables: Iterable[str] = (),
        reboot_variables: Iterable[str] = ("OCPPCommCtrlr.WebSocketPingInterval",),
        heartbeat_interval: int | None = None,
        vendor: str = "EfluxSim",
        model: str = "SIM-201-AC22",
        serial_number: str | None = None,
        firmware_version: str = "2.0.1-sim",
        power_w: float = 11040.0,
        meter_wh: int = 0,
        reboot_delay: float = 1.0,
        reconnect: bool = True,
        response_timeout: int = 30,
        state_file: str | Path | None = None,
    ):
        serial_number = serial_number or f"SIM-{ocpp_id}"[:25]
        model_vars = default_variables(
            vendor=vendor,
            model=model,
            serial_number=serial_number,
            firmware=firmware_version,
            ocpp_id=ocpp_id,
        )
        configuration = DeviceModel(
            model_vars, evses=evses, reject_variables=reject_variables, reboot_variables=reboot_variables
        )
        if password:
            configuration.keys["SecurityCtrlr.BasicAuthPassword"].value = password
        super().__init__(
            url,
            ocpp_id,
            configuration=configuration,
            connectors={
                i: EvseState(i, meter_wh=float(meter_wh), power_w=power_w if i else 0.0)
                for i in range(evses + 1)
            },
            password=password,
            vendor=vendor,
            model=model,
            serial_number=serial_number,
            firmware_version=firmware_version,
            heartbeat_interval=heartbeat_interval,
            reboot_delay=reboot_delay,
            reconnect=reconnect,
            response_timeout=response_timeout,
            state_file=state_file,
        )
        self.boot_reason = "PowerUp"
        self._remote_starts: list[tuple[int, dict]] = []
        self._reset_on_idle = False

    async def stop(self, *, stop_transactions: bool = False) -> None:
        if stop_transactions:
            for evse in list(self.connectors.values()):
                if evse.transaction_id is not None:
                    await self.stop_transaction(evse_id=evse.connector_id, reason="Local")
        await super().stop()

    async def reboot(self, *, reason: str = "ImmediateReset") -> None:
        """What Reset does: end running transactions, close the socket, come back after reboot_delay, boot with
        reason RemoteReset (B11)."""
        log.info("%s: reset: shutting down", self.ocpp_id)
        for evse in list(self.connectors.values()):
            if evse.transaction_id is not None:
                await self.stop_transaction(evse_id=evse.connector_id, reason=reason)
        self.boot_reason = "RemoteReset"
        self._reset_on_idle = False
        self._reboot_pending = True
        self._must_boot = True
        await self._close()

    async def _transaction_done(self) -> None:
        if self._reset_on_idle and not any(e.transaction_id for e in self.connectors.values()):
            await self.reboot(reason="Local")  # B12: the scheduled OnIdle reset, now that nothing charges

    # -- what the connection loop asks of OCPP 2.0.1 ----------------------------------------------

    def _charge_point(self, ws) -> _ChargePoint:
        return _ChargePoint(self, ws)

    def _boot_notification(self) -> call.BootNotification:
        return call.BootNotification(
            charging_station={
                "model": self.model,
                "vendorName": self.vendor,
                "serialNumber": self.serial_number,
                "firmwareVersion": self.firmware_version,
                "modem": {"iccid": "8931000000000000000", "imsi": "204000000000000"},
            },
            reason=self.boot_reason,
        )

    def _heartbeat(self) -> call.Heartbeat:
        return call.Heartbeat()

    def _variable_set(self, component: dict, variable: dict, status: str) -> None:
        if status not in ("Accepted", "RebootRequired"):
            return
        key = f"{component.get('name')}.{variable.get('name')}"
        if key == self.password_key:
            # A01: the new password is used from the next connection on; never logged (A01.FR.12).
            self.password = self.configuration.keys[key].value
            log.info("%s: BasicAuthPassword changed; used from the next connection on", self.ocpp_id)
        elif key == self.heartbeat_key:
            self.heartbeat_interval = self.configuration.int(key)
        self._save_state()

    async def _send_report(self, request_id: int, component_variable: list | None = None) -> None:
        items = self.configuration.report(component_variable)
        per_message = max(self.configuration.int("DeviceDataCtrlr.ItemsPerMessage", 20), 1)
        parts = [items[i : i + per_message] for i in range(0, len(items), per_message)] or [[]]
        for seq, part in enumerate(parts):
            await self._call(
                call.NotifyReport(
                    request_id=request_id,
                    generated_at=utc_now(),
                    seq_no=seq,
                    report_data=part or None,
                    tbc=seq < len(parts) - 1,
                )
            )

    async def _triggered(self, message: str, evse_id: int | None) -> None:
        if message == "BootNotification":
            self.boot_reason = "Triggered"
            self._must_boot = True
            await self._boot_until_accepted()
        elif message == "Heartbeat":
            await self._call(call.Heartbeat())
        elif message == "StatusNotification":
            for cid in [evse_id] if evse_id else [c for c in self.connectors if c]:
                await self._send_status(self.connectors[cid])
        elif message in ("MeterValues", "TransactionEvent"):
            for cid in [evse_id] if evse_id else [c for c in self.connectors if c]:
                await self.send_meter_values(cid, context="Trigger")
