"""Scheduled billing work (settings.CELERY_BEAT_SCHEDULE: the monthly run on the 1st, the daily catch-up).
Celery beat starts these in production; the embedded default runs the same entries on its in-process
scheduler (eflux.jobs.scheduler_start). Each only calls billing.services.runs, which is idempotent and takes
the period's lease, so a duplicate delivery or two schedulers cannot bill twice."""

from celery import shared_task

from billing.services.runs import billing_run_catch_up, billing_run_monthly


@shared_task
def billing_run_monthly_task() -> str:
    return billing_run_monthly().line()


@shared_task
def billing_run_catch_up_task() -> str:
    summary = billing_run_catch_up()
    return summary.line() if summary else "nothing to catch up"
