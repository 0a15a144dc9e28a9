"""Admin for the billing app (owned by the accounts work: scoping and audit live in accounts.admin)."""

from django.contrib import admin

from accounts.admin import ScopedModelAdmin, register_remaining

from .models import BillingPlan


@admin.register(BillingPlan)
class BillingPlanAdmin(ScopedModelAdmin):
    scope = None  # platform operators only: plans are the platform's price list
    list_display = ["name", "monthly_fee", "currency", "is_active"]
    list_filter = ["is_active"]


register_remaining("billing")
