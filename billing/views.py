"""Sessions in the portal (list, page with chart and price breakdown, CSV export) and remote start/stop.

Each view: parse, fetch through accounts.access (foreign → 404, wrong role → 403), call a service, render.
An htmx request gets the partial around the region it refreshes."""

import csv

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import OuterRef, Subquery
from django.http import StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from accounts import access
from billing import remote
from billing.authorization import REASON_LABELS
from billing.charts import Series, line_chart
from billing.forms import RemoteStartForm, SessionFilterForm
from billing.metering import ENERGY_IMPORT_REGISTER, POWER_IMPORT, SOC
from billing.models import BillingItem, ChargingSession, Invoice, InvoiceLine, MeterValue
from billing.services.ledger import session_review_done
from billing.services.review import FLAG_LABELS
from eflux.pagination import KeysetPaginator
from stations.models import Station

PAGE_SIZE = 50
# The list counts at most this many sessions ("more than 10,000 sessions"): the count is one bounded index
# scan on every 5 s poll, not a COUNT(*) that grows with the history (docs/architecture.md, keyset pagination).
COUNT_LIMIT = 10_000


def _invoice_numbers(user):
    """The number of the issued invoice a session is on, among the documents the user may see (the card's
    usage invoice or the owner's self-billing invoice); empty for drivers and unbilled sessions."""
    lines = InvoiceLine.objects.filter(
        session_ref=OuterRef("pk"),
        invoice__status=Invoice.Status.ISSUED,
        kind__in=[BillingItem.Kind.SESSION_COST, BillingItem.Kind.SESSION_REVENUE],
    ).exclude(invoice__kind=Invoice.Kind.CREDIT_NOTE)
    if not access.is_platform_operator(user):
        lines = lines.filter(invoice__account_id__in=access.account_ids(user, access.FULL_ROLES))
    return Subquery(lines.order_by("invoice__issue_date", "invoice_id").values("invoice__number_text")[:1])


def _sessions_for(request):
    qs = (
        ChargingSession.objects.visible_to(request.user)
        .select_related("station", "card", "access_group")
        .annotate(invoice_number=_invoice_numbers(request.user))
    )
    form = SessionFilterForm(request.GET or None)
    if form.is_valid():
        qs = form.filter(qs)
    return form, qs


@login_required
def session_list(request):
    form, qs = _sessions_for(request)
    # Keyset pages (eflux/pagination.py): "Newer" / "Older" by the start time and id of the first / last row,
    # so a page (and its 5 s poll) keeps its sessions while new ones arrive at the top.
    paginator = KeysetPaginator(qs, ["-started_at", "-id"], PAGE_SIZE, count_limit=COUNT_LIMIT)
    page = paginator.page(request.GET)
    query = request.GET.copy()
    for key in ("page", "after", "before", "last"):
        query.pop(key, None)
    context = {"form": form, "page": page, "query": query.urlencode()}
    if request.htmx:
        return render(request, "billing/_session_table.html", context)
    return render(request, "billing/session_list.html", context)


CSV_COLUMNS = [
    ("transaction_id", "Transaction ID"),
    ("station", "Station"),
    ("connector_id", "Connector"),
    ("id_tag", "Card"),
    ("auth_status", "Authorization"),
    ("auth_reason", "Reason"),
    ("started_at", "Start (UTC)"),
    ("stopped_at", "Stop (UTC)"),
    ("status", "Status"),
    ("energy_wh", "Energy (Wh)"),
    ("duration_seconds", "Duration (s)"),
    ("currency", "Currency"),
    ("price_per_kwh", "Price per kWh"),
    ("price_per_session", "Price per session"),
    ("price_per_hour", "Price per hour"),
    ("energy_amount", "Energy amount"),
    ("session_amount", "Session amount"),
    ("time_amount", "Time amount"),
    ("subtotal", "Subtotal excl. VAT"),
    ("vat_rate", "VAT %"),
    ("vat_amount", "VAT"),
    ("total", "Total incl. VAT"),
    ("is_free", "Free"),
    ("needs_review", "Needs review"),
    ("review_flags", "Review flags"),
    ("invoice_number", "Invoice number"),
]


class _Echo:
    def write(self, value):
        return value


def _csv_cell(session, field):
    value = getattr(session, field)
    if field == "station":
        return session.station.ocpp_id
    if field == "review_flags":
        return " ".join(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if value is None:
        return ""
    # Spreadsheet formula injection: an idTag is station-supplied text.
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@") and field == "id_tag" else text


@login_required
def session_export(request):
    _, qs = _sessions_for(request)
    writer = csv.writer(_Echo())

    def rows():
        yield writer.writerow([label for _, label in CSV_COLUMNS])
        for s in qs.order_by("-started_at", "-id").iterator(chunk_size=500):
            yield writer.writerow([_csv_cell(s, f) for f, _ in CSV_COLUMNS])

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="sessions.csv"'
    return response


def _chart_series(session):
    values = MeterValue.objects.filter(
        session=session, measurand__in=[ENERGY_IMPORT_REGISTER, POWER_IMPORT, SOC], value__isnull=False
    ).order_by("timestamp", "id")
    energy, power_total, power_phases, soc = [], [], {}, []
    for mv in values:
        if mv.measurand == ENERGY_IMPORT_REGISTER and not mv.phase and session.meter_start is not None:
            energy.append((mv.timestamp, max(0, (mv.value - session.meter_start)) / 1000))
        elif mv.measurand == POWER_IMPORT:
            if mv.phase:
                power_phases.setdefault(mv.timestamp, []).append(mv.value)
            else:
                power_total.append((mv.timestamp, mv.value / 1000))
        elif mv.measurand == SOC:
            soc.append((mv.timestamp, mv.value))
    if not power_total and power_phases:
        # Only per-phase readings: the total is their sum (OCPP 1.6 §3.16.3).
        power_total = [(t, sum(vs) / 1000) for t, vs in sorted(power_phases.items())]
    if session.started_at and session.meter_start is not None and energy:
        energy.insert(0, (session.started_at, 0))
    if session.stopped_at and session.meter_stop is not None and session.meter_start is not None:
        energy.append((session.stopped_at, max(0, session.meter_stop - session.meter_start) / 1000))
    return energy, power_total, soc


@login_required
def session_detail(request, pk):
    session = access.get_for_user_or_404(
        ChargingSession.objects.visible_to(request.user).select_related(
            "station", "card", "access_group", "account"
        ),
        pk,
    )
    energy, power, soc = _chart_series(session)
    start, end = session.started_at, session.stopped_at
    charts = [
        line_chart(Series("Power", "kW", power, "#1769d1"), start=start, end=end),
        line_chart(Series("Energy", "kWh", energy, "#18864b"), start=start, end=end),
    ]
    if soc:
        charts.append(line_chart(Series("State of charge", "%", soc, "#a35f00"), start=start, end=end))
    context = {
        "session": session,
        "charts": charts,
        "reason_label": REASON_LABELS.get(session.auth_reason, session.auth_reason),
        "flags": [FLAG_LABELS.get(f, f) for f in session.review_flags],
        "can_stop": session.is_active and _can_remote(request.user, session.station),
        "meter_values": session.meter_values.order_by("-timestamp", "-id")[:200],
        "can_review": access.is_platform_operator(request.user),
    }
    if request.htmx:  # live refresh while the session runs
        return render(request, "billing/_session_live.html", context)
    return render(request, "billing/session_detail.html", context)


# --- remote start / stop --------------------------------------------------------------------------


def _can_remote(user, station) -> bool:
    # Commands (can_manage_station) that involve cards and money (can_see_prices): operators and the
    # station account's admins. Technicians send commands but see no cards; billing admins send none.
    return access.can_manage_station(user, station) and access.can_see_prices(user, station)


def _panel_response(request, station, result=None):
    from billing.templatetags.billing_tags import remote_panel_context

    if request.htmx:
        context = remote_panel_context(request, station, result=result)
        return render(request, "billing/_remote_panel_body.html", context)
    if result:
        level = messages.SUCCESS if result.get("ok") else messages.ERROR
        messages.add_message(request, level, result["message"])
    return redirect(reverse("stations:detail", args=[station.pk]))


@login_required
def remote_panel(request, pk):
    station = access.get_for_user_or_404(Station.objects.commercial_to(request.user), pk)
    if not _can_remote(request.user, station):
        raise PermissionDenied("Your role may not start or stop sessions.")
    return _panel_response(request, station)


@login_required
@require_POST
def remote_start(request, pk):
    station = access.get_for_user_or_404(Station.objects.commercial_to(request.user), pk)
    if not _can_remote(request.user, station):
        raise PermissionDenied("Your role may not start or stop sessions.")
    form = RemoteStartForm(request.POST, station=station, user=request.user)
    if not form.is_valid():
        errors = "; ".join(e for errs in form.errors.values() for e in errs)
        return _panel_response(request, station, {"ok": False, "message": errors})
    result = remote.session_remote_start(
        station=station,
        id_tag=form.cleaned_data["id_tag"],
        connector_id=form.cleaned_data["connector_id"],
        acting_user=request.user,
    )
    return _panel_response(request, station, result.as_dict())


@login_required
@require_POST
def remote_stop(request, pk):
    session = access.get_for_user_or_404(
        ChargingSession.objects.visible_to(request.user).select_related("station"), pk
    )
    station = session.station
    if not _can_remote(request.user, station):
        raise PermissionDenied("Your role may not start or stop sessions.")
    result = remote.session_remote_stop(session=session, acting_user=request.user)
    if request.POST.get("next") == "session" and not request.htmx:
        level = messages.SUCCESS if result.ok else messages.ERROR
        messages.add_message(request, level, result.message)
        return redirect(reverse("billing:session_detail", args=[session.pk]))
    return _panel_response(request, station, result.as_dict())


@login_required
@require_POST
def session_reviewed(request, pk):
    """An operator has looked at a flagged session: the billing ledger takes it on the next run."""
    session = access.get_for_user_or_404(ChargingSession.objects.visible_to(request.user), pk)
    if not access.is_platform_operator(request.user):
        raise PermissionDenied("Only platform operators clear review flags.")
    session_review_done(session=session, acting_user=request.user)
    messages.success(request, "Marked as reviewed; the next billing run bills it.")
    return redirect(reverse("billing:session_detail", args=[session.pk]))
