"""Customer activation: Activation pending → Active in the customer's account (operator manual steps 7-10)."""

import re

from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, Value
from django.db.models.functions import Replace, Upper

from accounts import access
from accounts.audit import audit_record, diff
from accounts.models import Account, Location
from stations.models import Station


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
    try:
        EvseId = apps.get_model("stations", "EvseId")
    except LookupError:
        return None
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
    audit_record(
        actor=acting_user,
        action="station.activate",
        obj=station,
        station=station,
        account=account,
        changes=diff(station, before, fields),
    )
    return station
