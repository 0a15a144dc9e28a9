"""Configuration that tells the truth: what the station holds, read back with GetConfiguration (OCPP 1.6
§5.8; 2.0.1: GetVariables B06, configuration_read_v201.py) after a job changed keys and after every boot (a Reset applies RebootRequired changes), stored on the
key rows ("Station reported"); and a key the operator marks "not applicable" on one station, with who and why.

An accepted key the station reports with another value when read back is not configured: it becomes a failure
with that reason (Fix All sends it again), never a green check beside the wrong value."""

from collections.abc import Callable

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.audit import audit_record
from eflux.jobs import enqueue
from stations import calls
from stations.models import ConfigurationSnapshot, OcppCall, Station, StationConfigurationKey
from stations.ocpp.masking import SECRET_KEYS

from .configuration_read_v201 import get_variables_read
from .profiles import values_match

Key = StationConfigurationKey
REREAD_TASK = "stations.tasks.configuration_reread_task"
DAILY_TASK = "stations.tasks.configuration_daily_read_task"


def reread_keys(station_pk: int) -> list[str]:
    """The keys worth reading back: every non-secret key row (AuthorizationKey is write-only, §9.1.x errata)."""
    return list(Key.objects.filter(station_id=station_pk, is_secret=False).values_list("key", flat=True))


def configuration_reported_store(*, station_pk: int, call: OcppCall, after: str, booted_at=None) -> int:
    """Store a GetConfiguration answer on the station's key rows; `after` is "change" or "reboot" (a
    RebootRequired change made before `booted_at` was applied by that boot). Returns how many rows were read."""
    if call.status != OcppCall.Status.ANSWERED or not isinstance(call.response, dict):
        return 0
    reported = {str(i.get("key", "")).lower(): i for i in call.response.get("configurationKey") or []}
    asked = {str(k).lower() for k in (call.payload or {}).get("key") or []}  # empty: every key was asked
    return reported_rows_store(
        station_pk=station_pk, reported=reported, asked=asked or None, after=after, booted_at=booted_at
    )


def reported_rows_store(
    *, station_pk: int, reported: dict[str, dict], asked: set[str] | None, after: str, booted_at=None
) -> int:
    """The read-back of either version on the key rows: reported is {key (lower case): {"value"[, "readonly"]}},
    asked the lower-case keys that were asked and answered (None: all). `after`: "change", "reboot", or "boot"
    (a boot that was no reboot, e.g. 2.0.1's TriggerMessage BootNotification: RebootRequired stays)."""
    now, count = timezone.now(), 0
    for row in Key.objects.filter(station_id=station_pk, is_secret=False):
        item = reported.get(row.key.lower())
        if item is None:
            if asked is None or row.key.lower() in asked:  # asked and not reported (unknown): still read
                Key.objects.filter(pk=row.pk).update(read_at=now)
            continue
        count += 1
        row.reported_value = str(item.get("value") or "")[:500]
        row.read_at = now
        fields = ["reported_value", "read_at"]
        if "readonly" in item:  # GetConfiguration says; GetVariables does not (the device model did)
            row.readonly = bool(item.get("readonly"))
            fields.append("readonly")
        matches = values_match(row.reported_value, row.desired_value)
        rebooted = after == "reboot" and (booted_at is None or row.updated_at < booted_at)
        if row.state == Key.State.REBOOT_REQUIRED and rebooted:
            row.state = Key.State.ACCEPTED if matches else Key.State.FAILED
            row.reason = (
                "Applied by the station's reboot (read back)."
                if matches
                else f"After the reboot the station reports {row.reported_value!r}, not the required value."
            )[:300]
            fields += ["state", "reason"]
        elif row.state == Key.State.ACCEPTED and not matches:
            when = {"reboot": "after its reboot", "boot": "after its boot"}.get(
                after, "when read back after the change"
            )
            row.state = Key.State.FAILED
            row.reason = f"The station accepted it but reports {row.reported_value!r} {when}."[:300]
            fields += ["state", "reason"]
        row.save(update_fields=fields)
    return count


def variables_changed_read(*, station: Station, send: Callable[[dict], OcppCall], keys: list[str]) -> int:
    """2.0.1, after a job changed variables: read them back with GetVariables (B06) and store the answers."""
    got = get_variables_read(station_pk=station.pk, keys=keys, send=send)
    if got is None:
        return 0
    reported, answered = got
    return reported_rows_store(station_pk=station.pk, reported=reported, asked=answered, after="change")


SNAPSHOTS_KEPT = 30


def configuration_reread(*, station_pk: int, after: str = "reboot") -> int:
    """Read the station's whole configuration now (a worker: after a boot, or the daily read): a dated snapshot,
    and the key rows' "Station reported". Offline or no answer: nothing changes."""
    station = Station.objects.filter(pk=station_pk, is_connected=True).first()
    if station is None:
        return 0
    if station.is_ocpp201:
        return _variables_reread(station=station, after=after)
    call = calls.call_and_wait(
        station=station, action="GetConfiguration", payload={}, source="configuration_read"
    )
    if call.status != OcppCall.Status.ANSWERED or not isinstance(call.response, dict):
        return 0
    values = {
        str(i.get("key")): str(i.get("value"))
        for i in call.response.get("configurationKey") or []
        if i.get("key") and i.get("value") is not None and str(i.get("key")).lower() not in SECRET_KEYS
    }
    _snapshot_take(station_pk=station_pk, after=after, values=values)
    return configuration_reported_store(
        station_pk=station_pk, call=call, after=after, booted_at=station.last_boot_at
    )


def _variables_reread(*, station: Station, after: str) -> int:
    """2.0.1: every non-secret key row read with GetVariables (B06), in chunks the station takes; the snapshot
    holds the variables that were read (a 2.0.1 station's whole device model comes from NotifyReport)."""
    keys = reread_keys(station.pk)
    got = get_variables_read(
        station_pk=station.pk,
        keys=keys,
        send=lambda payload: calls.call_and_wait(
            station=station, action="GetVariables", payload=payload, source="configuration_read"
        ),
    )
    if got is None:
        return 0
    reported, answered = got
    values = {k: reported[k.lower()]["value"] for k in keys if k.lower() in reported}
    _snapshot_take(station_pk=station.pk, after=after, values=values)
    if after == "reboot" and station.boot_reason == "Triggered":
        after = "boot"  # B02/F06: a BootNotification asked for with TriggerMessage is no reboot
    return reported_rows_store(
        station_pk=station.pk,
        reported=reported,
        asked=answered,
        after=after,
        booted_at=station.last_boot_at,
    )


def _snapshot_take(*, station_pk: int, after: str, values: dict[str, str]) -> None:
    ConfigurationSnapshot.objects.create(
        station_id=station_pk,
        trigger=ConfigurationSnapshot.Trigger.BOOT
        if after == "reboot"
        else ConfigurationSnapshot.Trigger.DAILY,
        values=values,
    )
    old = ConfigurationSnapshot.objects.filter(station_id=station_pk).values_list("pk", flat=True)[
        SNAPSHOTS_KEPT:
    ]
    ConfigurationSnapshot.objects.filter(pk__in=list(old)).delete()


def configuration_daily_reread() -> int:
    """The daily read of every connected station that has a configuration (beat: configuration-daily-read)."""
    ids = list(
        Station.objects.filter(is_connected=True, configuration_keys__isnull=False)
        .distinct()
        .values_list("pk", flat=True)
    )
    for pk in ids:
        enqueue(DAILY_TASK, pk)
    return len(ids)


def drifted_stations():
    """Stations with a key that was read back with another value than the profile requires."""
    return (
        Station.objects.filter(
            configuration_keys__state__in=Key.FAILURES, configuration_keys__read_at__isnull=False
        )
        .distinct()
        .order_by("ocpp_id")
    )


@transaction.atomic
def configuration_key_not_applicable(
    *, station: Station, key: str, reason: str, acting_user, undo: bool = False
) -> StationConfigurationKey:
    """Accept, for this station only, that a key cannot be set (or take that back): recorded on the row with who
    and why, and audited. Taking it back makes it a failure again, for Fix All."""
    row = Key.objects.select_for_update().filter(station=station, key=key).first()
    if row is None:
        raise ValidationError({"key": f"{key!r} is not in this station's configuration."})
    reason = (reason or "").strip()
    before = {"state": row.state, "reason": row.not_applicable_reason}
    if undo:
        if row.state != Key.State.NOT_APPLICABLE:
            raise ValidationError({"key": f"{key} is not marked not applicable."})
        row.state, row.reason = Key.State.FAILED, "Marked applicable again; Fix All sends it."
        row.not_applicable_by, row.not_applicable_reason = None, ""
    else:
        if not reason:
            raise ValidationError(
                {"reason": "Say why this station cannot take the key (e.g. read-only on this model)."}
            )
        if row.state in (Key.State.ACCEPTED, Key.State.PENDING, Key.State.SENT):
            raise ValidationError({"key": f"{key} is {row.get_state_display().lower()}: nothing to waive."})
        row.state, row.reason = Key.State.NOT_APPLICABLE, f"Not applicable: {reason}"[:300]
        row.not_applicable_by, row.not_applicable_reason = acting_user, reason[:300]
    row.updated_at = timezone.now()
    row.save(update_fields=["state", "reason", "not_applicable_by", "not_applicable_reason", "updated_at"])
    audit_record(
        actor=acting_user,
        action="station.configuration_key",
        obj=station,
        station=station,
        account=station.account,
        changes={
            "key": key,
            "state": [before["state"], row.state],
            "not_applicable_reason": [before["reason"], row.not_applicable_reason],
        },
    )
    return row
