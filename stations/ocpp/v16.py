"""OCPP 1.6J: the ChargePoint whose handlers translate station-initiated messages into stations.services
calls. Transaction messages come from TransactionHandlersV16 (stations/ocpp/v16_transactions.py)."""

from datetime import UTC, datetime

from django.conf import settings
from ocpp.routing import after, on
from ocpp.v16 import ChargePoint as LibraryChargePointV16
from ocpp.v16 import call_result
from ocpp.v16.enums import Action, RegistrationStatus

from eflux.asyncdb import db
from eflux.lib.ocpp_time import parse_ocpp_datetime
from stations.services import messages

from . import validation as v
from .base import CsmsChargePointMixin
from .journal import Effect, effect_run
from .v16_transactions import TransactionHandlersV16


def utc_now_iso() -> str:
    # OCPP 1.6 §2.1 / OCPP-J §2: dateTime in UTC with a "Z"; milliseconds, like the spec's examples.
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class ChargePointV16(CsmsChargePointMixin, TransactionHandlersV16, LibraryChargePointV16):
    schema_version = "1.6"
    KNOWN_ACTIONS = frozenset(a.value for a in Action)
    # OCPP-J 1.6 §4.2.3, as 1.6 spells them: the errata sheet (§5.1, §5.2) keeps "OccurenceConstraintViolation"
    # and "FormationViolation" on purpose ("Do not fix ... might break implementations"); the library
    # sends the OCPP 2.0 spellings (FormatViolation, OccurrenceConstraintViolation).
    ERRORS = {
        v.FORMATION: "FormationViolation",
        v.PROTOCOL: "ProtocolError",
        v.PROPERTY: "PropertyConstraintViolation",
        v.OCCURRENCE: "OccurenceConstraintViolation",
        v.TYPE: "TypeConstraintViolation",
        v.NOT_IMPLEMENTED: "NotImplemented",
        v.NOT_SUPPORTED: "NotSupported",
        v.INTERNAL: "InternalError",
    }
    # e.g. a handler raising ocpp.exceptions.FormatViolationError
    RESPELL = {
        "FormatViolation": "FormationViolation",
        "OccurrenceConstraintViolation": "OccurenceConstraintViolation",
    }

    @on(Action.boot_notification)
    async def on_boot_notification(self, charge_point_vendor, charge_point_model, **fields):
        await db(messages.station_boot)(
            station_pk=self.station_pk,
            vendor=charge_point_vendor,
            model=charge_point_model,
            serial_number=fields.get("charge_point_serial_number", ""),
            charge_box_serial_number=fields.get("charge_box_serial_number", ""),
            firmware_version=fields.get("firmware_version", ""),
            iccid=fields.get("iccid", ""),
            imsi=fields.get("imsi", ""),
            meter_type=fields.get("meter_type", ""),
            meter_serial_number=fields.get("meter_serial_number", ""),
        )
        return call_result.BootNotification(
            current_time=utc_now_iso(),
            interval=settings.OCPP_HEARTBEAT_INTERVAL,
            status=RegistrationStatus.accepted,
        )

    @after(Action.boot_notification)
    async def after_boot_notification(self, **_):
        await db(messages.station_after_boot)(self.station_pk)

    # Heartbeat, StatusNotification, MeterValues and Start/StopTransaction (TransactionHandlersV16) are answered
    # through the fused path (stations/ocpp/base.py `_fused_call`: journal rows and effect in one transaction);
    # the @on handlers give the same result when it declines.
    FUSED = {
        Action.heartbeat.value: "fuse_heartbeat",
        Action.status_notification.value: "fuse_status_notification",
        Action.meter_values.value: "fuse_meter_values",
        Action.start_transaction.value: "fuse_start_transaction",
        Action.stop_transaction.value: "fuse_stop_transaction",
    }

    def fuse_heartbeat(self):
        # last_seen_at is refreshed with the journal row of this very frame.
        return None, call_result.Heartbeat(current_time=utc_now_iso())

    @on(Action.heartbeat)
    async def on_heartbeat(self):
        return await effect_run(*self.fuse_heartbeat())

    def fuse_status_notification(self, connector_id, error_code, status, **fields):
        effect = Effect(
            messages.connector_status_report,
            dict(
                station_pk=self.station_pk,
                connector_id=connector_id,
                status=status,
                error_code=error_code,
                info=fields.get("info", ""),
                vendor_id=fields.get("vendor_id", ""),
                vendor_error_code=fields.get("vendor_error_code", ""),
                timestamp=parse_ocpp_datetime(fields.get("timestamp"), strict=True),
            ),
        )
        return effect, call_result.StatusNotification()

    @on(Action.status_notification)
    async def on_status_notification(self, **kwargs):
        return await effect_run(*self.fuse_status_notification(**kwargs))

    @on(Action.data_transfer)
    async def on_data_transfer(self, vendor_id, message_id="", data=None):
        status, out = await db(messages.station_data_transfer)(
            station_pk=self.station_pk, vendor_id=vendor_id, message_id=message_id, data=data
        )
        return call_result.DataTransfer(status=status, data=out)

    @on(Action.firmware_status_notification)
    async def on_firmware_status_notification(self, status):
        await db(messages.station_firmware_status)(station_pk=self.station_pk, status=status)
        return call_result.FirmwareStatusNotification()

    @on(Action.diagnostics_status_notification)
    async def on_diagnostics_status_notification(self, status):
        await db(messages.station_diagnostics_status)(station_pk=self.station_pk, status=status)
        return call_result.DiagnosticsStatusNotification()

    @on(Action.security_event_notification)
    async def on_security_event_notification(self, type, timestamp, tech_info=""):
        await db(messages.station_security_event)(
            station_pk=self.station_pk,
            event_type=type,
            timestamp=parse_ocpp_datetime(timestamp, strict=True),
            tech_info=tech_info,
        )
        return call_result.SecurityEventNotification()
