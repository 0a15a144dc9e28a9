"""Invoices: drafts built from open ledger items, issuing (gap-free number, party snapshot, totals, items
invoiced: one transaction), credit notes that cite the original (Art. 219), the PDF (WeasyPrint from a Django
template, rendered once, SHA-256 stored) and the lines CSV whose totals are the invoice's.

VAT (the one place that decides it, vat_rule): a usage invoice is the platform's supply, at
BILLING_VAT_RATE, except session costs, which keep the rate snapshotted at the session (the country of
charging). A self-billing invoice is the station owner's supply: no VAT from a private person, the owner's
account rate from a VAT-registered business."""

import csv
import hashlib
import io
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Sum
from django.template.loader import render_to_string
from django.utils import timezone

from accounts.audit import audit_record
from billing import numbering, periods
from billing.models import BillingItem, Invoice, InvoiceLine, SelfBillingAgreement
from billing.money import invoice_totals
from billing.pricing import ZERO
from eflux.pdf import pdf_from_html

Kind = Invoice.Kind
MENTION_SELF_BILLING = "Self-billing"
MENTION_PREVIOUS_MONTHS = "May include transactions from previous months."
MENTION_PRIVATE_SUPPLIER = "No VAT: the supplier is a private person and cannot charge VAT."
SELF_BILLING_ACCEPTANCE = (
    "Drawn up by the customer in the name and on behalf of the supplier under their self-billing agreement "
    "(Art. 224 Directive 2006/112/EC). Accepted unless disputed within 14 days."
)


def platform_party() -> dict:
    return dict(settings.BILLING_ISSUER)


def account_party(account) -> dict:
    return {
        "name": account.name,
        "address": account.address,
        "country": account.country,
        "vat_number": account.vat_number,
        "kvk_number": "",
        "kind": "business" if account.kind == "company" else "private",
    }


def supplier_party(agreement: SelfBillingAgreement) -> dict:
    return {
        "name": agreement.legal_name,
        "address": agreement.address,
        "country": agreement.country,
        "vat_number": agreement.vat_number,
        "kvk_number": agreement.kvk_number,
        "kind": agreement.supplier_kind,
        "iban": agreement.iban,
    }


def vat_rule(*, kind: str, item: BillingItem, agreement: SelfBillingAgreement | None) -> Decimal:
    if kind == Kind.SELF_BILLING:
        if agreement is None or agreement.supplier_kind == SelfBillingAgreement.SupplierKind.PRIVATE:
            return ZERO
        return Decimal(item.account.vat_rate)
    if item.kind == BillingItem.Kind.SESSION_COST and item.vat_rate is not None:
        return Decimal(item.vat_rate)
    return Decimal(settings.BILLING_VAT_RATE)


def _evse_ids(items) -> dict:
    """(station id, connector id) -> EVSE ID, for the sessions of a batch of items (one query)."""
    from stations.models import EvseId

    station_ids = {i.session.station_id for i in items if i.session_id}
    rows = EvseId.objects.filter(connector__station_id__in=station_ids).values_list(
        "connector__station_id", "connector__connector_id", "evse_id"
    )
    return {(s, c): e for s, c, e in rows}


def _line_snapshot(item: BillingItem, evse_ids: dict) -> dict:
    s = item.session
    if s is None:
        return {}
    evse = evse_ids.get((s.station_id, s.connector_id), "")
    return {
        "session_ref": s.pk,
        "station_ocpp_id": s.station.ocpp_id,
        "evse_id": evse,
        "card_ref": ("•" * max(0, len(s.id_tag) - 4) + s.id_tag[-4:]) if s.id_tag else "",
        "energy_wh": s.energy_wh,
        "duration_seconds": s.duration_seconds,
    }


@transaction.atomic
def invoice_draft(*, run, account, kind: str, currency: str, items, agreement=None) -> Invoice | None:
    """The run's draft of `kind` for `account`, with a line for each given item not yet on it."""
    year, month = periods.parse_period(run.period)
    start, end = periods.month_dates(year, month)
    invoice, _ = Invoice.objects.get_or_create(
        run=run,
        account=account,
        kind=kind,
        currency=currency,
        defaults={"period": run.period, "period_start": start, "period_end": end},
    )
    # Two runs drafting at once (an expired lease) take turns here, so positions and lines are not doubled.
    invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
    if invoice.is_issued:
        return invoice
    on_it = set(invoice.lines.values_list("billing_item_id", flat=True))
    position = invoice.lines.count()
    items = [i for i in items if i.pk not in on_it]
    evse_ids = _evse_ids(items)
    new_lines = []
    for item in items:
        position += 1
        new_lines.append(
            InvoiceLine(
                invoice=invoice,
                position=position,
                kind=item.kind,
                billing_item=item,
                description=item.description,
                service_date=item.service_date,
                quantity=item.quantity,
                unit=item.unit,
                unit_price=item.unit_price,
                amount=item.amount,
                vat_rate=vat_rule(kind=kind, item=item, agreement=agreement),
                **_line_snapshot(item, evse_ids),
            )
        )
    # bulk_create skips InvoiceLine.save()'s issued-invoice check: this invoice is a locked draft.
    InvoiceLine.objects.bulk_create(new_lines, batch_size=500)
    _set_totals(invoice)
    invoice.save()
    return invoice


def _set_totals(invoice: Invoice) -> None:
    totals = invoice_totals(invoice.lines.values_list("amount", "vat_rate"))
    invoice.subtotal, invoice.vat_total, invoice.total = totals.subtotal, totals.vat_total, totals.total
    invoice.vat_breakdown = [
        {"rate": str(g.rate), "base": str(g.base), "vat": str(g.vat)} for g in totals.groups
    ]


def _issue(invoice: Invoice, *, issue_date: date, acting_user, mentions: list[str]) -> Invoice:
    key = numbering.series_key(invoice.kind, issue_date.year)
    number = numbering.number_take(key)
    invoice.series, invoice.number = key, number
    invoice.number_text = numbering.number_text(key, number)
    invoice.issue_date = issue_date
    invoice.due_date = issue_date + timedelta(days=settings.BILLING_PAYMENT_DAYS)
    invoice.mentions = mentions
    invoice.status = Invoice.Status.ISSUED
    invoice.issued_at = timezone.now()
    invoice.issued_by = acting_user if getattr(acting_user, "is_authenticated", False) else None
    invoice.save()
    return invoice


@transaction.atomic
def invoice_issue(*, invoice: Invoice, issue_date: date, acting_user=None) -> Invoice:
    """Draft → issued, all in one transaction: the number (locked series row), the party snapshot, the
    mentions, the totals of the lines, and the items set to invoiced. A failure anywhere rolls the number back
    with the rest, so the series stays gap-free."""
    invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
    if invoice.is_issued:
        return invoice
    items = BillingItem.objects.select_for_update().filter(lines__invoice=invoice)
    if items.exclude(status=BillingItem.Status.OPEN).exists():
        raise ValidationError(f"Draft {invoice.pk} holds items that are no longer open; draft it again.")
    agreement = None
    mentions = []
    if invoice.kind == Kind.SELF_BILLING:
        agreement = SelfBillingAgreement.objects.filter(
            account=invoice.account, revoked_at__isnull=True
        ).first()
        if agreement is None:
            raise ValidationError(f"{invoice.account} has no self-billing agreement.")
        invoice.seller, invoice.buyer = supplier_party(agreement), platform_party()
        mentions = [MENTION_SELF_BILLING, SELF_BILLING_ACCEPTANCE]
        if agreement.supplier_kind == SelfBillingAgreement.SupplierKind.PRIVATE:
            mentions.append(MENTION_PRIVATE_SUPPLIER)
    else:
        invoice.seller, invoice.buyer = platform_party(), account_party(invoice.account)
    if items.filter(period__lt=invoice.period).exists():
        mentions.append(MENTION_PREVIOUS_MONTHS)
    _set_totals(invoice)
    _issue(invoice, issue_date=issue_date, acting_user=acting_user, mentions=mentions)
    items.update(status=BillingItem.Status.INVOICED)
    return invoice


@transaction.atomic
def invoice_credit(
    *, invoice: Invoice, acting_user, reason: str, rebill: bool = True, line_ids=None, issue_date=None
) -> Invoice:
    """A credit note citing the original's number and date, with its lines (all, or those in line_ids)
    negated at the same VAT rates. Never more than the original in aggregate. The credited items go back to
    open (billed again, corrected, by the next run) or to void."""
    original = Invoice.objects.select_for_update().get(pk=invoice.pk)
    if not original.is_issued or original.kind == Kind.CREDIT_NOTE:
        raise ValidationError("Only an issued invoice can be credited.")
    if not (reason or "").strip():
        raise ValidationError({"reason": "Say why this document is credited."})
    lines = list(original.lines.order_by("position"))
    if line_ids is not None:
        lines = [ln for ln in lines if ln.pk in set(line_ids)]
    # Items already on a credit note of this invoice are not credited twice.
    already = set(
        InvoiceLine.objects.filter(invoice__credits=original, billing_item__isnull=False).values_list(
            "billing_item_id", flat=True
        )
    )
    lines = [ln for ln in lines if ln.billing_item_id not in already]
    if not lines:
        raise ValidationError("Everything on this invoice has been credited already.")
    credited_total = -(original.credit_notes.aggregate(t=Sum("total"))["t"] or ZERO)
    note = Invoice.objects.create(
        kind=Kind.CREDIT_NOTE,
        account=original.account,
        credits=original,
        currency=original.currency,
        period=original.period,
        period_start=original.period_start,
        period_end=original.period_end,
    )
    for position, ln in enumerate(lines, start=1):
        InvoiceLine.objects.create(
            invoice=note,
            position=position,
            kind=ln.kind,
            billing_item=ln.billing_item,
            description=f"Credit: {ln.description}",
            service_date=ln.service_date,
            quantity=-ln.quantity,
            unit=ln.unit,
            unit_price=ln.unit_price,
            amount=-ln.amount,
            vat_rate=ln.vat_rate,
            session_ref=ln.session_ref,
            station_ocpp_id=ln.station_ocpp_id,
            evse_id=ln.evse_id,
            card_ref=ln.card_ref,
            energy_wh=ln.energy_wh,
            duration_seconds=ln.duration_seconds,
        )
    _set_totals(note)
    if credited_total - note.total > original.total:
        raise ValidationError("A credit note cannot exceed what is left of the original invoice.")
    # The parties as the original has them: the credit note corrects that document (Art. 219).
    note.seller, note.buyer = original.seller, original.buyer
    mentions = [
        f"Credit note for {original.number_text} of {original.issue_date:%Y-%m-%d}.",
        f"Reason: {reason}",
    ]
    if original.kind == Kind.SELF_BILLING:
        mentions.insert(0, MENTION_SELF_BILLING)
    key = numbering.series_key(Kind.CREDIT_NOTE, (issue_date or _today()).year)
    number = numbering.number_take(key)
    note.series, note.number, note.number_text = key, number, numbering.number_text(key, number)
    note.issue_date = issue_date or _today()
    note.due_date = note.issue_date
    note.mentions = mentions
    note.status = Invoice.Status.ISSUED
    note.issued_at = timezone.now()
    note.issued_by = acting_user if getattr(acting_user, "is_authenticated", False) else None
    note.save()
    item_ids = [ln.billing_item_id for ln in lines if ln.billing_item_id]
    BillingItem.objects.filter(pk__in=item_ids).update(
        status=BillingItem.Status.OPEN if rebill else BillingItem.Status.VOID
    )
    audit_record(
        actor=acting_user,
        action="billing.invoice_credit",
        obj=note,
        account=original.account,
        changes={
            "credits": [None, original.number_text],
            "total": [None, str(note.total)],
            "rebill": [None, rebill],
        },
    )
    return note


def _today() -> date:
    return periods.local_date(timezone.now(), settings.BILLING_TIMEZONE)


# --- the PDF and the CSV ----------------------------------------------------------------------------


def invoice_html(invoice: Invoice) -> str:
    return render_to_string(
        "billing/invoice_pdf.html",
        {"invoice": invoice, "lines": invoice.lines.order_by("position"), "title": invoice_title(invoice)},
    )


def invoice_title(invoice: Invoice) -> str:
    return {
        Kind.USAGE: "Invoice",
        Kind.SELF_BILLING: "Self-billing invoice (reimbursement)",
        Kind.CREDIT_NOTE: "Credit note",
    }[invoice.kind]


def invoice_render_pdf(*, invoice: Invoice) -> Invoice:
    """Renders the issued invoice's PDF once and stores it with its SHA-256; later calls return it as it is
    (a re-render could differ in bytes: the stored PDF is the document that was issued)."""
    invoice = Invoice.objects.get(pk=invoice.pk)
    if invoice.pdf_sha256 or not invoice.is_issued:
        return invoice
    pdf = pdf_from_html(invoice_html(invoice))
    with transaction.atomic():
        locked = Invoice.objects.select_for_update().get(pk=invoice.pk)
        if locked.pdf_sha256:  # a concurrent render won; keep the first
            return locked
        locked.pdf = pdf
        locked.pdf_sha256 = hashlib.sha256(pdf).hexdigest()
        locked.save(update_fields=["pdf", "pdf_sha256"])
        return locked


CSV_HEADER = [
    "invoice",
    "position",
    "kind",
    "description",
    "service_date",
    "session",
    "station",
    "evse_id",
    "card",
    "energy_kwh",
    "duration_s",
    "quantity",
    "unit",
    "unit_price",
    "amount_excl_vat",
    "vat_rate",
    "currency",
]


@dataclass
class CsvDocument:
    filename: str
    text: str


def invoice_lines_csv(*, invoice: Invoice) -> CsvDocument:
    """One row per line, then the VAT groups and the totals, which equal the PDF's (both are the stored
    lines and totals, computed once by billing.money)."""
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(CSV_HEADER)
    for ln in invoice.lines.order_by("position"):
        w.writerow(
            [
                invoice.number_text,
                ln.position,
                ln.kind,
                ln.description,
                ln.service_date.isoformat() if ln.service_date else "",
                ln.session_ref or "",
                ln.station_ocpp_id,
                ln.evse_id,
                ln.card_ref,
                "" if ln.energy_wh is None else str(Decimal(ln.energy_wh) / 1000),
                "" if ln.duration_seconds is None else ln.duration_seconds,
                ln.quantity.normalize(),
                ln.unit,
                ln.unit_price.normalize(),
                ln.amount,
                ln.vat_rate,
                invoice.currency,
            ]
        )
    for g in invoice.vat_breakdown:
        w.writerow(
            [invoice.number_text, "", "vat", f"VAT {g['rate']}% on {g['base']}"]
            + [""] * 10
            + [g["vat"], g["rate"], invoice.currency]
        )
    w.writerow(
        [invoice.number_text, "", "subtotal", "Subtotal excl. VAT"]
        + [""] * 10
        + [invoice.subtotal, "", invoice.currency]
    )
    w.writerow(
        [invoice.number_text, "", "vat_total", "VAT"] + [""] * 10 + [invoice.vat_total, "", invoice.currency]
    )
    w.writerow(
        [invoice.number_text, "", "total", "Total incl. VAT"]
        + [""] * 10
        + [invoice.total, "", invoice.currency]
    )
    return CsvDocument(filename=f"{invoice.number_text or invoice.pk}.csv", text=out.getvalue())
