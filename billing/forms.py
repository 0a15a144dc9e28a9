from django import forms
from django.db.models import Exists, OuterRef, Q

from accounts import access
from accounts.models import ChargeCard
from billing.models import BillingItem, ChargingSession
from eflux.lib.id_tags import normalize_id_tag


class SessionFilterForm(forms.Form):
    station = forms.CharField(required=False, max_length=48, label="Station (OCPP ID)")
    card = forms.CharField(required=False, max_length=100, label="Card (idTag or label)")
    date_from = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))
    status = forms.ChoiceField(
        required=False, choices=[("", "All statuses")] + list(ChargingSession.Status.choices)
    )
    review = forms.BooleanField(required=False, label="Needs review")
    billed = forms.ChoiceField(
        required=False,
        choices=[("", "Billed or not"), ("billed", "Billed"), ("unbilled", "Not billed")],
        label="Billed",
    )

    def filter(self, qs):
        d = self.cleaned_data
        if d.get("station"):
            value = d["station"].strip()
            q = Q(station__ocpp_id__icontains=value)
            if value.isdigit():
                q |= Q(station_id=int(value))
            qs = qs.filter(q)
        if d.get("card"):
            value = d["card"].strip()
            qs = qs.filter(
                Q(id_tag__icontains=normalize_id_tag(value, strict=False)) | Q(card__label__icontains=value)
            )
        # Dates are UTC calendar days of the station's start time.
        if d.get("date_from"):
            qs = qs.filter(started_at__date__gte=d["date_from"])
        if d.get("date_to"):
            qs = qs.filter(started_at__date__lte=d["date_to"])
        if d.get("status"):
            qs = qs.filter(status=d["status"])
        if d.get("review"):
            qs = qs.filter(needs_review=True)
        # Billed: on an issued invoice (an invoiced ledger item); a credited and re-opened one is unbilled.
        invoiced = Exists(
            BillingItem.objects.filter(session=OuterRef("pk"), status=BillingItem.Status.INVOICED)
        )
        if d.get("billed") == "billed":
            qs = qs.filter(invoiced)
        elif d.get("billed") == "unbilled":
            qs = qs.exclude(invoiced)
        return qs


class RemoteStartForm(forms.Form):
    id_tag = forms.CharField(max_length=40, label="Card (idTag)")
    # OCPP 1.6 §5.11: connectorId > 0 (0 is the whole station; RemoteStart needs a connector).
    connector_id = forms.IntegerField(min_value=1, max_value=99, label="Connector", initial=1)

    def __init__(self, *args, station, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.station, self.user = station, user

    def clean_id_tag(self):
        tag = normalize_id_tag(self.cleaned_data["id_tag"], strict=False)
        if not tag:
            raise forms.ValidationError("Enter a card's idTag.")
        # Operators may start with any idTag; account admins only with the cards their role sees.
        if not access.is_platform_operator(self.user):
            visible = ChargeCard.objects.filter(id_tag=tag).visible_to(self.user)
            if not visible.exists():
                raise forms.ValidationError("No such card in your accounts.")
        return tag
