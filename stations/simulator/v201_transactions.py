"""The OCPP 2.0.1 EVSEs and transactions of the simulated charger: StatusNotification per EVSE and connector
(G01), a session started by a card or remotely (Authorize, TransactionEvent Started / Updated / Ended with meter
values inside, E01-E07, seqNo per station), and its end with a stoppedReason. Transaction messages that cannot
be sent (offline) are queued and sent on reconnect with offline=true (E04), in order.

TransactionsV201 sits between the connection loop (connection.py) and SimulatedStation201 (v201.py)."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field

from ocpp.v201 import call

from .connection import StationConnection, log
from .meter import advance_meter, meter_sample, utc_now
from .v201_device_model import DeviceModel


@dataclass
class EvseState:
    connector_id: int  # the EVSE id (the connection loop's "connector"); each EVSE has connector 1
    status: str = "Available"  # ConnectorStatusEnumType
    operative: bool = True
    meter_wh: float = 0.0
    transaction_id: str | None = None
    id_token: dict | None = None
    remote_start_id: int | None = None
    soc: float = 20.0
    power_w: float = 0.0
    last_sample_at: float = 0.0
    meter_task: asyncio.Task | None = field(default=None, repr=False)


def sample_201(evse: EvseState, measurands: list[str], *, context: str) -> dict:
    """meter.meter_sample (1.6 shape) as a 2.0.1 MeterValueType: numeric value, unitOfMeasure."""
    sample = meter_sample(evse, measurands, context=context)
    values = []
    for sv in sample["sampledValue"]:
        value = {k: sv[k] for k in ("context", "measurand", "phase", "location") if sv.get(k)}
        value["value"] = float(sv["value"])
        if sv.get("unit"):
            value["unitOfMeasure"] = {"unit": sv["unit"]}
        values.append(value)
    return {"timestamp": sample["timestamp"], "sampledValue": values}


class TransactionsV201(StationConnection):
    configuration: DeviceModel
    connectors: dict[int, EvseState]

    seq_no = 0  # TransactionEvent seqNo: incremented per message, per station (E.FR "seqNo")

    # -- public API ------------------------------------------------------------------------------

    async def swipe(
        self, id_token: str, evse_id: int | None = None, *, token_type: str = "ISO14443"
    ) -> str | None:
        """A driver presents a card: Authorize, then a transaction on `evse_id` (or the first free EVSE).
        Returns the station's transactionId, or None if it was not authorized."""
        evse = self._free_evse(evse_id)
        if evse is None:
            log.warning("%s: no free EVSE for %s", self.ocpp_id, id_token)
            return None
        token = {"idToken": id_token, "type": token_type}
        if self.configuration.bool("AuthCtrlr.Enabled"):
            answer = await self._call(call.Authorize(id_token=token))
            if answer is None or answer.id_token_info.get("status") != "Accepted":
                log.info("%s: %s not authorized", self.ocpp_id, id_token)
                return None
        return await self._begin_transaction(evse, token, trigger="Authorized")

    async def stop_transaction(self, *, evse_id: int | None = None, reason: str = "Local") -> str | None:
        evse = self._evse_of(evse_id)
        if evse is None or evse.transaction_id is None:
            return None
        tx = evse.transaction_id
        if evse.meter_task:
            evse.meter_task.cancel()
            evse.meter_task = None
        advance_meter(evse)
        measurands = self.configuration.csl("SampledDataCtrlr.TxEndedMeasurands") or [
            "Energy.Active.Import.Register"
        ]
        trigger = {"Remote": "RemoteStop", "EVDisconnected": "EVCommunicationLost"}.get(
            reason, "StopAuthorized"
        )
        await self._transaction_event(
            "Ended",
            evse,
            trigger=trigger,
            meter=[sample_201(evse, measurands, context="Transaction.End")],
            info={"stoppedReason": reason, "chargingState": "Idle"},
        )
        evse.transaction_id = evse.id_token = evse.remote_start_id = None
        await self._set_status(evse, "Available" if evse.operative else "Unavailable")
        await self._transaction_done()
        return tx

    def add_energy(self, evse_id: int, wh: float) -> None:
        self.connectors[evse_id].meter_wh += wh

    async def _transaction_done(self) -> None:
        """A hook for what waits for the station to be idle (Reset OnIdle, B12)."""

    # -- statuses --------------------------------------------------------------------------------

    async def _set_status(self, evse: EvseState, status: str) -> None:
        evse.status = status
        await self._send_status(evse)

    async def _send_status(self, evse: EvseState) -> None:
        if evse.connector_id == 0:
            return  # 2.0.1 reports connectors only (G01); the station as a whole has no connector status
        await self._call(
            call.StatusNotification(
                timestamp=utc_now(), connector_status=evse.status, evse_id=evse.connector_id, connector_id=1
            )
        )

    async def _report_all_statuses(self) -> None:
        for evse in self.connectors.values():
            await self._send_status(evse)

    # -- transactions ----------------------------------------------------------------------------

    def _free_evse(self, evse_id: int | None) -> EvseState | None:
        candidates = (
            [self.connectors[evse_id]] if evse_id in self.connectors else list(self.connectors.values())
        )
        return next(
            (e for e in candidates if e.connector_id and e.operative and e.transaction_id is None), None
        )

    def _evse_of(self, evse_id: int | None) -> EvseState | None:
        if evse_id is not None:
            return self.connectors.get(evse_id)
        return next((e for e in self.connectors.values() if e.transaction_id is not None), None)

    def _evse_of_transaction(self, transaction_id: str) -> EvseState | None:
        return next((e for e in self.connectors.values() if e.transaction_id == transaction_id), None)

    async def _begin_transaction(self, evse: EvseState, token: dict, *, trigger: str) -> str:
        evse.transaction_id = uuid.uuid4().hex[:20]
        evse.id_token = token
        advance_meter(evse)
        await self._set_status(evse, "Occupied")
        measurands = self.configuration.csl("SampledDataCtrlr.TxStartedMeasurands") or [
            "Energy.Active.Import.Register"
        ]
        info: dict = {"chargingState": "Charging"}
        if evse.remote_start_id is not None:
            info["remoteStartId"] = evse.remote_start_id
        await self._transaction_event(
            "Started",
            evse,
            trigger=trigger,
            meter=[sample_201(evse, measurands, context="Transaction.Begin")],
            info=info,
            id_token=token,
            with_evse=True,
        )
        if self._cp is not None and evse.meter_task is None:
            evse.meter_task = asyncio.ensure_future(self._meter_loop(evse))
        return evse.transaction_id

    async def send_meter_values(self, evse_id: int, *, context: str = "Sample.Periodic") -> None:
        evse = self.connectors[evse_id]
        advance_meter(evse)
        measurands = self.configuration.csl("SampledDataCtrlr.TxUpdatedMeasurands") or [
            "Energy.Active.Import.Register"
        ]
        sample = sample_201(evse, measurands, context=context)
        if evse.transaction_id is None:
            await self._call(call.MeterValues(evse_id=evse_id, meter_value=[sample]))
            return
        trigger = "MeterValuePeriodic" if context == "Sample.Periodic" else "Trigger"
        await self._transaction_event(
            "Updated", evse, trigger=trigger, meter=[sample], info={"chargingState": "Charging"}
        )

    async def _meter_loop(self, evse: EvseState) -> None:
        while evse.transaction_id is not None:
            await self._sleep(max(self.configuration.int("SampledDataCtrlr.TxUpdatedInterval", 300), 1))
            if self._stop or evse.transaction_id is None or self._cp is None:
                evse.meter_task = None
                return
            await self.send_meter_values(evse.connector_id)

    async def _transaction_event(
        self, event_type, evse, *, trigger, meter=None, info=None, id_token=None, with_evse=False
    ) -> None:
        payload = dict(
            event_type=event_type,
            timestamp=utc_now(),
            trigger_reason=trigger,
            seq_no=self.seq_no,
            transaction_info={"transactionId": evse.transaction_id, **(info or {})},
            meter_value=meter,
            id_token=id_token,
            evse={"id": evse.connector_id, "connectorId": 1} if with_evse else None,
        )
        self.seq_no += 1
        if self._cp is None:
            # E04: a transaction message that cannot be delivered is kept and sent later, marked offline.
            self._pending_messages.append(call.TransactionEvent(**payload, offline=True))
            return
        answer = await self._call(call.TransactionEvent(**payload))
        if answer is not None and answer.total_cost is not None:
            log.info("%s: transaction %s cost %s", self.ocpp_id, evse.transaction_id, answer.total_cost)
