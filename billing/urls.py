from django.urls import path

from . import invoice_views, plan_views, views

app_name = "billing"

urlpatterns = [
    path("sessions/", views.session_list, name="session_list"),
    path("sessions/export.csv", views.session_export, name="session_export"),
    path("sessions/<int:pk>/", views.session_detail, name="session_detail"),
    path("sessions/<int:pk>/remote-stop/", views.remote_stop, name="remote_stop"),
    path("sessions/<int:pk>/reviewed/", views.session_reviewed, name="session_reviewed"),
    path("stations/<int:pk>/remote-start/", views.remote_start, name="remote_start"),
    path("stations/<int:pk>/remote-panel/", views.remote_panel, name="remote_panel"),
    # Billing plans (operators), a card's plan, the station owner's self-billing agreement.
    path("billing/plans/", plan_views.plan_list, name="plan_list"),
    path("billing/plans/new/", plan_views.plan_create, name="plan_create"),
    path("billing/plans/<int:pk>/", plan_views.plan_detail, name="plan_detail"),
    path("cards/<int:pk>/plan/", plan_views.card_plan, name="card_plan"),
    path("accounts/<int:pk>/self-billing/", plan_views.self_billing_agreement, name="self_billing"),
    # Invoices, self-billing invoices and credit notes; the billing runs (operators).
    path("invoices/", invoice_views.invoice_list, name="invoice_list"),
    path("invoices/<int:pk>/", invoice_views.invoice_detail, name="invoice_detail"),
    path("invoices/<int:pk>/pdf/", invoice_views.invoice_pdf, name="invoice_pdf"),
    path("invoices/<int:pk>/lines.csv", invoice_views.invoice_csv, name="invoice_csv"),
    path("invoices/<int:pk>/credit/", invoice_views.invoice_credit, name="invoice_credit"),
    path("billing/runs/", invoice_views.run_list, name="run_list"),
    path("billing/runs/<int:pk>/payouts.csv", invoice_views.run_payout_csv, name="run_payout_csv"),
]
