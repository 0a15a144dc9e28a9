from decimal import Decimal

from django import forms
from django.core.validators import RegexValidator

from accounts import access
from accounts.models import AccessGroup, Account, Location
from billing.models import BillingPlan

from . import setup
from .models import Connector, StationReset

Std = Connector.Standard
PT = Connector.PowerType
Fmt = Connector.Format

DC_STANDARDS = {Std.CCS2, Std.CCS1, Std.CHADEMO}
DOMESTIC = {Std.DOMESTIC_E, Std.DOMESTIC_F, Std.DOMESTIC_G}

# Power types, formats and limits per connector standard. Sources: IEC 62196-2 (Type 1, Type 2, Type 3C),
# IEC 62196-3 (CCS, CHAdeMO: DC, always a tethered cable), IEC 60884 / CEE 7 domestic sockets (16 A, 230 V).
# Type 2 is offered both ways: a socket (the driver brings the cable, "case B") or a fixed cable ("case C").
# Type 1 vehicle connectors only exist on a cable (there is no Type 1 socket-outlet) and are single phase.
STANDARD_RULES = {
    Std.TYPE2: {"power": {PT.AC_1_PHASE, PT.AC_3_PHASE}, "format": {Fmt.SOCKET, Fmt.CABLE}, "amps": 63},
    Std.TYPE1: {"power": {PT.AC_1_PHASE}, "format": {Fmt.CABLE}, "amps": 80},
    Std.TYPE3C: {"power": {PT.AC_1_PHASE, PT.AC_3_PHASE}, "format": {Fmt.SOCKET}, "amps": 63},
    Std.CCS2: {"power": {PT.DC}, "format": {Fmt.CABLE}, "amps": 500},
    Std.CCS1: {"power": {PT.DC}, "format": {Fmt.CABLE}, "amps": 500},
    Std.CHADEMO: {"power": {PT.DC}, "format": {Fmt.CABLE}, "amps": 400},
    **{d: {"power": {PT.AC_1_PHASE}, "format": {Fmt.SOCKET}, "amps": 16} for d in DOMESTIC},
}

# Voltage ranges per power type. AC 1-phase: phase-to-neutral. AC 3-phase: line-to-line (400 V in Europe),
# which is what the derived power √3 × V × A expects; 380-480 V so that a phase voltage (230 V) typed by mistake
# is caught rather than understating the power by √3. DC: the charger's maximum output voltage.
VOLTAGE_RANGE = {PT.AC_1_PHASE: (100, 250), PT.AC_3_PHASE: (380, 480), PT.DC: (50, 1000)}
MIN_AMPS = {PT.AC_1_PHASE: 6, PT.AC_3_PHASE: 6, PT.DC: 1}  # IEC 61851-1: AC charging needs at least 6 A


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
        std, fmt, pt = data.get("standard"), data.get("format"), data.get("power_type")
        volts, amps = data.get("max_voltage"), data.get("max_amperage")
        rule = STANDARD_RULES.get(std)
        if rule and pt and pt not in rule["power"]:
            allowed = " or ".join(PT(p).label for p in sorted(rule["power"]))
            self.add_error("power_type", f"{Std(std).label} is {allowed} only.")
        if rule and fmt and fmt not in rule["format"]:
            allowed = " or ".join(Fmt(f).label.lower() for f in sorted(rule["format"]))
            self.add_error("format", f"{Std(std).label} comes as a {allowed} only.")
        if pt == PT.DC and fmt == Fmt.SOCKET and "format" not in self.errors:
            self.add_error("format", "DC chargers always have a fixed cable.")
        if pt in VOLTAGE_RANGE and volts is not None:
            lo, hi = VOLTAGE_RANGE[pt]
            if not lo <= volts <= hi:
                hint = " (enter the line-to-line voltage, e.g. 400 V)" if pt == PT.AC_3_PHASE else ""
                self.add_error("max_voltage", f"For {PT(pt).label} enter {lo}–{hi} V{hint}.")
        if pt in MIN_AMPS and amps is not None:
            hi = rule["amps"] if rule else 1000
            if not MIN_AMPS[pt] <= amps <= hi:
                what = Std(std).label if rule else PT(pt).label
                self.add_error("max_amperage", f"For {what} enter {MIN_AMPS[pt]}–{hi} A.")
        return data

    @property
    def max_power_watts(self):
        src = self.cleaned_data if self.is_bound and hasattr(self, "cleaned_data") else self.initial
        try:
            return setup.max_power_watts(
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


class ResetForm(forms.Form):
    kind = forms.ChoiceField(
        label="Reset type",
        choices=StationReset.Kind.choices,
        initial=setup.DEFAULT_RESET_KIND,
        widget=forms.RadioSelect,
    )


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


class StationSettingsForm(forms.Form):
    billing_plan = forms.ModelChoiceField(BillingPlan.objects.filter(is_active=True), required=False)
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
        label="Price per kWh (excl. VAT)", min_value=0, max_digits=10, decimal_places=4, required=False
    )
    price_per_session = forms.DecimalField(
        label="Price per session (excl. VAT)", min_value=0, max_digits=10, decimal_places=4, required=False
    )
    price_per_hour = forms.DecimalField(
        label="Price per hour (excl. VAT)", min_value=0, max_digits=10, decimal_places=4, required=False
    )
    currency = forms.CharField(
        max_length=3,
        validators=[RegexValidator(r"^[A-Z]{3}$", "Three capital letters, ISO 4217 (e.g. EUR).")],
        initial="EUR",
    )
    access_groups = forms.ModelMultipleChoiceField(
        AccessGroup.objects.select_related("account"), required=False, widget=forms.CheckboxSelectMultiple
    )

    # Moving a station between accounts, billing plans or service companies stays with operators
    # (accounts.access); the account list would also show customers every other account's name.
    OPERATOR_ONLY = ("account", "billing_plan", "field_service_account")

    def __init__(self, *args, station, user, **kwargs):
        self.station, self.user = station, user
        kwargs.setdefault(
            "initial",
            {
                **{f: getattr(station, f) for f in setup.SETTINGS_FIELDS},
                "access_groups": list(station.access_groups.all()),
            },
        )
        super().__init__(*args, **kwargs)
        self.is_operator = access.is_platform_operator(user)
        if not self.is_operator:
            for name in self.OPERATOR_ONLY:
                del self.fields[name]
            self.fields["location"].queryset = access.locations_visible_to(
                user, Location.objects.all()
            ).filter(account_id=station.account_id)
            self.fields["access_groups"].queryset = access.access_groups_linkable_to(
                station, AccessGroup.objects.select_related("account")
            )

    def clean(self):
        data = super().clean()
        account = data.get("account", self.station.account) if self.is_operator else self.station.account
        location = data.get("location")
        if location and account and location.account_id != account.pk:
            self.add_error("location", f"{location} belongs to {location.account}, not to {account}.")
        if location and not account:
            self.add_error("account", "Choose the account this location belongs to.")
        for group in data.get("access_groups") or []:
            if not (account and group.account_id == account.pk) and not group.is_shared:
                self.add_error("access_groups", f"{group} belongs to another account and is not shared.")
                break
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
