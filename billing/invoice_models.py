"""The ledger (BillingItem: one row per thing owed or earned, unique key), number series, invoices and their
lines (snapshots, immutable once issued), the monthly runs and the payouts they settle. Imported by
billing.models; the services are billing/services/ledger.py, invoices.py and runs.py."""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q

from accounts.models import Membership, account_ids, user_is_operator

_money = dict(max_digits=12, decimal_places=2, default=Decimal("0"))


class BillingItem(models.Model):
    class Direction(models.TextChoices):
        CHARGE = "charge", "Charge (usage invoice)"
        REVENUE = "revenue", "Revenue (self-billing invoice)"

    class Kind(models.TextChoices):
        PLAN_PERIOD = "plan_period", "Plan fee per period"
        PLAN_CONNECTORS = "plan_connectors", "Plan fee per connector"
        PLAN_ONCE = "plan_once", "One-time plan fee"
        CARD_SESSION_FEE = "card_session_fee", "Card fee per session"
        SESSION_COST = "session_cost", "Charging session"
        SESSION_REVENUE = "session_revenue", "Charging session revenue"
        PLATFORM_FEE = "platform_fee", "Platform fee per kWh"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        INVOICED = "invoiced", "Invoiced"
        VOID = "void", "Void (credited, not re-billed)"
        # A session that arrived more than BILLING_LATE_MONTHS after it ended: not billed, for an operator.
        TOO_LATE = "too_late", "Too late to bill"

    key = models.CharField(max_length=96)
    account = models.ForeignKey("accounts.Account", on_delete=models.PROTECT, related_name="billing_items")
    direction = models.CharField(max_length=16, choices=Direction.choices)
    kind = models.CharField(max_length=24, choices=Kind.choices)
    session = models.ForeignKey(
        "billing.ChargingSession",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="billing_items",
    )
    subscription = models.ForeignKey(
        "billing.Subscription", on_delete=models.PROTECT, null=True, blank=True, related_name="billing_items"
    )
    service_date = models.DateTimeField()  # session end (station clock) or period start: decides the period
    period = models.CharField(max_length=7)  # YYYY-MM of service_date in the billing time zone
    description = models.CharField(max_length=300)
    quantity = models.DecimalField(max_digits=14, decimal_places=4, default=Decimal("1"))
    unit = models.CharField(max_length=16, default="pc")
    unit_price = models.DecimalField(max_digits=12, decimal_places=4, default=Decimal("0"))
    amount = models.DecimalField(**_money)  # excl. VAT, rounded once
    currency = models.CharField(max_length=3, default="EUR")
    # For session costs: the rate snapshotted at the session (country of charging); None: the invoice decides.
    vat_rate = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["service_date", "id"]
        constraints = [
            # Nothing billed twice: every collector upserts by this key (a re-run adds nothing).
            models.UniqueConstraint(fields=["key"], name="billingitem_unique_key"),
        ]
        indexes = [
            # The draft step: an account's open items of one direction, by service date.
            models.Index(
                fields=["status", "account", "direction", "service_date"], name="billingitem_open_idx"
            ),
        ]

    def __str__(self) -> str:
        return self.key


class NumberSeries(models.Model):
    """A gap-free counter (INV-2026, SB-2026, CRN-2026). The next number is taken with a row lock inside the
    transaction that issues the document, so a rollback rolls the counter back too (a sequence would not:
    nextval is never reclaimed)."""

    key = models.CharField(max_length=32)
    last_value = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["key"], name="numberseries_unique_key")]

    def __str__(self) -> str:
        return f"{self.key} ({self.last_value})"


class InvoiceQuerySet(models.QuerySet):
    def visible_to(self, user):
        """Issued documents of the accounts where the user is Account admin or Billing admin; operators see
        all, drafts included. Technicians and drivers see none."""
        if user_is_operator(user):
            return self
        return self.filter(
            account_id__in=account_ids(user, Membership.FULL_ROLES), status=Invoice.Status.ISSUED
        )

    def issued(self):
        return self.filter(status=Invoice.Status.ISSUED)


class Invoice(models.Model):
    class Kind(models.TextChoices):
        USAGE = "usage", "Invoice"
        SELF_BILLING = "self_billing", "Self-billing reimbursement invoice"
        CREDIT_NOTE = "credit_note", "Credit note"

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        ISSUED = "issued", "Issued"

    # Fields frozen at issue (Art. 233: integrity of the content); only the PDF may be added once, after.
    FROZEN = (
        "kind",
        "account_id",
        "run_id",
        "series",
        "number",
        "number_text",
        "issue_date",
        "period",
        "period_start",
        "period_end",
        "due_date",
        "currency",
        "seller",
        "buyer",
        "subtotal",
        "vat_total",
        "total",
        "vat_breakdown",
        "mentions",
        "credits_id",
        "status",
        "issued_at",
        "issued_by_id",
    )

    kind = models.CharField(max_length=16, choices=Kind.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    # The counterparty: the recipient of a usage invoice, the supplier (station owner) of a self-billing one.
    account = models.ForeignKey("accounts.Account", on_delete=models.PROTECT, related_name="invoices")
    run = models.ForeignKey(
        "billing.BillingRun", on_delete=models.PROTECT, null=True, blank=True, related_name="invoices"
    )
    series = models.CharField(max_length=32, blank=True)
    number = models.PositiveIntegerField(null=True, blank=True)
    number_text = models.CharField(max_length=40, blank=True)
    issue_date = models.DateField(null=True, blank=True)
    period = models.CharField(max_length=7, blank=True)
    period_start = models.DateField(null=True, blank=True)
    period_end = models.DateField(null=True, blank=True)  # exclusive
    due_date = models.DateField(null=True, blank=True)
    currency = models.CharField(max_length=3, default="EUR")
    # Party snapshots {name, address, country, vat_number, kvk_number, kind}: later edits never reach them.
    seller = models.JSONField(default=dict)
    buyer = models.JSONField(default=dict)
    subtotal = models.DecimalField(**_money)
    vat_total = models.DecimalField(**_money)
    total = models.DecimalField(**_money)
    vat_breakdown = models.JSONField(default=list)  # [{"rate": "21.00", "base": "10.00", "vat": "2.10"}]
    mentions = models.JSONField(default=list)
    credits = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="credit_notes"
    )
    pdf = models.BinaryField(null=True, blank=True, editable=False)
    pdf_sha256 = models.CharField(max_length=64, blank=True)
    issued_at = models.DateTimeField(null=True, blank=True)
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = InvoiceQuerySet.as_manager()

    class Meta:
        ordering = ["-issue_date", "-number", "-id"]
        constraints = [
            # Art. 226(2): a number identifies one document within its series.
            models.UniqueConstraint(
                fields=["series", "number"], condition=Q(number__isnull=False), name="invoice_unique_number"
            ),
            # One document per account, kind and currency per run (a re-run finds it instead of adding one).
            models.UniqueConstraint(
                fields=["run", "account", "kind", "currency"],
                condition=Q(run__isnull=False),
                name="invoice_one_per_run_account_kind",
            ),
            models.CheckConstraint(
                condition=Q(status="draft") | Q(number__isnull=False, issue_date__isnull=False),
                name="invoice_issued_has_number",
            ),
        ]
        indexes = [
            # Portal lists: an account's documents, newest first.
            models.Index(fields=["account", "status", "-issue_date"], name="invoice_account_idx"),
        ]

    def __str__(self) -> str:
        return self.number_text or f"draft #{self.pk}"

    def save(self, *args, **kwargs):
        # The last line of defence for Art. 233; the services never try (invoice_issue is the only writer of
        # an issued row, and it writes the PDF once). Admin, shell and fixtures meet the same wall.
        if self.pk is not None:
            stored = Invoice.objects.filter(pk=self.pk).values(*self.FROZEN, "pdf_sha256").first()
            if stored and stored["status"] == self.Status.ISSUED:
                changed = [f for f in self.FROZEN if stored[f] != getattr(self, f)]
                if stored["pdf_sha256"] and stored["pdf_sha256"] != self.pdf_sha256:
                    changed.append("pdf")
                if changed:
                    raise ValueError(f"Invoice {stored['number_text']} is issued; cannot change {changed}.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        if self.is_issued:
            raise ValueError(
                f"Invoice {self.number_text} is issued and cannot be deleted; credit it instead."
            )
        return super().delete(*args, **kwargs)

    @property
    def is_issued(self) -> bool:
        return self.status == self.Status.ISSUED


class InvoiceLine(models.Model):
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveIntegerField()
    kind = models.CharField(max_length=24, choices=BillingItem.Kind.choices)
    billing_item = models.ForeignKey(
        BillingItem, on_delete=models.PROTECT, null=True, blank=True, related_name="lines"
    )
    description = models.CharField(max_length=300)
    service_date = models.DateTimeField(null=True, blank=True)
    quantity = models.DecimalField(max_digits=14, decimal_places=4)
    unit = models.CharField(max_length=16)
    unit_price = models.DecimalField(max_digits=12, decimal_places=4)
    amount = models.DecimalField(**_money)
    vat_rate = models.DecimalField(max_digits=5, decimal_places=2)
    # Snapshot of the session behind the line, for the lines CSV.
    session_ref = models.IntegerField(null=True, blank=True)
    station_ocpp_id = models.CharField(max_length=48, blank=True)
    evse_id = models.CharField(max_length=48, blank=True)
    card_ref = models.CharField(max_length=32, blank=True)  # masked idTag
    energy_wh = models.BigIntegerField(null=True, blank=True)
    duration_seconds = models.BigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["invoice", "position"]
        constraints = [
            models.UniqueConstraint(fields=["invoice", "position"], name="invoiceline_unique_position"),
        ]

    def __str__(self) -> str:
        return f"{self.invoice} #{self.position}"

    def save(self, *args, **kwargs):
        if self._invoice_issued():
            raise ValueError("The lines of an issued invoice cannot change.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        if self._invoice_issued():
            raise ValueError("The lines of an issued invoice cannot be deleted.")
        return super().delete(*args, **kwargs)

    def _invoice_issued(self) -> bool:
        return Invoice.objects.filter(pk=self.invoice_id, status=Invoice.Status.ISSUED).exists()


class BillingRun(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DRAFTED = "drafted", "Drafted"
        ISSUED = "issued", "Issued"
        FAILED = "failed", "Failed"

    period = models.CharField(max_length=7)  # YYYY-MM
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    # A lease, not a row lock held for minutes: taken by one compare-and-set UPDATE, released at the end;
    # a crashed run's lease expires and the daily catch-up takes over.
    locked_until = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    summary = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-period"]
        constraints = [models.UniqueConstraint(fields=["period"], name="billingrun_unique_period")]

    def __str__(self) -> str:
        return f"run {self.period} ({self.status})"


class Payout(models.Model):
    """Settlement per station owner and run: self-billing total minus the platform fees of the period
    (not a tax document; the two legal documents stay separate)."""

    run = models.ForeignKey(BillingRun, on_delete=models.PROTECT, related_name="payouts")
    account = models.ForeignKey("accounts.Account", on_delete=models.PROTECT, related_name="payouts")
    self_billing_invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="+")
    currency = models.CharField(max_length=3)
    self_billing_total = models.DecimalField(**_money)
    platform_fees = models.DecimalField(**_money)
    amount = models.DecimalField(**_money)
    iban = models.CharField(max_length=34)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["run", "account"]
        constraints = [models.UniqueConstraint(fields=["run", "account"], name="payout_one_per_run_account")]

    def __str__(self) -> str:
        return f"payout {self.account} {self.amount} {self.currency}"
