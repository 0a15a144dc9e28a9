from django import forms

from billing.models import BillingPlan
from eflux.lib.id_tags import normalize_id_tag

from . import access
from .fields import PRICE_MESSAGES, VAT_RATE_MESSAGES, CountryField, CurrencyField
from .models import AccessGroup, Account, ChargeCard, Location, Membership, User


class ActivationForm(forms.Form):
    query = forms.CharField(
        label="OCPP ID, serial number or EVSE ID",
        max_length=64,
        help_text="As printed on the station's sticker, e.g. NL*EFL*E000123.",
    )
    account = forms.ModelChoiceField(queryset=Account.objects.none())
    billing_plan = forms.ModelChoiceField(
        queryset=BillingPlan.objects.filter(is_active=True, kind=BillingPlan.Kind.STATION)
    )
    location = forms.ModelChoiceField(queryset=Location.objects.none(), required=False)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        accounts = Account.objects.all().managed_by(user)
        self.fields["account"].queryset = accounts
        self.fields["location"].queryset = Location.objects.filter(account__in=accounts).select_related(
            "account"
        )
        self.fields["location"].label_from_instance = lambda loc: f"{loc.name} ({loc.account})"
        if accounts.count() == 1:
            self.fields["account"].initial = accounts.first()

    def clean(self):
        data = super().clean()
        loc, account = data.get("location"), data.get("account")
        if loc and account and loc.account_id != account.pk:
            self.add_error("location", f"{loc} belongs to {loc.account}, not {account}.")
        return data


class AccountForm(forms.ModelForm):
    country = CountryField(required=False)
    vat_rate = forms.DecimalField(
        label="VAT rate (%)",
        min_value=0,
        max_value=100,
        decimal_places=2,  # no digit count: 0-100 says it (the column holds 5 digits)
        initial=Account._meta.get_field("vat_rate").default,
        error_messages=VAT_RATE_MESSAGES,
    )

    class Meta:
        model = Account
        fields = ["name", "kind", "address", "country", "vat_number", "vat_rate", "billing_email"]
        widgets = {"address": forms.Textarea(attrs={"rows": 3})}
        labels = {"vat_number": "VAT number"}


class MemberAddForm(forms.Form):
    user = forms.CharField(
        label="Username or e-mail", max_length=254, help_text="Someone without a login is invited by e-mail."
    )
    role = forms.ChoiceField(choices=Membership.Role.choices)

    def clean_user(self):
        ident = self.cleaned_data["user"].strip()
        from django.db.models import Q

        user = User.objects.filter(Q(username__iexact=ident) | Q(email__iexact=ident)).order_by("pk").first()
        if user is not None:
            return user
        if "@" in ident:
            return ident  # someone new: the view invites them by e-mail
        raise forms.ValidationError(
            f"No user with username or e-mail {ident!r}; give an e-mail address to invite."
        )


class MembershipRoleForm(forms.Form):
    role = forms.ChoiceField(choices=Membership.Role.choices)


def _limit_account(form, user):
    accounts = Account.objects.all().managed_by(user)
    form.fields["account"].queryset = accounts
    if accounts.count() == 1:
        form.fields["account"].initial = accounts.first()
    return accounts


class LocationForm(forms.ModelForm):
    country = CountryField(required=False)

    class Meta:
        model = Location
        fields = ["account", "name", "address", "country", "latitude", "longitude", "timezone"]
        widgets = {"address": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        _limit_account(self, user)

    def clean(self):
        data = super().clean()
        lat, lon = data.get("latitude"), data.get("longitude")
        if (lat is None) != (lon is None):
            self.add_error("longitude" if lon is None else "latitude", "Give both coordinates or neither.")
        if lat is not None and not -90 <= lat <= 90:
            self.add_error("latitude", "Latitude is between -90 and 90.")
        if lon is not None and not -180 <= lon <= 180:
            self.add_error("longitude", "Longitude is between -180 and 180.")
        return data

    def clean_timezone(self):
        import zoneinfo

        tz = self.cleaned_data["timezone"]
        if tz not in zoneinfo.available_timezones():
            raise forms.ValidationError(f"{tz!r} is not an IANA time zone (e.g. Europe/Amsterdam).")
        return tz


class CardForm(forms.ModelForm):
    class Meta:
        model = ChargeCard
        fields = ["id_tag", "label", "kind", "roaming_party", "account", "holder", "status", "expires_at"]
        widgets = {"expires_at": forms.DateTimeInput(attrs={"type": "datetime-local"})}
        labels = {"id_tag": "RFID idTag"}

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        accounts = _limit_account(self, user)
        self.fields["holder"].queryset = User.objects.filter(memberships__account__in=accounts).distinct()
        self.fields[
            "id_tag"
        ].help_text = "Separators and case are ignored: 04:a2:5b:1c is stored as 04A25B1C."
        # Roaming partners' cards may belong to no account (the platform registers them); own cards always do.
        self.fields["account"].required = not access.is_platform_operator(user)

    # The card rules (own card has an account, holder is a member, roaming names its partner) are in
    # accounts.services.cards.card_save, for the portal, the admin and the CSV import alike.

    def clean_id_tag(self):
        # The service's rule (eflux.lib.id_tags), said at the field before the other checks run.
        try:
            return normalize_id_tag(self.cleaned_data["id_tag"], strict=True)
        except ValueError as e:
            raise forms.ValidationError(str(e)) from e

    def validate_unique(self):
        # The service normalises the idTag first; uniqueness is checked there (and by the constraint).
        pass


class CardImportForm(forms.Form):
    account = forms.ModelChoiceField(queryset=Account.objects.none())
    file = forms.FileField(
        label="CSV file",
        help_text="Columns: id_tag (required), label, holder, status, expires_at, kind, roaming_party.",
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        _limit_account(self, user)


class GroupCardImportForm(forms.Form):
    file = forms.FileField(
        label="CSV file", help_text="Columns: id_tag (required), label, holder, status, ..."
    )


class AccessGroupForm(forms.ModelForm):
    currency = CurrencyField(initial="EUR")

    class Meta:
        model = AccessGroup
        fields = [
            "account",
            "name",
            "terms",
            "price_per_kwh",
            "price_per_session",
            "price_per_hour",
            "currency",
            "is_shared",
            "users",
            "cards",
            "stations",
        ]
        widgets = {
            "users": forms.CheckboxSelectMultiple,
            "cards": forms.CheckboxSelectMultiple,
            "stations": forms.CheckboxSelectMultiple,
        }
        labels = {"is_shared": "Shared: other accounts may link this group to their stations"}
        help_texts = {"is_shared": "", "terms": "Reduced: the prices below replace the station's tariff."}

    def __init__(self, *args, user, **kwargs):
        from stations.models import Station

        super().__init__(*args, **kwargs)
        for name in ("price_per_kwh", "price_per_session", "price_per_hour"):
            # The operator's words, not Django's ("no more than 6 digits before the decimal point").
            self.fields[name].error_messages.update(PRICE_MESSAGES)
        accounts = _limit_account(self, user)
        if self.instance.pk:
            # The account of a group is fixed once created: its members and stations hang off it.
            self.fields["account"].disabled = True
            accounts = Account.objects.filter(pk=self.instance.account_id)
        self.fields["users"].queryset = User.objects.filter(memberships__account__in=accounts).distinct()
        self.fields["cards"].queryset = ChargeCard.objects.filter(account__in=accounts)
        self.fields["stations"].queryset = Station.objects.filter(account__in=accounts)
        if self.instance.pk:
            self.initial["stations"] = list(
                self.instance.stations.filter(account_id=self.instance.account_id).values_list(
                    "pk", flat=True
                )
            )

    def clean(self):
        data = super().clean()
        account = self.instance.account if self.instance.pk else data.get("account")
        if account is None:
            return data
        members = set(Membership.objects.filter(account=account).values_list("user_id", flat=True))
        for user in data.get("users") or []:
            if user.pk not in members:
                self.add_error("users", f"{user} is not a member of {account}.")
        for name in ("cards", "stations"):
            for obj in data.get(name) or []:
                if obj.account_id != account.pk:
                    self.add_error(name, f"{obj} does not belong to {account}.")
        return data
