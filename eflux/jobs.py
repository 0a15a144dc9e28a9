"""One way to start background work. With a broker (REDIS_URL set) it goes to Celery workers; in the
embedded default it runs in this process on a small thread pool, so a view never blocks on a job."""

from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import close_old_connections, transaction

_pool: ThreadPoolExecutor | None = None


def _executor() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="eflux-job")
    return _pool


def _run_in_thread(task, args, kwargs):
    close_old_connections()
    try:
        task.apply(args=args, kwargs=kwargs, throw=False)
    finally:
        close_old_connections()


def enqueue(task, *args, **kwargs) -> None:
    """Start `task` after the current transaction commits (so the job sees the rows it needs)."""

    def start():
        if settings.JOBS_IN_PROCESS:
            _executor().submit(_run_in_thread, task, args, kwargs)
        else:
            task.apply_async(args=args, kwargs=kwargs)

    transaction.on_commit(start)
