"""The monthly run's schedule: beat entries that name real tasks, crontab timing in the billing time zone
(also for the embedded default's in-process scheduler), and the daily catch-up that finishes what a crash
left open and leaves an issued period alone."""

from datetime import UTC, datetime

from django.conf import settings

from billing.models import BillingRun, Invoice
from billing.services.runs import billing_run_catch_up, billing_run_monthly
from eflux.jobs import schedule_delay, task_by_name
from tests.billing.billing_world import agree, local, session, station_plan, subscribe


def test_beat_entries_name_real_tasks_and_the_embedded_scheduler_runs_the_catch_up():
    for name in ("billing-monthly-run", "billing-daily-catch-up"):
        entry = settings.CELERY_BEAT_SCHEDULE[name]
        assert task_by_name(entry["task"]).name == entry["task"]
        assert 0 < schedule_delay(entry["schedule"]) <= 31 * 24 * 3600
    assert "billing-daily-catch-up" in settings.IN_PROCESS_PERIODIC_TASKS
    assert settings.CELERY_TIMEZONE == settings.BILLING_TIMEZONE == "Europe/Amsterdam"
    monthly = settings.CELERY_BEAT_SCHEDULE["billing-monthly-run"]["schedule"]
    assert (monthly.day_of_month, monthly.hour, monthly.minute) == ({1}, {3}, {0})


def test_the_monthly_entry_bills_the_previous_month_in_the_billing_time_zone(
    own_station, foreign_card, alice_account, account_owner
):
    own_station.allow_roaming = True
    own_station.save()
    subscribe(station_plan(), station=own_station)
    agree(alice_account, account_owner)
    session(own_station, foreign_card, "public", local(2026, 1, 31, 23, 30))  # January, local time
    # 1 Feb 03:00 in Amsterdam is 02:00 UTC.
    summary = billing_run_monthly(now=datetime(2026, 2, 1, 2, 0, tzinfo=UTC))
    assert summary.period == "2026-01" and len(summary.self_billing) == 1


def test_the_catch_up_finishes_an_unfinished_run_and_leaves_an_issued_one(own_station, alice_account):
    subscribe(station_plan(), station=own_station)
    BillingRun.objects.create(period="2026-01", status=BillingRun.Status.FAILED, error="worker lost")
    summary = billing_run_catch_up(now=datetime(2026, 2, 2, 2, 30, tzinfo=UTC))
    assert summary is not None and summary.issued
    assert BillingRun.objects.get(period="2026-01").status == "issued"
    count = Invoice.objects.count()
    assert billing_run_catch_up(now=datetime(2026, 2, 3, 2, 30, tzinfo=UTC)) is None
    assert Invoice.objects.count() == count


def test_the_task_runs_the_service(own_station):
    from django.utils import timezone

    from billing.periods import previous_period

    subscribe(station_plan(), station=own_station)
    period = previous_period(timezone.now(), settings.BILLING_TIMEZONE)
    result = task_by_name("billing.tasks.billing_run_catch_up_task").apply().get()
    assert result.startswith(f"period {period}: 1 invoices issued")
    assert task_by_name("billing.tasks.billing_run_catch_up_task").apply().get() == "nothing to catch up"
