"""Portal pages for accounts, members, activation, cards, access groups and locations.

Each view: fetch with access (404 for what the user may not see), check the role for the action (403),
call a service, render (the partial when htmx asks for a region)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Q
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from billing.models import BillingPlan
from eflux.lib.id_tags import normalize_id_tag
from stations.services import station_settings

from . import access, services
from .forms import (
    AccessGroupForm,
    AccountForm,
    ActivationForm,
    CardForm,
    CardImportForm,
    GroupCardImportForm,
    LocationForm,
    MemberAddForm,
    MembershipRoleForm,
)
from .models import AccessGroup, Account, AuditEvent, ChargeCard, Location, Membership

Role = Membership.Role


def _form_errors(form, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for name, errors in exc.message_dict.items():
            form.add_error(name if name in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


def _require(allowed: bool) -> None:
    if not allowed:
        raise PermissionDenied


def _manages_any(user) -> bool:
    return access.is_platform_operator(user) or bool(access.account_ids(user, access.MANAGE_ROLES))


def _full_any(user) -> bool:
    return access.is_platform_operator(user) or bool(access.account_ids(user, access.FULL_ROLES))


# --- accounts and members -------------------------------------------------------------------------


@login_required
def account_list(request):
    accounts = (
        Account.objects.all()
        .visible_to(request.user)
        .annotate(
            member_count=Count("memberships", distinct=True), station_count=Count("stations", distinct=True)
        )
    )
    return render(
        request,
        "accounts/account_list.html",
        {"accounts": accounts, "can_create": access.is_platform_operator(request.user)},
    )


@login_required
@require_http_methods(["GET", "POST"])
def account_create(request):
    _require(access.is_platform_operator(request.user))
    form = AccountForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            account = services.account_create(acting_user=request.user, **form.cleaned_data)
        except ValidationError as e:
            _form_errors(form, e)
        else:
            messages.success(request, f"Account {account} created.")
            return redirect("account_detail", pk=account.pk)
    return render(request, "accounts/form_page.html", {"form": form, "title": "New account"})


def _members_context(request, account, add_form=None):
    memberships = account.memberships.select_related("user").order_by("user__username")
    return {
        "account": account,
        "memberships": memberships,
        "can_manage": access.can_manage_account(request.user, account),
        "add_form": add_form or MemberAddForm(),
        "role_choices": Role.choices,
    }


@login_required
@require_http_methods(["GET", "POST"])
def account_detail(request, pk):
    account = access.get_for_user_or_404(Account.objects.all().visible_to(request.user), pk)
    can_edit = access.can_edit_account_billing(request.user, account)
    form = AccountForm(instance=account) if can_edit else None
    if request.method == "POST":
        _require(can_edit)
        form = AccountForm(request.POST, instance=Account.objects.get(pk=account.pk))
        if form.is_valid():
            try:
                services.account_update(account=account, acting_user=request.user, **form.cleaned_data)
            except ValidationError as e:
                _form_errors(form, e)
            else:
                messages.success(request, "Account saved.")
                return redirect("account_detail", pk=account.pk)
    ctx = _members_context(request, account)
    ctx.update(
        form=form,
        role=Role(role).label if (role := access.role_in(request.user, account)) else None,
        # Drivers and technicians see the account name, not its member list.
        show_members=access.is_platform_operator(request.user)
        or account.pk in access.account_ids(request.user, access.FULL_ROLES),
    )
    return render(request, "accounts/account_detail.html", ctx)


@login_required
@require_POST
def account_member_add(request, pk):
    account = access.get_for_user_or_404(Account.objects.all().visible_to(request.user), pk)
    _require(access.can_manage_account(request.user, account))
    form = MemberAddForm(request.POST)
    if form.is_valid():
        who, role = form.cleaned_data["user"], form.cleaned_data["role"]
        try:
            if isinstance(who, str):
                services.member_invite(
                    account=account,
                    email=who,
                    role=role,
                    acting_user=request.user,
                    site_url=request.build_absolute_uri("/"),
                )
                done = f"{who} invited: an e-mail with a link to choose a password is on its way."
            else:
                services.membership_add(account=account, user=who, role=role, acting_user=request.user)
                done = f"{who} added."
        except ValidationError as e:
            _form_errors(form, e)
        else:
            form = None
            messages.success(request, done)
    if request.htmx:
        return render(request, "accounts/partials/members.html", _members_context(request, account, form))
    if form is not None and form.errors:
        messages.error(request, "; ".join(m for errs in form.errors.values() for m in errs))
    return redirect("account_detail", pk=account.pk)


@login_required
@require_POST
def membership_edit(request, pk):
    visible_accounts = Account.objects.all().visible_to(request.user)
    membership = access.get_for_user_or_404(
        Membership.objects.filter(account__in=visible_accounts).select_related("account", "user"), pk
    )
    account = membership.account
    _require(access.can_manage_account(request.user, account))
    try:
        if request.POST.get("action") == "remove":
            services.membership_remove(membership=membership, acting_user=request.user)
            messages.success(request, f"{membership.user} removed from {account}.")
        else:
            form = MembershipRoleForm(request.POST)
            if not form.is_valid():
                raise ValidationError("Pick a role.")
            services.membership_set_role(
                membership=membership, role=form.cleaned_data["role"], acting_user=request.user
            )
            messages.success(request, f"{membership.user} is now {Role(form.cleaned_data['role']).label}.")
    except ValidationError as e:
        messages.error(request, " ".join(e.messages))
    if request.htmx:
        return render(request, "accounts/partials/members.html", _members_context(request, account))
    return redirect("account_detail", pk=account.pk)


# --- customer activation --------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def station_activation(request):
    """An Account admin activates a station in Activation pending."""
    _require(_manages_any(request.user))
    if request.htmx and request.method == "GET":
        # Live lookup while typing: only pending stations are found, so nothing else leaks.
        station = station_settings.find_station_for_activation(request.GET.get("query", ""))
        return render(
            request,
            "accounts/partials/activation_lookup.html",
            {"station": station, "query": request.GET.get("query", "")},
        )
    form = ActivationForm(
        request.POST or None, user=request.user, initial={"query": request.GET.get("query", "")}
    )
    if request.method == "POST" and form.is_valid():
        station = station_settings.find_station_for_activation(form.cleaned_data["query"])
        if station is None:
            form.add_error(
                "query", "No station waiting for activation has this OCPP ID, serial number or EVSE ID."
            )
        else:
            try:
                station = station_settings.station_activate(
                    station=station,
                    account=form.cleaned_data["account"],
                    billing_plan=form.cleaned_data["billing_plan"],
                    location=form.cleaned_data["location"],
                    acting_user=request.user,
                )
            except ValidationError as e:
                _form_errors(form, e)
            else:
                messages.success(request, f"Station {station.ocpp_id} is now active in {station.account}.")
                return redirect("station_activation")
    return render(
        request,
        "accounts/activation.html",
        {"form": form, "has_plans": BillingPlan.objects.filter(is_active=True).exists()},
    )


# --- charge cards ---------------------------------------------------------------------------------


def _can_list_cards(user) -> bool:
    return _full_any(user) or bool(access.account_ids(user, (Role.DRIVER,)))


@login_required
def card_list(request):
    _require(_can_list_cards(request.user))
    cards = ChargeCard.objects.all().visible_to(request.user).select_related("account", "holder")
    q = request.GET.get("q", "").strip()
    if q:
        cards = cards.filter(Q(id_tag__icontains=normalize_id_tag(q, strict=False)) | Q(label__icontains=q))
    status = request.GET.get("status", "")
    if status in ChargeCard.Status.values:
        cards = cards.filter(status=status)
    ctx = {
        "cards": cards.order_by("account__name", "id_tag")[:500],
        "q": q,
        "status": status,
        "statuses": ChargeCard.Status.choices,
        "can_manage": _manages_any(request.user),
    }
    if request.htmx:
        return render(request, "accounts/partials/card_table.html", ctx)
    return render(request, "accounts/card_list.html", ctx)


@login_required
@require_http_methods(["GET", "POST"])
def card_create(request):
    _require(_manages_any(request.user))
    form = CardForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            card = services.card_save(card=form.instance, acting_user=request.user)
        except ValidationError as e:
            _form_errors(form, e)
        else:
            messages.success(request, f"Card {card.id_tag} saved.")
            return redirect("card_list")
    return render(request, "accounts/form_page.html", {"form": form, "title": "New charge card"})


@login_required
@require_http_methods(["GET", "POST"])
def card_edit(request, pk):
    card = access.get_for_user_or_404(ChargeCard.objects.all().visible_to(request.user), pk)
    can_manage = access.can_manage_card(request.user, card)
    if request.method == "POST":
        _require(can_manage)
    form = CardForm(request.POST or None, instance=card, user=request.user)
    if not can_manage:
        for f in form.fields.values():
            f.disabled = True
    if request.method == "POST" and form.is_valid():
        try:
            card = services.card_save(card=form.instance, acting_user=request.user)
        except ValidationError as e:
            _form_errors(form, e)
        else:
            messages.success(request, f"Card {card.id_tag} saved.")
            return redirect("card_list")
    return render(
        request,
        "accounts/form_page.html",
        {"form": form, "title": f"Charge card {card.id_tag}", "read_only": not can_manage},
    )


@login_required
@require_POST
def card_status(request, pk):
    """Block / unblock from the card list; htmx swaps the row."""
    card = access.get_for_user_or_404(ChargeCard.objects.all().visible_to(request.user), pk)
    _require(access.can_manage_card(request.user, card))
    status = request.POST.get("status", "")
    if status not in (ChargeCard.Status.ACTIVE, ChargeCard.Status.BLOCKED):
        raise PermissionDenied
    card = services.card_set_status(card=card, status=status, acting_user=request.user)
    if request.htmx:
        return render(request, "accounts/partials/card_row.html", {"card": card, "can_manage": True})
    return redirect("card_list")


@login_required
@require_http_methods(["GET", "POST"])
def card_import(request):
    _require(_manages_any(request.user))
    form = CardImportForm(request.POST or None, request.FILES or None, user=request.user)
    result = None
    if request.method == "POST" and form.is_valid():
        result = services.cards_import_csv(
            account=form.cleaned_data["account"],
            data=form.cleaned_data["file"].read(),
            acting_user=request.user,
        )
        if result.ok:
            messages.success(
                request,
                f"Imported {len(result.created)} new and updated {len(result.updated)} existing cards.",
            )
            return redirect("card_list")
    status = 400 if result is not None and not result.ok else 200
    return render(request, "accounts/card_import.html", {"form": form, "result": result}, status=status)


# --- access groups --------------------------------------------------------------------------------


@login_required
def access_group_list(request):
    _require(_full_any(request.user))
    groups = (
        AccessGroup.objects.all()
        .visible_to(request.user)
        .select_related("account")
        .annotate(
            user_count=Count("users", distinct=True),
            card_count=Count("cards", distinct=True),
            station_count=Count("stations", distinct=True),
        )
    )
    return render(
        request,
        "accounts/access_group_list.html",
        {"groups": groups, "can_manage": _manages_any(request.user)},
    )


def _save_group(request, form):
    try:
        group = services.access_group_save(
            group=form.instance,
            acting_user=request.user,
            users=form.cleaned_data["users"],
            cards=form.cleaned_data["cards"],
            stations=form.cleaned_data["stations"],
        )
    except ValidationError as e:
        _form_errors(form, e)
        return None
    messages.success(request, f"Access group {group} saved.")
    return redirect("access_group_edit", pk=group.pk)


@login_required
@require_http_methods(["GET", "POST"])
def access_group_create(request):
    _require(_manages_any(request.user))
    form = AccessGroupForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        response = _save_group(request, form)
        if response:
            return response
    return render(request, "accounts/access_group_form.html", {"form": form, "title": "New access group"})


@login_required
@require_http_methods(["GET", "POST"])
def access_group_edit(request, pk):
    group = access.get_for_user_or_404(AccessGroup.objects.all().visible_to(request.user), pk)
    can_manage = access.can_manage_account(request.user, group.account)
    if request.method == "POST":
        _require(can_manage)
    form = AccessGroupForm(request.POST or None, instance=group, user=request.user)
    if not can_manage:
        for f in form.fields.values():
            f.disabled = True
    if request.method == "POST" and form.is_valid():
        response = _save_group(request, form)
        if response:
            return response
    return render(
        request,
        "accounts/access_group_form.html",
        {
            "form": form,
            "group": group,
            "title": f"Access group {group}",
            "read_only": not can_manage,
            "import_form": GroupCardImportForm(),
        },
    )


@login_required
@require_POST
def access_group_delete(request, pk):
    group = access.get_for_user_or_404(AccessGroup.objects.all().visible_to(request.user), pk)
    _require(access.can_manage_account(request.user, group.account))
    services.access_group_delete(group=group, acting_user=request.user)
    messages.success(request, f"Access group {group} deleted.")
    return redirect("access_group_list")


@login_required
@require_POST
def access_group_import(request, pk):
    """CSV of cards into a group: all rows or none, like the card import."""
    group = access.get_for_user_or_404(AccessGroup.objects.all().visible_to(request.user), pk)
    _require(access.can_manage_account(request.user, group.account))
    form = GroupCardImportForm(request.POST, request.FILES)
    result = None
    if form.is_valid():
        result = services.cards_import_csv(
            account=group.account,
            data=form.cleaned_data["file"].read(),
            acting_user=request.user,
            group=group,
        )
        if result.ok:
            messages.success(request, f"Added {len(result.created) + len(result.updated)} cards to {group}.")
            return redirect("access_group_edit", pk=group.pk)
    return render(
        request,
        "accounts/card_import.html",
        {"form": form, "result": result, "group": group},
        status=400,
    )


# --- locations ------------------------------------------------------------------------------------


@login_required
def location_list(request):
    _require(_full_any(request.user))
    locations = (
        Location.objects.all()
        .visible_to(request.user)
        .select_related("account")
        .annotate(station_count=Count("stations"))
    )
    return render(
        request,
        "accounts/location_list.html",
        {"locations": locations, "can_manage": _manages_any(request.user)},
    )


@login_required
@require_http_methods(["GET", "POST"])
def location_create(request):
    _require(_manages_any(request.user))
    form = LocationForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            location = services.location_save(location=form.instance, acting_user=request.user)
        except ValidationError as e:
            _form_errors(form, e)
        else:
            messages.success(request, f"Location {location} saved.")
            return redirect("location_list")
    return render(request, "accounts/form_page.html", {"form": form, "title": "New location"})


@login_required
@require_http_methods(["GET", "POST"])
def location_edit(request, pk):
    location = access.get_for_user_or_404(Location.objects.all().visible_to(request.user), pk)
    can_manage = access.can_manage_account(request.user, location.account)
    if request.method == "POST":
        _require(can_manage)
    form = LocationForm(request.POST or None, instance=location, user=request.user)
    if not can_manage:
        for f in form.fields.values():
            f.disabled = True
    if request.method == "POST" and form.is_valid():
        try:
            services.location_save(location=form.instance, acting_user=request.user)
        except ValidationError as e:
            _form_errors(form, e)
        else:
            messages.success(request, "Location saved.")
            return redirect("location_list")
    return render(
        request,
        "accounts/form_page.html",
        {"form": form, "title": f"Location {location}", "read_only": not can_manage},
    )


# --- audit log ------------------------------------------------------------------------------------


@login_required
def audit_list(request):
    _require(_manages_any(request.user))
    events = AuditEvent.objects.all().visible_to(request.user).select_related("actor", "account", "station")
    action = request.GET.get("action", "").strip()
    if action:
        events = events.filter(action__startswith=action)
    return render(request, "accounts/audit_list.html", {"events": events[:300], "action": action})
