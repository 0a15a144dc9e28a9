from datetime import datetime
from decimal import Decimal

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models import Q
from django.utils import timezone

from billing.tariffs import TariffFields


class User(AbstractUser):
    # Platform operators see and manage everything (accounts.access decides; is_staff only opens the admin).
    is_platform_operator = models.BooleanField(default=False)


def user_is_operator(user) -> bool:
    """A platform operator (or superuser): sees and manages everything. False for anonymous and inactive."""
    return bool(
        user is not None
        and user.is_authenticated
        and user.is_active
        and (user.is_superuser or getattr(user, "is_platform_operator", False))
    )


def account_ids(user, roles=None) -> list[int]:
    """Ids of the accounts where the user holds one of `roles` (any role when None)."""
    if user is None or not user.is_authenticated or not user.is_active:
        return []
    # Not cached on the user: memberships change (role edits) and a stale cache would widen access.
    qs = Membership.objects.filter(user=user)
    if roles:
        qs = qs.filter(role__in=roles)
    return list(qs.values_list("account_id", flat=True))


# Visibility rules as QuerySet methods (`Account.objects.visible_to(user)`); roles are in accounts.access.


class AccountQuerySet(models.QuerySet):
    def visible_to(self, user):
        return self if user_is_operator(user) else self.filter(pk__in=account_ids(user))

    def managed_by(self, user):
        """Accounts whose members, cards, groups and locations the user may change."""
        return (
            self if user_is_operator(user) else self.filter(pk__in=account_ids(user, Membership.MANAGE_ROLES))
        )


class OwnedByAccountQuerySet(models.QuerySet):
    """Rows with an `account`: members with a full role (Account admin, Billing admin) see them."""

    def visible_to(self, user):
        if user_is_operator(user):
            return self
        return self.filter(account_id__in=account_ids(user, Membership.FULL_ROLES))


class ChargeCardQuerySet(models.QuerySet):
    def visible_to(self, user):
        """The account's cards for full roles, and a driver's own cards."""
        if user_is_operator(user):
            return self
        if not user.is_authenticated:
            return self.none()
        return self.filter(Q(account_id__in=account_ids(user, Membership.FULL_ROLES)) | Q(holder=user))


class AccessGroupQuerySet(OwnedByAccountQuerySet):
    def linkable_to(self, station):
        """Groups a station's settings may link: its own account's groups and other accounts' shared groups."""
        return self.filter(Q(account_id=station.account_id) | Q(is_shared=True))


# What a Field Service Technician did or may do on a serviced station: the technical steps. Settings (prices),
# activation and sessions stay hidden from them, as on the pages (accounts/access.py).
TECHNICAL_AUDIT_ACTIONS = (
    "station.auto_configuration",
    "station.fix_all",
    "station.reset",
    "station.connectors",
)


class AuditEventQuerySet(models.QuerySet):
    def visible_to(self, user):
        if user_is_operator(user):
            return self
        managed = account_ids(user, Membership.MANAGE_ROLES)
        tech = account_ids(user, Membership.TECH_ROLES)
        return self.filter(
            Q(account_id__in=managed)
            | Q(station__account_id__in=managed)
            | Q(station__field_service_account_id__in=tech, action__in=TECHNICAL_AUDIT_ACTIONS)
        )


class Account(models.Model):
    class Kind(models.TextChoices):
        COMPANY = "company", "Company"
        PRIVATE = "private", "Private"

    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.COMPANY)
    address = models.TextField(blank=True)
    country = models.CharField(max_length=2, blank=True, help_text="ISO 3166-1 alpha-2")
    vat_number = models.CharField(max_length=32, blank=True)
    vat_rate = models.DecimalField(
        max_digits=5, decimal_places=2, default=Decimal("21.00"), help_text="percent"
    )
    billing_email = models.EmailField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = AccountQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    class Role(models.TextChoices):
        ACCOUNT_ADMIN = "account_admin", "Account admin"
        BILLING_ADMIN = "billing_admin", "Billing admin"
        FIELD_SERVICE = "field_service", "Field Service Technician"
        DRIVER = "driver", "Driver"

    # Roles that see an account's commercial side (stations with prices, sessions, invoices, cards).
    FULL_ROLES = (Role.ACCOUNT_ADMIN, Role.BILLING_ADMIN)
    MANAGE_ROLES = (Role.ACCOUNT_ADMIN,)
    TECH_ROLES = (Role.FIELD_SERVICE,)

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=32, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            # One role per user per account; access checks look memberships up by (user, account).
            models.UniqueConstraint(fields=["user", "account"], name="membership_unique_user_account"),
        ]

    def __str__(self) -> str:
        return f"{self.user} @ {self.account} ({self.get_role_display()})"


class Location(models.Model):
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="locations")
    name = models.CharField(max_length=200)
    address = models.TextField(blank=True)
    country = models.CharField(max_length=2, blank=True)
    latitude = models.DecimalField(max_digits=9, decimal_places=6, null=True, blank=True)
    longitude = models.DecimalField(max_digits=9, decimal_places=6, null=True, blank=True)
    timezone = models.CharField(max_length=64, default="UTC")

    objects = OwnedByAccountQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ChargeCard(models.Model):
    class Kind(models.TextChoices):
        OWN = "own", "Own network"
        ROAMING = "roaming", "Roaming partner"

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        BLOCKED = "blocked", "Blocked"
        EXPIRED = "expired", "Expired"

    # OCPP 1.6 IdToken is CiString20Type; stored normalised (upper case, no separators).
    id_tag = models.CharField(max_length=20)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.OWN)
    label = models.CharField(max_length=100, blank=True)
    account = models.ForeignKey(
        Account, on_delete=models.CASCADE, null=True, blank=True, related_name="cards"
    )
    holder = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="cards")
    roaming_party = models.CharField(
        max_length=64, blank=True, help_text="roaming partner, for roaming cards"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ChargeCardQuerySet.as_manager()

    class Meta:
        constraints = [
            # Authorization looks a card up by its idTag; one card per idTag on the platform.
            models.UniqueConstraint(fields=["id_tag"], name="chargecard_unique_id_tag"),
        ]

    def __str__(self) -> str:
        return self.label or self.id_tag

    def is_expired_at(self, now: datetime) -> bool:
        # A card past its expiry date is expired whatever its status says; the one rule for authorization
        # (which decides at the message's receive time) and the portal.
        return self.status == self.Status.EXPIRED or (self.expires_at is not None and self.expires_at <= now)

    @property
    def is_expired(self) -> bool:
        return self.is_expired_at(timezone.now())


class AccessGroup(TariffFields):
    class Terms(models.TextChoices):
        FREE = "free", "Free charging"
        REDUCED = "reduced", "Reduced tariff"

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="access_groups")
    name = models.CharField(max_length=200)
    terms = models.CharField(max_length=16, choices=Terms.choices, default=Terms.FREE)
    is_shared = models.BooleanField(default=False, help_text="usable by other accounts' stations")
    users = models.ManyToManyField(User, blank=True, related_name="access_groups")
    cards = models.ManyToManyField(ChargeCard, blank=True, related_name="access_groups")
    stations = models.ManyToManyField("stations.Station", blank=True, related_name="access_groups")

    objects = AccessGroupQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class AuditEvent(models.Model):
    """Who did what, when, what changed and what the station answered. Written by services only."""

    actor = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    action = models.CharField(max_length=64)  # e.g. "station.auto_configuration", "card.update"
    object_type = models.CharField(max_length=64)  # e.g. "stations.station"
    object_id = models.CharField(max_length=64)
    object_repr = models.CharField(max_length=200, blank=True)
    station = models.ForeignKey(
        "stations.Station", on_delete=models.CASCADE, null=True, blank=True, related_name="audit_events"
    )
    account = models.ForeignKey(Account, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    changes = models.JSONField(default=dict, blank=True)  # {"field": [before, after]}
    result = models.JSONField(default=dict, blank=True)  # the station's answer, when there is one
    created_at = models.DateTimeField(auto_now_add=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The station page lists its audit trail newest first.
            models.Index(fields=["station", "-created_at"], name="audit_station_created_idx"),
            # Admin and account audit views: one object's history.
            models.Index(fields=["object_type", "object_id"], name="audit_object_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.object_repr}"
