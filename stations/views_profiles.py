"""Configuration profiles, per charger vendor/model: the platform operator's page to add one (a copy of the
default) and to edit its values and the keys not applicable on that model. Auto Configuration picks the
profile (stations/services/profiles.profile_for)."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from accounts import access

from .models import ConfigurationProfile
from .services import profiles


class ProfileCreateForm(forms.Form):
    vendor = forms.CharField(max_length=50, help_text="As the charger reports it (BootNotification).")
    model = forms.CharField(max_length=20, required=False, help_text="Blank: every model of this vendor.")
    ocpp_version = forms.ChoiceField(
        label="OCPP version", choices=[(v, v) for v in profiles.DEFAULT_PROFILES]
    )
    name = forms.CharField(max_length=100, required=False, help_text="Blank: vendor, model and version.")


def _require_platform_operator(request):
    if not access.is_platform_operator(request.user):
        raise PermissionDenied("Only platform operators edit configuration profiles.")


@login_required
@require_http_methods(["GET", "POST"])
def configuration_profile_list(request):
    _require_platform_operator(request)
    for version in profiles.DEFAULT_PROFILES:
        profiles.profile_default(version)  # shown (and editable) before the first Auto Configuration
    form = ProfileCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            profile = profiles.configuration_profile_create(**form.cleaned_data, acting_user=request.user)
        except ValidationError as exc:
            for field, errs in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errs)
        else:
            messages.success(request, f"Profile {profile.name} added as a copy of the default.")
            return redirect("stations:configuration_profile", pk=profile.pk)
    rows = ConfigurationProfile.objects.order_by("ocpp_version", "-is_default", "vendor", "model")
    return render(request, "stations/configuration_profiles.html", {"profiles": rows, "form": form})


@login_required
@require_http_methods(["GET", "POST"])
def configuration_profile_detail(request, pk):
    _require_platform_operator(request)
    profile = get_object_or_404(ConfigurationProfile, pk=pk)
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        keys = list(profile.keys.values_list("key", flat=True))
        values = {k: request.POST[f"value-{k}"] for k in keys if f"value-{k}" in request.POST}
        reasons = {k: request.POST[f"reason-{k}"] for k in keys if f"reason-{k}" in request.POST}
        try:
            changed = profiles.configuration_profile_keys_update(
                profile=profile, values=values, reasons=reasons, acting_user=request.user
            )
        except ValidationError as exc:
            errors = exc.message_dict
        else:
            messages.success(request, f"Saved: {', '.join(changed)}." if changed else "Nothing changed.")
            return redirect("stations:configuration_profile", pk=profile.pk)
    rows = [
        {
            "key": row,
            "value": request.POST.get(f"value-{row.key}", row.value),
            "reason": request.POST.get(f"reason-{row.key}", row.not_applicable_reason),
            "value_errors": errors.get(f"value-{row.key}", []),
            "reason_errors": errors.get(f"reason-{row.key}", []),
        }
        for row in profile.keys.select_related("not_applicable_by")
    ]
    return render(request, "stations/configuration_profile.html", {"profile": profile, "rows": rows})
