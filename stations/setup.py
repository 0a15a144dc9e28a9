"""Onboarding services behind the portal (the operator manual, steps 2-14): Auto Configuration and Fix All,
Reset Device, Configure Connectors with EVSE ID autopick, EVSE ID batches and the station's settings.

Views, tasks and the OCPP boot hook all call these functions; none of them holds state in memory.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import secrets
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.db import IntegrityError, connection, transaction
from django.db.models import Max, Q
from django.utils import timezone

from accounts.audit import audit_record
from accounts.models import AuditEvent
from eflux.jobs import enqueue

from . import calls, tasks
from .models import (
    ConfigurationJob,
    ConfigurationProfile,
    ConfigurationProfileKey,
    Connector,
    EvseId,
    EvseIdBatch,
    OcppCall,
    Station,
    StationConfigurationKey,
    StationReset,
)

log = logging.getLogger(__name__)

Key = StationConfigurationKey
Job = ConfigurationJob

# A job whose worker died stays "running"; after this long a new click may replace it.
STALE_JOB_SECONDS = 15 * 60

# --- configuration profile ------------------------------------------------------------------------

# OCPP 1.6 §9.1 standard configuration keys. The AuthorizationKey goes last: some stations reconnect
# right after accepting it, and every other key should be set before that happens.
DEFAULT_PROFILE_16 = [
    ("HeartbeatInterval", str(settings.OCPP_HEARTBEAT_INTERVAL), ""),
    ("MeterValueSampleInterval", "60", ""),
    ("MeterValuesSampledData", "Energy.Active.Import.Register", ""),
    ("ClockAlignedDataInterval", "900", ""),
    ("ConnectionTimeOut", "60", ""),
    # The platform authorizes the user or card before it sends RemoteStartTransaction.
    ("AuthorizeRemoteTxRequests", "false", ""),
    ("LocalAuthorizeOffline", "true", ""),
    # Online, every card goes to the platform, so a blocked card is refused at once.
    ("LocalPreAuthorize", "false", ""),
    ("AllowOfflineTxForUnknownId", "false", ""),
    ("AuthorizationCacheEnabled", "true", ""),
    ("StopTransactionOnInvalidId", "true", ""),
    ("WebSocketPingInterval", "60", ""),
    ("AuthorizationKey", "", ConfigurationProfileKey.Generate.AUTHORIZATION_KEY),
]


def profile_default(ocpp_version: str = "1.6") -> ConfigurationProfile:
    """The default profile, created on first use (operators edit it in the admin afterwards)."""
    profile = ConfigurationProfile.objects.filter(ocpp_version=ocpp_version, is_default=True).first()
    if profile:
        return profile
    try:
        with transaction.atomic():
            profile = ConfigurationProfile.objects.create(
                name=f"Platform default (OCPP {ocpp_version})",
                ocpp_version=ocpp_version,
                is_default=True,
                description="Required configuration applied by Auto Configuration.",
            )
            ConfigurationProfileKey.objects.bulk_create(
                ConfigurationProfileKey(profile=profile, key=k, value=v, generate=g, position=i)
                for i, (k, v, g) in enumerate(DEFAULT_PROFILE_16)
            )
    except IntegrityError:  # created by a concurrent request
        profile = ConfigurationProfile.objects.get(ocpp_version=ocpp_version, is_default=True)
    return profile


def _profile_for(station: Station) -> ConfigurationProfile:
    # Only OCPP 1.6 is spoken today; a 2.0.1 profile would be picked by station.ocpp_version here.
    return profile_default("1.6")


def _values_match(reported: str, desired: str) -> bool:
    """CiString comparison (OCPP 1.6 §7: configuration values are case-insensitive strings); comma separated
    lists (CSL, e.g. MeterValuesSampledData) compare as sets."""
    a = [p.strip().lower() for p in (reported or "").split(",") if p.strip()]
    b = [p.strip().lower() for p in (desired or "").split(",") if p.strip()]
    return sorted(a) == sorted(b)


# --- configuration jobs ---------------------------------------------------------------------------


@dataclass
class JobStart:
    job: ConfigurationJob | None
    created: bool
    message: str


def _expire_stale_job(station: Station) -> None:
    """A job whose worker died (running) or that no worker ever took (pending) would block the station
    for good; after STALE_JOB_SECONDS it fails visibly and a new click may start again."""
    now = timezone.now()
    cutoff = now - timedelta(seconds=STALE_JOB_SECONDS)
    stale = Job.objects.filter(station=station).filter(
        Q(status=Job.Status.RUNNING, started_at__lt=cutoff)
        | Q(status=Job.Status.PENDING, created_at__lt=cutoff)
    )
    stale.update(
        status=Job.Status.FAILED,
        reason="Interrupted (no worker finished it); start it again.",
        finished_at=now,
    )


@transaction.atomic
def configuration_job_start(*, station: Station, kind: str, acting_user) -> JobStart:
    """Start Auto Configuration (every required key) or Fix All (only the failed keys).

    Two clicks at once: the station row lock serialises them, and the partial unique constraint
    configjob_one_active_per_station refuses a second active job even if the lock were skipped."""
    station = Station.objects.select_for_update().get(pk=station.pk)
    _expire_stale_job(station)
    active = Job.objects.filter(station=station, status__in=Job.ACTIVE).first()
    if active and active.status == Job.Status.WAITING and station.is_connected:
        # The station came back without a BootNotification (a plain reconnect): the click resumes the job.
        enqueue(tasks.configuration_job_run_task, active.pk)
        return JobStart(active, False, f"{active.get_kind_display()} resumed: the station is back online.")
    if active:
        return JobStart(active, False, f"{active.get_kind_display()} is already running.")

    profile = _profile_for(station)
    if kind == Job.Kind.FIX_ALL:
        targets = Key.objects.filter(station=station).exclude(state__in=Key.OK)
        if not targets.exists():
            return JobStart(None, False, "Nothing to fix: every key is configured.")
    try:
        with transaction.atomic():
            job = Job.objects.create(station=station, profile=profile, kind=kind, requested_by=acting_user)
    except IntegrityError:
        active = Job.objects.filter(station=station, status__in=Job.ACTIVE).first()
        return JobStart(active, False, "A configuration job is already running.")

    now = timezone.now()
    if kind == Job.Kind.AUTO:
        wanted = list(profile.keys.all())
        Key.objects.filter(station=station).exclude(key__in=[k.key for k in wanted]).delete()
        for pk in wanted:
            Key.objects.update_or_create(
                station=station,
                key=pk.key,
                defaults=dict(
                    desired_value="" if pk.is_secret else pk.value,
                    is_secret=pk.is_secret,
                    position=pk.position,
                    state=Key.State.PENDING,
                    reason="",
                    job=job,
                    call=None,
                    updated_at=now,
                ),
            )
    else:
        Key.objects.filter(station=station).exclude(state__in=Key.OK).update(
            state=Key.State.PENDING, reason="", job=job, call=None, updated_at=now
        )

    if station.setup_state == Station.SetupState.NEEDS_CONFIGURATION:
        Station.objects.filter(pk=station.pk).update(setup_state=Station.SetupState.SETUP_IN_PROGRESS)

    keys = list(Key.objects.filter(job=job).values_list("key", flat=True))
    event = audit_record(
        actor=acting_user,
        action=f"station.{'fix_all' if kind == Job.Kind.FIX_ALL else 'auto_configuration'}",
        obj=station,
        station=station,
        account=station.account,
        changes={"keys": keys},
        result={"job": job.pk, "status": "started"},
    )
    Job.objects.filter(pk=job.pk).update(audit_event=event)
    enqueue(tasks.configuration_job_run_task, job.pk)
    return JobStart(job, True, f"{job.get_kind_display()} started.")


def _job_wait(job: ConfigurationJob, station: Station) -> ConfigurationJob:
    seen = (
        timezone.localtime(station.last_seen_at).strftime("%Y-%m-%d %H:%M UTC")
        if station.last_seen_at
        else "never"
    )
    job.status = Job.Status.WAITING
    job.reason = f"The station is offline (last seen {seen}). Configuration continues automatically when it reconnects."
    job.save(update_fields=["status", "reason"])
    # The station may have come back (and its boot hook run) between our failed call and this save: the
    # hook only resumes waiting jobs, so look once more. The claim in configuration_job_run makes a double
    # start harmless.
    if Station.objects.filter(pk=station.pk, is_connected=True).exists():
        enqueue(tasks.configuration_job_run_task, job.pk)
    return job


def _answer_state(call: OcppCall) -> tuple[str, str]:
    """OCPP 1.6 §7.9 ConfigurationStatus → row state and the reason shown to the operator."""
    timeout = call.timeout_seconds
    if call.status == OcppCall.Status.ANSWERED:
        status = (call.response or {}).get("status", "")
        return {
            "Accepted": (Key.State.ACCEPTED, ""),
            "RebootRequired": (
                Key.State.REBOOT_REQUIRED,
                "Changed; takes effect after a reset (Reset Device).",
            ),
            "Rejected": (
                Key.State.REJECTED,
                "The station rejected this value (ChangeConfiguration: Rejected).",
            ),
            "NotSupported": (
                Key.State.NOT_SUPPORTED,
                "The station does not support this key (NotSupported).",
            ),
        }.get(status, (Key.State.FAILED, f"Unexpected answer {status!r}."))
    if call.status == OcppCall.Status.TIMED_OUT:
        return Key.State.TIMED_OUT, f"No answer within {timeout} s."
    if call.status == OcppCall.Status.CALL_ERROR:
        return Key.State.FAILED, f"CALLERROR {call.error_code}: {call.error_description}"[:300]
    return Key.State.FAILED, f"Call {call.get_status_display().lower()}."


def configuration_job_run(*, job_id: int) -> ConfigurationJob | None:
    """Run (or resume) one job: GetConfiguration, then ChangeConfiguration for each pending key that is not
    already at its value. Safe to call twice: only the caller that moves the job to running proceeds."""
    claimed = Job.objects.filter(pk=job_id, status__in=[Job.Status.PENDING, Job.Status.WAITING]).update(
        status=Job.Status.RUNNING, started_at=timezone.now(), reason=""
    )
    job = Job.objects.select_related("station", "requested_by").filter(pk=job_id).first()
    if not claimed or job is None:
        return job
    station = job.station
    try:
        if not station.is_connected:
            return _job_wait(job, station)

        rows = list(Key.objects.filter(job=job, state__in=[Key.State.PENDING, Key.State.SENT]))
        reported: dict[str, dict] = {}
        if any(not r.is_secret for r in rows):
            call = calls.call_and_wait(
                station=station,
                action="GetConfiguration",
                payload={},
                requested_by=job.requested_by,
                source="auto_configuration",
            )
            if call.status == OcppCall.Status.OFFLINE:
                return _job_wait(job, station)
            if call.status == OcppCall.Status.ANSWERED:
                for item in (call.response or {}).get("configurationKey") or []:
                    reported[str(item.get("key", "")).lower()] = item

        for row in rows:
            item = reported.get(row.key.lower())
            if item is not None:
                row.reported_value = str(item.get("value") or "")[:500]
                row.readonly = bool(item.get("readonly"))
            if (
                not row.is_secret
                and item is not None
                and _values_match(row.reported_value, row.desired_value)
            ):
                row.state, row.reason = Key.State.ACCEPTED, "Already set on the station."
                row.updated_at = timezone.now()
                row.save(update_fields=["reported_value", "readonly", "state", "reason", "updated_at"])
                continue

            value = row.desired_value
            if row.is_secret:
                # Security whitepaper A00.FR.205: 20 random bytes as 40 hex digits. Only its hash is kept.
                value = secrets.token_hex(20)
                row.pending_secret_hash = make_password(value)
            row.state, row.reason, row.updated_at = Key.State.SENT, "", timezone.now()
            row.save(
                update_fields=[
                    "reported_value",
                    "readonly",
                    "state",
                    "reason",
                    "pending_secret_hash",
                    "updated_at",
                ]
            )

            call = calls.call_send(
                station=station,
                action="ChangeConfiguration",
                payload={"key": row.key, "value": value},
                requested_by=job.requested_by,
                source="auto_configuration",
            )
            del value
            # The call service masks the key in the stored call and the journal once sent (whitepaper A01.FR.09).
            call = calls.call_wait(call)
            if call.status == OcppCall.Status.OFFLINE:
                row.state, row.reason, row.call = Key.State.PENDING, "Waiting for the station.", call
                row.pending_secret_hash = ""
                row.save(update_fields=["state", "reason", "call", "pending_secret_hash", "updated_at"])
                return _job_wait(job, station)
            row.state, row.reason = _answer_state(call)
            if row.readonly and row.state == Key.State.REJECTED:
                row.reason = (
                    "Read-only on this station (GetConfiguration reports readonly); it rejected the value."
                )
            row.call, row.updated_at = call, timezone.now()
            if row.is_secret:
                _authorization_key_answered(station=station, row=row)
            row.save(update_fields=["state", "reason", "call", "pending_secret_hash", "updated_at"])

        return _job_finish(job)
    except Exception as exc:
        log.exception("configuration job %s failed", job_id)
        Key.objects.filter(job=job, state__in=[Key.State.PENDING, Key.State.SENT]).update(
            state=Key.State.FAILED, reason="The job stopped with an internal error.", pending_secret_hash=""
        )
        job.status, job.reason, job.finished_at = (
            Job.Status.FAILED,
            f"Internal error: {exc.__class__.__name__}",
            timezone.now(),
        )
        job.save(update_fields=["status", "reason", "finished_at"])
        return job


def _authorization_key_answered(*, station: Station, row: StationConfigurationKey) -> None:
    """OCPP-J 1.6 §6.2 / whitepaper A01.FR.03-04: rely on the new key only once the station accepted it;
    otherwise keep accepting the old credentials. RebootRequired counts as accepted: the station has stored
    it and will present it after the reset the operator does next."""
    if row.state in Key.OK and row.pending_secret_hash:
        Station.objects.filter(pk=station.pk).update(password_hash=row.pending_secret_hash)
        row.reason = row.reason or "The station authenticates with its new key from its next connection."
    row.pending_secret_hash = ""


def _job_finish(job: ConfigurationJob) -> ConfigurationJob:
    rows = list(Key.objects.filter(station=job.station).values_list("key", "state", "reason"))
    failed = {k: r or s for k, s, r in rows if s in Key.FAILURES}
    ok = sum(1 for _, s, _ in rows if s in Key.OK)
    job.status, job.finished_at = Job.Status.DONE, timezone.now()
    job.reason = f"{ok} of {len(rows)} keys configured" + (f"; {len(failed)} failed." if failed else ".")
    job.save(update_fields=["status", "reason", "finished_at"])
    if job.audit_event_id:
        AuditEvent.objects.filter(pk=job.audit_event_id).update(
            result={"job": job.pk, "status": "done", "configured": ok, "failed": failed}
        )
    return job


def configuration_after_boot(*, station_pk: int) -> None:
    """Hook after each accepted BootNotification (stations.services.station_after_boot):
    - a reboot applied every RebootRequired change made before it;
    - a job that waited for the station resumes."""
    Key.objects.filter(
        station_id=station_pk, state=Key.State.REBOOT_REQUIRED, updated_at__lt=timezone.now()
    ).update(state=Key.State.ACCEPTED, reason="Applied by the station's reboot.")
    for job_id in Job.objects.filter(station_id=station_pk, status=Job.Status.WAITING).values_list(
        "pk", flat=True
    ):
        enqueue(tasks.configuration_job_run_task, job_id)


def configuration_summary(station: Station) -> dict:
    rows = list(Key.objects.filter(station=station).values_list("state", flat=True))
    return {
        "total": len(rows),
        "ok": sum(1 for s in rows if s in Key.OK),
        "failed": sum(1 for s in rows if s in Key.FAILURES),
        "busy": sum(1 for s in rows if s in (Key.State.PENDING, Key.State.SENT)),
    }


# --- reset ----------------------------------------------------------------------------------------

# OCPP 1.6 §7.41 ResetType: Soft "restart the application software" is a full restart of the charger's
# software: it re-reads its configuration and boots again (BootNotification), which is what the manual's
# "reset with the right configuration" needs. Hard is the spec's "last resort" and may lose queued messages.
DEFAULT_RESET_KIND = StationReset.Kind.SOFT


@transaction.atomic
def station_reset(*, station: Station, kind: str, acting_user) -> StationReset:
    reset = StationReset.objects.create(station=station, kind=kind, requested_by=acting_user)
    call = calls.call_send(
        station=station, action="Reset", payload={"type": kind}, requested_by=acting_user, source="portal"
    )
    reset.call = call
    event = audit_record(
        actor=acting_user,
        action="station.reset",
        obj=station,
        station=station,
        account=station.account,
        changes={"type": kind},
        result=call_answer(call),
    )
    reset.audit_event = event
    reset.save(update_fields=["call", "audit_event"])
    if not call.is_final:
        enqueue(tasks.call_result_to_audit_task, call.pk, event.pk)
    return reset


def reset_progress(reset: StationReset | None, station: Station) -> list[dict] | None:
    """Steps of a reset as the operator sees them, derived from the call and the station's presence."""
    if reset is None:
        return None
    call = reset.call
    answer = (call.response or {}).get("status") if call and call.response else None
    steps = []
    if call is None or call.status in (OcppCall.Status.PENDING, OcppCall.Status.SENT):
        steps.append({"label": f"{reset.kind} reset sent, waiting for the station's answer", "state": "busy"})
    elif call.status == OcppCall.Status.ANSWERED and answer == "Accepted":
        steps.append({"label": f"{reset.kind} reset accepted by the station", "state": "done"})
    else:
        reason = answer or call.get_status_display()
        steps.append({"label": f"Reset failed: {reason}", "state": "failed"})
        return steps
    booted = bool(
        station.last_boot_at and station.last_boot_at >= reset.requested_at and station.is_connected
    )
    went_down = bool(
        booted
        or (station.disconnected_at and station.disconnected_at >= reset.requested_at)
        or not station.is_connected
    )
    steps.append({"label": "Station disconnected (restarting)", "state": "done" if went_down else "busy"})
    steps.append(
        {
            "label": "Station back online and booted",
            "state": "done" if booted else ("busy" if went_down else "todo"),
        }
    )
    return steps


# --- EVSE IDs ---------------------------------------------------------------------------------------


def evse_id_format(country_code: str, operator_id: str, sequence: int) -> str:
    """eMI3 EVSE ID / ISO 15118-2 Annex H: <Country Code>*<Operator ID>*E<Power Outlet ID>.
    Country code ISO 3166-1 alpha-2, operator id 3 alphanumerics, ID type 'E', outlet id alphanumeric
    (here six digits, zero-padded; 1-30 characters allowed)."""
    return f"{country_code.upper()}*{operator_id.upper()}*E{sequence:06d}"


@transaction.atomic
def evse_id_batch_create(*, country_code: str, operator_id: str, count: int, acting_user) -> EvseIdBatch:
    country_code, operator_id = country_code.upper(), operator_id.upper()
    batch = EvseIdBatch.objects.create(
        country_code=country_code, operator_id=operator_id, count=count, created_by=acting_user
    )
    # A concurrent batch for the same operator trips evseid_unique_sequence and rolls this one back.
    start = (
        EvseId.objects.filter(country_code=country_code, operator_id=operator_id).aggregate(
            m=Max("sequence")
        )["m"]
        or 0
    ) + 1
    EvseId.objects.bulk_create(
        EvseId(
            evse_id=evse_id_format(country_code, operator_id, seq),
            country_code=country_code,
            operator_id=operator_id,
            sequence=seq,
            batch=batch,
        )
        for seq in range(start, start + count)
    )
    audit_record(
        actor=acting_user,
        action="evse_ids.generate",
        obj=batch,
        changes={"count": count, "first": evse_id_format(country_code, operator_id, start)},
    )
    return batch


def evse_ids_next_free(count: int) -> list[EvseId]:
    """Preview for the form (not reserved): the IDs autopick would take now, in order."""
    return list(EvseId.objects.filter(status=EvseId.Status.AVAILABLE).order_by("id")[:count]) if count else []


def evse_id_autopick(*, connector: Connector) -> EvseId | None:
    """Assign the next free EVSE ID to a connector. Must run inside the caller's transaction.

    PostgreSQL: SELECT ... FOR UPDATE SKIP LOCKED, so two savers each lock a different row instead of
    both reading the same "next" one. SQLite: the write transaction is taken at BEGIN (IMMEDIATE), so
    savers are serialised anyway."""
    existing = EvseId.objects.filter(connector=connector).first()
    if existing:
        return existing
    qs = EvseId.objects.filter(status=EvseId.Status.AVAILABLE).order_by("id")
    if connection.features.has_select_for_update_skip_locked:
        qs = qs.select_for_update(skip_locked=True)
    evse = qs.first()
    if evse is None:
        return None
    evse.status, evse.connector, evse.assigned_at = EvseId.Status.ASSIGNED, connector, timezone.now()
    evse.save(update_fields=["status", "connector", "assigned_at"])
    return evse


def evse_ids_csv(queryset, link_for) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["evse_id", "status", "station", "connector", "qr_payload"])
    for e in queryset.select_related("connector__station"):
        c = e.connector
        writer.writerow(
            [e.evse_id, e.status, c.station.ocpp_id if c else "", c.connector_id if c else "", link_for(e)]
        )
    return out.getvalue()


# --- connectors -------------------------------------------------------------------------------------

SQRT3 = Decimal(str(math.sqrt(3)))


def max_power_watts(power_type: str, voltage: int | None, amperage: int | None) -> int | None:
    """AC 1-phase: V x A (V phase-to-neutral). AC 3-phase: sqrt(3) x V x A with V the line-to-line voltage
    (400 V in Europe, so 400 V x 32 A = 22.2 kW). DC: V x A."""
    if not power_type or not voltage or not amperage:
        return None
    watts = Decimal(voltage) * Decimal(amperage)
    if power_type == Connector.PowerType.AC_3_PHASE:
        watts *= SQRT3
    return int(watts.quantize(Decimal("1")))


@transaction.atomic
def connectors_configure(*, station: Station, cleaned: list[dict], acting_user) -> list[Connector]:
    """Save every connector form at once, autopick EVSE IDs, move the station to Activation pending."""
    fields = ["standard", "format", "power_type", "max_voltage", "max_amperage"]
    changes, saved = {}, []
    for data in cleaned:
        connector = Connector.objects.select_for_update().get(
            station=station, connector_id=data["connector_id"]
        )
        before = {f: getattr(connector, f) for f in fields}
        for f in fields:
            setattr(connector, f, data[f])
        connector.save(update_fields=fields)
        evse = evse_id_autopick(connector=connector)
        if evse is None:
            raise NoEvseIdAvailable()
        diff = {f: [before[f], getattr(connector, f)] for f in fields if before[f] != getattr(connector, f)}
        diff["evse_id"] = evse.evse_id
        changes[str(connector.connector_id)] = diff
        saved.append(connector)
    if station.setup_state in (Station.SetupState.NEEDS_CONFIGURATION, Station.SetupState.SETUP_IN_PROGRESS):
        Station.objects.filter(pk=station.pk).update(setup_state=Station.SetupState.ACTIVATION_PENDING)
    audit_record(
        actor=acting_user,
        action="station.connectors",
        obj=station,
        station=station,
        account=station.account,
        changes=changes,
    )
    return saved


class NoEvseIdAvailable(Exception):
    pass


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
def station_settings_update(*, station: Station, data: dict, access_groups, acting_user) -> Station:
    """Open Settings → Save. Activation itself is accounts.services.station_activate (one code path);
    this saves the rest, links access groups and switches availability when 'disable' changes."""
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
        from accounts.services import station_activate

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
            source="portal",
        )
        result = call_answer(availability_call)
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
        enqueue(tasks.call_result_to_audit_task, availability_call.pk, event.pk)
    return station


def call_result_to_audit(*, call_id: int, audit_id: int) -> None:
    """Wait for the station's answer to a call and store it with the operator's audit event."""
    call = OcppCall.objects.filter(pk=call_id).first()
    if call is None:
        return
    call = calls.call_wait(call)
    AuditEvent.objects.filter(pk=audit_id).update(result=call_answer(call))


def call_answer(call: OcppCall) -> dict:
    """The station's answer to a call as the audit trail keeps it."""
    answer = {"action": call.action, "call_status": call.status}
    if call.response:
        answer["response"] = call.response
    if call.error_code or call.error_description:
        answer["error"] = f"{call.error_code}: {call.error_description}".strip(": ")
    return answer
