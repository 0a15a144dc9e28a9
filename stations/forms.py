from decimal import Decimal

from django import forms
from django.core.validators import RegexValidator

from accounts import access
from accounts.fields import PRICE_MESSAGES, CurrencyField
from accounts.models import AccessGroup, Account, Location
from billing.models import BillingPlan

from .models import Connector, StationReset
from .services import commands, connectors, station_settings

Std = Connector.Standard
PT = Connector.PowerType
Fmt = Connector.Format


class ConnectorForm(forms.Form):
    connector_id = forms.IntegerField(label="Connector ID", disabled=True, required=False)
    standard = forms.ChoiceField(label="Connector type / standard", choices=[("", "—")] + Std.choices)
    format = forms.ChoiceField(choices=[("", "—")] + Fmt.choices)
    power_type = forms.ChoiceField(choices=[("", "—")] + PT.choices)
    max_voltage = forms.IntegerField(label="Max voltage (V)", min_value=1, max_value=1500)
    max_amperage = forms.IntegerField(label="Max amperage (A)", min_value=1, max_value=1000)

    def __init__(self, *args, connector: Connector, **kwargs):
        self.connector = connector
        kwargs.setdefault("prefix", f"c{connector.connector_id}")
        kwargs.setdefault(
            "initial",
            {
                "connector_id": connector.connector_id,
                "standard": connector.standard or Std.TYPE2,
                "format": connector.format or Fmt.SOCKET,
                "power_type": connector.power_type or PT.AC_3_PHASE,
                "max_voltage": connector.max_voltage,
                "max_amperage": connector.max_amperage,
            },
        )
        super().__init__(*args, **kwargs)

    def clean(self):
        data = super().clean()
        data["connector_id"] = self.connector.connector_id
        for field, message in connectors.connector_form_errors(data).items():
            self.add_error(field, message)
        return data

    @property
    def max_power_watts(self):
        src = self.cleaned_data if self.is_bound and hasattr(self, "cleaned_data") else self.initial
        try:
            return connectors.max_power_watts(
                src.get("power_type"), int(src.get("max_voltage") or 0), int(src.get("max_amperage") or 0)
            )
        except (TypeError, ValueError):
            return None

    @property
    def max_power_kw(self):
        w = self.max_power_watts
        return None if w is None else (Decimal(w) / 1000).quantize(Decimal("0.1"))

    @property
    def evse(self):
        return getattr(self.connector, "evse", None) if self.connector.pk else None


class CommissioningForm(forms.Form):
    connector_id = forms.TypedChoiceField(label="Connector", coerce=int)
    id_tag = forms.CharField(
        label="Test card (idTag)",
        max_length=20,
        help_text="A card that may charge here; the test charges briefly.",
    )

    def __init__(self, *args, connector_ids, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["connector_id"].choices = [(c, str(c)) for c in connector_ids]


class ResetForm(forms.Form):
    kind = forms.ChoiceField(
        label="Reset type",
        choices=StationReset.Kind.choices,
        initial=commands.DEFAULT_RESET_KIND,
        widget=forms.RadioSelect,
    )

    def __init__(self, *args, station=None, **kwargs):
        super().__init__(*args, **kwargs)
        if station is not None:
            # The station's OCPP version decides the reset types (1.6 Soft/Hard, 2.0.1 OnIdle/Immediate).
            kinds = commands.reset_kinds(station)
            self.fields["kind"].choices = [(k, StationReset.Kind(k).label) for k in kinds]
            self.fields["kind"].initial = kinds[0]


class EvseIdBatchForm(forms.Form):
    country_code = forms.CharField(
        max_length=2,
        min_length=2,
        validators=[RegexValidator(r"^[A-Za-z]{2}$", "Two letters, ISO 3166-1 alpha-2 (e.g. NL).")],
        help_text="ISO 3166-1 alpha-2, e.g. NL",
    )
    operator_id = forms.CharField(
        label="Operator ID",
        max_length=3,
        min_length=3,
        validators=[RegexValidator(r"^[A-Za-z0-9]{3}$", "Three letters or digits (eMI3 EVSE Operator ID).")],
        help_text="3 characters, e.g. EFL",
    )
    count = forms.IntegerField(min_value=1, max_value=10000, initial=20, help_text="1–10,000")


class AccountScopedCheckboxes(forms.CheckboxSelectMultiple):
    """Each access group's checkbox carries its account (and whether it is shared), so the Settings page offers
    only the groups of the account chosen in the form (static/js/settings.js); the service checks again."""

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index, subindex, attrs)
        group = getattr(value, "instance", None)
        if group is not None:
            option["attrs"]["data-account"] = str(group.account_id)
            option["attrs"]["data-shared"] = "1" if group.is_shared else ""
        return option


class StationSettingsForm(forms.Form):
    billing_plan = forms.ModelChoiceField(
        BillingPlan.objects.filter(is_active=True, kind=BillingPlan.Kind.STATION), required=False
    )
    account = forms.ModelChoiceField(Account.objects.all(), required=False)
    location = forms.ModelChoiceField(Location.objects.select_related("account"), required=False)
    field_service_account = forms.ModelChoiceField(
        Account.objects.all(),
        required=False,
        help_text="Its Field Service Technicians see this charger and its technical settings.",
    )
    allow_roaming = forms.BooleanField(label="Allow charging from other networks (roaming)", required=False)
    free_charging = forms.BooleanField(
        label="Allow any card to charge here for free (ignores all cost settings)", required=False
    )
    is_disabled = forms.BooleanField(
        label="Disable this charge point (no charging, no billing)", required=False
    )
    price_per_kwh = forms.DecimalField(
        label="Price per kWh (excl. VAT)",
        min_value=0,
        max_digits=10,
        decimal_places=4,
        required=False,
        error_messages=PRICE_MESSAGES,
    )
    price_per_session = forms.DecimalField(
        label="Price per session (excl. VAT)",
        min_value=0,
        max_digits=10,
        decimal_places=4,
        required=False,
        error_messages=PRICE_MESSAGES,
    )
    price_per_hour = forms.DecimalField(
        label="Price per hour (excl. VAT)",
        min_value=0,
        max_digits=10,
        decimal_places=4,
        required=False,
        error_messages=PRICE_MESSAGES,
    )
    currency = CurrencyField(initial="EUR")
    access_groups = forms.ModelMultipleChoiceField(
        AccessGroup.objects.select_related("account"), required=False, widget=AccountScopedCheckboxes
    )

    # Moving a station between accounts, billing plans or service companies stays with operators
    # (accounts.access); the account list would also show customers every other account's name.
    OPERATOR_ONLY = ("account", "billing_plan", "field_service_account")

    def __init__(self, *args, station, user, **kwargs):
        self.station, self.user = station, user
        kwargs.setdefault(
            "initial",
            {
                **{f: getattr(station, f) for f in station_settings.SETTINGS_FIELDS},
                "access_groups": list(station.access_groups.all()),
            },
        )
        super().__init__(*args, **kwargs)
        self.is_operator = access.is_platform_operator(user)
        if not self.is_operator:
            for name in self.OPERATOR_ONLY:
                del self.fields[name]
            self.fields["location"].queryset = (
                Location.objects.all().visible_to(user).filter(account_id=station.account_id)
            )
            self.fields["access_groups"].queryset = AccessGroup.objects.select_related("account").linkable_to(
                station
            )

    def clean(self):
        data = super().clean()
        # Location and access groups: station_settings._check_settings (the admin meets them too). Asking for
        # the billing plan when the operator assigns an account is this page's activation step.
        if (
            self.is_operator
            and (data.get("account") or data.get("location"))
            and not data.get("billing_plan")
        ):
            if self.station.setup_state != self.station.SetupState.ACTIVE:
                self.add_error(
                    "billing_plan", "Choose the billing plan the account owner pays for this station."
                )
        return data
