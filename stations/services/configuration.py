"""Auto Configuration and Fix All (the operator manual's configuration steps): configuration jobs (one row per
job, one row per key), their resume after a boot and after a worker died. The required configuration itself
is in profiles.py.

Views, tasks and the OCPP boot hook all call these functions; none of them holds state in memory."""

from __future__ import annotations

import logging
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts.audit import audit_record
from accounts.models import AuditEvent
from eflux.jobs import enqueue
from stations import calls
from stations.models import (
    ConfigurationJob,
    OcppCall,
    Station,
    StationConfigurationKey,
)

from . import configuration_v201 as v201
from .admission import station_key_accepted, station_password_hash
from .commands import call_meaning
from .configuration_read import REREAD_TASK, configuration_reported_store, variables_changed_read
from .profiles import profile_for, values_match

RUN_TASK = "stations.tasks.configuration_job_run_task"

log = logging.getLogger(__name__)

Key = StationConfigurationKey
Job = ConfigurationJob

# Shown while the job queue (the Celery broker) cannot be reached; the reaper hands the job again later.
QUEUE_UNREACHABLE = (
    "Waiting for the job queue (it cannot be reached right now); the job starts by itself when it is back."
)

# --- configuration jobs ---------------------------------------------------------------------------


@dataclass
class JobStart:
    job: ConfigurationJob | None
    created: bool
    message: str


@transaction.atomic
def configuration_job_start(*, station: Station, kind: str, acting_user) -> JobStart:
    """Start Auto Configuration (every required key) or Fix All (only the failed keys).

    Two clicks at once: the station row lock serialises them, and the partial unique constraint
    configjob_one_active_per_station refuses a second active job even if the lock were skipped."""
    station = Station.objects.select_for_update().get(pk=station.pk)
    # The reaper does this periodically; a click need not wait for it.
    resumed = [job_id for job_id in _jobs_held_by_dead_runners(station_pk=station.pk) if _take_over(job_id)]
    active = Job.objects.filter(station=station, status__in=Job.ACTIVE).first()
    if active and active.pk in resumed and active.status == Job.Status.PENDING:
        return JobStart(
            active, False, f"{active.get_kind_display()} resumed: the worker running it had stopped."
        )
    if active and active.status == Job.Status.WAITING and station.is_connected:
        # The station came back without a BootNotification (a plain reconnect): the click resumes the job.
        _enqueue_run(active.pk)
        return JobStart(active, False, f"{active.get_kind_display()} resumed: the station is back online.")
    if active:
        return JobStart(active, False, f"{active.get_kind_display()} is already running.")

    profile = profile_for(station)
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
        # A key the operator marked not applicable on this station stays so while the profile wants the same value.
        waived = set(
            Key.objects.filter(station=station, state=Key.State.NOT_APPLICABLE)
            # Not the rows a vendor/model profile waived: those follow the profile (_not_applicable_for_model).
            .exclude(reason__startswith=MODEL_WAIVER_PREFIX)
            .values_list("key", "desired_value")
        )
        for pk in wanted:
            if pk.not_applicable_reason:  # the vendor/model profile says this model cannot take it
                _not_applicable_for_model(station=station, profile=profile, profile_key=pk, job=job, now=now)
                continue
            if (pk.key, "" if pk.is_secret else pk.value) in waived:
                continue
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
    _enqueue_run(job.pk)
    return JobStart(job, True, f"{job.get_kind_display()} started.")


MODEL_WAIVER_PREFIX = "Not applicable on "


def _not_applicable_for_model(*, station, profile, profile_key, job, now) -> None:
    """A key the station's vendor/model profile marks not applicable: the row says so, with the profile's reason
    and who decided it, and is never sent."""
    Key.objects.update_or_create(
        station=station,
        key=profile_key.key,
        defaults=dict(
            desired_value="" if profile_key.is_secret else profile_key.value,
            is_secret=profile_key.is_secret,
            position=profile_key.position,
            state=Key.State.NOT_APPLICABLE,
            reason=f"{MODEL_WAIVER_PREFIX}{profile.vendor} {profile.model or '(any model)'}: "
            f"{profile_key.not_applicable_reason}"[:300],
            not_applicable_by=profile_key.not_applicable_by,
            not_applicable_reason=profile_key.not_applicable_reason,
            job=None,
            call=None,
            updated_at=now,
        ),
    )


def _enqueue_run(job_pk: int) -> None:
    """Hand the job to the job queue once the current transaction commits. A queue that cannot be reached (the
    broker is down) fails neither the click nor the boot handler: the job says so, and the reaper hands it again
    (configuration_jobs_reap). Handing it twice is harmless: only one run claims it."""
    Job.objects.filter(pk=job_pk).update(enqueued_at=timezone.now())
    enqueue(RUN_TASK, job_pk, on_failure=lambda exc: _queue_unreachable(job_pk))


def _queue_unreachable(job_pk: int) -> None:
    Job.objects.filter(pk=job_pk, status__in=[Job.Status.PENDING, Job.Status.WAITING]).update(
        reason=QUEUE_UNREACHABLE
    )


def _job_wait(job: ConfigurationJob, station: Station) -> ConfigurationJob:
    seen = (
        timezone.localtime(station.last_seen_at).strftime("%Y-%m-%d %H:%M UTC")
        if station.last_seen_at
        else "never"
    )
    job.status, job.runner = Job.Status.WAITING, ""
    job.reason = f"The station is offline (last seen {seen}). Configuration continues automatically when it reconnects."
    job.save(update_fields=["status", "runner", "reason"])
    # The station may have come back (and its boot hook run) between our failed call and this save: the
    # hook only resumes waiting jobs, so look once more. The claim in configuration_job_run makes a double
    # start harmless.
    if Station.objects.filter(pk=station.pk, is_connected=True).exists():
        _enqueue_run(job.pk)
    return job


# OCPP 1.6 §7.9 ConfigurationStatus → row state and the reason shown to the operator.
_CONFIGURATION_ANSWERS = {
    "Accepted": (Key.State.ACCEPTED, ""),
    "RebootRequired": (Key.State.REBOOT_REQUIRED, "Changed; takes effect after a reset (Reset Device)."),
    "Rejected": (Key.State.REJECTED, "The station rejected this value (ChangeConfiguration: Rejected)."),
    "NotSupported": (Key.State.NOT_SUPPORTED, "The station does not support this key (NotSupported)."),
}


def _answer_state(call: OcppCall) -> tuple[str, str]:
    if call.action == "SetVariables":
        return v201.answer_state(call)
    meaning = call_meaning(call)
    if call.status == OcppCall.Status.ANSWERED:
        return _CONFIGURATION_ANSWERS.get(
            meaning.answer, (Key.State.FAILED, f"Unexpected answer {meaning.answer!r}.")
        )
    state = Key.State.TIMED_OUT if call.status == OcppCall.Status.TIMED_OUT else Key.State.FAILED
    return state, (meaning.text[0].upper() + meaning.text[1:] + ".")[:300]


class _LeaseLost(Exception):
    """Another run holds the job now (this one was presumed dead and taken over): stop without writing."""


class _Lease:
    """This run's hold on a job: proves it alive every JOB_HEARTBEAT_SECONDS while it works or waits, and fails
    (raises _LeaseLost) once the reaper gave the job to another run, so two runs never send keys side by side."""

    def __init__(self, job_pk: int, token: str):
        self.job_pk, self.token = job_pk, token
        self.beaten = time.monotonic()

    def beat(self, *, force: bool = False) -> None:
        if not force and time.monotonic() - self.beaten < settings.JOB_HEARTBEAT_SECONDS:
            return
        held = Job.objects.filter(pk=self.job_pk, status=Job.Status.RUNNING, runner=self.token).update(
            heartbeat_at=timezone.now()
        )
        if not held:
            raise _LeaseLost
        self.beaten = time.monotonic()

    def wait(self, call: OcppCall) -> OcppCall:
        """calls.call_wait, beating while the station takes its time (a held call can take minutes)."""
        while True:
            call = calls.call_wait(call, timeout=settings.JOB_HEARTBEAT_SECONDS)
            if call.is_final:
                return call
            self.beat()
            # Past the call's own bound: a plain call_wait settles it (timed out / never sent) at once.
            bound = timedelta(seconds=settings.OCPP_CALL_QUEUE_SECONDS + call.timeout_seconds)
            if timezone.now() > call.created_at + bound + calls.SETTLE_GRACE:
                return calls.call_wait(call)


def _claim(job_id: int) -> _Lease | None:
    """Only the caller that moves the job to running proceeds; a job held by a dead runner is taken over."""
    if _jobs_held_by_dead_runners(job_pk=job_id):
        _take_over(job_id, enqueue_it=False)  # a redelivered task, or the reaper's: this run resumes it
    token, now = uuid.uuid4().hex, timezone.now()
    claimed = Job.objects.filter(pk=job_id, status__in=[Job.Status.PENDING, Job.Status.WAITING]).update(
        status=Job.Status.RUNNING, runner=token, heartbeat_at=now, started_at=now, reason=""
    )
    return _Lease(job_id, token) if claimed else None


def _run_order(row: StationConfigurationKey) -> tuple:
    # Security whitepaper A05.FR.02: SecurityProfile 1 needs the AuthorizationKey in place, so it goes after it
    # whatever the profile's positions say (and raising it is the operator's explicit choice: it is only sent
    # when the configuration profile lists it).
    return (row.key.lower() == "securityprofile", row.position, row.pk)


def configuration_job_run(*, job_id: int) -> ConfigurationJob | None:
    """Run (or resume) one job: settle a key whose call a previous run left outstanding, GetConfiguration, then
    ChangeConfiguration for each pending key that is not already at its value.

    Safe to call twice and safe to resume after the worker died at any point: each key's call is recorded on
    its row in the same transaction that queues it, so a resumed run reads the station's answer (recorded by
    the daphne consumer, independently of any worker) instead of sending the key again."""
    lease = _claim(job_id)
    job = Job.objects.select_related("station", "requested_by").filter(pk=job_id).first()
    if lease is None or job is None:
        return job
    station = job.station
    try:
        if not station.is_connected:
            return _job_wait(job, station)

        # A key sent by a run that died: its answer (or its timeout) decides the row, nothing is sent again.
        for row in Key.objects.filter(job=job, state=Key.State.SENT, call__isnull=False).select_related(
            "call"
        ):
            if not _record_answer(station, row, lease.wait(row.call)):
                return _job_wait(job, station)
            lease.beat(force=True)

        rows = sorted(
            Key.objects.filter(job=job, state__in=[Key.State.PENDING, Key.State.SENT]), key=_run_order
        )
        reported: dict[str, dict] = {}
        if station.is_ocpp201 and any(not r.is_secret for r in rows):
            got = v201.read_device_model(
                station=station, requested_by=job.requested_by, wait=lease.wait, beat=lease.beat
            )
            if got is None:
                return _job_wait(job, station)
            reported = got
        elif any(not r.is_secret for r in rows):
            call = calls.call_send(
                station=station,
                action="GetConfiguration",
                payload={},
                requested_by=job.requested_by,
                source="auto_configuration",
            )
            call = lease.wait(call)
            if call.status == OcppCall.Status.OFFLINE:
                return _job_wait(job, station)
            if call.status == OcppCall.Status.ANSWERED:
                for item in (call.response or {}).get("configurationKey") or []:
                    reported[str(item.get("key", "")).lower()] = item

        for row in rows:
            lease.beat(force=True)  # still ours: never send a key beside a run that took over
            item = reported.get(row.key.lower())
            if item is not None:
                row.reported_value = str(item.get("value") or "")[:500]
                row.readonly = bool(item.get("readonly"))
            if not row.is_secret and item is not None and values_match(row.reported_value, row.desired_value):
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
            with transaction.atomic():
                # The call and the row that names it commit together: a worker killed after this point leaves
                # a row that says which call to read, never a call nobody knows about.
                call = calls.call_send(
                    station=station,
                    action="SetVariables" if station.is_ocpp201 else "ChangeConfiguration",
                    payload=v201.set_variable_payload(row.key, value)
                    if station.is_ocpp201
                    else {"key": row.key, "value": value},
                    requested_by=job.requested_by,
                    source="auto_configuration",
                )
                row.state, row.reason, row.call, row.updated_at = Key.State.SENT, "", call, timezone.now()
                row.save(
                    update_fields=[
                        "reported_value",
                        "readonly",
                        "state",
                        "reason",
                        "call",
                        "pending_secret_hash",
                        "updated_at",
                    ]
                )
            del value
            # The call service masks the key in the stored call and the journal once sent (whitepaper A01.FR.09).
            if not _record_answer(station, row, lease.wait(call)):
                return _job_wait(job, station)

        lease.beat(force=True)
        # Read back what was changed: "Station reported" shows the value after the change, and an accepted key
        # the station does not hold is a failure (stations.services.configuration_read).
        changed = list(  # this job's changes, a previous (interrupted) run's included
            Key.objects.filter(job=job, is_secret=False, call__isnull=False, state__in=Key.OK).values_list(
                "key", flat=True
            )
        )
        if changed and station.is_ocpp201:  # 2.0.1: GetVariables (B06), in chunks the station takes
            variables_changed_read(
                station=station,
                keys=changed,
                send=lambda payload: lease.wait(
                    calls.call_send(
                        station=station,
                        action="GetVariables",
                        payload=payload,
                        requested_by=job.requested_by,
                        source="auto_configuration",
                    )
                ),
            )
        elif changed:
            call = calls.call_send(
                station=station,
                action="GetConfiguration",
                payload={"key": changed},
                requested_by=job.requested_by,
                source="auto_configuration",
            )
            configuration_reported_store(station_pk=station.pk, call=lease.wait(call), after="change")
        job = _job_finish(job)
        v201.after_job(station=station, requested_by=job.requested_by)  # 2.0.1 only (B02.FR.01)
        return job
    except _LeaseLost:
        log.warning("configuration job %s was taken over by another run; this one stops", job_id)
        return Job.objects.filter(pk=job_id).first()
    except Exception as exc:
        log.exception("configuration job %s failed", job_id)
        _abandon_keys(job)
        job.status, job.reason, job.finished_at = (
            Job.Status.FAILED,
            f"Internal error: {exc.__class__.__name__}",
            timezone.now(),
        )
        job.save(update_fields=["status", "reason", "finished_at"])
        return job


def _record_answer(station: Station, row: StationConfigurationKey, call: OcppCall) -> bool:
    """Store the final outcome of a key's call on its row. False: the station went offline first (the key
    waits for it and the job waits for the station)."""
    if call.status == OcppCall.Status.OFFLINE:
        if row.is_secret and row.pending_secret_hash and call.sent_at is not None:
            # Sent, then the connection dropped: the station may have stored it (see below).
            station_key_accepted(station_pk=station.pk, secret_hash=row.pending_secret_hash)
        row.state, row.reason, row.call = Key.State.PENDING, "Waiting for the station.", call
        row.pending_secret_hash, row.updated_at = "", timezone.now()
        row.save(update_fields=["state", "reason", "call", "pending_secret_hash", "updated_at"])
        return False
    row.state, row.reason = _answer_state(call)
    if row.readonly and row.state == Key.State.REJECTED:
        row.reason = "Read-only on this station (GetConfiguration reports readonly); it rejected the value."
    row.call, row.updated_at = call, timezone.now()
    if row.is_secret:
        _authorization_key_answered(station=station, row=row, call=call)
    row.save(update_fields=["state", "reason", "call", "pending_secret_hash", "updated_at"])
    return True


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


def _abandon_keys(job: ConfigurationJob) -> None:
    """The job ends without finishing its keys. An AuthorizationKey whose call is out (or was answered) may be
    on the station already: accept it too rather than risk locking the station out."""
    for row in Key.objects.filter(job=job, state=Key.State.SENT, is_secret=True, call__isnull=False).exclude(
        pending_secret_hash=""
    ):
        call = OcppCall.objects.filter(pk=row.call_id).first()
        refused = (
            call is not None
            and call.is_final
            and (
                call.status == OcppCall.Status.CALL_ERROR
                or (call.status == OcppCall.Status.OFFLINE and call.sent_at is None)
                or (call.status == OcppCall.Status.ANSWERED and _answer_state(call)[0] not in Key.OK)
            )
        )
        if not refused:
            station_key_accepted(station_pk=job.station_id, secret_hash=row.pending_secret_hash)
    Key.objects.filter(job=job, state__in=[Key.State.PENDING, Key.State.SENT]).update(
        state=Key.State.FAILED, reason="The job stopped before this key was done.", pending_secret_hash=""
    )


# --- the reaper: jobs whose worker died, jobs the queue lost ----------------------------------------


def _jobs_held_by_dead_runners(*, station_pk: int | None = None, job_pk: int | None = None) -> list[int]:
    cutoff = timezone.now() - timedelta(seconds=settings.JOB_STALL_SECONDS)
    qs = Job.objects.filter(status=Job.Status.RUNNING).filter(
        Q(heartbeat_at__lt=cutoff)
        | Q(heartbeat_at__isnull=True, started_at__lt=cutoff)
        | Q(heartbeat_at__isnull=True, started_at__isnull=True)
    )
    if station_pk is not None:
        qs = qs.filter(station_id=station_pk)
    if job_pk is not None:
        qs = qs.filter(pk=job_pk)
    return list(qs.values_list("pk", flat=True))


def _take_over(job_id: int, *, enqueue_it: bool = True) -> bool:
    """A running job whose runner stopped proving it is alive: queue it again (it resumes where the dead run
    stopped), or, after JOB_MAX_INTERRUPTIONS, fail it visibly. Conditional on the runner it had, so two
    reapers (or a reaper and a redelivered task) take it over once. True if it was queued again."""
    job = Job.objects.filter(pk=job_id, status=Job.Status.RUNNING).first()
    if job is None:
        return False
    held = Job.objects.filter(pk=job.pk, status=Job.Status.RUNNING, runner=job.runner)
    if job.interruptions >= settings.JOB_MAX_INTERRUPTIONS:
        if held.update(
            status=Job.Status.FAILED,
            runner="",
            finished_at=timezone.now(),
            reason=f"Interrupted {job.interruptions + 1} times (the worker running it stopped); start it again.",
        ):
            _abandon_keys(job)
            log.warning("configuration job %s failed: interrupted too often", job.pk)
        return False
    if not held.update(
        status=Job.Status.PENDING,
        runner="",
        interruptions=F("interruptions") + 1,
        reason="Resuming: the worker running it stopped.",
    ):
        return False
    log.warning("configuration job %s: its worker stopped; resuming it", job.pk)
    if enqueue_it:
        _enqueue_run(job.pk)
    return True


def configuration_jobs_reap() -> dict[str, int]:
    """Periodic (Celery beat in production, the in-process scheduler in the embedded default; settings
    CELERY_BEAT_SCHEDULE): no job stays stuck for want of a click.
    - running, but its runner stopped proving it is alive (worker killed, server restarted): resumed;
    - queued, but the queue never ran it (broker was down, message lost): handed to the queue again;
    - waiting for a station that is connected again (a reconnect without BootNotification): resumed."""
    counts = {"resumed": 0, "requeued": 0}
    for job_id in _jobs_held_by_dead_runners():
        counts["resumed"] += _take_over(job_id)
    cutoff = timezone.now() - timedelta(seconds=settings.JOB_STALL_SECONDS)
    not_taken = Q(enqueued_at__lt=cutoff) | Q(enqueued_at__isnull=True, created_at__lt=cutoff)
    for job_id in (
        Job.objects.filter(not_taken)
        .filter(Q(status=Job.Status.PENDING) | Q(status=Job.Status.WAITING, station__is_connected=True))
        .values_list("pk", flat=True)
    ):
        _enqueue_run(job_id)
        counts["requeued"] += 1
    return counts


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
    # Plain statements: this runs after every boot of every station (docs/benchmarks.md).
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id FROM {connection.ops.quote_name(Job._meta.db_table)} "
            "WHERE station_id = %s AND status = %s ORDER BY id DESC",
            [station_pk, Job.Status.WAITING],
        )
        waiting = [row[0] for row in cursor.fetchall()]
        cursor.execute(
            f"SELECT 1 FROM {connection.ops.quote_name(Key._meta.db_table)} WHERE station_id = %s LIMIT 1",
            [station_pk],
        )
        has_keys = cursor.fetchone() is not None
    for job_id in waiting:
        _enqueue_run(job_id)
    if has_keys:
        # Read back after every boot (a Reset applies RebootRequired changes; a charger may also lose values);
        # queued behind a resumed job's calls (one outstanding call per station).
        enqueue(REREAD_TASK, station_pk)


def configuration_summary(station: Station) -> dict:
    rows = list(Key.objects.filter(station=station).values_list("state", flat=True))
    return {
        "total": len(rows),
        "ok": sum(1 for s in rows if s in Key.OK),
        "failed": sum(1 for s in rows if s in Key.FAILURES),
        "busy": sum(1 for s in rows if s in (Key.State.PENDING, Key.State.SENT)),
    }
