"""Invoices, self-billing invoices and credit notes in the portal (list, page, PDF, lines CSV), crediting a
document and the billing runs (operators). Who sees a document is Invoice.objects.visible_to (Account admins
and Billing admins of its account; operators all): a foreign document is 404, and so it is for technicians
and drivers, who see none."""

import csv
import io

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts import access
from billing.invoice_forms import CreditForm, RunForm
from billing.models import BillingRun, Invoice
from billing.periods import PeriodError
from billing.plan_views import form_errors
from billing.services import invoices as invoice_services
from billing.services.runs import billing_run_request, payout_csv_rows


def _visible(request):
    return Invoice.objects.visible_to(request.user).select_related("account", "credits")


def _require_operator(user) -> None:
    if not access.is_platform_operator(user):
        raise PermissionDenied


def _sees_invoices(user) -> bool:
    return access.is_platform_operator(user) or bool(access.account_ids(user, access.FULL_ROLES))


@login_required
def invoice_list(request):
    if not _sees_invoices(request.user):
        raise PermissionDenied
    qs = _visible(request).order_by("-issue_date", "-id")
    kind = request.GET.get("kind", "")
    if kind in Invoice.Kind.values:
        qs = qs.filter(kind=kind)
    context = {"invoices": qs[:500], "kind": kind, "kinds": Invoice.Kind.choices}
    if request.htmx:
        return render(request, "billing/_invoice_table.html", context)
    return render(request, "billing/invoice_list.html", context)


@login_required
def invoice_detail(request, pk):
    invoice = access.get_for_user_or_404(_visible(request), pk)
    context = {
        "invoice": invoice,
        "title": invoice_services.invoice_title(invoice),
        "lines": invoice.lines.order_by("position"),
        "credit_notes": invoice.credit_notes.filter(status=Invoice.Status.ISSUED),
        "can_credit": access.is_platform_operator(request.user)
        and invoice.is_issued
        and invoice.kind != Invoice.Kind.CREDIT_NOTE,
        "credit_form": CreditForm(),
    }
    return render(request, "billing/invoice_detail.html", context)


@login_required
def invoice_pdf(request, pk):
    invoice = access.get_for_user_or_404(_visible(request), pk)
    if not invoice.is_issued:
        raise PermissionDenied("A draft has no PDF.")
    # Rendered at issue by the run; a PDF that failed then is rendered once, now, and stored.
    invoice = invoice_services.invoice_render_pdf(invoice=invoice)
    response = HttpResponse(bytes(invoice.pdf), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{invoice.number_text}.pdf"'
    response["X-Content-SHA256"] = invoice.pdf_sha256
    return response


@login_required
def invoice_csv(request, pk):
    invoice = access.get_for_user_or_404(_visible(request), pk)
    doc = invoice_services.invoice_lines_csv(invoice=invoice)
    response = HttpResponse(doc.text, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{doc.filename}"'
    return response


@login_required
@require_POST
def invoice_credit(request, pk):
    invoice = access.get_for_user_or_404(_visible(request), pk)
    _require_operator(request.user)
    form = CreditForm(request.POST)
    if form.is_valid():
        try:
            note = invoice_services.invoice_credit(
                invoice=invoice,
                acting_user=request.user,
                reason=form.cleaned_data["reason"],
                rebill=form.cleaned_data["rebill"],
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, f"Credit note {note.number_text} issued for {invoice.number_text}.")
            return redirect("billing:invoice_detail", pk=note.pk)
    else:
        messages.error(request, "Say why this document is credited.")
    return redirect("billing:invoice_detail", pk=invoice.pk)


@login_required
def run_list(request):
    _require_operator(request.user)
    form = RunForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            summary = billing_run_request(
                period=form.cleaned_data["period"],
                issue=form.cleaned_data["issue"],
                acting_user=request.user,
            )
        except PeriodError as exc:
            form.add_error("period", str(exc))
        except ValidationError as exc:
            form_errors(form, exc)
        else:
            messages.success(request, summary.line())
            return redirect("billing:run_list")
    runs = BillingRun.objects.all().order_by("-period")[:36]
    return render(request, "billing/run_list.html", {"runs": runs, "form": form})


@login_required
def run_payout_csv(request, pk):
    _require_operator(request.user)
    run = access.get_for_user_or_404(BillingRun.objects.all(), pk)
    out = io.StringIO()
    csv.writer(out).writerows(payout_csv_rows(run))
    response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="payouts-{run.period}.csv"'
    return response
