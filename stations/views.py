"""Operator portal: Charging Stations list, station page and the onboarding steps of the operator manual.

Each view: parse, fetch through accounts.access (foreign → 404, wrong role → 403), call a stations.services
service, render. An htmx request (live refresh) gets only the partial around the region it refreshes."""

from datetime import timedelta

from django.conf import settings as django_settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template import TemplateDoesNotExist
from django.template.loader import get_template
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views.decorators.http import require_POST

from accounts import access
from accounts.models import AuditEvent
from eflux.pagination import KeysetPaginator

from .configuration_snapshots import snapshot_diff
from .forms import ConnectorForm, EvseIdBatchForm, ResetForm, StationSettingsForm
from .models import (
    ConfigurationJob,
    ConfigurationSnapshot,
    ConnectionAttempt,
    Connector,
    EvseId,
    MessageLog,
    Station,
    StationConfigurationKey,
    StationReset,
)
from .ocpp import masking
from .services import commands, configuration, evse_ids
from .services import connectors as connector_service
from .services import station_settings as settings_service
from .services.setup import setup_missing

LIST_PAGE_SIZE = 25
JOURNAL_PAGE_SIZE = 50
ATTEMPTS_SHOWN = 10
HISTORY_SHOWN = 5
RESET_DETAIL = {
    "done": ", station back online",
    "busy": ", waiting for the station to come back",
    "failed": ", the station did not come back (see Configuration)",
    "todo": "",
}

STATE_FILTERS = [
    ("needs_configuration", "Needs configuration"),
    ("setup_in_progress", "Setup in progress"),
    ("activation_pending", "Activation pending"),
    ("active", "Active"),
    ("disabled", "Disabled"),
]


def _render(request, template: str, context: dict, partial: str | None = None):
    """Full page, or only `partial` when htmx asks (polling, live refresh)."""
    if partial and request.htmx:
        return render(request, partial, context)
    return render(request, template, context)


def _station(request, pk, *, technical=True) -> Station:
    station = access.get_for_user_or_404(Station.objects.for_user(request.user, technical=technical), pk)
    # Re-fetch with what every station page shows in its header.
    return Station.objects.select_related("account", "location", "billing_plan", "field_service_account").get(
        pk=station.pk
    )


def _require_manage(request, station):
    if not access.can_manage_station(request.user, station):
        raise PermissionDenied("Your role may look at this station but not send it commands.")


def _require_operator(request):
    if not access.is_platform_operator(request.user):
        raise PermissionDenied("Only platform operators manage EVSE IDs.")


# --- Charging Stations ------------------------------------------------------------------------------


@login_required
def station_list(request):
    qs = Station.objects.visible_to(request.user).select_related("account", "location")
    q = request.GET.get("q", "").strip()
    if q:
        qs = qs.filter(
            Q(ocpp_id__icontains=q) | Q(serial_number__icontains=q) | Q(charge_box_serial_number__icontains=q)
        )
    state = request.GET.get("state", "")
    if state == "disabled":
        qs = qs.filter(is_disabled=True)
    elif state in Station.SetupState.values:
        qs = qs.filter(setup_state=state, is_disabled=False)
    online = request.GET.get("online", "")
    if online in ("yes", "no"):
        qs = qs.filter(is_connected=(online == "yes"))
    # Keyset pages (eflux/pagination.py): ?after=/?before= the OCPP ID of a row, every page an index range scan.
    page = KeysetPaginator(qs, ["ocpp_id"], LIST_PAGE_SIZE).page(request.GET)
    params = request.GET.copy()
    for key in ("page", "after", "before", "last"):
        params.pop(key, None)
    context = {
        "page": page,
        "q": q,
        "state": state,
        "online": online,
        "state_filters": STATE_FILTERS,
        "querystring": params.urlencode(),
        "refresh_url": request.get_full_path(),
    }
    return _render(request, "stations/station_list.html", context, "stations/_station_table.html")


# --- Station page ---------------------------------------------------------------------------------


def next_step(station: Station, keys: list, connectors: list) -> dict | None:
    """What still needs doing, in the manual's order, with the link that does it."""
    url = lambda name: reverse(f"stations:{name}", args=[station.pk])  # noqa: E731
    if station.is_disabled:
        return {
            "level": "warn",
            "text": "This charge point is disabled: no charging, no billing.",
            "link": url("settings"),
            "label": "Open Settings",
        }
    failed = [k for k in keys if k.is_failure]
    busy = [
        k
        for k in keys
        if k.state in (StationConfigurationKey.State.PENDING, StationConfigurationKey.State.SENT)
    ]
    if not keys:
        return {
            "level": "todo",
            "text": "The device still needs further configuration.",
            "link": url("configuration"),
            "label": "Auto Configuration",
            "post": url("auto_configuration"),  # the button starts it (the link is the fallback)
        }
    if busy:
        return {
            "level": "todo",
            "text": "Configuration in progress.",
            "link": url("configuration"),
            "label": "Follow it",
        }
    if failed:
        return {
            "level": "error",
            "text": f"{len(failed)} configuration item(s) failed.",
            "link": url("configuration"),
            "label": "Fix All",
        }
    if any(k.state == StationConfigurationKey.State.REBOOT_REQUIRED for k in keys):
        return {
            "level": "todo",
            "text": "Configuration complete; the station needs a reset to apply it.",
            "link": url("configuration"),
            "label": "Reset Device",
        }
    todo = [c.connector_id for c in connectors if not (c.standard and getattr(c, "evse", None))]
    if todo:
        ids = ", ".join(str(i) for i in todo)
        return {
            "level": "todo",
            "text": f"Configure connector(s) {ids}.",
            "link": url("connectors"),
            "label": "Configure Connectors",
        }
    if station.setup_state == Station.SetupState.ACTIVATION_PENDING:
        return {
            "level": "info",
            "text": "Ready to be activated by the customer, or activate it for them.",
            "link": url("settings"),
            "label": "Open Settings",
        }
    return None


def setup_checklist(station: Station, keys: list, connectors: list) -> list[dict]:
    """The manual's steps with where this station stands, for the overview."""
    url = lambda name: reverse(f"stations:{name}", args=[station.pk])  # noqa: E731
    ok = sum(1 for k in keys if k.is_ok)
    reset = StationReset.objects.filter(station=station).select_related("call").first()
    # Ticked only when the station came back and booted after it, not as soon as a reset was sent.
    reset_state = commands.reset_outcome(commands.reset_progress(reset, station))
    configured = sum(1 for c in connectors if c.standard and getattr(c, "evse", None))
    active = station.setup_state == Station.SetupState.ACTIVE
    return [
        {
            "label": "Auto Configuration",
            "detail": f"{ok} of {len(keys)} keys configured" if keys else "not started",
            "state": "done" if keys and ok == len(keys) else ("busy" if keys else "todo"),
            "link": url("configuration"),
        },
        {
            "label": "Reset Device",
            "detail": f"last {reset.kind.lower()} reset {timezone.localtime(reset.requested_at):%Y-%m-%d %H:%M}"
            f"{RESET_DETAIL[reset_state]}"
            if reset
            else "not yet",
            "state": reset_state,
            "link": url("configuration") + "#reset",
        },
        {
            "label": "Configure Connectors",
            "detail": f"{configured} of {len(connectors)} connectors",
            "state": "done" if connectors and configured == len(connectors) else "todo",
            "link": url("connectors"),
        },
        {
            "label": "Settings and activation",
            "detail": station.get_setup_state_display(),
            "state": "done" if active else "todo",
            "link": url("settings"),
        },
    ]


def _station_context(request, station, tab: str) -> dict:
    keys = list(StationConfigurationKey.objects.filter(station=station))
    connectors = list(Connector.objects.filter(station=station, connector_id__gte=1).select_related("evse"))
    return {
        "station": station,
        "tab": tab,
        "checklist": setup_checklist(station, keys, connectors) if tab == "overview" else None,
        "notice": next_step(station, keys, connectors),
        "can_manage": access.can_manage_station(request.user, station),
        "can_see_settings": access.can_see_prices(request.user, station),
        "last_attempt": ConnectionAttempt.objects.filter(station=station).first()
        if station.refused_since_connect
        else None,
    }


def _remote_panel_available(request, station) -> bool:
    # Remote start/stop sends a command and shows sessions with prices: managers who see prices only.
    if not (
        access.can_manage_station(request.user, station) and access.can_see_prices(request.user, station)
    ):
        return False
    try:
        get_template("billing/_remote_panel.html")
    except TemplateDoesNotExist:
        return False
    return True


@login_required
def station_detail(request, pk):
    station = _station(request, pk)
    context = _station_context(request, station, "overview")
    context["connectors"] = Connector.objects.filter(station=station).select_related("evse")
    context["audit"] = (
        AuditEvent.objects.filter(station=station).select_related("actor").visible_to(request.user)[:30]
    )
    context["remote_panel"] = _remote_panel_available(request, station)
    # OCPP 2.0.1 NotifyEvent stream (N07): the newest events, as the station reported them.
    context["events"] = station.events.all()[:20] if station.is_ocpp201 else []
    context["attempts"] = ConnectionAttempt.objects.filter(station=station)[:ATTEMPTS_SHOWN]
    return _render(request, "stations/station_detail.html", context, "stations/_overview_live.html")


# --- Auto Configuration / Fix All / Reset ------------------------------------------------------


def _configuration_context(request, station):
    context = _station_context(request, station, "configuration")
    keys = context_keys = list(
        StationConfigurationKey.objects.filter(station=station).select_related("call", "not_applicable_by")
    )
    job = ConfigurationJob.objects.filter(station=station).first()
    reset = StationReset.objects.filter(station=station).select_related("call").first()
    progress = commands.reset_progress(reset, station)
    waiting = bool(job and job.status == ConfigurationJob.Status.WAITING)
    # The page stops polling for a station that stays away (the job itself keeps waiting for its reconnect).
    away_since = max(filter(None, [station.last_seen_at, job.created_at if job else None]), default=None)
    gave_up = bool(
        waiting
        and not station.is_connected
        and away_since
        and timezone.now() - away_since > timedelta(seconds=django_settings.STATION_WAIT_GIVE_UP_SECONDS)
    )
    snapshots = list(ConfigurationSnapshot.objects.filter(station=station)[: HISTORY_SHOWN + 1])
    history = [
        {
            "snapshot": snap,
            "changes": snapshot_diff(snapshots[i + 1].values, snap.values)
            if i + 1 < len(snapshots)
            else None,
        }
        for i, snap in enumerate(snapshots[:HISTORY_SHOWN])
    ]
    context.update(
        history=history,
        keys=context_keys,
        job=job,
        summary={
            "ok": sum(1 for k in keys if k.is_ok),
            "failed": sum(1 for k in keys if k.is_failure),
            "total": len(keys),
        },
        reset=reset,
        reset_progress=progress,
        reset_busy=bool(progress and any(s["state"] == "busy" for s in progress)),
        reset_form=ResetForm(station=station),
        live=bool(job and job.status in (ConfigurationJob.Status.PENDING, ConfigurationJob.Status.RUNNING)),
        waiting=waiting and not gave_up,
        gave_up=gave_up,
        give_up_minutes=max(1, round(django_settings.STATION_WAIT_GIVE_UP_SECONDS / 60)),
    )
    return context


@login_required
def station_configuration(request, pk):
    station = _station(request, pk)
    context = _configuration_context(request, station)
    return _render(
        request, "stations/station_configuration.html", context, "stations/_configuration_live.html"
    )


@login_required
@require_POST
def station_auto_configuration(request, pk):
    station = _station(request, pk)
    _require_manage(request, station)
    kind = (
        ConfigurationJob.Kind.FIX_ALL if request.POST.get("kind") == "fix_all" else ConfigurationJob.Kind.AUTO
    )
    result = configuration.configuration_job_start(station=station, kind=kind, acting_user=request.user)
    (messages.success if result.created else messages.info)(request, result.message)
    return redirect("stations:configuration", pk=station.pk)


@login_required
@require_POST
def station_reset(request, pk):
    station = _station(request, pk)
    _require_manage(request, station)
    form = ResetForm(request.POST, station=station)
    kind = form.cleaned_data["kind"] if form.is_valid() else commands.reset_kinds(station)[0]
    commands.station_reset(station=station, kind=kind, acting_user=request.user)
    if not station.is_connected:
        messages.warning(request, "The station is offline: the reset cannot be delivered.")
    else:
        messages.success(request, f"{kind} reset sent.")
    return redirect(reverse("stations:configuration", args=[station.pk]) + "#reset")


# --- Configure Connectors -----------------------------------------------------------------------


@login_required
def station_connectors(request, pk):
    station = _station(request, pk)
    connectors = list(Connector.objects.filter(station=station, connector_id__gte=1).select_related("evse"))
    bound = request.method == "POST"
    if bound:
        _require_manage(request, station)
    forms = [ConnectorForm(request.POST if bound else None, connector=c) for c in connectors]
    # Autopick preview: the IDs the connectors without one would get, in order (reserved only on save).
    previews = iter(evse_ids.evse_ids_next_free(sum(1 for f in forms if f.evse is None)))
    for f in forms:
        f.evse_preview = None if f.evse else next(previews, None)
    pool_error = None
    if bound and request.POST.get("validate") and request.htmx:
        # Live validation of one form as the operator types (errors and power next to the fields).
        form = next((f for f in forms if f.prefix == request.POST.get("validate")), None)
        if form is None:
            return HttpResponse(status=400)
        form.is_valid()
        for name in list(form.errors):
            # A field left empty has not been reached yet: not "required" while the operator is still typing.
            if name != NON_FIELD_ERRORS and not form.data.get(form.add_prefix(name), "").strip():
                del form.errors[name]
        return render(request, "stations/_connector_feedback.html", {"form": form, "station": station})
    if bound and all([f.is_valid() for f in forms]):  # a list: every form validated, errors on all
        missing = sum(1 for f in forms if f.evse is None)
        try:
            connector_service.connectors_configure(
                station=station, cleaned=[f.cleaned_data for f in forms], acting_user=request.user
            )
        except connector_service.NoEvseIdAvailable:
            pool_error = (
                f"Not enough EVSE IDs available for autopick ({missing} needed). Generate a batch first."
            )
        else:
            station.refresh_from_db()
            missing = setup_missing(station)
            if station.setup_state == Station.SetupState.ACTIVATION_PENDING:
                text = "Connectors saved. The station is ready to be activated by the customer, or use Open Settings."
            elif missing:
                text = f"Connectors saved. Still to do before activation: {', '.join(missing)}."
            else:
                text = "Connectors saved."
            messages.success(request, text)
            return redirect("stations:detail", pk=station.pk)
    context = _station_context(request, station, "connectors")
    context.update(forms=forms, pool_error=pool_error)
    return render(request, "stations/station_connectors.html", context)


# --- Settings -------------------------------------------------------------------------------------


@login_required
def station_settings(request, pk):
    station = _station(request, pk, technical=False)
    can_edit = access.can_edit_station_settings(request.user, station)
    if request.method == "POST":
        if not can_edit:
            raise PermissionDenied("Your role may look at these settings but not change them.")
        form = StationSettingsForm(request.POST, station=station, user=request.user)
        if form.is_valid() and not form.has_changed():
            # Nothing to save: no "Settings saved.", no audit row without changes, no call to the station.
            messages.info(request, "Nothing changed: no setting was different from what is saved.")
            return redirect("stations:settings", pk=station.pk)
        if form.is_valid():
            data = {k: v for k, v in form.cleaned_data.items() if k != "access_groups"}
            try:
                settings_service.station_settings_update(
                    station=station,
                    data=data,
                    access_groups=form.cleaned_data["access_groups"],
                    acting_user=request.user,
                )
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                messages.success(request, "Settings saved.")
                return redirect("stations:settings", pk=station.pk)
    else:
        form = StationSettingsForm(station=station, user=request.user)
    context = _station_context(request, station, "settings")
    context.update(form=form, can_edit=can_edit)
    return render(request, "stations/station_settings.html", context)


# --- Commands (the OCPP journal) --------------------------------------------------------------------


@login_required
def station_commands(request, pk):
    station = _station(request, pk)
    qs = MessageLog.objects.filter(station=station)
    action = request.GET.get("action", "")
    direction = request.GET.get("direction", "")
    if action:
        qs = qs.filter(action=action)
    if direction in MessageLog.Direction.values:
        qs = qs.filter(direction=direction)
    page = Paginator(qs.order_by("-created_at", "-id"), JOURNAL_PAGE_SIZE).get_page(request.GET.get("page"))
    params = request.GET.copy()
    params.pop("page", None)
    context = _station_context(request, station, "commands")
    if not context["can_see_settings"]:
        # Sessions and cards are hidden from this role (technicians): so are the card idTags in the frames.
        page.object_list = list(page.object_list)
        for m in page.object_list:
            m.payload = masking.mask_id_tags(m.payload)
    context.update(
        page=page,
        action=action,
        direction=direction,
        actions=MessageLog.objects.filter(station=station)
        .exclude(action="")
        .values_list("action", flat=True)
        .distinct()
        .order_by("action"),
        directions=MessageLog.Direction.choices,
        querystring=params.urlencode(),
    )
    return _render(request, "stations/station_commands.html", context, "stations/_commands_table.html")


# --- Connection attempts of identities that never got in ----------------------------------------------


@login_required
def connection_attempts(request):
    # Unknown identities belong to no account: a platform page.
    if not access.is_platform_operator(request.user):
        raise PermissionDenied("Only platform operators see connection attempts of unknown chargers.")
    qs = ConnectionAttempt.objects.filter(station__isnull=True)
    q = request.GET.get("q", "").strip()
    if q:
        qs = qs.filter(Q(ocpp_id__icontains=q) | Q(remote_addr__contains=q))
    context = {"attempts": qs[:100], "q": q, "refresh_url": request.get_full_path()}
    return _render(request, "stations/connection_attempts.html", context, "stations/_attempts_live.html")


# --- EVSE IDs for autopick --------------------------------------------------------------------------


@login_required
def evse_id_list(request):
    _require_operator(request)
    form = EvseIdBatchForm(request.POST or None)
    # Where the operator came from (Configure Connectors without free IDs): a way back after generating.
    back = request.GET.get("next", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = ""
    if request.method == "POST" and form.is_valid():
        batch = evse_ids.evse_id_batch_create(**form.cleaned_data, acting_user=request.user)
        messages.success(
            request, f"{batch.count} EVSE IDs generated for {batch.country_code}*{batch.operator_id}."
        )
        return redirect(reverse("stations:evse_ids") + (f"?{urlencode({'next': back})}" if back else ""))
    qs = EvseId.objects.select_related("connector__station").order_by("id")
    status = request.GET.get("status", "")
    if status in EvseId.Status.values:
        qs = qs.filter(status=status)
    page = Paginator(qs, 50).get_page(request.GET.get("page"))
    context = {
        "form": form,
        "page": page,
        "status": status,
        "available": EvseId.objects.filter(status=EvseId.Status.AVAILABLE).count(),
        "back": back,
    }
    return render(request, "stations/evse_ids.html", context)


@login_required
def evse_id_export(request):
    _require_operator(request)
    qs = EvseId.objects.order_by("id")
    if request.GET.get("status") in EvseId.Status.values:
        qs = qs.filter(status=request.GET["status"])
    body = evse_ids.evse_ids_csv(
        qs, lambda e: request.build_absolute_uri(reverse("stations:evse_id_detail", args=[e.evse_id]))
    )
    response = HttpResponse(body, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="evse-ids.csv"'
    return response


@login_required
def evse_id_detail(request, evse_id):
    _require_operator(request)
    evse = get_object_or_404(EvseId.objects.select_related("connector__station", "batch"), evse_id=evse_id)
    return render(request, "stations/evse_id_detail.html", {"evse": evse})
