"""`manage.py billing_run --period YYYY-MM [--issue] [--dry-run]`: the monthly run for one period, as the
beat entry runs it, printing one summary line. Run twice, the second run changes nothing and says so."""

from django.core.management.base import BaseCommand, CommandError

from billing.periods import PeriodError
from billing.services.runs import billing_run


class Command(BaseCommand):
    help = "Collect, draft and (with --issue) issue the invoices of one billing period."

    def add_arguments(self, parser):
        parser.add_argument("--period", required=True, help="YYYY-MM, a month that has ended")
        parser.add_argument("--issue", action="store_true", help="issue the drafts (numbers, PDFs, payouts)")
        parser.add_argument("--dry-run", action="store_true", help="show what would happen, save nothing")

    def handle(self, *args, period, issue, dry_run, **options):
        try:
            summary = billing_run(period=period, issue=issue, dry_run=dry_run)
        except PeriodError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(summary.line())
