from django.urls import path

from . import plan_views, views

app_name = "billing"

urlpatterns = [
    path("sessions/", views.session_list, name="session_list"),
    path("sessions/export.csv", views.session_export, name="session_export"),
    path("sessions/<int:pk>/", views.session_detail, name="session_detail"),
    path("sessions/<int:pk>/remote-stop/", views.remote_stop, name="remote_stop"),
    path("stations/<int:pk>/remote-start/", views.remote_start, name="remote_start"),
    path("stations/<int:pk>/remote-panel/", views.remote_panel, name="remote_panel"),
    # Billing plans (operators), a card's plan, the station owner's self-billing agreement.
    path("billing/plans/", plan_views.plan_list, name="plan_list"),
    path("billing/plans/new/", plan_views.plan_create, name="plan_create"),
    path("billing/plans/<int:pk>/", plan_views.plan_detail, name="plan_detail"),
    path("cards/<int:pk>/plan/", plan_views.card_plan, name="card_plan"),
    path("accounts/<int:pk>/self-billing/", plan_views.self_billing_agreement, name="self_billing"),
]
