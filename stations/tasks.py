"""Background work for stations. Tasks take ids, re-fetch, and call a service. Services start
them by name through eflux.jobs.enqueue."""

from celery import shared_task

from .calls import call_and_wait, call_wait, wake
from .models import OcppCall, Station
from .services.commands import call_result_to_audit
from .services.commissioning import commissioning_run
from .services.configuration import configuration_job_run, configuration_jobs_reap
from .services.configuration_read import configuration_daily_reread, configuration_reread
from .services.presence import processes_reap

# --- OCPP calls (stations/calls.py) ----------------------------------------------------------------


@shared_task
def send_call(call_id: int) -> str:
    """Make sure a queued call reaches its station (wake the consumer holding it) and wait for the outcome.
    For code that creates the OcppCall row in a transaction and hands the rest to a worker."""
    call = OcppCall.objects.get(pk=call_id)
    if not call.is_final:
        wake(call.station_id)
        call = call_wait(call)
    return call.status


# At most once: run again after a worker died, it would send the command a second time, and late.
@shared_task(acks_late=False, reject_on_worker_lost=False)
def call_station(station_id: int, action: str, payload: dict, source: str = "task") -> int:
    """Send `action` to a station from a worker and record the outcome; returns the OcppCall id."""
    station = Station.objects.get(pk=station_id)
    return call_and_wait(station=station, action=action, payload=payload, source=source).pk


# --- Onboarding (stations/services/configuration.py, commands.py) ----------------------------------


@shared_task
def commissioning_run_task(run_id: int) -> None:
    """The commissioning test of one connector (stations/services/commissioning.py)."""
    commissioning_run(run_id=run_id)


@shared_task
def configuration_reread_task(station_id: int) -> None:
    """After a boot: read the station's configuration back (stations/services/configuration_read.py)."""
    configuration_reread(station_pk=station_id, after="reboot")


@shared_task
def configuration_daily_read_task(station_id: int) -> None:
    configuration_reread(station_pk=station_id, after="daily")


@shared_task
def configuration_daily_reread_task() -> int:
    """Beat: the daily read of every connected station's configuration (a dated snapshot each)."""
    return configuration_daily_reread()


@shared_task
def configuration_job_run_task(job_id: int) -> None:
    """Auto Configuration / Fix All: runs (or resumes) one ConfigurationJob row."""
    configuration_job_run(job_id=job_id)


@shared_task
def configuration_jobs_reap_task() -> dict:
    """Periodic (settings.CELERY_BEAT_SCHEDULE): resume jobs whose worker died or that the queue never ran."""
    return configuration_jobs_reap()


@shared_task
def call_result_to_audit_task(call_id: int, audit_id: int) -> None:
    """Store the station's answer to an operator's command (Reset, ChangeAvailability) in its audit event."""
    call_result_to_audit(call_id=call_id, audit_id=audit_id)


# --- Liveness (stations/services/presence.py) ---------------------------------------------------------


@shared_task
def processes_reap_task() -> int:
    """Celery beat: stations held by a server process that stopped proving it is alive go offline, even when
    no daphne process is left to notice (each live daphne process also does this on its own heartbeat)."""
    return processes_reap()
