"""Admin for the billing app (owned by the accounts work: scoping and audit live in accounts.admin).

Plans are edited in the portal (billing/views_plans.py) so prices get dated versions; everything the
billing run and the issuing services write (ledger, series, invoices, lines, runs, payouts) and the
subscriptions and agreements are read-only here: an issued invoice is never edited, it is credited."""

from django.contrib import admin

from accounts.admin import ScopedModelAdmin, register_remaining

from .models import (
    BillingItem,
    BillingPlan,
    BillingPlanPrice,
    BillingRun,
    ChargingSession,
    Invoice,
    InvoiceLine,
    MeterValue,
    NumberSeries,
    Payout,
    SelfBillingAgreement,
    Subscription,
)


@admin.register(BillingPlan)
class BillingPlanAdmin(ScopedModelAdmin):
    scope = None  # platform operators only: plans are the platform's price list
    list_display = ["name", "kind", "currency", "is_active"]
    list_filter = ["kind", "is_active"]


# Sessions, their totals and meter values are what the station reported and the pricing made of it.
register_remaining(
    "billing",
    read_only=(
        ChargingSession,
        MeterValue,
        BillingPlanPrice,
        Subscription,
        SelfBillingAgreement,
        BillingItem,
        NumberSeries,
        Invoice,
        InvoiceLine,
        BillingRun,
        Payout,
    ),
)
