"""One way to start background work. With a broker (REDIS_URL set) it goes to Celery workers; in the
embedded default it runs in this process on a small thread pool, so a view never blocks on a job.

Tasks are named by their dotted path ("stations.tasks.configuration_job_run_task", Celery's default name
for a shared_task): services start jobs without importing tasks.py, which imports the services (tasks sit
above services: they take ids, re-fetch and call a service)."""

import importlib
from concurrent.futures import ThreadPoolExecutor

from celery import current_app
from django.conf import settings
from django.db import close_old_connections, transaction

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


def enqueue(name: str, *args, **kwargs) -> None:
    """Start the task called `name` after the current transaction commits (so the job sees its rows)."""

    def start():
        if settings.JOBS_IN_PROCESS:
            _executor().submit(_run_in_thread, name, args, kwargs)
        else:
            current_app.send_task(name, args=args, kwargs=kwargs)

    transaction.on_commit(start)
