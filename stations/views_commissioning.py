"""The Commissioning tab: run the end-to-end test of a connector, follow it live, keep its report."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from .forms import CommissioningForm
from .models import CommissioningRun, Connector
from .services import commissioning
from .views import _render, _require_manage, _station, _station_context


@login_required
@require_http_methods(["GET", "POST"])
def station_commissioning(request, pk):
    station = _station(request, pk)
    connector_ids = list(
        Connector.objects.filter(station=station, connector_id__gte=1).values_list("connector_id", flat=True)
    )
    form = CommissioningForm(request.POST or None, connector_ids=connector_ids)
    if request.method == "POST":
        _require_manage(request, station)
        if form.is_valid():
            commissioning.commissioning_start(
                station=station,
                connector_id=form.cleaned_data["connector_id"],
                id_tag=form.cleaned_data["id_tag"],
                acting_user=request.user,
            )
            messages.success(request, "Commissioning test started.")
            return redirect("stations:commissioning", pk=station.pk)
    context = _station_context(request, station, "commissioning")
    runs = list(CommissioningRun.objects.filter(station=station).select_related("requested_by")[:10])
    context.update(form=form, runs=runs, run=runs[0] if runs else None)
    return _render(
        request, "stations/station_commissioning.html", context, "stations/_commissioning_live.html"
    )


@login_required
def station_commissioning_report(request, pk, run_id):
    station = _station(request, pk)
    run = get_object_or_404(
        CommissioningRun.objects.select_related("requested_by", "session"), pk=run_id, station=station
    )
    return render(request, "stations/commissioning_report.html", {"station": station, "run": run})


@login_required
def station_commissioning_report_pdf(request, pk, run_id):
    station = _station(request, pk)
    run = get_object_or_404(
        CommissioningRun.objects.select_related("station", "requested_by", "session"),
        pk=run_id,
        station=station,
    )
    response = HttpResponse(commissioning.commissioning_report_pdf(run=run), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="commissioning-{station.ocpp_id}-{run.pk}.pdf"'
    return response
