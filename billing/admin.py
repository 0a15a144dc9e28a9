"""Admin for the billing app (owned by the accounts work: scoping and audit live in accounts.admin)."""

from django.contrib import admin

from accounts.admin import ScopedModelAdmin, register_remaining

from .models import BillingPlan, ChargingSession, MeterValue


@admin.register(BillingPlan)
class BillingPlanAdmin(ScopedModelAdmin):
    scope = None  # platform operators only: plans are the platform's price list
    list_display = ["name", "monthly_fee", "currency", "is_active"]
    list_filter = ["is_active"]


# Sessions, their totals and meter values are what the station reported and the pricing made of it.
register_remaining("billing", read_only=(ChargingSession, MeterValue))
