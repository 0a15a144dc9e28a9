"""The monthly billing run: collect the ledger, draft one document per account and kind, issue them, render
their PDFs, settle the payouts. One run per period (BillingRun row, unique on period) under a lease taken by
one compare-and-set UPDATE, so a second run of the same period (another worker, the daily catch-up, an
operator's command) leaves at once; every step is idempotent besides (unique item keys, one document per
run/account/kind, a gap-free locked numbering), so even a run whose lease expired mid-way cannot bill twice.

Called by billing.tasks (Celery beat in production, the in-process scheduler in the embedded default) and by
`manage.py billing_run`."""

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.audit import audit_record
from billing import periods
from billing.models import BillingItem, BillingRun, Invoice, InvoiceLine, Payout
from billing.money import invoice_totals, payout_amount
from billing.services import invoices as invoice_services
from billing.services.ledger import ledger_collect
from billing.services.plans import self_billing_agreement_for

logger = logging.getLogger(__name__)


class _DryRun(Exception):
    pass


@dataclass
class RunSummary:
    period: str
    issued: list[str] = field(default_factory=list)
    self_billing: list[str] = field(default_factory=list)
    credit_notes: list[str] = field(default_factory=list)
    drafted: int = 0
    items_created: int = 0
    left_open: int = 0
    note: str = ""
    dry_run: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.issued or self.self_billing or self.drafted or self.items_created)

    def line(self) -> str:
        def span(numbers):
            if not numbers:
                return ""
            first, last = numbers[0], numbers[-1]
            return f" ({first})" if first == last else f" ({first}..{last.rsplit('-', 1)[-1]})"

        text = (
            f"period {self.period}: {len(self.issued)} invoices issued{span(self.issued)}, "
            f"{len(self.self_billing)} self-billing{span(self.self_billing)}, "
            f"{len(self.credit_notes)} credit notes, {self.left_open} items left open"
        )
        if self.drafted and not (self.issued or self.self_billing):
            text += f", {self.drafted} drafts"
        if self.dry_run:
            text += " (dry run: nothing was saved)"
        elif not self.changed:
            text += f"; nothing changed{' (' + self.note + ')' if self.note else ''}"
        return text


def _run_row(period: str) -> BillingRun:
    try:
        with transaction.atomic():
            return BillingRun.objects.get_or_create(period=period)[0]
    except IntegrityError:  # a concurrent run created it first
        return BillingRun.objects.get(period=period)


def _take_lease(run: BillingRun, now: datetime) -> bool:
    until = now + timedelta(seconds=settings.BILLING_RUN_LEASE_SECONDS)
    taken = (
        BillingRun.objects.filter(pk=run.pk)
        .exclude(status=BillingRun.Status.ISSUED)
        .filter(Q(locked_until__isnull=True) | Q(locked_until__lt=now))
        .update(locked_until=until, status=BillingRun.Status.RUNNING, started_at=now, error="")
    )
    return taken == 1


def _open_items(end):
    return BillingItem.objects.filter(status=BillingItem.Status.OPEN, service_date__lt=end)


def _draftable(run: BillingRun, end):
    # An item on another run's draft waits for that draft (issued or dropped), so it is never on two drafts.
    elsewhere = InvoiceLine.objects.filter(
        invoice__status=Invoice.Status.DRAFT, billing_item__isnull=False
    ).exclude(invoice__run=run)
    return _open_items(end).exclude(pk__in=elsewhere.values("billing_item_id"))


def _draft(run: BillingRun, end) -> int:
    """Drafts with new lines; 0 on a re-run that found nothing new."""
    groups = (
        _draftable(run, end)
        .values_list("account_id", "direction", "currency")
        .distinct()
        .order_by("account_id", "direction", "currency")
    )
    drafted = 0
    for account_id, direction, currency in list(groups):
        items = list(
            _draftable(run, end)
            .filter(account_id=account_id, direction=direction, currency=currency)
            .select_related("account", "session__station", "session__card")
            .order_by("service_date", "id")
        )
        kind = Invoice.Kind.SELF_BILLING if direction == BillingItem.Direction.REVENUE else Invoice.Kind.USAGE
        agreement = None
        if kind == Invoice.Kind.SELF_BILLING:
            agreement = self_billing_agreement_for(items[0].account)
            if agreement is None:
                continue  # Art. 224: no prior agreement, no self-billing invoice; the revenue stays open
        totals = invoice_totals(
            (i.amount, invoice_services.vat_rule(kind=kind, item=i, agreement=agreement)) for i in items
        )
        if totals.total <= 0:
            continue  # no invoice for a zero total; its items stay open
        before = InvoiceLine.objects.filter(invoice__run=run).count()
        invoice_services.invoice_draft(
            run=run, account=items[0].account, kind=kind, currency=currency, items=items, agreement=agreement
        )
        drafted += InvoiceLine.objects.filter(invoice__run=run).count() > before
    return drafted


def _settle(run: BillingRun) -> None:
    """A payout per owner with an issued self-billing invoice in this run: its total minus the platform
    fees (incl. VAT) that the owner's usage invoice of the same run charges."""
    for sb in run.invoices.filter(kind=Invoice.Kind.SELF_BILLING, status=Invoice.Status.ISSUED):
        fee_lines = InvoiceLine.objects.filter(
            invoice__run=run,
            invoice__account=sb.account,
            invoice__kind=Invoice.Kind.USAGE,
            invoice__currency=sb.currency,
            invoice__status=Invoice.Status.ISSUED,
            kind=BillingItem.Kind.PLATFORM_FEE,
        ).values_list("amount", "vat_rate")
        fees = invoice_totals(fee_lines).total
        Payout.objects.get_or_create(
            run=run,
            account=sb.account,
            defaults={
                "self_billing_invoice": sb,
                "currency": sb.currency,
                "self_billing_total": sb.total,
                "platform_fees": fees,
                "amount": payout_amount(self_billing_total=sb.total, platform_fees=fees),
                "iban": sb.seller.get("iban", ""),
            },
        )


def _steps(
    run: BillingRun, *, year: int, month: int, issue: bool, summary: RunSummary, now: datetime
) -> None:
    _, end = periods.month_bounds(year, month, settings.BILLING_TIMEZONE)
    summary.items_created = ledger_collect(period=run.period).created
    summary.drafted = _draft(run, end)
    if issue:
        issue_date = periods.local_date(now, settings.BILLING_TIMEZONE)
        drafts = run.invoices.filter(status=Invoice.Status.DRAFT).order_by("kind", "account__name", "id")
        for draft in drafts:
            issued = invoice_services.invoice_issue(invoice=draft, issue_date=issue_date)
            target = summary.self_billing if issued.kind == Invoice.Kind.SELF_BILLING else summary.issued
            target.append(issued.number_text)
        _settle(run)
    summary.left_open = _open_items(end).count()
    start_date, end_date = periods.month_dates(year, month)
    summary.credit_notes = list(
        Invoice.objects.issued()
        .filter(kind=Invoice.Kind.CREDIT_NOTE, issue_date__gte=start_date, issue_date__lt=end_date)
        .order_by("number")
        .values_list("number_text", flat=True)
    )


def billing_run(
    *, period: str, issue: bool, dry_run: bool = False, now: datetime | None = None
) -> RunSummary:
    """One run of `period` (YYYY-MM). Raises periods.PeriodError for a malformed period or one that has not
    ended yet."""
    now = now or timezone.now()
    year, month = periods.parse_period(period)
    period = periods.period_name(year, month)
    _, end = periods.month_bounds(year, month, settings.BILLING_TIMEZONE)
    if end > now:
        raise periods.PeriodError(f"period {period} has not ended yet (it ends {end:%Y-%m-%d %H:%M} UTC).")
    summary = RunSummary(period=period, dry_run=dry_run)
    if dry_run:
        try:
            with transaction.atomic():
                run = _run_row(period)
                if run.status != BillingRun.Status.ISSUED:
                    _steps(run, year=year, month=month, issue=issue, summary=summary, now=now)
                raise _DryRun
        except _DryRun:
            pass
        return summary
    run = _run_row(period)
    if run.status == BillingRun.Status.ISSUED:
        summary.note = "already issued"
        summary.left_open = _open_items(end).count()
        return summary
    if not _take_lease(run, now):
        summary.note = "another run of this period is in progress"
        return summary
    try:
        _steps(run, year=year, month=month, issue=issue, summary=summary, now=now)
    except Exception as exc:
        BillingRun.objects.filter(pk=run.pk).update(
            status=BillingRun.Status.FAILED,
            error=repr(exc)[:2000],
            locked_until=None,
            finished_at=timezone.now(),
        )
        raise
    for invoice in run.invoices.filter(status=Invoice.Status.ISSUED, pdf_sha256=""):
        try:
            invoice_services.invoice_render_pdf(invoice=invoice)
        except Exception:  # the document is issued; its PDF is rendered on first download instead
            logger.exception("PDF of %s could not be rendered", invoice.number_text)
    BillingRun.objects.filter(pk=run.pk).update(
        status=BillingRun.Status.ISSUED if issue else BillingRun.Status.DRAFTED,
        locked_until=None,
        finished_at=timezone.now(),
        summary=summary.line()[:500],
    )
    return summary


def billing_run_monthly(*, now: datetime | None = None) -> RunSummary:
    """The beat entry on the 1st: the previous month, issued when BILLING_AUTO_ISSUE."""
    now = now or timezone.now()
    return billing_run(
        period=periods.previous_period(now, settings.BILLING_TIMEZONE),
        issue=settings.BILLING_AUTO_ISSUE,
        now=now,
    )


def billing_run_catch_up(*, now: datetime | None = None) -> RunSummary | None:
    """Daily: finishes the previous month's run if a crash, a lost worker or a missed beat left it unissued."""
    now = now or timezone.now()
    period = periods.previous_period(now, settings.BILLING_TIMEZONE)
    run = BillingRun.objects.filter(period=period).first()
    if run is not None and run.status in (BillingRun.Status.ISSUED, BillingRun.Status.DRAFTED):
        return None
    return billing_run_monthly(now=now)


def payout_csv_rows(run: BillingRun):
    yield [
        "account",
        "legal_name",
        "iban",
        "self_billing_invoice",
        "self_billing_total",
        "platform_fees",
        "payout",
        "currency",
    ]
    for p in run.payouts.select_related("account", "self_billing_invoice").order_by("account__name"):
        yield [
            p.account.name,
            p.self_billing_invoice.seller.get("name", ""),
            p.iban,
            p.self_billing_invoice.number_text,
            p.self_billing_total,
            p.platform_fees,
            p.amount,
            p.currency,
        ]


def billing_run_request(*, period: str, issue: bool, acting_user) -> RunSummary:
    """An operator starts (or finishes) a run from the portal; the request and its outcome are audited."""
    summary = billing_run(period=period, issue=issue)
    run = BillingRun.objects.get(period=summary.period)
    audit_record(
        actor=acting_user,
        action="billing.run",
        obj=run,
        changes={"issue": [None, issue]},
        result={"summary": summary.line()},
    )
    return summary
