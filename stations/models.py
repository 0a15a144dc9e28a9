import uuid

from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone

from accounts.models import Membership, account_ids, user_is_operator
from billing.tariffs import TariffFields

from .commissioning import CommissioningRun
from .configuration_snapshots import ConfigurationSnapshot
from .connection_attempts import ConnectionAttempt

__all__ = [
    "CommissioningRun",
    "ConfigurationSnapshot",
    "ConnectionAttempt",
]  # registered with the app through this module


def new_message_id() -> str:
    return str(uuid.uuid4())


class StationQuerySet(models.QuerySet):
    def visible_to(self, user):
        """Stations a user may open at all: their accounts' (full roles) and, for Field Service Technicians,
        those whose field service account is theirs (technical parts only, see accounts.access)."""
        if user_is_operator(user):
            return self
        full = account_ids(user, Membership.FULL_ROLES)
        tech = account_ids(user, Membership.TECH_ROLES)
        if not full and not tech:
            return self.none()
        return self.filter(Q(account_id__in=full) | Q(field_service_account_id__in=tech))

    def commercial_to(self, user):
        """Stations whose commercial side (settings with prices, sessions, revenue) the user may see."""
        if user_is_operator(user):
            return self
        return self.filter(account_id__in=account_ids(user, Membership.FULL_ROLES))

    def for_user(self, user, *, technical: bool):
        """technical=True: a technical page (configuration, reset, connectors, commands log), technicians
        included; False: a page with prices, cards, sessions or settings."""
        return self.visible_to(user) if technical else self.commercial_to(user)


class Station(TariffFields):
    class SetupState(models.TextChoices):
        NEEDS_CONFIGURATION = "needs_configuration", "Needs configuration"
        SETUP_IN_PROGRESS = "setup_in_progress", "Setup in progress"
        ACTIVATION_PENDING = "activation_pending", "Activation pending"
        ACTIVE = "active", "Active"

    # OCPP-J 1.6 §3.1.1 / security whitepaper: identity is at most 48 characters from a restricted set.
    ocpp_id = models.CharField("OCPP ID", max_length=48)
    ocpp_version = models.CharField(max_length=16, blank=True)  # negotiated subprotocol, e.g. "ocpp1.6"
    setup_state = models.CharField(
        max_length=32, choices=SetupState.choices, default=SetupState.NEEDS_CONFIGURATION
    )

    # OCPP 2.0.1 B01-B03: what the last BootNotification was answered (Accepted / Pending / Rejected). While it
    # is not Accepted, every other CALL of a 2.0.1 station is answered SecurityError (B02.FR.09, B03.FR.07).
    boot_status = models.CharField(max_length=16, blank=True)
    boot_reason = models.CharField(max_length=32, blank=True)  # 2.0.1 BootReasonEnumType
    # The last GetBaseReport/GetReport asked for, and when its last NotifyReport part (tbc false) arrived.
    device_report_request_id = models.IntegerField(null=True, blank=True)
    device_report_done_at = models.DateTimeField(null=True, blank=True)

    # BootNotification data (OCPP 1.6 §6.2).
    vendor = models.CharField(max_length=50, blank=True)  # 1.6 CiString20, 2.0.1 vendorName string[50]
    model = models.CharField(max_length=20, blank=True)
    serial_number = models.CharField(max_length=25, blank=True)  # chargePointSerialNumber
    charge_box_serial_number = models.CharField(max_length=25, blank=True)
    firmware_version = models.CharField(max_length=50, blank=True)
    iccid = models.CharField(max_length=20, blank=True)
    imsi = models.CharField(max_length=20, blank=True)
    meter_type = models.CharField(max_length=25, blank=True)
    meter_serial_number = models.CharField(max_length=25, blank=True)
    last_boot_at = models.DateTimeField(null=True, blank=True)
    firmware_status = models.CharField(max_length=32, blank=True)
    diagnostics_status = models.CharField(max_length=32, blank=True)
    # Last SecurityEventNotification (1.6 security whitepaper §5.15); every one is in the journal.
    security_event = models.CharField(max_length=50, blank=True)
    security_event_info = models.CharField(max_length=255, blank=True)
    security_event_at = models.DateTimeField(null=True, blank=True)

    # Station credentials (security whitepaper A00.FR.2xx, A01, A05). password_hash: the HTTP Basic password the
    # station has proven it uses (or an operator set). pending_password_hash: an AuthorizationKey the station
    # accepted (or may have: its answer was lost) but has not used yet; until it does, both it and the station's
    # previous credential state are accepted, so a key change never locks a charger out.
    password_hash = models.CharField(max_length=256, blank=True)
    pending_password_hash = models.CharField(max_length=256, blank=True)
    # True once the station authenticated with HTTP Basic (or an operator set its password): from then on a
    # connection without credentials is refused (A05.FR.09: no going back to a lower security profile).
    password_required = models.BooleanField(default=False)
    # The last refused handshake of this station and why, shown on its page.
    last_refused_at = models.DateTimeField(null=True, blank=True)
    last_refusal_reason = models.CharField(max_length=200, blank=True)

    # Presence. connection_id names the live websocket; a stale socket's disconnect carries another id
    # and so never marks the station offline.
    is_connected = models.BooleanField(default=False)
    connection_id = models.CharField(max_length=64, blank=True)
    connected_at = models.DateTimeField(null=True, blank=True)
    disconnected_at = models.DateTimeField(null=True, blank=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    # The server process holding the live socket (ServerProcess.id): when that process stops proving it is
    # alive, its stations are marked offline by whoever notices first (stations/services/presence.py).
    server_process = models.CharField(max_length=32, blank=True)
    registered_from_ip = models.GenericIPAddressField(null=True, blank=True)

    # Settings (the manual's "Open Settings").
    billing_plan = models.ForeignKey(
        "billing.BillingPlan", on_delete=models.PROTECT, null=True, blank=True, related_name="stations"
    )
    account = models.ForeignKey(
        "accounts.Account", on_delete=models.PROTECT, null=True, blank=True, related_name="stations"
    )
    location = models.ForeignKey(
        "accounts.Location", on_delete=models.SET_NULL, null=True, blank=True, related_name="stations"
    )
    field_service_account = models.ForeignKey(
        "accounts.Account", on_delete=models.SET_NULL, null=True, blank=True, related_name="serviced_stations"
    )
    allow_roaming = models.BooleanField("allow charging from other networks (roaming)", default=False)
    free_charging = models.BooleanField("allow any card to charge here for free", default=False)
    is_disabled = models.BooleanField("disable this charge point (no charging, no billing)", default=False)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = StationQuerySet.as_manager()

    class Meta:
        ordering = ["ocpp_id"]
        constraints = [
            # The websocket route looks stations up by OCPP ID on every connect.
            models.UniqueConstraint(fields=["ocpp_id"], name="station_unique_ocpp_id"),
        ]
        indexes = [
            # Liveness: the online stations of one server process (reaper, shutdown, reconciliation).
            models.Index(
                fields=["server_process"],
                condition=models.Q(is_connected=True),
                name="station_online_process_idx",
            ),
            # Station list: filter by setup state / online.
            models.Index(fields=["setup_state"], name="station_setup_state_idx"),
            # Station list search by serial number.
            models.Index(fields=["serial_number"], name="station_serial_idx"),
        ]

    def __str__(self) -> str:
        return self.ocpp_id

    @property
    def ocpp_version_display(self) -> str:
        """The negotiated subprotocol as people write the version ("ocpp2.0.1" -> "2.0.1")."""
        return self.ocpp_version.removeprefix("ocpp")

    @property
    def is_ocpp201(self) -> bool:
        return self.ocpp_version == "ocpp2.0.1"

    @property
    def requires_password(self) -> bool:
        return self.password_required

    @property
    def refused_since_connect(self) -> bool:
        """The newest thing that happened at the door was a refusal (shown in the page header)."""
        return bool(
            self.last_refused_at and (self.connected_at is None or self.last_refused_at > self.connected_at)
        )

    @property
    def credentials_display(self) -> str:
        """How the station authenticates, in the operator's words."""
        if self.password_required:
            state = "HTTP Basic with its AuthorizationKey (security profile 1)"
        elif self.password_hash:
            state = "HTTP Basic password set, not used yet"
        else:
            state = "no credentials (security profile 0)"
        if self.pending_password_hash:
            state += (
                "; a new AuthorizationKey is accepted but not used yet (the previous credentials still work)"
            )
        return state


class Connector(models.Model):
    """A connector as the station reports it (StatusNotification, OCPP 1.6 §4.9). connector_id 0 is the
    station as a whole. The configuration fields (EVSE ID, standard, ...) are filled by Configure Connectors."""

    class Standard(models.TextChoices):
        TYPE2 = "type2", "Type 2 (IEC 62196-2)"
        CCS2 = "ccs2", "CCS2 (Combo 2)"
        CHADEMO = "chademo", "CHAdeMO"
        TYPE1 = "type1", "Type 1 (SAE J1772)"
        CCS1 = "ccs1", "CCS1 (Combo 1)"
        DOMESTIC_F = "domestic_f", "Domestic socket type F (Schuko)"
        DOMESTIC_E = "domestic_e", "Domestic socket type E"
        DOMESTIC_G = "domestic_g", "Domestic socket type G"
        TYPE3C = "type3c", "Type 3C"

    class Format(models.TextChoices):
        SOCKET = "socket", "Socket"
        CABLE = "cable", "Cable"

    class PowerType(models.TextChoices):
        AC_1_PHASE = "ac_1_phase", "AC 1-phase"
        AC_3_PHASE = "ac_3_phase", "AC 3-phase"
        DC = "dc", "DC"

    station = models.ForeignKey(Station, on_delete=models.CASCADE, related_name="connectors")
    # The platform's connector number (1.6 connectorId). For OCPP 2.0.1 it numbers the (EVSE, connector) pairs
    # below in the order the station first reported them, so sessions, pricing and pages stay version-neutral.
    connector_id = models.PositiveIntegerField()
    # OCPP 2.0.1 (part 2 §2.2 3-tier model): the EVSE id and the connector id within that EVSE; null for 1.6.
    evse_number = models.PositiveIntegerField(null=True, blank=True)
    evse_connector = models.PositiveIntegerField(null=True, blank=True)

    # Last reported status (ChargePointStatus / ChargePointErrorCode).
    status = models.CharField(max_length=32, blank=True)
    error_code = models.CharField(max_length=32, blank=True)
    info = models.CharField(max_length=50, blank=True)
    vendor_id = models.CharField(max_length=255, blank=True)
    vendor_error_code = models.CharField(max_length=50, blank=True)
    status_timestamp = models.DateTimeField(null=True, blank=True)

    # Configuration (Configure Connectors).
    standard = models.CharField(max_length=32, choices=Standard.choices, blank=True)
    format = models.CharField(max_length=16, choices=Format.choices, blank=True)
    power_type = models.CharField(max_length=16, choices=PowerType.choices, blank=True)
    max_voltage = models.PositiveIntegerField(null=True, blank=True)
    max_amperage = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["station", "connector_id"]
        constraints = [
            # StatusNotification upserts by (station, connectorId).
            models.UniqueConstraint(fields=["station", "connector_id"], name="connector_unique_station_cid"),
            # OCPP 2.0.1 StatusNotification upserts by (station, evseId, connectorId).
            models.UniqueConstraint(
                fields=["station", "evse_number", "evse_connector"],
                condition=models.Q(evse_number__isnull=False),
                name="connector_unique_station_evse",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.station.ocpp_id}#{self.connector_id}"


class MessageLog(models.Model):
    """The OCPP journal: every frame in and out, written before the message is processed."""

    class Direction(models.TextChoices):
        IN = "in", "Station → CSMS"
        OUT = "out", "CSMS → station"

    class Kind(models.IntegerChoices):
        CALL = 2, "CALL"
        CALLRESULT = 3, "CALLRESULT"
        CALLERROR = 4, "CALLERROR"
        INVALID = 0, "invalid frame"

    station = models.ForeignKey(Station, on_delete=models.CASCADE, related_name="messages")
    direction = models.CharField(max_length=3, choices=Direction.choices)
    kind = models.PositiveSmallIntegerField(choices=Kind.choices)
    action = models.CharField(max_length=64, blank=True)
    message_id = models.CharField(max_length=64, blank=True)
    payload = models.TextField(blank=True)  # the frame as sent, with secrets masked
    response_to = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    connection_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # Commands view: one station's journal, newest first, filterable by action.
            models.Index(fields=["station", "-created_at"], name="msglog_station_created_idx"),
            models.Index(fields=["station", "action", "-created_at"], name="msglog_station_action_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.direction} {self.action or self.get_kind_display()} {self.message_id}"


class ServerProcess(models.Model):
    """A daphne process that holds station sockets, proving it is alive by refreshing heartbeat_at."""

    id = models.CharField(primary_key=True, max_length=32)
    host = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField(default=timezone.now)
    heartbeat_at = models.DateTimeField(default=timezone.now)
    stopped_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.host}:{self.pid} ({self.id})"


class OcppCall(models.Model):
    """A CSMS → station call. The row is the queue: at most one call per station is outstanding (sent),
    the rest wait in id order. The channel layer only wakes the consumer that holds the socket."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        ANSWERED = "answered", "Answered"
        CALL_ERROR = "call_error", "CALLERROR"
        TIMED_OUT = "timed_out", "Timed out"
        OFFLINE = "offline", "Station offline"
        CANCELLED = "cancelled", "Cancelled"

    FINAL = (Status.ANSWERED, Status.CALL_ERROR, Status.TIMED_OUT, Status.OFFLINE, Status.CANCELLED)

    station = models.ForeignKey(Station, on_delete=models.CASCADE, related_name="calls")
    action = models.CharField(max_length=64)
    payload = models.JSONField(default=dict)
    message_id = models.CharField(max_length=36, default=new_message_id, editable=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    response = models.JSONField(null=True, blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    error_description = models.TextField(blank=True)
    timeout_seconds = models.PositiveIntegerField(default=30)
    # Never sent after this: a Reset or RemoteStart fired minutes after anyone wanted it is worse than none.
    send_by = models.DateTimeField(null=True, blank=True)
    requested_by = models.ForeignKey(
        "accounts.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    source = models.CharField(max_length=32, blank=True)  # portal, task, cli, ...
    # The websocket connection that sent it: its disconnect marks exactly its in-flight call offline.
    connection_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            # The dispatcher's "next pending call for this station" and "is one outstanding" queries.
            models.Index(fields=["station", "status", "id"], name="ocppcall_station_status_idx"),
            # The per-process sweeper: "which stations have pending/sent calls" without scanning history.
            models.Index(
                fields=["status", "station"],
                condition=models.Q(status__in=["pending", "sent"]),
                name="ocppcall_open_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.action} → {self.station_id} ({self.status})"

    @property
    def is_final(self) -> bool:
        return self.status in self.FINAL


# --- Portal: onboarding (Auto Configuration, Reset Device, EVSE IDs). Owned by the portal work. ----------


class ConfigurationProfile(models.Model):
    """The platform's required configuration: data operators edit in the admin, not code. One default per OCPP
    version, plus profiles for a charger vendor (model blank: every model of it) or one vendor/model, matched
    against the station's BootNotification (profile_for picks the most specific)."""

    name = models.CharField(max_length=100)
    ocpp_version = models.CharField(max_length=16, default="1.6")
    is_default = models.BooleanField(default=False)
    # As the station sends them in BootNotification (1.6 chargePointVendor/Model, 2.0.1 chargingStation
    # vendorName/model); compared case-insensitively (CiString, OCPP 1.6 §7).
    vendor = models.CharField(max_length=50, blank=True)
    model = models.CharField(max_length=20, blank=True, help_text="Blank: every model of this vendor.")
    description = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["name"], name="configprofile_unique_name"),
            # profile_default() picks the one default profile per OCPP version.
            models.UniqueConstraint(
                fields=["ocpp_version"],
                condition=models.Q(is_default=True),
                name="configprofile_one_default_per_version",
            ),
            # profile_for() must find at most one profile per (version, vendor, model). A non-default profile
            # without a vendor is never chosen (profile_for), so it is left out.
            models.UniqueConstraint(
                "ocpp_version",
                Lower("vendor"),
                Lower("model"),
                condition=models.Q(is_default=False) & ~models.Q(vendor=""),
                name="configprofile_unique_vendor_model",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class ConfigurationProfileKey(models.Model):
    class Generate(models.TextChoices):
        NONE = "", "Fixed value"
        # OCPP-J 1.6 §7 (errata 3.12) / security whitepaper A00.FR.205: 20 random bytes, 40 hex digits,
        # fresh per station and per attempt, never stored in clear.
        # OCPP 2.0.1: the same 40 hex digits as SecurityCtrlr.BasicAuthPassword (passwordString[40], A01).
        AUTHORIZATION_KEY = "authorization_key", "Fresh AuthorizationKey per station"

    profile = models.ForeignKey(ConfigurationProfile, on_delete=models.CASCADE, related_name="keys")
    # OCPP 1.6 §6.9 ChangeConfiguration.req: key CiString50Type, value CiString500Type. OCPP 2.0.1:
    # "Component.Variable" (component and variable names are identifierString[50] each).
    key = models.CharField(max_length=100)
    value = models.CharField(max_length=500, blank=True)
    generate = models.CharField(max_length=32, choices=Generate.choices, blank=True, default="")
    position = models.PositiveIntegerField(default=0)
    # Set: this vendor/model cannot take the key (read-only, unknown on it). Auto Configuration marks the key
    # Not applicable on every station the profile is for, with this reason and who decided it.
    not_applicable_reason = models.CharField(
        max_length=300,
        blank=True,
        help_text="Filled in: the key is not applicable on this model, for this reason.",
    )
    not_applicable_by = models.ForeignKey(
        "accounts.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["profile", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["profile", "key"], name="configprofilekey_unique_key"),
        ]

    def __str__(self) -> str:
        return f"{self.key}={'(generated)' if self.generate else self.value}"

    @property
    def is_secret(self) -> bool:
        return self.generate == self.Generate.AUTHORIZATION_KEY


class ConfigurationJob(models.Model):
    """One Auto Configuration or Fix All run. A row with a status; the Celery/in-process task only
    carries its id. At most one active job per station (constraint below): two clicks never send twice."""

    class Kind(models.TextChoices):
        AUTO = "auto", "Auto Configuration"
        FIX_ALL = "fix_all", "Fix All"

    class Status(models.TextChoices):
        PENDING = "pending", "Queued"
        RUNNING = "running", "Running"
        WAITING = "waiting", "Waiting for the station to reconnect"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    ACTIVE = (Status.PENDING, Status.RUNNING, Status.WAITING)

    station = models.ForeignKey(Station, on_delete=models.CASCADE, related_name="configuration_jobs")
    profile = models.ForeignKey(ConfigurationProfile, on_delete=models.SET_NULL, null=True, blank=True)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.AUTO)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    reason = models.TextField(blank=True)  # why it waits or failed, in words an operator understands
    requested_by = models.ForeignKey(
        "accounts.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    audit_event = models.ForeignKey(
        "accounts.AuditEvent", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Worker death (a SIGKILLed Celery worker, a restarted server) must not strand a job. The run that holds
    # it (runner, a token per run) proves it is alive (heartbeat_at) while it works and while it waits for
    # the station; a job whose holder stopped proving it is resumed by the reaper, and the old holder, should
    # it still be alive, notices that the token changed and stops.
    runner = models.CharField(max_length=32, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # When it was last handed to the job queue: a job the queue lost (broker down) is handed again.
    enqueued_at = models.DateTimeField(null=True, blank=True)
    interruptions = models.PositiveSmallIntegerField(default=0)  # runs lost to a dead worker so far

    class Meta:
        ordering = ["-id"]
        indexes = [
            # The reaper's periodic scan of active jobs (configuration_jobs_reap).
            models.Index(
                fields=["status", "heartbeat_at"],
                condition=models.Q(status__in=["pending", "running", "waiting"]),
                name="configjob_active_idx",
            ),
        ]
        constraints = [
            # The duplicate-click guard: a second job for a station with an active one fails to insert.
            models.UniqueConstraint(
                fields=["station"],
                condition=models.Q(status__in=["pending", "running", "waiting"]),
                name="configjob_one_active_per_station",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE


class StationConfigurationKey(models.Model):
    """One required key on one station and where it stands."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        ACCEPTED = "accepted", "Accepted"
        REBOOT_REQUIRED = "reboot_required", "Reboot required"
        REJECTED = "rejected", "Rejected"
        NOT_SUPPORTED = "not_supported", "Not supported"
        # OCPP 2.0.1 SetVariableStatusEnumType (part 2 §3.94).
        UNKNOWN_COMPONENT = "unknown_component", "Unknown component"
        UNKNOWN_VARIABLE = "unknown_variable", "Unknown variable"
        NOT_SUPPORTED_ATTRIBUTE = "not_supported_attribute", "Attribute type not supported"
        TIMED_OUT = "timed_out", "Timed out"
        FAILED = "failed", "Failed"
        # The operator accepted that this station cannot take the key (read-only, unknown on this model),
        # with who and why (not_applicable_by/_reason): setup completes without editing the platform profile.
        NOT_APPLICABLE = "not_applicable", "Not applicable here"

    OK = (State.ACCEPTED, State.REBOOT_REQUIRED, State.NOT_APPLICABLE)
    FAILURES = (
        State.REJECTED,
        State.NOT_SUPPORTED,
        State.UNKNOWN_COMPONENT,
        State.UNKNOWN_VARIABLE,
        State.NOT_SUPPORTED_ATTRIBUTE,
        State.TIMED_OUT,
        State.FAILED,
    )

    station = models.ForeignKey(Station, on_delete=models.CASCADE, related_name="configuration_keys")
    # 1.6: the configuration key; 2.0.1: "Component.Variable" (stations/services/configuration_v201.py).
    key = models.CharField(max_length=100)
    desired_value = models.CharField(max_length=500, blank=True)  # empty for secrets
    is_secret = models.BooleanField(default=False)
    reported_value = models.CharField(max_length=500, blank=True)  # from GetConfiguration / NotifyReport
    readonly = models.BooleanField(default=False)
    state = models.CharField(max_length=32, choices=State.choices, default=State.PENDING)
    reason = models.CharField(max_length=300, blank=True)
    position = models.PositiveIntegerField(default=0)
    job = models.ForeignKey(
        ConfigurationJob, on_delete=models.SET_NULL, null=True, blank=True, related_name="keys"
    )
    call = models.ForeignKey(OcppCall, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    # Hash of the AuthorizationKey in flight (written before it is sent, so a resumed job can adopt it);
    # becomes Station.pending_password_hash once the station accepts it (or its answer was lost).
    pending_secret_hash = models.CharField(max_length=256, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)
    # When the station's value was last read back (GetConfiguration after a change, after a reboot).
    read_at = models.DateTimeField(null=True, blank=True)
    not_applicable_by = models.ForeignKey(
        "accounts.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    not_applicable_reason = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["station", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["station", "key"], name="stationconfigkey_unique_key"),
        ]

    def __str__(self) -> str:
        return f"{self.station_id}:{self.key} ({self.state})"

    @property
    def is_ok(self) -> bool:
        return self.state in self.OK

    @property
    def is_failure(self) -> bool:
        return self.state in self.FAILURES


class StationReset(models.Model):
    """A Reset Device request; progress is derived from the station's presence after requested_at."""

    class Kind(models.TextChoices):
        SOFT = "Soft", "Soft"
        HARD = "Hard", "Hard"
        # OCPP 2.0.1 ResetEnumType (B11/B12).
        ON_IDLE = "OnIdle", "On idle"
        IMMEDIATE = "Immediate", "Immediate"

    station = models.ForeignKey(Station, on_delete=models.CASCADE, related_name="resets")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.HARD)
    call = models.ForeignKey(OcppCall, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    requested_by = models.ForeignKey(
        "accounts.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    audit_event = models.ForeignKey(
        "accounts.AuditEvent", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    requested_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-requested_at", "-id"]

    def __str__(self) -> str:
        return f"{self.kind} reset of {self.station_id}"


class EvseIdBatch(models.Model):
    country_code = models.CharField(max_length=2)
    operator_id = models.CharField(max_length=3)
    count = models.PositiveIntegerField()
    created_by = models.ForeignKey(
        "accounts.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.count} × {self.country_code}*{self.operator_id}"


class EvseId(models.Model):
    """An EVSE ID for autopick (eMI3 / ISO 15118-2 Annex H format, e.g. NL*EFL*E000123)."""

    class Status(models.TextChoices):
        AVAILABLE = "available", "Available"
        ASSIGNED = "assigned", "Assigned"

    evse_id = models.CharField("EVSE ID", max_length=48)
    country_code = models.CharField(max_length=2)
    operator_id = models.CharField(max_length=3)
    sequence = models.PositiveIntegerField()
    batch = models.ForeignKey(
        EvseIdBatch, on_delete=models.SET_NULL, null=True, blank=True, related_name="ids"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.AVAILABLE)
    connector = models.OneToOneField(
        Connector, on_delete=models.SET_NULL, null=True, blank=True, related_name="evse"
    )
    assigned_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["evse_id"]
        constraints = [
            # Printed on stickers and sent to roaming partners: one ID, one connector, ever.
            models.UniqueConstraint(fields=["evse_id"], name="evseid_unique_evse_id"),
            # Batch generation continues a (country, operator) sequence.
            models.UniqueConstraint(
                fields=["country_code", "operator_id", "sequence"], name="evseid_unique_sequence"
            ),
        ]
        indexes = [
            # Autopick: the next available ID in id order.
            models.Index(fields=["status", "id"], name="evseid_status_idx"),
        ]

    def __str__(self) -> str:
        return self.evse_id


# OCPP 2.0.1 device model and event stream (stations/models_device.py); imported here so Django finds them.
from .models_device import DeviceVariable, StationEvent  # noqa: E402, F401
