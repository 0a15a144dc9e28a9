from decimal import Decimal

from django.db import models
from django.db.models import Q

from accounts.models import ChargeCard, Membership, account_ids, user_is_operator
from billing.validators import validate_currency


class BillingPlan(models.Model):
    """A price list entry the platform sells: a station plan (the station's account pays it, operator manual
    step 8) or a card plan (the card's account pays it). The prices live in dated BillingPlanPrice versions,
    so a change never rewrites a period already billed (billing/plans.py, docs/billing.md)."""

    class Kind(models.TextChoices):
        STATION = "station", "Charge station"
        CARD = "card", "Charge card"

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.STATION)
    description = models.TextField(blank=True)
    currency = models.CharField(max_length=3, default="EUR", validators=[validate_currency])
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True, null=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def price_on(self, day):
        """The price version in force on `day` (the latest one dated on or before it), or None."""
        return self.prices.filter(effective_from__lte=day).order_by("-effective_from").first()


_money = dict(max_digits=12, decimal_places=2, default=Decimal("0"))
_unit_price = dict(max_digits=10, decimal_places=4, null=True, blank=True)


class ChargingSessionQuerySet(models.QuerySet):
    def visible_to(self, user):
        """Account members with a full role see the sessions of their account (the station's account when the
        session started, so history stays with it if the station moves) and those charged with their
        account's cards elsewhere; drivers see the sessions of their own cards. Technicians see none
        (sessions carry prices)."""
        if user_is_operator(user):
            return self
        if not user.is_authenticated:
            return self.none()
        full = account_ids(user, Membership.FULL_ROLES)
        # The cards' ids are fetched first (one small query) rather than joined: "account_id IN (..) OR card_id
        # IN (..)" lets PostgreSQL combine the two column indexes (BitmapOr) for the list's count and walk
        # session_started_id_idx for its page, where the OR across a join made it read every session
        # (bench/portal_lists.py). No DISTINCT: nothing here joins a to-many relation, so no row repeats.
        card_ids = list(
            ChargeCard.objects.filter(Q(holder=user) | Q(account_id__in=full)).values_list("id", flat=True)
        )
        return self.filter(Q(account_id__in=full) | Q(card_id__in=card_ids))

    def open(self):
        return self.filter(status=ChargingSession.Status.ACTIVE)


class ChargingSession(models.Model):
    """One OCPP 1.6 transaction as the station reported it, with the authorization decision and a price
    snapshot. Station timestamps are the truth for duration and pricing (sessions may arrive late, §3.7)."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Charging"
        COMPLETED = "completed", "Completed"

    class AuthStatus(models.TextChoices):
        # OCPP 1.6 §7.2 AuthorizationStatus.
        ACCEPTED = "Accepted", "Accepted"
        BLOCKED = "Blocked", "Blocked"
        EXPIRED = "Expired", "Expired"
        INVALID = "Invalid", "Invalid"
        CONCURRENT_TX = "ConcurrentTx", "Concurrent transaction"

    class Origin(models.TextChoices):
        START = "start", "StartTransaction"
        # A StopTransaction (or MeterValues) for a transaction we never saw (unknown, 0 or -1 id).
        ORPHAN_STOP = "orphan_stop", "StopTransaction without a known start"

    class StopSource(models.TextChoices):
        STATION = "station", "StopTransaction from the station"
        # Closed by the rule "a new StartTransaction on the same connector ends the open session".
        SUPERSEDED = "superseded", "Closed by a new transaction on the connector"

    station = models.ForeignKey(
        "stations.Station", on_delete=models.PROTECT, related_name="charging_sessions"
    )
    # Plain integers as the station sent them: a sanity check must never make a transaction message fail.
    connector_id = models.IntegerField(null=True, blank=True)
    # Ours, handed to the station in StartTransaction.conf: random positive 31-bit, unique. Orphan stop
    # records keep the station's claimed id in reported_transaction_id and have none of ours.
    transaction_id = models.IntegerField(null=True, blank=True)
    reported_transaction_id = models.BigIntegerField(null=True, blank=True)
    origin = models.CharField(max_length=16, choices=Origin.choices, default=Origin.START)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    # sha256 of the StartTransaction content (or of an orphan StopTransaction): the same message sent
    # again under a new message id finds its session instead of making a second one.
    dedupe_key = models.CharField(max_length=64, blank=True)

    id_tag = models.CharField(max_length=20, blank=True)  # normalised
    card = models.ForeignKey(
        "accounts.ChargeCard", on_delete=models.SET_NULL, null=True, blank=True, related_name="sessions"
    )
    access_group = models.ForeignKey(
        "accounts.AccessGroup", on_delete=models.SET_NULL, null=True, blank=True, related_name="sessions"
    )
    # The station's account when the session started: scoping must not change if the station moves.
    account = models.ForeignKey(
        "accounts.Account", on_delete=models.SET_NULL, null=True, blank=True, related_name="charging_sessions"
    )
    auth_status = models.CharField(max_length=16, choices=AuthStatus.choices, blank=True)
    auth_reason = models.CharField(max_length=32, blank=True)
    reservation_id = models.BigIntegerField(null=True, blank=True)

    meter_start = models.BigIntegerField(null=True, blank=True)  # Wh
    meter_stop = models.BigIntegerField(null=True, blank=True)  # Wh
    started_at = models.DateTimeField(null=True, blank=True)  # station clock
    stopped_at = models.DateTimeField(null=True, blank=True)  # station clock
    start_received_at = models.DateTimeField(null=True, blank=True)  # our clock
    stop_received_at = models.DateTimeField(null=True, blank=True)
    stop_reason = models.CharField(max_length=32, blank=True)
    stop_id_tag = models.CharField(max_length=20, blank=True)
    stop_source = models.CharField(max_length=16, choices=StopSource.choices, blank=True)
    start_message_id = models.CharField(max_length=64, blank=True)
    stop_message_id = models.CharField(max_length=64, blank=True)

    energy_wh = models.BigIntegerField(default=0)
    duration_seconds = models.BigIntegerField(default=0)

    # Price snapshot (excl. VAT unit prices as used, then the rounded lines).
    is_free = models.BooleanField(default=False)
    currency = models.CharField(max_length=3, default="EUR")
    price_per_kwh = models.DecimalField(**_unit_price)
    price_per_session = models.DecimalField(**_unit_price)
    price_per_hour = models.DecimalField(**_unit_price)
    vat_rate = models.DecimalField(max_digits=5, decimal_places=2, default=Decimal("0"))
    energy_amount = models.DecimalField(**_money)
    session_amount = models.DecimalField(**_money)
    time_amount = models.DecimalField(**_money)
    subtotal = models.DecimalField(**_money)
    vat_amount = models.DecimalField(**_money)
    total = models.DecimalField(**_money)

    needs_review = models.BooleanField(default=False)
    review_flags = models.JSONField(default=list, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ChargingSessionQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            # StartTransaction.conf hands this out; MeterValues/StopTransaction look it up (scoped by station).
            models.UniqueConstraint(fields=["transaction_id"], name="session_unique_transaction_id"),
            # A repeated StartTransaction (new message id, same content) must not create a second session.
            models.UniqueConstraint(
                fields=["station", "dedupe_key"],
                condition=~models.Q(dedupe_key=""),
                name="session_unique_dedupe",
            ),
            # At most one open session per connector; a new start closes the old one first.
            models.UniqueConstraint(
                fields=["station", "connector_id"],
                condition=models.Q(status="active"),
                name="session_one_active_per_connector",
            ),
            models.CheckConstraint(
                condition=models.Q(transaction_id__isnull=True) | models.Q(transaction_id__gt=0),
                name="session_transaction_id_positive",
            ),
        ]
        indexes = [
            # Sessions list and CSV export, all sessions (the operator's view) and the pages of a large
            # account's: ORDER BY started_at DESC, id DESC LIMIT 50 reads the page's rows only.
            models.Index(fields=["-started_at", "-id"], name="session_started_id_idx"),
            # Sessions list: one station's sessions, newest first; CSV export by date range.
            models.Index(fields=["station", "-started_at"], name="session_station_started_idx"),
            # Sessions list scoped by account.
            models.Index(fields=["account", "-started_at"], name="session_account_started_idx"),
            # Filter by card.
            models.Index(fields=["id_tag", "-started_at"], name="session_idtag_started_idx"),
            # Review queue.
            models.Index(
                fields=["needs_review"], condition=models.Q(needs_review=True), name="session_review_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.transaction_id or '-'} {self.station_id}/{self.connector_id} {self.id_tag}"

    @property
    def energy_kwh(self) -> Decimal:
        return Decimal(self.energy_wh) / 1000

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE


class MeterValue(models.Model):
    """One sampledValue of a MeterValues.req or of StopTransaction.transactionData (OCPP 1.6 §7.43).
    Rows without a session are kept too: connector 0, clock-aligned values outside a transaction, and
    values naming a transaction we do not know (needs_review)."""

    station = models.ForeignKey("stations.Station", on_delete=models.CASCADE, related_name="meter_values")
    session = models.ForeignKey(
        ChargingSession, on_delete=models.CASCADE, null=True, blank=True, related_name="meter_values"
    )
    connector_id = models.IntegerField()
    reported_transaction_id = models.BigIntegerField(null=True, blank=True)
    timestamp = models.DateTimeField()  # station clock
    received_at = models.DateTimeField()
    measurand = models.CharField(max_length=48, default="Energy.Active.Import.Register")
    phase = models.CharField(max_length=8, blank=True)
    location = models.CharField(max_length=8, blank=True)
    context = models.CharField(max_length=32, blank=True)
    unit = models.CharField(max_length=16, blank=True)  # as reported
    format = models.CharField(max_length=16, blank=True)
    raw_value = models.TextField()  # as reported (SignedData is a hex blob)
    # In the base unit: Wh / varh for energy, W / var for power, A, V, %, Hz, K for temperature; null when not numeric.
    value = models.DecimalField(max_digits=20, decimal_places=4, null=True, blank=True)
    from_stop = models.BooleanField(default=False)  # came in StopTransaction.transactionData
    needs_review = models.BooleanField(default=False)

    class Meta:
        ordering = ["timestamp", "id"]
        indexes = [
            # Session page chart: a session's values in time order.
            models.Index(fields=["session", "timestamp"], name="metervalue_session_ts_idx"),
            # Station-level values (connector 0, clock-aligned) in time order.
            models.Index(fields=["station", "connector_id", "timestamp"], name="metervalue_station_ts_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.measurand}{'/' + self.phase if self.phase else ''}={self.raw_value}{self.unit}"


class TransactionEventRecord(models.Model):
    """One OCPP 2.0.1 TransactionEvent as received (part 2 E01-E15), the ledger that makes replays harmless: a
    (station, transactionId, seqNo) seen before is answered again and changes nothing. The session it fed is
    found by the station's transactionId (billing/services/transaction_events.py)."""

    station = models.ForeignKey(
        "stations.Station", on_delete=models.CASCADE, related_name="transaction_events"
    )
    session = models.ForeignKey(
        ChargingSession, on_delete=models.CASCADE, null=True, blank=True, related_name="events"
    )
    transaction_id = models.CharField(max_length=36)  # the station's transactionInfo.transactionId
    seq_no = models.PositiveIntegerField()
    event_type = models.CharField(max_length=8)  # Started / Updated / Ended
    trigger_reason = models.CharField(max_length=32)
    timestamp = models.DateTimeField()  # station clock
    offline = models.BooleanField(default=False)
    charging_state = models.CharField(max_length=16, blank=True)
    stopped_reason = models.CharField(max_length=32, blank=True)
    message_id = models.CharField(max_length=64, blank=True)
    received_at = models.DateTimeField()

    class Meta:
        ordering = ["station", "transaction_id", "seq_no"]
        constraints = [
            # E.FR / part 4 §4.1.4: a resent message (same seqNo) is stored once.
            models.UniqueConstraint(
                fields=["station", "transaction_id", "seq_no"], name="txevent_unique_seq"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.transaction_id}#{self.seq_no} {self.event_type}"


# The ledger, the documents and the runs live in modules of their own (this file holds plans and sessions);
# imported here so Django registers them with the billing app.
from billing.invoice_models import (  # noqa: E402
    BillingItem,
    BillingRun,
    Invoice,
    InvoiceLine,
    NumberSeries,
    Payout,
)
from billing.plan_models import BillingPlanPrice, SelfBillingAgreement, Subscription  # noqa: E402

__all__ = [
    "BillingItem",
    "BillingPlan",
    "BillingPlanPrice",
    "BillingRun",
    "ChargingSession",
    "Invoice",
    "InvoiceLine",
    "MeterValue",
    "NumberSeries",
    "Payout",
    "SelfBillingAgreement",
    "Subscription",
    "TransactionEventRecord",
]
