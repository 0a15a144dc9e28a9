"""One way to start background work. With a broker (REDIS_URL set) it goes to Celery workers; in the
embedded default it runs in this process on a small thread pool, so a view never blocks on a job.

Tasks are named by their dotted path ("stations.tasks.configuration_job_run_task", Celery's default name
for a shared_task): services start jobs without importing tasks.py, which imports the services (tasks sit
above services: they take ids, re-fetch and call a service).

Periodic tasks (settings.CELERY_BEAT_SCHEDULE) run under Celery beat in production (`celery -A eflux beat`)
and, in the embedded default, those named in settings.IN_PROCESS_PERIODIC_TASKS on one daemon thread of the
server process (scheduler_start, called by eflux/asgi.py)."""

import importlib
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from celery import current_app
from django.conf import settings
from django.db import close_old_connections, transaction

logger = logging.getLogger(__name__)

_pool: ThreadPoolExecutor | None = None


def _executor() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="eflux-job")
    return _pool


def task_by_name(name: str):
    module, _, attr = name.rpartition(".")
    return getattr(importlib.import_module(module), attr)


def _run_in_thread(name, args, kwargs):
    close_old_connections()
    try:
        task_by_name(name).apply(args=args, kwargs=kwargs, throw=False)
    finally:
        close_old_connections()


def enqueue(name: str, *args, on_failure: Callable[[Exception], None] | None = None, **kwargs) -> None:
    """Start the task called `name` after the current transaction commits (so the job sees its rows).

    If the job queue cannot take it (the broker is down), the caller's request still succeeds: the failure is
    logged and `on_failure(exc)` runs, so the job's row can say so; something periodic must hand it again."""

    def start():
        try:
            if settings.JOBS_IN_PROCESS:
                _executor().submit(_run_in_thread, name, args, kwargs)
            else:
                current_app.send_task(name, args=args, kwargs=kwargs)
        except Exception as exc:
            logger.exception("could not hand %s%r to the job queue", name, args)
            if on_failure is not None:
                try:
                    on_failure(exc)
                except Exception:
                    logger.exception("recording that %s could not be queued failed", name)

    transaction.on_commit(start)


# --- the embedded default's scheduler ---------------------------------------------------------------

_scheduler: threading.Thread | None = None
_scheduler_lock = threading.Lock()


def scheduler_start() -> bool:
    """Run settings.IN_PROCESS_PERIODIC_TASKS in this process, on one daemon thread (embedded default only: with
    a broker, Celery beat does it). Idempotent; True if this call started it."""
    global _scheduler
    if not settings.JOBS_IN_PROCESS or not settings.IN_PROCESS_PERIODIC_TASKS:
        return False
    with _scheduler_lock:
        if _scheduler is not None and _scheduler.is_alive():
            return False
        _scheduler = threading.Thread(target=_schedule_forever, name="eflux-scheduler", daemon=True)
        _scheduler.start()
    return True


def schedule_delay(schedule) -> float:
    """Seconds until the next run: an interval in seconds, or a Celery crontab (the billing run on the 1st)
    read in Celery's time zone, as beat reads it."""
    if isinstance(schedule, int | float):
        return float(schedule)
    return max(1.0, schedule.remaining_estimate(schedule.now()).total_seconds())


def _schedule_forever() -> None:
    entries = {name: settings.CELERY_BEAT_SCHEDULE[name] for name in settings.IN_PROCESS_PERIODIC_TASKS}
    due = {name: time.monotonic() + schedule_delay(entry["schedule"]) for name, entry in entries.items()}
    while True:
        name = min(due, key=due.get)
        time.sleep(max(0.0, due[name] - time.monotonic()))
        due[name] = time.monotonic() + schedule_delay(entries[name]["schedule"])
        close_old_connections()
        try:
            task_by_name(entries[name]["task"]).apply(throw=True)
        except Exception:  # keep scheduling: a database hiccup must not end the safety net
            logger.exception("periodic task %s failed", name)
        finally:
            close_old_connections()
