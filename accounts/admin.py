"""Django admin for every model, scoped by account for staff who are not platform operators, and audited.

ScopedModelAdmin is also used by stations/admin.py and billing/admin.py:
- platform operators (and superusers) see and change everything;
- other staff need Django model permissions as usual AND see only the rows accounts.access gives them;
  models without a scope are for operators only;
- every add, change and delete made here writes an AuditEvent (who, when, before and after), like the
  services do for the portal (issue #4 §7);
- a save that changes product state calls the service the portal calls (cards, memberships, station
  settings), so the same rules and side effects apply. When the service refuses (ValidationError), the
  admin's transaction is rolled back and the same form is shown again with the service's message on it;
  what a service audits itself is left out of the admin's own audit row (no event twice);
- records the stations and the pricing produced are read only (ReadOnlyAdmin), for superusers too.
"""

from contextlib import contextmanager

from django import forms
from django.apps import apps
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.core.exceptions import ValidationError
from django.db import models, router, transaction
from django.http import HttpResponseRedirect
from django.urls import reverse

from accounts import services as account_services
from eflux.lib.id_tags import normalize_id_tag

from . import access
from .audit import audit_record
from .models import AccessGroup, Account, AuditEvent, ChargeCard, Location, Membership, User

# Never copied into the audit log, not even hashed.
SECRET_FIELDS = {"password", "password_hash", "pending_password_hash", "password1", "password2"}


# Scopes: (user, queryset) → the rows of it this user may see or change (the models' QuerySet methods).
def visible(user, qs):
    return qs.visible_to(user)


def managed(user, qs):
    return qs.managed_by(user)


def commercial(user, qs):
    return qs.commercial_to(user)


def through(path: str, model_label: str, scope):
    """A scope for rows that hang off another scoped model: filter `path__in` the visible parents."""

    def scoped(user, qs):
        parent = apps.get_model(model_label)
        return qs.filter(**{f"{path}__in": scope(user, parent.objects.all())})

    return scoped


def _station_of(obj):
    Station = apps.get_model("stations", "Station")
    if isinstance(obj, Station):
        return obj
    station = getattr(obj, "station", None)
    return station if isinstance(station, Station) else None


def _account_of(obj):
    if isinstance(obj, Account):
        return obj
    account = getattr(obj, "account", None)
    if isinstance(account, Account):
        return account
    station = _station_of(obj)
    return station.account if station is not None else None


def _show(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, models.Model):
        return str(value)
    if isinstance(value, list | tuple | set) or hasattr(value, "__iter__") and not isinstance(value, str):
        try:
            return ", ".join(sorted(str(v) for v in value)) or None
        except TypeError:
            return str(value)
    return str(value)


def form_changes(form) -> dict:
    """{field: [before, after]} from a bound admin form, secrets masked."""
    changes = {}
    for name in form.changed_data:
        if name in SECRET_FIELDS:
            changes[name] = ["***", "***"]
            continue
        before = form.initial.get(name)
        field = form.fields.get(name)
        if isinstance(field, forms.ModelMultipleChoiceField) and before is not None:
            before = [str(o) for o in before] if not isinstance(before, str) else before
        elif isinstance(field, forms.ModelChoiceField) and before not in (None, ""):
            try:
                before = field.queryset.model._default_manager.get(pk=getattr(before, "pk", before))
            except Exception:
                pass
        changes[name] = [_show(before), _show(form.cleaned_data.get(name))]
    return changes


# --- a service refusing an admin save -------------------------------------------------------------------


class Refused(Exception):
    """A service's ValidationError while the admin saved, and the form it belongs on (its prefix; None is the
    main form, "memberships-0" an inline row)."""

    def __init__(self, error: ValidationError, prefix: str | None = None):
        super().__init__(error, prefix)
        self.error, self.prefix = error, prefix


@contextmanager
def refusal_on(prefix: str | None):
    """Services called for an inline row: their refusal is shown on that row."""
    try:
        yield
    except ValidationError as exc:
        raise Refused(exc, prefix) from exc


def _add_errors(form, error: ValidationError) -> None:
    if hasattr(error, "error_dict"):
        for name, errors in error.message_dict.items():
            form.add_error(name if name in form.fields else None, errors)
    else:
        form.add_error(None, error.messages)


def showing_refusal(form_class, request):
    """`form_class`, or (after a refused save) a subclass whose bound form carries the service's errors.

    The admin decides between "save" and "show the form again" from form.is_valid() before it saves, so a
    refusal found while saving is shown by running the view once more, with the errors added at validation."""
    refused = getattr(request, "_admin_refused", None)
    if refused is None:
        return form_class

    class RefusedForm(form_class):
        def full_clean(self):
            super().full_clean()
            if self.is_bound and self.prefix == refused.prefix:
                _add_errors(self, refused.error)

    RefusedForm.__name__ = form_class.__name__
    return RefusedForm


def _refusal_messages(exc) -> str:
    error = exc.error if isinstance(exc, Refused) else exc
    return " ".join(error.messages)


class ScopedInline(admin.TabularInline):
    """Rows edited on their parent's page. Platform operators may do what they may do on the parent (they hold
    no Django model permissions, like ScopedModelAdmin); other staff need the model permissions as usual, and
    the parent admin has already scoped the parent row."""

    def _operator(self, request) -> bool:
        return access.is_platform_operator(request.user)

    def has_view_permission(self, request, obj=None):
        return self._operator(request) or super().has_view_permission(request, obj)

    def has_add_permission(self, request, obj=None):
        return self._operator(request) or super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return self._operator(request) or super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self._operator(request) or super().has_delete_permission(request, obj)


class ServiceInline(ScopedInline):
    """An inline whose rows are saved by a service (the parent admin's save_formset): the service's refusal is
    shown on its row, and rows the service audits are left out of the admin's audit row."""

    service_audited = True

    def get_formset(self, request, obj=None, **kwargs):
        base = super().get_formset(request, obj, **kwargs)
        refused = getattr(request, "_admin_refused", None)

        class Formset(base):
            form = showing_refusal(base.form, request)
            service_audited = self.service_audited

            def full_clean(self):
                super().full_clean()
                # A row ticked for deletion is not validated, so its refusal goes above the rows.
                if refused is not None and any(
                    f.prefix == refused.prefix and self._should_delete_form(f) for f in self.forms
                ):
                    self._non_form_errors.extend(refused.error.messages)

        Formset.__name__ = base.__name__
        return Formset


class ScopedModelAdmin(admin.ModelAdmin):
    # scope(user, queryset) -> queryset, from accounts.access; None: platform operators only.
    scope = None
    # Foreign keys / many-to-many offered in forms, narrowed for non-operators: field name -> scope.
    choice_scopes: dict = {}
    # Form fields whose changes the service this admin saves through audits itself ("__all__": every field,
    # and the create too); the admin's own audit row leaves them out.
    service_audited: frozenset[str] | str = frozenset()

    # --- services refusing ------------------------------------------------------------------------

    def get_form(self, request, obj=None, change=False, **kwargs):
        return showing_refusal(super().get_form(request, obj, change=change, **kwargs), request)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except (Refused, ValidationError) as exc:
            # The admin's transaction has been rolled back (the exception left its atomic block). The same
            # POST again, now with the refusal as a form error: the admin renders it like any invalid form.
            request._admin_refused = exc if isinstance(exc, Refused) else Refused(exc)
            try:
                return super().changeform_view(request, object_id, form_url, extra_context)
            except (Refused, ValidationError):
                # The refusal found no form to sit on: say it above the page rather than fail.
                self.message_user(request, _refusal_messages(exc), messages.ERROR)
                return HttpResponseRedirect(request.get_full_path())

    def delete_view(self, request, object_id, extra_context=None):
        try:
            return super().delete_view(request, object_id, extra_context)
        except (Refused, ValidationError) as exc:
            self.message_user(request, _refusal_messages(exc), messages.ERROR)
            opts = self.opts
            return HttpResponseRedirect(
                reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[object_id])
            )

    def changelist_view(self, request, extra_context=None):
        if request.method != "POST":
            return super().changelist_view(request, extra_context)
        try:
            # Actions (bulk delete) write admin log entries before deleting; one transaction for all of it.
            with transaction.atomic(using=router.db_for_write(self.model)):
                return super().changelist_view(request, extra_context)
        except (Refused, ValidationError) as exc:
            self.message_user(request, _refusal_messages(exc), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def _operator(self, request) -> bool:
        return access.is_platform_operator(request.user)

    # --- rows -------------------------------------------------------------------------------------

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if self._operator(request):
            return qs
        if self.scope is None:
            return qs.none()
        return type(self).scope(request.user, qs)

    # --- permissions ------------------------------------------------------------------------------

    def _allowed(self, request, perm: str, obj=None) -> bool:
        if self._operator(request):
            return True
        if self.scope is None or not request.user.is_active or not request.user.is_staff:
            return False
        if not request.user.has_perm(f"{self.opts.app_label}.{perm}_{self.opts.model_name}"):
            return False
        if obj is not None:
            return self.get_queryset(request).filter(pk=obj.pk).exists()
        return True

    def has_module_permission(self, request):
        if self._operator(request):
            return True
        return self.scope is not None and super().has_module_permission(request)

    def has_view_permission(self, request, obj=None):
        return self._allowed(request, "view", obj) or self._allowed(request, "change", obj)

    def has_change_permission(self, request, obj=None):
        return self._allowed(request, "change", obj)

    def has_add_permission(self, request):
        return self._allowed(request, "add")

    def has_delete_permission(self, request, obj=None):
        return self._allowed(request, "delete", obj)

    # --- choices ----------------------------------------------------------------------------------

    def _narrow(self, request, db_field, kwargs):
        scope = self.choice_scopes.get(db_field.name)
        if scope is not None and not self._operator(request):
            kwargs["queryset"] = scope(request.user, db_field.related_model._default_manager.all())
        return kwargs

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        return super().formfield_for_foreignkey(db_field, request, **self._narrow(request, db_field, kwargs))

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        return super().formfield_for_manytomany(db_field, request, **self._narrow(request, db_field, kwargs))

    # --- audit ------------------------------------------------------------------------------------

    def _audit(self, request, obj, action: str, changes: dict) -> None:
        label = obj._meta.label_lower.replace(".", "_")
        audit_record(
            actor=request.user,
            action=f"admin.{label}.{action}",
            obj=obj,
            station=_station_of(obj),
            account=_account_of(obj),
            changes=changes,
        )

    def save_related(self, request, form, formsets, change):
        # Called after save_model with the many-to-many saved too: the whole change is known here.
        with transaction.atomic():
            super().save_related(request, form, formsets, change)
            everything = self.service_audited == "__all__"
            changes = {
                name: pair
                for name, pair in form_changes(form).items()
                if not everything and name not in self.service_audited
            }
            for formset in formsets:
                if getattr(formset, "service_audited", False):
                    continue
                for inline_form in formset.forms:
                    if inline_form.has_changed():
                        prefix = inline_form.instance._meta.model_name
                        for name, pair in form_changes(inline_form).items():
                            changes[f"{prefix}[{inline_form.instance.pk}].{name}"] = pair
            if changes or (not change and not everything):
                self._audit(request, form.instance, "update" if change else "create", changes)

    def delete_model(self, request, obj):
        with transaction.atomic():
            self._audit(request, obj, "delete", {"object": [str(obj), None]})
            super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            for obj in queryset:
                self._audit(request, obj, "delete", {"object": [str(obj), None]})
            super().delete_queryset(request, queryset)


class ReadOnlyAdmin(ScopedModelAdmin):
    """Records a station or the pricing produced (sessions, meter values, calls, the journal, configuration
    jobs): whoever may see them views them here, nobody adds, changes or deletes one, superusers included.
    Changing one would rewrite what happened without the service that made it."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def _members_of_managed(user, qs):
    if access.is_platform_operator(user):
        return qs
    return qs.filter(memberships__account_id__in=access.account_ids(user, access.MANAGE_ROLES)).distinct()


ACCOUNT_CHOICES = {
    "account": managed,
    "holder": _members_of_managed,
    "user": _members_of_managed,
    "users": _members_of_managed,
    "cards": visible,
    "stations": commercial,
}


# --- memberships: accounts.services (the last Account admin stays) -----------------------------------


class MembershipAdminForm(forms.ModelForm):
    def clean(self):
        data = super().clean()
        # Moving a membership to another person or account would bypass the last-admin rule of the account
        # it leaves; the portal has no such move either.
        if self.instance.pk:
            for name in ("user", "account"):
                if name in self.changed_data:
                    self.add_error(name, "To move someone, add a new membership and remove this one.")
        return data


def became(obj: models.Model, saved: models.Model) -> None:
    """A service created its own instance; the admin goes on with `obj` (change message, log entry, redirect),
    so `obj` becomes the saved row."""
    for f in saved._meta.concrete_fields:
        setattr(obj, f.attname, getattr(saved, f.attname))
    obj._state.adding, obj._state.db = False, saved._state.db


def memberships_save(request, formset) -> None:
    """An account's member rows, through the membership services. New members and promotions to Account
    admin go first and removals last, so a save that hands the role to someone else never passes through an
    account without an Account admin."""
    formset.save(commit=False)
    prefix = {id(f.instance): f.prefix for f in formset.forms}
    for membership in formset.new_objects:
        with refusal_on(prefix[id(membership)]):
            created = account_services.membership_add(
                account=membership.account,
                user=membership.user,
                role=membership.role,
                acting_user=request.user,
            )
        became(membership, created)
    promotions_first = sorted(
        formset.changed_objects, key=lambda pair: pair[0].role != Membership.Role.ACCOUNT_ADMIN
    )
    for membership, changed in promotions_first:
        if "role" in changed:
            with refusal_on(prefix[id(membership)]):
                account_services.membership_set_role(
                    membership=membership, role=membership.role, acting_user=request.user
                )
    for membership in formset.deleted_objects:
        with refusal_on(prefix[id(membership)]):
            account_services.membership_remove(membership=membership, acting_user=request.user)


class MembershipInline(ServiceInline):
    model = Membership
    form = MembershipAdminForm
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Account)
class AccountAdmin(ScopedModelAdmin):
    scope = staticmethod(managed)
    service_audited = "__all__"  # account.create / .update; the member rows: membership.*
    list_display = ["name", "kind", "country", "vat_number", "billing_email"]
    list_filter = ["kind", "country"]
    search_fields = ["name", "vat_number", "billing_email"]
    inlines = [MembershipInline]

    def save_model(self, request, obj, form, change):
        if change:
            account_services.account_update(account=obj, acting_user=request.user)
        else:
            became(obj, account_services.account_create(acting_user=request.user, **form.cleaned_data))

    def save_formset(self, request, form, formset, change):
        if formset.model is Membership:
            memberships_save(request, formset)
        else:
            super().save_formset(request, form, formset, change)


@admin.register(Membership)
class MembershipAdmin(ScopedModelAdmin):
    scope = staticmethod(through("account", "accounts.Account", managed))
    choice_scopes = ACCOUNT_CHOICES
    form = MembershipAdminForm
    service_audited = "__all__"  # membership.create / .update / .delete
    list_display = ["user", "account", "role", "created_at"]
    list_filter = ["role"]
    search_fields = ["user__username", "user__email", "account__name"]
    autocomplete_fields = ["user", "account"]

    def save_model(self, request, obj, form, change):
        if not change:
            created = account_services.membership_add(
                account=obj.account, user=obj.user, role=obj.role, acting_user=request.user
            )
            became(obj, created)
        elif "role" in form.changed_data:
            account_services.membership_set_role(membership=obj, role=obj.role, acting_user=request.user)

    def delete_model(self, request, obj):
        account_services.membership_remove(membership=obj, acting_user=request.user)

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            for membership in list(queryset):
                account_services.membership_remove(membership=membership, acting_user=request.user)


@admin.register(User)
class UserAdmin(ScopedModelAdmin, DjangoUserAdmin):
    scope = staticmethod(_members_of_managed)
    fieldsets = DjangoUserAdmin.fieldsets + (("Platform", {"fields": ("is_platform_operator",)}),)
    list_display = ["username", "email", "first_name", "last_name", "is_staff", "is_platform_operator"]
    list_filter = ["is_staff", "is_superuser", "is_platform_operator", "is_active"]

    def _editable_by(self, request, obj) -> bool:
        # An Account admin may edit a login only when every account it belongs to is one they manage, and
        # never a platform login: otherwise adding someone to your account would hand you their password.
        if self._operator(request) or obj is None:
            return True
        if obj.is_staff or obj.is_superuser or obj.is_platform_operator:
            return False
        managed = set(access.account_ids(request.user, access.MANAGE_ROLES))
        theirs = set(obj.memberships.values_list("account_id", flat=True))
        return bool(theirs) and theirs <= managed

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and self._editable_by(request, obj)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and self._editable_by(request, obj)

    def get_readonly_fields(self, request, obj=None):
        ro = list(super().get_readonly_fields(request, obj))
        if not self._operator(request):
            # Account admins manage their people, never anyone's platform powers.
            ro += ["is_staff", "is_superuser", "is_platform_operator", "groups", "user_permissions"]
        return ro

    # Deleting a login deletes its memberships: each goes through membership_remove first, so deleting an
    # account's last Account admin is refused like removing them from the account is.
    def delete_model(self, request, obj):
        with transaction.atomic():
            for membership in obj.memberships.all():
                account_services.membership_remove(membership=membership, acting_user=request.user)
            super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            for membership in Membership.objects.filter(user__in=queryset):
                account_services.membership_remove(membership=membership, acting_user=request.user)
            super().delete_queryset(request, queryset)


@admin.register(Location)
class LocationAdmin(ScopedModelAdmin):
    scope = staticmethod(visible)
    choice_scopes = ACCOUNT_CHOICES
    service_audited = "__all__"  # location.create / .update
    list_display = ["name", "account", "country", "timezone"]
    list_filter = ["country"]
    search_fields = ["name", "address", "account__name"]

    def save_model(self, request, obj, form, change):
        account_services.location_save(location=obj, acting_user=request.user)


# --- cards: accounts.services.card_save ---------------------------------------------------------------


class ChargeCardAdminForm(forms.ModelForm):
    class Meta:
        model = ChargeCard
        fields = ["id_tag", "kind", "label", "account", "holder", "roaming_party", "status", "expires_at"]

    def clean_id_tag(self):
        # Same normalisation as the portal and the OCPP lookup, so the admin cannot store "04:a2" beside "04A2".
        try:
            return normalize_id_tag(self.cleaned_data["id_tag"], strict=True)
        except ValueError as e:
            raise forms.ValidationError(str(e)) from e


@admin.register(ChargeCard)
class ChargeCardAdmin(ScopedModelAdmin):
    form = ChargeCardAdminForm
    scope = staticmethod(visible)
    choice_scopes = ACCOUNT_CHOICES
    service_audited = "__all__"  # card.create / card.update
    list_display = ["id_tag", "label", "kind", "account", "holder", "status", "expires_at"]
    list_filter = ["kind", "status"]
    search_fields = ["id_tag", "label", "holder__username", "account__name"]

    def save_model(self, request, obj, form, change):
        account_services.card_save(card=obj, acting_user=request.user)


@admin.register(AccessGroup)
class AccessGroupAdmin(ScopedModelAdmin):
    scope = staticmethod(visible)
    choice_scopes = ACCOUNT_CHOICES
    list_display = ["name", "account", "terms", "is_shared"]
    list_filter = ["terms", "is_shared"]
    search_fields = ["name", "account__name"]
    filter_horizontal = ["users", "cards", "stations"]
    service_audited = "__all__"  # access_group.create / access_group.update, members included

    def save_model(self, request, obj, form, change):
        # access_group_save checks that users, cards and stations belong to the group's account and sets
        # them; the admin's own many-to-many save afterwards would bypass that, so it is skipped.
        data = form.cleaned_data
        linked_elsewhere = set()
        if obj.pk is not None:
            # Other accounts' stations linked to a shared group are theirs to unlink: they stay as they are.
            linked_elsewhere = set(
                obj.stations.exclude(account_id=obj.account_id).values_list("pk", flat=True)
            )
        account_services.access_group_save(
            group=obj,
            acting_user=request.user,
            users=list(data.get("users", [])),
            cards=list(data.get("cards", [])),
            stations=[s for s in data.get("stations", []) if s.pk not in linked_elsewhere],
        )
        form.save_m2m = lambda: None

    def delete_model(self, request, obj):
        account_services.access_group_delete(group=obj, acting_user=request.user)

    def delete_queryset(self, request, queryset):
        for group in queryset:
            account_services.access_group_delete(group=group, acting_user=request.user)


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    # The log is append-only: nobody edits or deletes history from the admin.
    scope = staticmethod(visible)
    list_display = ["created_at", "actor", "action", "object_repr", "account", "station"]
    list_filter = ["action"]
    search_fields = ["object_repr", "action", "actor__username"]
    date_hierarchy = "created_at"

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]


def _generic_scope(model):
    """Scope for a model nobody wrote an admin for: through its station, else its account, else operators only."""
    names = {f.name: f for f in model._meta.get_fields() if f.is_relation and f.many_to_one}
    if "station" in names and names["station"].related_model._meta.label_lower == "stations.station":
        return through("station", "stations.Station", commercial)
    if "session" in names and hasattr(names["session"].related_model.objects, "visible_to"):
        label = names["session"].related_model._meta.label
        return through("session", label, visible)
    if "account" in names and names["account"].related_model is Account:
        return through("account", "accounts.Account", managed)
    return None


def register_remaining(app_label: str, *, read_only=()) -> None:
    """Register every model of the app that has no admin yet, scoped and audited (issue #4 §7: every model).
    Models in `read_only` get a ReadOnlyAdmin: records a station or the pricing produced."""
    for model in apps.get_app_config(app_label).get_models():
        if admin.site.is_registered(model):
            continue
        base = ReadOnlyAdmin if model in read_only else ScopedModelAdmin
        scope = _generic_scope(model)
        fields = [f.name for f in model._meta.fields if f.name not in SECRET_FIELDS]
        attrs = {
            "scope": staticmethod(scope) if scope else None,
            "choice_scopes": ACCOUNT_CHOICES,
            "list_display": [n for n in ["__str__", *fields[1:6]] if n != "id"][:6],
            "exclude": [f.name for f in model._meta.fields if f.name in SECRET_FIELDS],
        }
        admin.site.register(model, type(f"{model.__name__}Admin", (base,), attrs))
