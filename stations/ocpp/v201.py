"""OCPP 2.0.1: the ChargePoint whose handlers translate station-initiated messages into the version-neutral
services (stations/services/messages.py, device_model.py). Transaction messages come from TransactionHandlersV201
(stations/ocpp/v201_transactions.py). Framing, journal, validation and the call queue are shared (base.py)."""

from django.conf import settings
from ocpp.routing import after, on
from ocpp.v201 import ChargePoint as LibraryChargePointV201
from ocpp.v201 import call_result
from ocpp.v201.enums import Action

from eflux.asyncdb import db
from eflux.lib.ocpp_time import parse_ocpp_datetime
from stations.services import device_model, messages

from . import framing
from . import validation as v
from .base import CsmsChargePointMixin
from .journal import Effect, effect_run
from .v16 import utc_now_iso
from .v201_transactions import TransactionHandlersV201


class ChargePointV201(CsmsChargePointMixin, TransactionHandlersV201, LibraryChargePointV201):
    schema_version = "2.0.1"
    KNOWN_ACTIONS = frozenset(a.value for a in Action)
    # OCPP-J 2.0.1 part 4 §4.3: the RPC Framework Error Codes as 2.0.1 spells them.
    ERRORS = {
        v.FORMATION: "FormatViolation",
        v.PROTOCOL: "ProtocolError",
        v.PROPERTY: "PropertyConstraintViolation",
        v.OCCURRENCE: "OccurrenceConstraintViolation",
        v.TYPE: "TypeConstraintViolation",
        v.NOT_IMPLEMENTED: "NotImplemented",
        v.NOT_SUPPORTED: "NotSupported",
        v.INTERNAL: "InternalError",
        v.RPC_FRAMEWORK: "RpcFrameworkError",
        v.MESSAGE_TYPE: "MessageTypeNotSupported",
        v.SECURITY: "SecurityError",
    }
    RESPELL: dict[str, str] = {}

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        # Whether this connection's station is Accepted (B02/B03): a cache of Station.boot_status, which only a
        # BootNotification changes; read from the database once per connection, then kept by the boot handler.
        self._accepted: bool | None = None

    def frame_error_kind(self, error: framing.FrameInvalid) -> str:
        # Part 4 §4.1.3: a Message Type Number not in the table; §4.3 RpcFrameworkError: "Content of the call
        # is not a valid RPC Request, for example: MessageId could not be read" (the wrapper, not the payload).
        if error.envelope and error.kind == v.PROPERTY and "MessageTypeId" in error.description:
            return v.MESSAGE_TYPE
        return v.RPC_FRAMEWORK if error.envelope else error.kind

    async def refuse_call(self, action: str) -> str | None:
        # B01.FR.10, B02.FR.09, B03.FR.07: a station whose BootNotification was not Accepted may send nothing
        # but BootNotification (and what the CSMS triggered: B02.FR.02) -> CALLERROR SecurityError.
        if action == Action.boot_notification:
            return None
        if self._accepted is None:
            status = await db(device_model.station_boot_status)(station_pk=self.station_pk)
            self._accepted = status == device_model.ACCEPTED
        if self._accepted:
            return None
        if await db(device_model.call_licensed)(station_pk=self.station_pk, action=action):
            return None
        return f"{action} refused: the station's BootNotification has not been Accepted (OCPP 2.0.1 B02/B03)"

    # --- provisioning (B01-B03) -------------------------------------------------------------------

    @on(Action.boot_notification)
    async def on_boot_notification(self, reason, charging_station, **fields):
        modem = charging_station.get("modem") or {}
        await db(messages.station_boot)(
            station_pk=self.station_pk,
            vendor=charging_station.get("vendor_name", ""),
            model=charging_station.get("model", ""),
            serial_number=charging_station.get("serial_number", ""),
            firmware_version=charging_station.get("firmware_version", ""),
            iccid=modem.get("iccid", ""),
            imsi=modem.get("imsi", ""),
        )
        status = await db(device_model.boot_status_decide)(station_pk=self.station_pk)
        await db(device_model.station_boot_status_record)(
            station_pk=self.station_pk, status=status, reason=reason
        )
        self._accepted = status == device_model.ACCEPTED
        return call_result.BootNotification(
            current_time=utc_now_iso(),
            # B01.FR.04: the heartbeat interval when accepted; B02.FR.08: the boot retry interval otherwise.
            interval=settings.OCPP_HEARTBEAT_INTERVAL
            if self._accepted
            else device_model.PENDING_RETRY_SECONDS,
            status=status,
        )

    @after(Action.boot_notification)
    async def after_boot_notification(self, **_):
        await db(messages.station_after_boot)(self.station_pk)

    # Heartbeat, StatusNotification and MeterValues go through the fused path (stations/ocpp/base.py
    # `_fused_call`: journal rows and effect in one transaction), after refuse_call like every CALL; the @on
    # handlers give the same result when it declines.
    FUSED = {
        Action.heartbeat.value: "fuse_heartbeat",
        Action.status_notification.value: "fuse_status_notification",
        Action.meter_values.value: "fuse_meter_values",
    }

    def fuse_heartbeat(self):
        return None, call_result.Heartbeat(current_time=utc_now_iso())

    @on(Action.heartbeat)
    async def on_heartbeat(self):
        return await effect_run(*self.fuse_heartbeat())

    # --- availability (G01) and the device model (B06-B08, N07) ----------------------------------

    def fuse_status_notification(self, timestamp, connector_status, evse_id, connector_id, **_):
        effect = Effect(
            device_model.evse_status_report,
            dict(
                station_pk=self.station_pk,
                evse_id=evse_id,
                connector_id=connector_id,
                status=connector_status,
                timestamp=parse_ocpp_datetime(timestamp, strict=True),
            ),
        )
        return effect, call_result.StatusNotification()

    @on(Action.status_notification)
    async def on_status_notification(self, **kwargs):
        return await effect_run(*self.fuse_status_notification(**kwargs))

    @on(Action.notify_event)
    async def on_notify_event(self, generated_at, seq_no, event_data, tbc=False, **_):
        await db(device_model.station_events_store)(station_pk=self.station_pk, event_data=event_data)
        return call_result.NotifyEvent()

    @on(Action.notify_report)
    async def on_notify_report(self, request_id, generated_at, seq_no, report_data=None, tbc=False, **_):
        await db(device_model.device_report_store)(
            station_pk=self.station_pk, request_id=request_id, report_data=report_data or [], tbc=bool(tbc)
        )
        return call_result.NotifyReport()

    # --- notifications -----------------------------------------------------------------------------

    @on(Action.security_event_notification)
    async def on_security_event_notification(self, type, timestamp, tech_info="", **_):
        await db(messages.station_security_event)(
            station_pk=self.station_pk,
            event_type=type,
            timestamp=parse_ocpp_datetime(timestamp, strict=True),
            tech_info=tech_info,
        )
        return call_result.SecurityEventNotification()

    @on(Action.firmware_status_notification)
    async def on_firmware_status_notification(self, status, request_id=None, **_):
        await db(messages.station_firmware_status)(station_pk=self.station_pk, status=status)
        return call_result.FirmwareStatusNotification()

    @on(Action.log_status_notification)
    async def on_log_status_notification(self, status, request_id=None, **_):
        # The 2.0.1 successor of 1.6 DiagnosticsStatusNotification (GetLog replaces GetDiagnostics, N01).
        await db(messages.station_diagnostics_status)(station_pk=self.station_pk, status=status)
        return call_result.LogStatusNotification()

    @on(Action.data_transfer)
    async def on_data_transfer(self, vendor_id, message_id="", data=None, **_):
        status, out = await db(messages.station_data_transfer)(
            station_pk=self.station_pk, vendor_id=vendor_id, message_id=message_id, data=data
        )
        return call_result.DataTransfer(status=status, data=out)

    # --- results of CSMS requests (part 2 FR.05 table: GetDisplayMessages -> NotifyDisplayMessages, ...) ---------
    # Acknowledged after the journal has stored them (base.py): the frame in MessageLog is the record; nothing in
    # eflux reads these reports yet, so they are not copied into models of their own.

    @on(Action.notify_display_messages)
    async def on_notify_display_messages(self, request_id, **_):
        return call_result.NotifyDisplayMessages()

    @on(Action.report_charging_profiles)
    async def on_report_charging_profiles(self, request_id, **_):
        return call_result.ReportChargingProfiles()

    @on(Action.notify_customer_information)
    async def on_notify_customer_information(self, request_id, **_):
        return call_result.NotifyCustomerInformation()

    @on(Action.notify_monitoring_report)
    async def on_notify_monitoring_report(self, request_id, **_):
        return call_result.NotifyMonitoringReport()

    @on(Action.reservation_status_update)
    async def on_reservation_status_update(self, reservation_id, reservation_update_status, **_):
        return call_result.ReservationStatusUpdate()

    @on(Action.notify_charging_limit)
    async def on_notify_charging_limit(self, charging_limit, **_):
        return call_result.NotifyChargingLimit()

    @on(Action.cleared_charging_limit)
    async def on_cleared_charging_limit(self, charging_limit_source, **_):
        return call_result.ClearedChargingLimit()

    @on(Action.publish_firmware_status_notification)
    async def on_publish_firmware_status_notification(self, status, **_):
        return call_result.PublishFirmwareStatusNotification()
