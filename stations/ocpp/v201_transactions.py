"""OCPP 2.0.1 transaction messages (Authorize, TransactionEvent, MeterValues): a mixin of the v201 ChargePoint.
The handlers only translate to the billing services; as in 1.6 (v16_transactions.py), each awaits its atomic
service, so the CALLRESULT leaves only after the commit, and any failure is a CALLERROR the station retries
(part 2 E13 "transaction-related message ... retry"; part 4 §4.2.3 'failure to process the message')."""

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.utils import timezone
from ocpp.routing import on
from ocpp.v201 import call_result
from ocpp.v201.enums import Action

from billing import services
from billing.services.transaction_events import transaction_event_record
from eflux.asyncdb import db as _db
from eflux.lib.ocpp_time import format_ocpp_datetime
from stations.services import device_model

from .journal import Effect, effect_run


def id_token_info(decision) -> dict:
    """IdTokenInfoType (part 2 §2.48) from the version-neutral decision (billing/authorization.py). The 1.6
    statuses (Accepted, Blocked, Expired, Invalid) are all AuthorizationStatusEnumType values; the parent idTag
    (the account group) is the groupIdToken."""
    info: dict = {"status": decision.status}
    if decision.expiry_date:
        info["cache_expiry_date_time"] = format_ocpp_datetime(decision.expiry_date)
    if decision.parent_id_tag:
        info["group_id_token"] = {"id_token": decision.parent_id_tag, "type": "Central"}
    return info


def meter_values_as_16(meter_value: list | None) -> list:
    """2.0.1 MeterValueType (numeric value, unitOfMeasure with a power-of-ten multiplier) in the 1.6 shape
    billing.metering reads (string value, unit). The multiplier is applied here, exactly, in Decimal."""
    out = []
    for mv in meter_value or []:
        sampled = []
        for sv in mv.get("sampled_value") or []:
            unit = sv.get("unit_of_measure") or {}
            raw = sv.get("value")
            try:
                value = Decimal(str(raw)).scaleb(int(unit.get("multiplier") or 0))
                text = format(value.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP).normalize(), "f")
            except (InvalidOperation, ValueError):
                text = str(raw)
            sampled.append(
                {
                    "value": text,
                    "measurand": sv.get("measurand") or "Energy.Active.Import.Register",
                    "phase": sv.get("phase"),
                    "location": sv.get("location"),
                    "context": sv.get("context") or "Sample.Periodic",
                    "unit": unit.get("unit") or "",
                    "format": "Raw",
                }
            )
        out.append({"timestamp": mv.get("timestamp"), "sampled_value": sampled})
    return out


def _meter_values_store(*, station_pk: int, evse_id: int, meter_value: list, received_at) -> None:
    """A 2.0.1 MeterValuesRequest stored as its 1.6 equivalent, on the EVSE's connector (in the caller's
    transaction: the fused path's, or effect_run's)."""
    connector = device_model.evse_connector_number(station_pk=station_pk, evse_id=evse_id)
    services.meter_values_store(
        [
            dict(
                station_id=station_pk,
                connector_id=connector,
                meter_value=meter_value,
                received_at=received_at,
            )
        ]
    )


class TransactionHandlersV201:
    station_pk: int

    @on(Action.authorize)
    async def on_authorize(self, id_token: dict, **_):
        decision = await _db(services.authorize_id_tag)(
            station_id=self.station_pk, id_tag=id_token.get("id_token", "")
        )
        return call_result.Authorize(id_token_info=id_token_info(decision))

    def fuse_meter_values(self, evse_id: int, meter_value: list, **_):
        message = dict(
            station_pk=self.station_pk,
            evse_id=evse_id,
            meter_value=meter_values_as_16(meter_value),
            received_at=timezone.now(),
        )
        return Effect(_meter_values_store, message), call_result.MeterValues()

    @on(Action.meter_values)
    async def on_meter_values(self, **kwargs):
        return await effect_run(*self.fuse_meter_values(**kwargs))

    @on(Action.transaction_event)
    async def on_transaction_event(
        self,
        event_type: str,
        timestamp: str,
        trigger_reason: str,
        seq_no: int,
        transaction_info: dict,
        evse: dict | None = None,
        id_token: dict | None = None,
        meter_value: list | None = None,
        offline: bool = False,
        call_unique_id: str = "",
        **_,
    ):
        received_at = timezone.now()
        connector = None
        if evse is not None:
            connector = await _db(device_model.evse_connector_number)(
                station_pk=self.station_pk, evse_id=evse["id"], connector_id=evse.get("connector_id")
            )
        result = await _db(transaction_event_record)(
            station_id=self.station_pk,
            event_type=event_type,
            timestamp=timestamp,
            trigger_reason=trigger_reason,
            seq_no=seq_no,
            transaction_info=transaction_info,
            connector_id=connector,
            id_token=id_token,
            meter_value=meter_values_as_16(meter_value),
            offline=offline,
            message_id=call_unique_id,
            received_at=received_at,
        )
        answer: dict = {}
        total = result.total_cost
        if total is not None:
            answer["total_cost"] = float(total)  # E.FR TransactionEventResponse.totalCost (decimal)
        if result.decision is not None:
            answer["id_token_info"] = id_token_info(result.decision)
        return call_result.TransactionEvent(**answer)
