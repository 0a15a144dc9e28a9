from django.urls import path
from django.views.generic import RedirectView

from . import views, views_commissioning, views_configuration, views_profiles

app_name = "stations"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="stations:list", permanent=False), name="home"),
    path("stations/", views.station_list, name="list"),
    path("stations/<int:pk>/", views.station_detail, name="detail"),
    path("stations/<int:pk>/configuration/", views.station_configuration, name="configuration"),
    path("stations/<int:pk>/configuration/run/", views.station_auto_configuration, name="auto_configuration"),
    path(
        "stations/<int:pk>/configuration/not-applicable/",
        views_configuration.station_configuration_key,
        name="configuration_key",
    ),
    path("stations/<int:pk>/reset/", views.station_reset, name="reset"),
    path("stations/<int:pk>/connectors/", views.station_connectors, name="connectors"),
    path("stations/<int:pk>/settings/", views.station_settings, name="settings"),
    path("stations/<int:pk>/commissioning/", views_commissioning.station_commissioning, name="commissioning"),
    path(
        "stations/<int:pk>/commissioning/<int:run_id>/",
        views_commissioning.station_commissioning_report,
        name="commissioning_report",
    ),
    path(
        "stations/<int:pk>/commissioning/<int:run_id>/report.pdf",
        views_commissioning.station_commissioning_report_pdf,
        name="commissioning_report_pdf",
    ),
    path("stations/<int:pk>/commands/", views.station_commands, name="commands"),
    path("configuration-drift/", views_configuration.configuration_drift, name="configuration_drift"),
    path("configuration-profiles/", views_profiles.configuration_profile_list, name="configuration_profiles"),
    path(
        "configuration-profiles/<int:pk>/",
        views_profiles.configuration_profile_detail,
        name="configuration_profile",
    ),
    path("connection-attempts/", views.connection_attempts, name="connection_attempts"),
    path("evse-ids/", views.evse_id_list, name="evse_ids"),
    path("evse-ids/export.csv", views.evse_id_export, name="evse_id_export"),
    path("evse-ids/<str:evse_id>/", views.evse_id_detail, name="evse_id_detail"),
]
