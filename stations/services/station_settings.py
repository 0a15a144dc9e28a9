"""Open Settings → Save: the station's account, plan, location, field service account, roaming, free charging,
disable (ChangeAvailability), tariff and access groups; and activation, Activation pending → Active (operator
manual steps 7-10), which the operator's Settings and the customer's own activation page both call."""

import re

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, Value
from django.db.models.functions import Replace, Upper

from accounts import access
from accounts.audit import audit_record, diff
from accounts.models import Account, Location
from billing.services.plans import subscription_for_station
from eflux.jobs import enqueue
from stations import calls
from stations.models import EvseId, Station

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


def _check_settings(station: Station, data: dict, access_groups) -> None:
    """The rules every caller (Settings page, admin) meets: a location and the linked access groups belong
    to the station's account (another account's group only if it is shared)."""
    account = data.get("account", station.account)
    location = data.get("location", station.location)
    errors: dict[str, str] = {}
    if location and account and location.account_id != account.pk:
        errors["location"] = f"{location} belongs to {location.account}, not to {account}."
    elif location and not account:
        errors["account"] = "Choose the account this location belongs to."
    for group in access_groups or []:
        if not (account and group.account_id == account.pk) and not group.is_shared:
            errors["access_groups"] = f"{group} belongs to another account and is not shared."
            break
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def station_settings_update(
    *, station: Station, data: dict, access_groups, acting_user, source: str = "portal"
) -> Station:
    """Open Settings → Save (and the admin's Station save). Activation itself is
    station_activate below (one code path); this saves the rest, links access groups (None: leave
    them) and switches availability when 'disable' changes. `source` names the caller on the OcppCall."""
    station = Station.objects.select_for_update().get(pk=station.pk)
    _check_settings(station, data, access_groups)
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
        payer_or_plan_changed = any(
            f in data and getattr(station, f) != data[f] for f in ("account", "billing_plan")
        )
        for f in ("account", "billing_plan", "location"):
            if f in data:
                setattr(station, f, data[f])
        station.save(update_fields=[f for f in ("account", "billing_plan", "location") if f in data] or None)
        if payer_or_plan_changed and station.setup_state == Station.SetupState.ACTIVE:
            subscription_for_station(station=station, plan=station.billing_plan, acting_user=acting_user)

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
        wanted = "Inoperative" if station.is_disabled else "Operative"
        availability_call = calls.call_send(
            station=station,
            action="ChangeAvailability",
            # OCPP 1.6 §5.2: connectorId 0 addresses the whole charge point; 2.0.1 G03: no evse = the station.
            payload={"operationalStatus": wanted}
            if station.is_ocpp201
            else {"connectorId": 0, "type": wanted},
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


# --- activation -------------------------------------------------------------------------------------


def find_station_for_activation(query: str, *, pending_only: bool = True):
    """The station whose OCPP ID, serial number or sticker EVSE ID is `query`, or None.

    With pending_only (the customer's activation form) only stations in Activation pending are found, so a
    customer cannot probe which other stations exist on the platform."""
    q = (query or "").strip()
    if not q:
        return None
    qs = Station.objects.all()
    if pending_only:
        qs = qs.filter(setup_state=Station.SetupState.ACTIVATION_PENDING)
    station = (
        qs.filter(Q(ocpp_id__iexact=q) | Q(serial_number__iexact=q) | Q(charge_box_serial_number__iexact=q))
        .order_by("pk")
        .first()
    )
    if station is not None:
        return station
    # Stickers print "NL*EFL*E000123"; people type it with or without the asterisks, in any case.
    compact = re.sub(r"[\s*]", "", q).upper()
    evse = (
        EvseId.objects.annotate(compact=Replace(Upper("evse_id"), Value("*"), Value("")))
        .filter(Q(evse_id__iexact=q) | Q(compact=compact), connector__isnull=False)
        .select_related("connector")
        .first()
    )
    if evse is None:
        return None
    return qs.filter(pk=evse.connector.station_id).first()


@transaction.atomic
def station_activate(*, station, account: Account, billing_plan, location: Location | None, acting_user):
    """Activation pending → Active in the customer's account (operator manual steps 7-10)."""

    station = Station.objects.select_for_update().get(pk=station.pk)
    if station.setup_state != Station.SetupState.ACTIVATION_PENDING:
        raise ValidationError(
            f"Station {station.ocpp_id} is not waiting for activation (it is {station.get_setup_state_display()})."
        )
    if account is None:
        raise ValidationError("Pick the account the station belongs to.")
    if not access.can_manage_account(acting_user, account):
        raise ValidationError(f"You are not an Account admin of {account}.")
    if billing_plan is None or not billing_plan.is_active:
        raise ValidationError("Pick an active billing plan.")
    if location is not None and location.account_id != account.pk:
        raise ValidationError(f"Location {location} belongs to another account.")
    fields = ["account_id", "billing_plan_id", "location_id", "setup_state"]
    before = {f: getattr(station, f) for f in fields}
    station.account = account
    station.billing_plan = billing_plan
    station.location = location
    station.setup_state = Station.SetupState.ACTIVE
    station.save(update_fields=["account", "billing_plan", "location", "setup_state", "updated_at"])
    # The subscription the account pays from today (step 8: "The account owner will pay for this billing plan").
    subscription_for_station(station=station, plan=billing_plan, acting_user=acting_user)
    audit_record(
        actor=acting_user,
        action="station.activate",
        obj=station,
        station=station,
        account=account,
        changes=diff(station, before, fields),
    )
    return station
