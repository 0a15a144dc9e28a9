"""OCPP 1.6 transaction messages (Authorize, StartTransaction, MeterValues, StopTransaction).
A mixin of the v16 ChargePoint (stations/ocpp/v16.py): the handlers only translate to billing services.

StartTransaction, MeterValues and StopTransaction are fused (stations/ocpp/base.py `_fused_call`): the
service runs in the transaction of the message's journal rows, the answer is built from what it stored
(the new transactionId) in that transaction, and it leaves only after the commit. When the fused path
declines or fails, the @on handler runs the same service in a transaction of its own, again answering only
after the commit. Any exception there (database down, lock timeout, a bug) answers CALLERROR InternalError: OCPP-J errata §3.3 makes a CallError the "failure to process the message" of 1.6 §3.7.1, so
the station keeps the message and retries it (TransactionMessageAttempts/RetryInterval). A confirmation is
therefore only ever sent for data that is stored."""

from django.db import InterfaceError, OperationalError
from django.utils import timezone
from ocpp.routing import on
from ocpp.v16 import call_result
from ocpp.v16.enums import Action

from billing import services
from eflux.asyncdb import db as _db
from eflux.lib.group_commit import GroupCommit
from eflux.lib.ocpp_time import format_ocpp_datetime

from .journal import Effect, effect_run

# MeterValues are most of the traffic: concurrent ones of all stations of this process share one transaction
# (one SELECT, one INSERT, one UPDATE). Each station still gets its answer only after that commit.
_record_meter_values = _db(services.meter_values_record_many)


async def _meter_values_write(messages: list[dict]) -> None:
    await _record_meter_values(messages)


_meter_values = GroupCommit(_meter_values_write, fatal=(OperationalError, InterfaceError))


def _id_tag_info(decision) -> dict:
    # IdTagInfo (OCPP 1.6 §7.27, errata §3.73). call_result payloads go through the library's snake->camel
    # conversion; give snake_case keys.
    info = {"status": decision.status}
    if decision.expiry_date:
        info["expiry_date"] = format_ocpp_datetime(decision.expiry_date)
    if decision.parent_id_tag:
        info["parent_id_tag"] = decision.parent_id_tag
    return info


class TransactionHandlersV16:
    station_pk: int

    @on(Action.authorize)
    async def on_authorize(self, id_tag: str, **kwargs):
        decision = await _db(services.authorize_id_tag)(station_id=self.station_pk, id_tag=id_tag)
        return call_result.Authorize(id_tag_info=_id_tag_info(decision))

    def fuse_start_transaction(
        self,
        connector_id: int,
        id_tag: str,
        meter_start: int,
        timestamp: str,
        reservation_id: int | None = None,
        call_unique_id: str = "",
        **kwargs,
    ):
        # Fused (stations/ocpp/base.py): the session is stored in the transaction of the message's journal
        # rows, and the answer, which carries the new session's transactionId, is built after it there.
        effect = Effect(
            services.transaction_start_store,
            dict(
                station_id=self.station_pk,
                connector_id=connector_id,
                id_tag=id_tag,
                meter_start=meter_start,
                timestamp=timestamp,
                reservation_id=reservation_id,
                message_id=call_unique_id,
                received_at=timezone.now(),
            ),
        )

        def respond(started):
            session, decision = started
            return call_result.StartTransaction(
                transaction_id=session.transaction_id, id_tag_info=_id_tag_info(decision)
            )

        return effect, respond

    @on(Action.start_transaction)
    async def on_start_transaction(self, call_unique_id: str = "", **kwargs):
        return await effect_run(*self.fuse_start_transaction(**kwargs, call_unique_id=call_unique_id))

    def fuse_meter_values(
        self, connector_id: int, meter_value: list, transaction_id: int | None = None, **kwargs
    ):
        # Concurrent MeterValues of all stations of this process share one transaction (one SELECT, one COPY,
        # one UPDATE): fused with their journal rows (stations/ocpp/base.py), or grouped here when not.
        message = dict(
            station_id=self.station_pk,
            connector_id=connector_id,
            meter_value=meter_value,
            transaction_id=transaction_id,
            received_at=timezone.now(),
        )
        return Effect(services.meter_values_store, message, many=True), call_result.MeterValues()

    @on(Action.meter_values)
    async def on_meter_values(self, **kwargs):
        effect, response = self.fuse_meter_values(**kwargs)
        await _meter_values.submit(effect.kwargs)
        return response

    def fuse_stop_transaction(
        self,
        transaction_id: int,
        meter_stop: int,
        timestamp: str,
        id_tag: str | None = None,
        reason: str | None = None,
        transaction_data: list | None = None,
        call_unique_id: str = "",
        **kwargs,
    ):
        effect = Effect(
            services.transaction_stop_store,
            dict(
                station_id=self.station_pk,
                transaction_id=transaction_id,
                meter_stop=meter_stop,
                timestamp=timestamp,
                id_tag=id_tag,
                reason=reason,
                transaction_data=transaction_data,
                message_id=call_unique_id,
                received_at=timezone.now(),
            ),
        )

        def respond(result):
            if result.decision is None:
                return call_result.StopTransaction()
            return call_result.StopTransaction(id_tag_info=_id_tag_info(result.decision))

        return effect, respond

    @on(Action.stop_transaction)
    async def on_stop_transaction(self, call_unique_id: str = "", **kwargs):
        return await effect_run(*self.fuse_stop_transaction(**kwargs, call_unique_id=call_unique_id))
