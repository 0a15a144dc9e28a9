"""Billing plans in the portal (platform operators), a card's plan (the card's Account admins) and the
self-billing agreement (the station owner's Account admins). Parse, fetch through accounts.access, call a
billing.services.plans function, render; a refused value is shown next to its field."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from accounts import access
from accounts.models import Account, ChargeCard
from billing.models import BillingPlan, Subscription
from billing.plan_forms import CardPlanForm, PlanEditForm, PlanForm, PlanPriceForm, SelfBillingForm
from billing.services import plans


def form_errors(form, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for name, errors in exc.message_dict.items():
            form.add_error(name if name in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


def _require_operator(user) -> None:
    if not access.is_platform_operator(user):
        raise PermissionDenied


@login_required
def plan_list(request):
    _require_operator(request.user)
    plan_rows = [
        (p, p.price_on(plans.billing_today())) for p in BillingPlan.objects.prefetch_related("prices")
    ]
    return render(request, "billing/plan_list.html", {"plan_rows": plan_rows})


@login_required
@require_http_methods(["GET", "POST"])
def plan_create(request):
    _require_operator(request.user)
    form = PlanForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        try:
            plan = plans.plan_create(
                name=d["name"],
                kind=d["kind"],
                currency=d["currency"],
                description=d["description"],
                prices=d["prices"],
                acting_user=request.user,
            )
        except ValidationError as exc:
            form_errors(form, exc)
        else:
            messages.success(request, f"Billing plan {plan} created.")
            return redirect("billing:plan_detail", pk=plan.pk)
    return render(request, "billing/plan_form.html", {"form": form, "title": "New billing plan"})


@login_required
@require_http_methods(["GET", "POST"])
def plan_detail(request, pk):
    _require_operator(request.user)
    plan = access.get_for_user_or_404(BillingPlan.objects.all(), pk)
    form = PlanEditForm(
        request.POST if request.POST.get("form") == "plan" else None,
        plan=plan,
        initial={"name": plan.name, "description": plan.description, "is_active": plan.is_active},
    )
    price_form = PlanPriceForm(
        request.POST if request.POST.get("form") == "price" else None,
        plan=plan,
        initial={"effective_from": plans.billing_today()},
    )
    if request.method == "POST":
        try:
            if form.is_bound and form.is_valid():
                plans.plan_update(plan=plan, acting_user=request.user, **form.cleaned_data)
                messages.success(request, "Plan saved.")
                return redirect("billing:plan_detail", pk=plan.pk)
            if price_form.is_bound and price_form.is_valid():
                version = plans.plan_price_add(
                    plan=plan,
                    effective_from=price_form.cleaned_data["effective_from"],
                    prices=price_form.cleaned_data["prices"],
                    acting_user=request.user,
                )
                messages.success(request, f"New prices from {version.effective_from:%Y-%m-%d}.")
                return redirect("billing:plan_detail", pk=plan.pk)
        except ValidationError as exc:
            form_errors(price_form if price_form.is_bound else form, exc)
    context = {
        "plan": plan,
        "form": form,
        "price_form": price_form,
        "versions": plan.prices.order_by("-effective_from"),
        "subscriptions": plan.subscriptions.select_related("account", "station", "card")[:100],
    }
    return render(request, "billing/plan_detail.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def card_plan(request, pk):
    """A card's plan, paid by the card's account (Finance → Billing plans → Consumer card)."""
    card = access.get_for_user_or_404(ChargeCard.objects.all().visible_to(request.user), pk)
    if not access.can_manage_card(request.user, card):
        raise PermissionDenied
    current = Subscription.objects.filter(card=card, ends_on__isnull=True).select_related("plan").first()
    form = CardPlanForm(request.POST or None, initial={"plan": current.plan if current else None})
    if request.method == "POST" and form.is_valid():
        try:
            plans.subscription_for_card(card=card, plan=form.cleaned_data["plan"], acting_user=request.user)
        except ValidationError as exc:
            form_errors(form, exc)
        else:
            messages.success(request, f"Plan of card {card} saved.")
            return redirect("billing:card_plan", pk=card.pk)
    return render(request, "billing/card_plan.html", {"card": card, "form": form, "current": current})


@login_required
@require_http_methods(["GET", "POST"])
def self_billing_agreement(request, pk):
    """The station owner accepts self-billing and gives the payout IBAN (Profile → Reimbursement)."""
    account = access.get_for_user_or_404(Account.objects.all().visible_to(request.user), pk)
    if not access.can_edit_account_billing(request.user, account):
        raise PermissionDenied
    current = plans.self_billing_agreement_for(account)
    initial = {"legal_name": account.name, "address": account.address, "country": account.country or "NL"}
    if current:
        initial = {
            f: getattr(current, f)
            for f in ("supplier_kind", "legal_name", "address", "country", "vat_number", "kvk_number", "iban")
        }
    form = SelfBillingForm(request.POST or None, initial=initial)
    if request.method == "POST":
        if not access.can_manage_account(request.user, account):
            raise PermissionDenied
        if form.is_valid():
            d = dict(form.cleaned_data)
            d.pop("accept")
            try:
                plans.self_billing_agreement_accept(account=account, acting_user=request.user, **d)
            except ValidationError as exc:
                form_errors(form, exc)
            else:
                messages.success(request, "Self-billing agreement recorded.")
                return redirect("billing:self_billing", pk=account.pk)
    return render(
        request,
        "billing/self_billing.html",
        {
            "account": account,
            "form": form,
            "current": current,
            "can_accept": access.can_manage_account(request.user, account),
        },
    )
