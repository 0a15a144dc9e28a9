"""Configuration pages beside the Configuration tab: a key marked not applicable on one station, and the fleet's
configuration drift (stations whose configuration, read back, differs from what the profile requires)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from .models import Station, StationConfigurationKey
from .services import configuration_read
from .views import _require_manage, _station


@login_required
@require_POST
def station_configuration_key(request, pk):
    """Mark one key not applicable on this station (with the reason), or take that back."""
    station = _station(request, pk)
    _require_manage(request, station)
    key = request.POST.get("key", "")
    try:
        row = configuration_read.configuration_key_not_applicable(
            station=station,
            key=key,
            reason=request.POST.get("reason", ""),
            acting_user=request.user,
            undo=bool(request.POST.get("undo")),
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        if row.state == StationConfigurationKey.State.NOT_APPLICABLE:
            messages.success(request, f"{key} marked not applicable on this station.")
        else:
            messages.info(request, f"{key} is required again on this station; Fix All sends it.")
    return redirect("stations:configuration", pk=station.pk)


@login_required
def configuration_drift(request):
    visible = Station.objects.visible_to(request.user)
    stations = list(configuration_read.drifted_stations().filter(pk__in=visible.values("pk")))
    keys = StationConfigurationKey.objects.filter(
        station__in=stations, state__in=StationConfigurationKey.FAILURES, read_at__isnull=False
    ).order_by("station__ocpp_id", "position")
    by_station: dict[int, list] = {}
    for k in keys:
        by_station.setdefault(k.station_id, []).append(k)
    rows = [{"station": s, "keys": by_station.get(s.pk, [])} for s in stations]
    return render(request, "stations/configuration_drift.html", {"rows": rows})
