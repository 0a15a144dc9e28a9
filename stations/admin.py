"""Admin for the stations app (owned by the accounts work: scoping, audit and services refusing live in
accounts.admin). The settings fields of a station are saved by the Settings page's service; connectors follow
the connector rules; what the station produced (calls, journal, configuration jobs, resets) is read only."""

from django import forms
from django.contrib import admin

from accounts import access
from accounts.admin import (
    ACCOUNT_CHOICES,
    ReadOnlyAdmin,
    ScopedInline,
    ScopedModelAdmin,
    commercial,
    register_remaining,
    through,
    visible,
)

from .models import (
    ConfigurationJob,
    ConfigurationProfile,
    ConfigurationProfileKey,
    Connector,
    MessageLog,
    OcppCall,
    Station,
    StationConfigurationKey,
    StationReset,
)
from .services import connectors, station_settings

STATION_CHOICES = {
    **ACCOUNT_CHOICES,
    "station": commercial,
    "location": visible,
    # Any account may be picked as field service company (a service company is another account).
    "field_service_account": None,
}


class ConnectorAdminForm(forms.ModelForm):
    def clean(self):
        data = super().clean()
        # The connector rules of Configure Connectors (one table: stations.services.connectors).
        for field, message in connectors.connector_form_errors(data).items():
            self.add_error(field if field in self.fields else None, message)
        return data


class ConnectorInline(ScopedInline):
    model = Connector
    form = ConnectorAdminForm
    extra = 0
    fields = [
        "connector_id",
        "status",
        "error_code",
        "standard",
        "format",
        "power_type",
        "max_voltage",
        "max_amperage",
    ]
    readonly_fields = ["status", "error_code"]


@admin.register(Station)
class StationAdmin(ScopedModelAdmin):
    scope = staticmethod(commercial)
    choice_scopes = STATION_CHOICES
    list_display = ["ocpp_id", "vendor", "model", "serial_number", "setup_state", "account", "is_connected"]
    list_filter = ["setup_state", "is_connected", "vendor"]
    search_fields = ["ocpp_id", "serial_number", "account__name"]
    exclude = ["password_hash", "pending_password_hash"]
    inlines = [ConnectorInline]
    # station_settings_update audits these (station.settings, with ChangeAvailability's outcome).
    service_audited = frozenset(station_settings.SETTINGS_FIELDS)

    def save_model(self, request, obj, form, change):
        # The settings fields go through the Settings page's service (ChangeAvailability when 'disabled'
        # changes, activation, audit); the other fields are saved here first, so the service starts from them.
        settings = {
            f: form.cleaned_data[f] for f in station_settings.SETTINGS_FIELDS if f in form.cleaned_data
        }
        if change:
            own = [name for name in form.changed_data if name not in settings]
            if own:
                obj.save(update_fields=[*own, "updated_at"])
        else:
            for name in settings:
                setattr(obj, name, Station._meta.get_field(name).get_default())
            obj.save()
        # The service audits every call (station.settings); a save that leaves the settings alone is not one.
        if not change or any(name in settings for name in form.changed_data):
            station_settings.station_settings_update(
                station=obj, data=settings, access_groups=None, acting_user=request.user, source="admin"
            )
        obj.refresh_from_db()

    def get_readonly_fields(self, request, obj=None):
        ro = [
            "ocpp_version",
            "is_connected",
            "connection_id",
            "connected_at",
            "disconnected_at",
            "last_seen_at",
            "registered_from_ip",
            "last_boot_at",
            "last_refused_at",
            "last_refusal_reason",
        ]
        if not access.is_platform_operator(request.user):
            # Moving a station between accounts or through the setup steps is the operator's job, and so is
            # letting a station connect without credentials again (password_required).
            ro += ["ocpp_id", "account", "setup_state", "field_service_account", "billing_plan"]
            ro += ["password_required"]
        return ro


@admin.register(Connector)
class ConnectorAdmin(ScopedModelAdmin):
    scope = staticmethod(through("station", "stations.Station", commercial))
    choice_scopes = STATION_CHOICES
    form = ConnectorAdminForm
    list_display = ["__str__", "station", "connector_id", "status", "standard", "power_type"]
    search_fields = ["station__ocpp_id"]


# The journal is evidence, and calls are made by services (the queue sends them): read only.
@admin.register(MessageLog)
class MessageLogAdmin(ReadOnlyAdmin):
    scope = staticmethod(through("station", "stations.Station", commercial))
    list_display = ["created_at", "station", "direction", "kind", "action", "message_id"]
    list_filter = ["direction", "kind", "action"]
    search_fields = ["station__ocpp_id", "message_id"]


@admin.register(OcppCall)
class OcppCallAdmin(ReadOnlyAdmin):
    scope = staticmethod(through("station", "stations.Station", commercial))
    list_display = ["created_at", "station", "action", "status", "source"]
    list_filter = ["status", "action"]
    search_fields = ["station__ocpp_id", "message_id"]


# --- Portal: the platform's required configuration is data operators edit here (issue #3 §4). -------------


class ConfigurationProfileKeyInline(ScopedInline):
    model = ConfigurationProfileKey
    extra = 1
    fields = ["position", "key", "value", "generate", "not_applicable_reason", "not_applicable_by"]
    readonly_fields = ["not_applicable_by"]


@admin.register(ConfigurationProfile)
class ConfigurationProfileAdmin(ScopedModelAdmin):
    """Profiles per charger vendor/model: vendor and model as the station reports them in BootNotification
    (model blank: every model of the vendor); profile_for picks the most specific, else the default."""

    scope = None  # platform operators only
    list_display = ["name", "ocpp_version", "vendor", "model", "is_default", "updated_at"]
    list_filter = ["ocpp_version", "is_default"]
    search_fields = ["name", "vendor", "model"]
    inlines = [ConfigurationProfileKeyInline]

    def save_formset(self, request, form, formset, change):
        # Who decided that a key is not applicable on this model is recorded with the reason.
        for inline_form in formset.forms:
            if "not_applicable_reason" in inline_form.changed_data:
                reason = inline_form.instance.not_applicable_reason
                inline_form.instance.not_applicable_by = request.user if reason else None
        super().save_formset(request, form, formset, change)


# Configuration jobs and their key rows are written by the configuration service, resets by Reset.
register_remaining("stations", read_only=(ConfigurationJob, StationConfigurationKey, StationReset))
