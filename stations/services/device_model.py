"""OCPP 2.0.1 station-side writes that 1.6 has no equivalent for: the boot decision and its registration status
(B01-B03), the EVSE + connector to platform connector mapping (part 2 §2.2), the device model inventory
(NotifyReport, B06-B08) and the event stream (NotifyEvent, N07) with its availability and fault events mapped
onto the connectors the portal shows. Version-neutral work (boot data, connector status) stays in messages.py."""

from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from eflux.lib.ocpp_time import parse_ocpp_datetime
from stations.models import ConfigurationJob, Connector, DeviceVariable, OcppCall, Station, StationEvent

from .messages import connector_status_report

ACCEPTED, PENDING, REJECTED = "Accepted", "Pending", "Rejected"
# B02.FR.01: "Pending can indicate that the CSMS wants to retrieve or set certain information on the Charging
# Station before it will accept it": a station being configured (Auto Configuration / Fix All) is held in
# Pending and asked to boot again when the job ends (stations/services/configuration_v201.py).
PENDING_RETRY_SECONDS = 30
# B02.FR.02: while not accepted, a station may only send what the CSMS asked for (TriggerMessage, or the
# NotifyReports of GetBaseReport/GetReport). A TriggerMessage older than this no longer licenses a message.
TRIGGER_WINDOW = timedelta(minutes=5)


def boot_status_decide(*, station_pk: int) -> str:
    if ConfigurationJob.objects.filter(station_id=station_pk, status__in=ConfigurationJob.ACTIVE).exists():
        return PENDING
    return ACCEPTED


def station_boot_status_record(*, station_pk: int, status: str, reason: str = "") -> None:
    Station.objects.filter(pk=station_pk).update(
        boot_status=status, boot_reason=reason[:32], updated_at=timezone.now()
    )


def station_boot_status(*, station_pk: int) -> str:
    return Station.objects.filter(pk=station_pk).values_list("boot_status", flat=True).first() or ""


def call_licensed(*, station_pk: int, action: str) -> bool:
    """B02.FR.02 / B01.FR.10: a not-accepted station's CALL is allowed when the CSMS asked for it."""
    if action == "NotifyReport":
        return OcppCall.objects.filter(
            station_id=station_pk, action__in=["GetBaseReport", "GetReport"], status=OcppCall.Status.ANSWERED
        ).exists()
    return OcppCall.objects.filter(
        station_id=station_pk,
        action="TriggerMessage",
        status=OcppCall.Status.ANSWERED,
        payload__requestedMessage=action,
        finished_at__gte=timezone.now() - TRIGGER_WINDOW,
    ).exists()


# --- EVSE + connector ---------------------------------------------------------------------------------


def evse_connector_number(*, station_pk: int, evse_id: int, connector_id: int | None = None) -> int:
    """The platform connector number of a 2.0.1 (EVSE, connector). EVSE 0 is the station as a whole (connector
    0, as in 1.6). Without a connector id (MeterValues, TransactionEvent.evse without connectorId), the EVSE's
    first connector. New pairs are numbered in the order the station first reports them."""
    if evse_id == 0:
        return 0
    rows = Connector.objects.filter(station_id=station_pk, evse_number=evse_id)
    if connector_id is None:
        first = rows.order_by("evse_connector").values_list("connector_id", flat=True).first()
        if first is not None:
            return first
        connector_id = 1
    found = rows.filter(evse_connector=connector_id).values_list("connector_id", flat=True).first()
    if found is not None:
        return found
    if connector_id == 1:
        # A connector row the station had before it spoke 2.0.1 (created by a 1.6 StatusNotification or by
        # Configure Connectors) is EVSE n's first connector when it has number n.
        if Connector.objects.filter(
            station_id=station_pk, connector_id=evse_id, evse_number__isnull=True
        ).update(evse_number=evse_id, evse_connector=1):
            return evse_id
    for _attempt in range(5):
        taken = Connector.objects.filter(station_id=station_pk).aggregate(m=Max("connector_id"))["m"] or 0
        # A station whose EVSEs have one connector each gets connector n for EVSE n, when that number is free.
        free = not Connector.objects.filter(station_id=station_pk, connector_id=evse_id).exists()
        number = evse_id if free and connector_id == 1 else taken + 1
        try:
            with transaction.atomic():
                Connector.objects.create(
                    station_id=station_pk,
                    connector_id=number,
                    evse_number=evse_id,
                    evse_connector=connector_id,
                )
            return number
        except IntegrityError:  # another connection of the station numbered it first
            found = rows.filter(evse_connector=connector_id).values_list("connector_id", flat=True).first()
            if found is not None:
                return found
    raise RuntimeError("could not number the connector")


def evse_status_report(
    *, station_pk: int, evse_id: int, connector_id: int, status: str, timestamp: datetime
) -> bool:
    """A 2.0.1 StatusNotification (G01): ConnectorStatusEnumType has no error code (faults come as events)."""
    number = evse_connector_number(station_pk=station_pk, evse_id=evse_id, connector_id=connector_id)
    return connector_status_report(
        station_pk=station_pk, connector_id=number, status=status, error_code="", timestamp=timestamp
    )


# --- device model ---------------------------------------------------------------------------------------


def device_report_store(*, station_pk: int, request_id: int, report_data: list, tbc: bool = False) -> int:
    """One NotifyReport part (B07/B08: a report may come in several parts, tbc): upsert each variable's Actual
    attribute and characteristics. Returns how many variables it held."""
    now = timezone.now()
    stored = 0
    for item in report_data or []:
        component, variable = item.get("component") or {}, item.get("variable") or {}
        evse = component.get("evse") or {}
        attributes = item.get("variable_attribute") or []
        actual = next(
            (a for a in attributes if (a.get("type") or "Actual") == "Actual"),
            attributes[0] if attributes else {},
        )
        characteristics = item.get("variable_characteristics") or {}
        DeviceVariable.objects.update_or_create(
            station_id=station_pk,
            component=str(component.get("name", ""))[:50],
            component_instance=str(component.get("instance") or "")[:50],
            evse_number=int(evse.get("id", -1)),
            evse_connector=int(evse.get("connector_id", -1)),
            variable=str(variable.get("name", ""))[:50],
            variable_instance=str(variable.get("instance") or "")[:50],
            defaults=dict(
                value=str(actual.get("value") if actual.get("value") is not None else "")[:2500],
                mutability=str(actual.get("mutability") or "ReadWrite")[:16],
                data_type=str(characteristics.get("data_type") or "")[:16],
                unit=str(characteristics.get("unit") or "")[:16],
                values_list=str(characteristics.get("values_list") or "")[:1000],
                request_id=request_id,
                updated_at=now,
            ),
        )
        stored += 1
    if not tbc:  # NotifyReport.tbc false: the last part of the report; the inventory may be read now
        Station.objects.filter(pk=station_pk, device_report_request_id=request_id).update(
            device_report_done_at=now
        )
    return stored


def device_variable_lookup(*, station_pk: int, component: str, variable: str) -> DeviceVariable | None:
    """The station-wide instance of a variable (component and variable names are case-insensitive in practice;
    part 2 §1.2 names them as identifierString, compared as the station spelled them)."""
    rows = DeviceVariable.objects.filter(
        station_id=station_pk, component__iexact=component, variable__iexact=variable, variable_instance=""
    )
    return rows.order_by("evse_number", "component_instance").first()


# --- events ---------------------------------------------------------------------------------------------

# N07 / part 2 appendix (standardized components): the variables whose events change what the portal shows.
AVAILABILITY_VARIABLE = "AvailabilityState"
PROBLEM_VARIABLE = "Problem"


def station_events_store(*, station_pk: int, event_data: list) -> int:
    """A NotifyEvent: store each event (once: a resent NotifyEvent changes nothing) and map AvailabilityState and
    Problem events of a Connector / EVSE / ChargingStation onto the connector's status. Returns how many were new."""
    now = timezone.now()
    new = 0
    for item in event_data or []:
        component, variable = item.get("component") or {}, item.get("variable") or {}
        evse = component.get("evse") or {}
        timestamp = parse_ocpp_datetime(item.get("timestamp"), strict=True) or now
        try:
            with transaction.atomic():
                StationEvent.objects.create(
                    station_id=station_pk,
                    event_id=int(item.get("event_id", 0)),
                    timestamp=timestamp,
                    trigger=str(item.get("trigger", ""))[:16],
                    component=str(component.get("name", ""))[:50],
                    evse_number=evse.get("id"),
                    evse_connector=evse.get("connector_id"),
                    variable=str(variable.get("name", ""))[:50],
                    actual_value=str(item.get("actual_value", ""))[:2500],
                    cleared=bool(item.get("cleared")),
                    tech_code=str(item.get("tech_code") or "")[:50],
                    tech_info=str(item.get("tech_info") or "")[:500],
                    event_notification_type=str(item.get("event_notification_type") or "")[:32],
                    received_at=now,
                )
        except IntegrityError:
            continue  # seen before
        new += 1
        _map_event(station_pk, component, variable, evse, item, timestamp)
    return new


def _map_event(station_pk, component, variable, evse, item, timestamp) -> None:
    name = str(variable.get("name", ""))
    if name not in (AVAILABILITY_VARIABLE, PROBLEM_VARIABLE):
        return
    if component.get("name") not in ("Connector", "EVSE", "ChargingStation"):
        return
    evse_id = int(evse.get("id", 0)) if component.get("name") != "ChargingStation" else 0
    number = evse_connector_number(
        station_pk=station_pk, evse_id=evse_id, connector_id=evse.get("connector_id")
    )
    value = str(item.get("actual_value", ""))
    if name == AVAILABILITY_VARIABLE:
        connector_status_report(
            station_pk=station_pk, connector_id=number, status=value[:32], error_code="", timestamp=timestamp
        )
    elif value.lower() == "true" and not item.get("cleared"):
        connector_status_report(
            station_pk=station_pk,
            connector_id=number,
            status="Faulted",
            error_code=(str(item.get("tech_code") or "Problem"))[:32],
            info=str(item.get("tech_info") or "")[:50],
            timestamp=timestamp,
        )
