"""Open Settings → Save: the station's account, plan, location, field service account, roaming, free charging,
disable (ChangeAvailability), tariff and access groups; and activation (operator or customer)."""

from django.db import transaction

from accounts.audit import audit_record
from accounts.services import station_activate
from eflux.jobs import enqueue
from stations import calls
from stations.models import Station

from .commands import AUDIT_TASK, call_audit_result

# --- settings -----------------------------------------------------------------------------------------

SETTINGS_FIELDS = [
    "billing_plan",
    "account",
    "location",
    "field_service_account",
    "allow_roaming",
    "free_charging",
    "is_disabled",
    "price_per_kwh",
    "price_per_session",
    "price_per_hour",
    "currency",
]


def _plain(value):
    if value is None:
        return None
    if hasattr(value, "pk"):
        return f"{value} (#{value.pk})"
    return str(value)


@transaction.atomic
def station_settings_update(
    *, station: Station, data: dict, access_groups, acting_user, source: str = "portal"
) -> Station:
    """Open Settings → Save (and the admin's Station save). Activation itself is
    accounts.services.station_activate (one code path); this saves the rest, links access groups (None: leave
    them) and switches availability when 'disable' changes. `source` names the caller on the OcppCall."""
    station = Station.objects.select_for_update().get(pk=station.pk)
    before = {f: getattr(station, f) for f in SETTINGS_FIELDS if f in data}
    before_groups = set(station.access_groups.values_list("pk", flat=True))

    for f in SETTINGS_FIELDS:
        if f in data and f not in ("account", "billing_plan", "location"):
            setattr(station, f, data[f])
    station.save()

    # Connectors saved (Activation pending) + account + billing plan: this Save activates the station, through
    # the same service the customer's own activation uses. Otherwise the fields are plain settings.
    activating = (
        station.setup_state == Station.SetupState.ACTIVATION_PENDING
        and data.get("account")
        and data.get("billing_plan")
    )
    if activating:
        station = station_activate(
            station=station,
            account=data["account"],
            billing_plan=data["billing_plan"],
            location=data.get("location"),
            acting_user=acting_user,
        )
    else:
        for f in ("account", "billing_plan", "location"):
            if f in data:
                setattr(station, f, data[f])
        station.save(update_fields=[f for f in ("account", "billing_plan", "location") if f in data] or None)

    if access_groups is not None:
        station.access_groups.set(access_groups)
    after_groups = set(station.access_groups.values_list("pk", flat=True))

    changes = {
        f: [_plain(before[f]), _plain(getattr(station, f))]
        for f in before
        if before[f] != getattr(station, f)
    }
    if before_groups != after_groups:
        changes["access_groups"] = [sorted(before_groups), sorted(after_groups)]
    result = {}
    availability_call = None
    if "is_disabled" in changes:
        # OCPP 1.6 §5.2: connectorId 0 addresses the whole charge point.
        availability_call = calls.call_send(
            station=station,
            action="ChangeAvailability",
            payload={"connectorId": 0, "type": "Inoperative" if station.is_disabled else "Operative"},
            requested_by=acting_user,
            source=source,
        )
        result = call_audit_result(availability_call)
    event = audit_record(
        actor=acting_user,
        action="station.settings",
        obj=station,
        station=station,
        account=station.account,
        changes=changes,
        result=result,
    )
    if availability_call is not None and not availability_call.is_final:
        enqueue(AUDIT_TASK, availability_call.pk, event.pk)
    return station
