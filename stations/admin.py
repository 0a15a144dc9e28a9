"""Admin for the stations app (owned by the accounts work: scoping and audit live in accounts.admin)."""

from django.contrib import admin

from accounts import access
from accounts.admin import ACCOUNT_CHOICES, ScopedModelAdmin, commercial, register_remaining, through, visible

from .models import ConfigurationProfile, ConfigurationProfileKey, Connector, MessageLog, OcppCall, Station

STATION_CHOICES = {
    **ACCOUNT_CHOICES,
    "station": commercial,
    "location": visible,
    # Any account may be picked as field service company (a service company is another account).
    "field_service_account": None,
}


class ConnectorInline(admin.TabularInline):
    model = Connector
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


@admin.register(MessageLog)
class MessageLogAdmin(ScopedModelAdmin):
    scope = staticmethod(through("station", "stations.Station", commercial))
    list_display = ["created_at", "station", "direction", "kind", "action", "message_id"]
    list_filter = ["direction", "kind", "action"]
    search_fields = ["station__ocpp_id", "message_id"]

    # The journal is evidence: read only.
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(OcppCall)
class OcppCallAdmin(ScopedModelAdmin):
    scope = staticmethod(through("station", "stations.Station", commercial))
    list_display = ["created_at", "station", "action", "status", "source"]
    list_filter = ["status", "action"]
    search_fields = ["station__ocpp_id", "message_id"]

    # Calls are made by services (the queue sends them); creating one here would bypass it.
    def has_add_permission(self, request):
        return False


# --- Portal: the platform's required configuration is data operators edit here (issue #3 §4). -------------


class ConfigurationProfileKeyInline(admin.TabularInline):
    model = ConfigurationProfileKey
    extra = 1
    fields = ["position", "key", "value", "generate"]


@admin.register(ConfigurationProfile)
class ConfigurationProfileAdmin(ScopedModelAdmin):
    scope = None  # platform operators only
    list_display = ["name", "ocpp_version", "is_default", "updated_at"]
    inlines = [ConfigurationProfileKeyInline]


register_remaining("stations")
