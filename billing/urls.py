from django.urls import path

from . import views

app_name = "billing"

urlpatterns = [
    path("sessions/", views.session_list, name="session_list"),
    path("sessions/export.csv", views.session_export, name="session_export"),
    path("sessions/<int:pk>/", views.session_detail, name="session_detail"),
    path("sessions/<int:pk>/remote-stop/", views.remote_stop, name="remote_stop"),
    path("stations/<int:pk>/remote-start/", views.remote_start, name="remote_start"),
    path("stations/<int:pk>/remote-panel/", views.remote_panel, name="remote_panel"),
]
