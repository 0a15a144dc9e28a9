"""The OCPP 1.6 connectors and transactions of the simulated charger: StatusNotification (§4.9),
ChangeAvailability (§5.2), a session started by a card or remotely (Authorize, StartTransaction), its meter
values (MeterValues, §9.1.17/§9.1.19) and its end (StopTransaction with transactionData, §9.1.27).

TransactionsV16 is the layer between the connection loop (stations/simulator/connection.py) and the station
(SimulatedStation in stations/simulator/v16.py, which adds the CSMS's calls)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from ocpp.v16 import call
from ocpp.v16.enums import (
    AuthorizationStatus,
    AvailabilityStatus,
    AvailabilityType,
    ChargePointErrorCode,
    ChargePointStatus,
    Reason,
)

from .connection import StationConnection, log
from .meter import advance_meter, meter_sample, utc_now
from .v16_configuration import Configuration


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


class TransactionsV16(StationConnection):
    """Connectors, statuses and transactions on top of the connection loop; still abstract (no handlers)."""

    configuration: Configuration
    connectors: dict[int, ConnectorState]
    status_step_delay: float  # pause between the steps of a sequence of status notifications

    # -- public API ------------------------------------------------------------------------------

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
        advance_meter(connector)
        transaction_id = connector.transaction_id
        connector.transaction_id = None
        await self._set_status(connector, ChargePointStatus.finishing)
        end = meter_sample(connector, self.configuration.csl("StopTxnSampledData"), context="Transaction.End")
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
        advance_meter(connector)
        sample = meter_sample(connector, self.configuration.csl("MeterValuesSampledData"), context=context)
        if connector.transaction_id is not None and context == "Sample.Periodic":
            stop_sample = meter_sample(
                connector, self.configuration.csl("StopTxnSampledData"), context=context
            )
            if stop_sample["sampledValue"]:
                connector.transaction_samples.append(stop_sample)
        await self._call(
            call.MeterValues(
                connector_id=connector_id,
                meter_value=[sample],
                transaction_id=connector.transaction_id,
            )
        )

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
        advance_meter(connector)
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
        begin = meter_sample(
            connector, self.configuration.csl("StopTxnSampledData"), context="Transaction.Begin"
        )
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
