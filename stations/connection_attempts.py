"""ConnectionAttempt: a refused or failed handshake, with why and a hint for the installer.

A model module of its own (stations/models.py is long); it names Station by string so that it imports nothing
from stations.models, and stations.models imports it so Django registers it."""

from django.db import models
from django.utils import timezone


class ConnectionAttempt(models.Model):
    """Refusals of one (identity, reason, remote address), coalesced: a charger that retries every few seconds
    is one row with a counter, not a row per retry (stations.services.admission.connection_refusal_record)."""

    class Reason(models.TextChoices):
        INVALID_IDENTITY = "invalid_identity", "Invalid identity"
        NO_SUBPROTOCOL = "no_subprotocol", "No OCPP subprotocol offered"
        UNSUPPORTED_SUBPROTOCOL = "unsupported_subprotocol", "Unsupported OCPP version"
        THROTTLED = "throttled", "Registration limit reached"
        NO_CREDENTIALS = "no_credentials", "No password sent"
        MALFORMED_AUTH = "malformed_auth", "Malformed Authorization header"
        OTHER_USER = "other_user", "Wrong HTTP Basic username"
        WRONG_PASSWORD = "wrong_password", "Wrong password"
        FRAME_TOO_LARGE = "frame_too_large", "Frame too large"

    # As presented in the URL (escaped and cut to fit): an invalid identity is recorded too.
    ocpp_id = models.CharField("identity", max_length=100)
    # The known station it names; empty for identities that never got in.
    station = models.ForeignKey(
        "stations.Station",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="connection_attempts",
    )
    reason = models.CharField(max_length=32, choices=Reason.choices)
    detail = models.CharField(max_length=300, blank=True)
    remote_addr = models.GenericIPAddressField(null=True, blank=True)
    count = models.PositiveIntegerField(default=1)
    first_at = models.DateTimeField(default=timezone.now)
    last_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-last_at", "-id"]
        indexes = [
            # Coalescing (the newest row of an identity) and pruning an identity to its newest N.
            models.Index(fields=["ocpp_id", "-last_at"], name="connattempt_identity_idx"),
            # The station page's list.
            models.Index(fields=["station", "-last_at"], name="connattempt_station_idx"),
            # The "Connection attempts" page: identities that never got in, newest first; global pruning.
            models.Index(
                fields=["-last_at"], condition=models.Q(station__isnull=True), name="connattempt_unknown_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.ocpp_id}: {self.get_reason_display()} ×{self.count}"

    @property
    def hint(self) -> str:
        return HINTS.get(self.reason, "")


R = ConnectionAttempt.Reason
# What the installer can do about it, in their words (shown next to every attempt).
HINTS = {
    R.INVALID_IDENTITY: (
        "The charge point ID at the end of the CSMS URL must be 1–48 characters of A–Z a–z 0–9 * - _ = + | @ . "
        "(no spaces, no ':'). Correct the Charge Point ID or the URL in the charger."
    ),
    R.NO_SUBPROTOCOL: (
        "The charger offered no OCPP version (Sec-WebSocket-Protocol). Set the protocol to OCPP 1.6 JSON (OCPP-J) "
        "in the charger; SOAP is not supported."
    ),
    R.UNSUPPORTED_SUBPROTOCOL: (
        "The charger asked for an OCPP version this platform does not speak. Set it to OCPP 1.6 JSON."
    ),
    R.THROTTLED: (
        "Too many new stations registered from this address in the last hour. Wait, or ask the operator to "
        "add the station first (OCPP_NEW_STATIONS_PER_IP_PER_HOUR)."
    ),
    R.NO_CREDENTIALS: (
        "The charger sends no password; it is still on security profile 0. Enter its AuthorizationKey "
        "(HTTP Basic password) in the charger, or set a new password for it here."
    ),
    R.MALFORMED_AUTH: (
        "The charger's Authorization header is not HTTP Basic user:password. Check its security profile "
        "setting (profile 1 = HTTP Basic)."
    ),
    R.OTHER_USER: (
        "The HTTP Basic username must be exactly the charge point ID (case-sensitive). Correct the username "
        "in the charger."
    ),
    R.WRONG_PASSWORD: (
        "The charger sends a password that does not match. Re-enter its AuthorizationKey in the charger, or "
        "set a new password for it here and enter that one."
    ),
    R.FRAME_TOO_LARGE: (
        "The charger sent a message larger than the platform accepts and the connection was closed. Usually "
        "a firmware problem (a huge MeterValues or DataTransfer); ask the manufacturer."
    ),
}
