"""Auto Configuration and Fix All (the operator manual's configuration steps): the platform's required
configuration profile, configuration jobs (one row per job, one row per key), and their resume after a boot.

Views, tasks and the OCPP boot hook all call these functions; none of them holds state in memory."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.audit import audit_record
from accounts.models import AuditEvent
from eflux.jobs import enqueue
from stations import calls
from stations.models import (
    ConfigurationJob,
    ConfigurationProfile,
    ConfigurationProfileKey,
    OcppCall,
    Station,
    StationConfigurationKey,
)

from .admission import station_key_accepted, station_password_hash
from .commands import call_meaning

RUN_TASK = "stations.tasks.configuration_job_run_task"

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
        enqueue(RUN_TASK, active.pk)
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
    enqueue(RUN_TASK, job.pk)
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
        enqueue(RUN_TASK, job.pk)
    return job


# OCPP 1.6 §7.9 ConfigurationStatus → row state and the reason shown to the operator.
_CONFIGURATION_ANSWERS = {
    "Accepted": (Key.State.ACCEPTED, ""),
    "RebootRequired": (Key.State.REBOOT_REQUIRED, "Changed; takes effect after a reset (Reset Device)."),
    "Rejected": (Key.State.REJECTED, "The station rejected this value (ChangeConfiguration: Rejected)."),
    "NotSupported": (Key.State.NOT_SUPPORTED, "The station does not support this key (NotSupported)."),
}


def _answer_state(call: OcppCall) -> tuple[str, str]:
    meaning = call_meaning(call)
    if call.status == OcppCall.Status.ANSWERED:
        return _CONFIGURATION_ANSWERS.get(
            meaning.answer, (Key.State.FAILED, f"Unexpected answer {meaning.answer!r}.")
        )
    state = Key.State.TIMED_OUT if call.status == OcppCall.Status.TIMED_OUT else Key.State.FAILED
    return state, (meaning.text[0].upper() + meaning.text[1:] + ".")[:300]


def _run_order(row: StationConfigurationKey) -> tuple:
    # Security whitepaper A05.FR.02: SecurityProfile 1 needs the AuthorizationKey in place, so it goes after it
    # whatever the profile's positions say (and raising it is the operator's explicit choice: it is only sent
    # when the configuration profile lists it).
    return (row.key.lower() == "securityprofile", row.position, row.pk)


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

        rows = sorted(
            Key.objects.filter(job=job, state__in=[Key.State.PENDING, Key.State.SENT]), key=_run_order
        )
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
                # Security whitepaper A00.FR.205: 20 random bytes as 40 hex digits. Only its hash is kept, with
                # the station's own hasher (stations/hashers.py: the handshake verifies it).
                value = secrets.token_hex(20)
                row.pending_secret_hash = station_password_hash(value)
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
                if row.is_secret and row.pending_secret_hash and call.sent_at is not None:
                    # Sent, then the connection dropped: the station may have stored it (see below).
                    station_key_accepted(station_pk=station.pk, secret_hash=row.pending_secret_hash)
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
                _authorization_key_answered(station=station, row=row, call=call)
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


def _authorization_key_answered(*, station: Station, row: StationConfigurationKey, call: OcppCall) -> None:
    """OCPP-J 1.6 §6.2 / whitepaper A01.FR.03-04: rely on the new key once the station accepted it; otherwise
    keep accepting the old credentials. RebootRequired counts as accepted: the station has stored it and will
    present it after the reset the operator does next. A key that reached the station but whose answer was lost
    (timed out, connection dropped) may have been stored too: it is accepted as well, or a profile-1 station
    that did store it would be locked out. Until the station first uses the new key its previous credentials
    keep working (stations.services.admission.credentials_decide)."""
    answer_lost = call.sent_at is not None and call.status == OcppCall.Status.TIMED_OUT
    if row.pending_secret_hash and (row.state in Key.OK or answer_lost):
        station_key_accepted(station_pk=station.pk, secret_hash=row.pending_secret_hash)
        if row.state in Key.OK:
            row.reason = row.reason or (
                "The station may use it from its next connection; until it does, it connects as before."
            )
        else:
            row.reason = (row.reason + " The station may have stored it, so it is accepted too.")[:300]
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
    """Hook after each accepted BootNotification (stations.services.messages.station_after_boot):
    - a reboot applied every RebootRequired change made before it;
    - a job that waited for the station resumes."""
    Key.objects.filter(
        station_id=station_pk, state=Key.State.REBOOT_REQUIRED, updated_at__lt=timezone.now()
    ).update(state=Key.State.ACCEPTED, reason="Applied by the station's reboot.")
    for job_id in Job.objects.filter(station_id=station_pk, status=Job.Status.WAITING).values_list(
        "pk", flat=True
    ):
        enqueue(RUN_TASK, job_id)


def configuration_summary(station: Station) -> dict:
    rows = list(Key.objects.filter(station=station).values_list("state", flat=True))
    return {
        "total": len(rows),
        "ok": sum(1 for s in rows if s in Key.OK),
        "failed": sum(1 for s in rows if s in Key.FAILURES),
        "busy": sum(1 for s in rows if s in (Key.State.PENDING, Key.State.SENT)),
    }
