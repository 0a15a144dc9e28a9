"""Django admin for every model, scoped by account for staff who are not platform operators, and audited.

ScopedModelAdmin is also used by stations/admin.py and billing/admin.py:
- platform operators (and superusers) see and change everything;
- other staff need Django model permissions as usual AND see only the rows accounts.access gives them;
  models without a scope are for operators only;
- every add, change and delete made here writes an AuditEvent (who, when, before and after), like the
  services do for the portal (issue #4 §7).
"""

from django import forms
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db import models, transaction

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


class ScopedModelAdmin(admin.ModelAdmin):
    # scope(user, queryset) -> queryset, from accounts.access; None: platform operators only.
    scope = None
    # Foreign keys / many-to-many offered in forms, narrowed for non-operators: field name -> scope.
    choice_scopes: dict = {}

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
            changes = form_changes(form)
            for formset in formsets:
                for inline_form in formset.forms:
                    if inline_form.has_changed():
                        prefix = inline_form.instance._meta.model_name
                        for name, pair in form_changes(inline_form).items():
                            changes[f"{prefix}[{inline_form.instance.pk}].{name}"] = pair
            if changes or not change:
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


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Account)
class AccountAdmin(ScopedModelAdmin):
    scope = staticmethod(managed)
    list_display = ["name", "kind", "country", "vat_number", "billing_email"]
    list_filter = ["kind", "country"]
    search_fields = ["name", "vat_number", "billing_email"]
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(ScopedModelAdmin):
    scope = staticmethod(through("account", "accounts.Account", managed))
    choice_scopes = ACCOUNT_CHOICES
    list_display = ["user", "account", "role", "created_at"]
    list_filter = ["role"]
    search_fields = ["user__username", "user__email", "account__name"]
    autocomplete_fields = ["user", "account"]


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


@admin.register(Location)
class LocationAdmin(ScopedModelAdmin):
    scope = staticmethod(visible)
    choice_scopes = ACCOUNT_CHOICES
    list_display = ["name", "account", "country", "timezone"]
    list_filter = ["country"]
    search_fields = ["name", "address", "account__name"]


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
    list_display = ["id_tag", "label", "kind", "account", "holder", "status", "expires_at"]
    list_filter = ["kind", "status"]
    search_fields = ["id_tag", "label", "holder__username", "account__name"]


@admin.register(AccessGroup)
class AccessGroupAdmin(ScopedModelAdmin):
    scope = staticmethod(visible)
    choice_scopes = ACCOUNT_CHOICES
    list_display = ["name", "account", "terms", "is_shared"]
    list_filter = ["terms", "is_shared"]
    search_fields = ["name", "account__name"]
    filter_horizontal = ["users", "cards", "stations"]


@admin.register(AuditEvent)
class AuditEventAdmin(ScopedModelAdmin):
    scope = staticmethod(visible)
    list_display = ["created_at", "actor", "action", "object_repr", "account", "station"]
    list_filter = ["action"]
    search_fields = ["object_repr", "action", "actor__username"]
    date_hierarchy = "created_at"

    # The log is append-only: nobody edits or deletes history from the admin.
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

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


def register_remaining(app_label: str) -> None:
    """Register every model of the app that has no admin yet, scoped and audited (issue #4 §7: every model)."""
    for model in apps.get_app_config(app_label).get_models():
        if admin.site.is_registered(model):
            continue
        scope = _generic_scope(model)
        fields = [f.name for f in model._meta.fields if f.name not in SECRET_FIELDS]
        attrs = {
            "scope": staticmethod(scope) if scope else None,
            "choice_scopes": ACCOUNT_CHOICES,
            "list_display": [n for n in ["__str__", *fields[1:6]] if n != "id"][:6],
            "exclude": [f.name for f in model._meta.fields if f.name in SECRET_FIELDS],
        }
        admin.site.register(model, type(f"{model.__name__}Admin", (ScopedModelAdmin,), attrs))
