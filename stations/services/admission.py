"""Who may connect: identity rules, admission of known and new stations (self-registration with a per-address
limit), HTTP Basic (security profile 1) and the station's stored password."""

import base64
import binascii
import enum
import functools
import hmac
import logging
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.db import connection, transaction
from django.utils import timezone

from eflux import bulk
from stations.models import ConnectionAttempt, Station
from stations.ocpp import masking

logger = logging.getLogger(__name__)

# OCPP-J 2.0.1 part 4 §3.1.1 (the rule the 1.6 security whitepaper's profiles assume): identity is an
# identifierString (a-z A-Z 0-9 * - _ = : + | @ .) of at most 48 characters, without ':' because the
# identity is also the HTTP Basic username and ':' separates username from password (RFC 7617).
IDENTITY_RE = re.compile(r"[A-Za-z0-9*\-_=+|@.]{1,48}")


def identity_is_valid(ocpp_id: str) -> bool:
    return bool(IDENTITY_RE.fullmatch(ocpp_id or ""))


@dataclass(frozen=True)
class Admission:
    outcome: str  # "ok" | "throttled"
    station_pk: int | None = None
    password_hash: str = ""
    created: bool = False
    pending_password_hash: str = ""
    password_required: bool = False

    @property
    def checks_credentials(self) -> bool:
        return bool(self.password_hash or self.pending_password_hash or self.password_required)


def _admitted(station: Station, created: bool = False) -> Admission:
    return Admission(
        "ok",
        station.pk,
        station.password_hash,
        created,
        station.pending_password_hash,
        station.password_required,
    )


def station_admit(*, ocpp_id: str, remote_addr: str | None) -> Admission:
    """Find the station, or register an unknown one in state *needs configuration* (the manual: it
    "should appear in the Charging Stations menu"), unless this address already created too many."""
    # Plain statements (every handshake runs the first, every new station the second): compiling them
    # through the ORM was most of this function's CPU (docs/benchmarks.md).
    table = connection.ops.quote_name(Station._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id, password_hash, pending_password_hash, password_required FROM {table} WHERE ocpp_id = %s",
            [ocpp_id],
        )
        row = cursor.fetchone()
        if row is not None:
            pk, password_hash, pending_password_hash, password_required = row
            return Admission("ok", pk, password_hash, False, pending_password_hash, bool(password_required))
        pk = _station_register(cursor, ocpp_id, remote_addr)
        if pk is not None:
            return Admission("ok", pk, created=True)  # a new station has no credentials yet
        # Not inserted: the same new station connected twice at once (it exists now), or the limit.
        cursor.execute(
            f"SELECT id, password_hash, pending_password_hash, password_required FROM {table} WHERE ocpp_id = %s",
            [ocpp_id],
        )
        row = cursor.fetchone()
    if row is None:
        return Admission("throttled")
    pk, password_hash, pending_password_hash, password_required = row
    return Admission("ok", pk, password_hash, False, pending_password_hash, bool(password_required))


def _station_register(cursor, ocpp_id: str, remote_addr: str | None) -> int | None:
    """INSERT the new station unless its address registered OCPP_NEW_STATIONS_PER_IP_PER_HOUR stations in the
    last hour or the identity exists (ON CONFLICT): one plain statement, its id or None. The ORM's create()
    compiled an INSERT of all ~50 columns per new station (a fifth of the connect phase's CPU with new
    stations at 200/s, docs/benchmarks.md); the values are the model's own (defaults, auto_now)."""
    station = Station(ocpp_id=ocpp_id, registered_from_ip=remote_addr or None)
    fields = [f for f in Station._meta.concrete_fields if not f.primary_key]
    values = [f.get_db_prep_save(f.pre_save(station, True), connection) for f in fields]
    since = bulk.db_value(Station, "created_at", timezone.now() - timedelta(hours=1))
    cursor.execute(
        _register_sql(),
        [
            *values,
            bool(remote_addr),
            bulk.db_value(Station, "registered_from_ip", remote_addr or None),
            since,
            settings.OCPP_NEW_STATIONS_PER_IP_PER_HOUR,
        ],
    )
    row = cursor.fetchone()
    return row[0] if row else None


@functools.cache
def _register_sql() -> str:
    table = connection.ops.quote_name(Station._meta.db_table)
    fields = [f for f in Station._meta.concrete_fields if not f.primary_key]
    names = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    return (
        f"INSERT INTO {table} ({names}) SELECT {bulk.placeholders(fields)} "
        f"WHERE NOT %s OR (SELECT COUNT(*) FROM {table} WHERE registered_from_ip = %s AND created_at >= %s) < %s "
        f"ON CONFLICT ({connection.ops.quote_name(Station._meta.get_field('ocpp_id').column)}) DO NOTHING "
        "RETURNING id"
    )


class Presented(enum.Enum):
    """What the handshake's Authorization header carries."""

    NOTHING = "nothing"
    MALFORMED = "malformed"  # not HTTP Basic, or not base64 "user:password"
    OTHER_USER = "other_user"  # Basic, but the username is not the OCPP ID (A00.FR.204)
    BASIC = "basic"


def basic_credentials(authorization: str, ocpp_id: str) -> tuple[Presented, str]:
    """Security profile 1 (security whitepaper A00.FR.202-204): HTTP Basic, username = the OCPP ID."""
    if not (authorization or "").strip():
        return Presented.NOTHING, ""
    scheme, _, encoded = authorization.strip().partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return Presented.MALFORMED, ""
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return Presented.MALFORMED, ""
    username, sep, password = decoded.partition(":")
    if not sep:
        return Presented.MALFORMED, ""
    if username != ocpp_id:
        return Presented.OTHER_USER, ""
    return Presented.BASIC, password


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str = ""  # why it was refused, in the operator's words (station page, log)
    promote: bool = False  # the pending key was used: it becomes the only credential
    prove: bool = False  # the current password was used by a station not yet bound to HTTP Basic


REFUSED_NO_CREDENTIALS = (
    "no credentials sent; this station must authenticate with HTTP Basic (its AuthorizationKey)"
)
REFUSED_MALFORMED = "malformed Authorization header (not HTTP Basic user:password)"
REFUSED_OTHER_USER = "HTTP Basic username is not the station's OCPP ID"
REFUSED_WRONG_PASSWORD = "wrong HTTP Basic password"
REFUSED_WRONG_PASSWORD_PENDING = (
    "wrong HTTP Basic password (neither the current key nor the newly accepted one)"
)


def credentials_decide(
    *,
    presented: Presented,
    current_matches: bool,
    pending_matches: bool,
    has_current: bool,
    has_pending: bool,
    required: bool,
) -> Verdict:
    """Whether a handshake is let in (pure; tests/stations/test_admission_rules.py has the table).

    Security whitepaper A01.FR.03/04 and A05: until the station has authenticated with a newly accepted key
    once, the key and the credential state the station had before both work (a security-profile-0 station
    keeps sending nothing, a profile-1 station may still send its old password); the first use of the new
    key makes it the only credential and HTTP Basic required from then on (A05.FR.09)."""
    if presented is Presented.NOTHING:
        return Verdict(False, REFUSED_NO_CREDENTIALS) if required else Verdict(True)
    if not (has_current or has_pending or required):
        return Verdict(True)  # nothing to check against: an unconfigured station's header is ignored
    if presented is Presented.MALFORMED:
        return Verdict(False, REFUSED_MALFORMED)
    if presented is Presented.OTHER_USER:
        return Verdict(False, REFUSED_OTHER_USER)
    if pending_matches:
        return Verdict(True, promote=True)
    if current_matches:
        return Verdict(True, prove=not required)
    return Verdict(False, REFUSED_WRONG_PASSWORD_PENDING if has_pending else REFUSED_WRONG_PASSWORD)


def credentials_check(*, authorization: str, ocpp_id: str, admitted: Admission) -> Verdict:
    """Parse the header, verify the password against the current and the pending hash, decide.
    Deliberately slow (Django's password hasher): call it off the ORM thread."""
    presented, password = basic_credentials(authorization, ocpp_id)
    current_matches = pending_matches = False
    if presented is Presented.BASIC:
        current_matches = bool(admitted.password_hash) and password_matches(password, admitted.password_hash)
        if not current_matches and admitted.pending_password_hash:
            pending_matches = password_matches(password, admitted.pending_password_hash)
    return credentials_decide(
        presented=presented,
        current_matches=current_matches,
        pending_matches=pending_matches,
        has_current=bool(admitted.password_hash),
        has_pending=bool(admitted.pending_password_hash),
        required=admitted.password_required,
    )


def password_matches(password: str, password_hash: str) -> bool:
    # PBKDF2 costs ~0.3 s of CPU here; a reconnect storm of a few thousand chargers would queue minutes of it.
    # Remember recent successes in this process, keyed by an HMAC of (stored hash, password): a changed hash
    # (new AuthorizationKey, pending key promoted, operator's new password) or a different password never
    # matches a remembered entry, and a hash the station no longer has is never asked about.
    if not password_hash:
        return False
    token = hmac.new(settings.SECRET_KEY.encode(), f"{password_hash}\0{password}".encode(), "sha256").digest()
    with _verified_lock:  # several handshakes verify at once on the executor's threads
        if token in _verified:
            _verified.move_to_end(token)
            return True
    if not check_password(password, password_hash):
        return False
    with _verified_lock:
        _verified[token] = None
        while len(_verified) > VERIFIED_CACHE_SIZE:
            _verified.popitem(last=False)
    return True


VERIFIED_CACHE_SIZE = 50_000
_verified: OrderedDict[bytes, None] = OrderedDict()
_verified_lock = threading.Lock()


def station_password_hash(password: str) -> str:
    """The stored form of a station's AuthorizationKey (stations/hashers.py says why it has its own hasher)."""
    return make_password(password, hasher="pbkdf2_sha256_station")


def station_set_password(*, station: Station, password: str) -> Station:
    """An operator sets a station's Basic-auth password (its AuthorizationKey) explicitly: from now on it is the
    only credential and required; empty removes it (the station connects without credentials again)."""
    station.password_hash = station_password_hash(password) if password else ""
    station.pending_password_hash = ""
    station.password_required = bool(password)
    station.save(update_fields=["password_hash", "pending_password_hash", "password_required", "updated_at"])
    return station


def station_key_accepted(*, station_pk: int, secret_hash: str) -> None:
    """The station accepted a new AuthorizationKey (or may have: its answer was lost). It joins the credentials
    the station may use; it becomes the only one when the station first uses it (credentials_decide)."""
    Station.objects.filter(pk=station_pk).update(pending_password_hash=secret_hash, updated_at=timezone.now())


def station_credentials_used(*, station_pk: int, admitted: Admission, verdict: Verdict) -> None:
    """Record what a successful handshake proved. Conditional on the hash it matched: a key accepted in the
    meantime (a newer pending hash) is not overwritten by the proof of an older one."""
    now = timezone.now()
    if verdict.promote:
        Station.objects.filter(pk=station_pk, pending_password_hash=admitted.pending_password_hash).update(
            password_hash=admitted.pending_password_hash,
            pending_password_hash="",
            password_required=True,
            updated_at=now,
        )
    elif verdict.prove:
        Station.objects.filter(pk=station_pk, password_hash=admitted.password_hash).update(
            password_required=True, updated_at=now
        )


# --- connection diagnostics -------------------------------------------------------------------------

Reason = ConnectionAttempt.Reason
REFUSAL_REASONS = {
    REFUSED_NO_CREDENTIALS: Reason.NO_CREDENTIALS,
    REFUSED_MALFORMED: Reason.MALFORMED_AUTH,
    REFUSED_OTHER_USER: Reason.OTHER_USER,
    REFUSED_WRONG_PASSWORD: Reason.WRONG_PASSWORD,
    REFUSED_WRONG_PASSWORD_PENDING: Reason.WRONG_PASSWORD,
}
# Station.last_refusal_reason for refusals that are not about credentials (those keep the verdict's words).
REFUSAL_TEXT = {
    Reason.INVALID_IDENTITY: "invalid identity",
    Reason.NO_SUBPROTOCOL: "no OCPP subprotocol offered",
    Reason.UNSUPPORTED_SUBPROTOCOL: "unsupported OCPP subprotocol",
    Reason.THROTTLED: "registration limit of its address reached",
    Reason.FRAME_TOO_LARGE: "frame too large; connection closed",
}


class _Throttle:
    """In-process bound on diagnostics writes. A charger refused every second would otherwise write every
    second, and a storm of them (all chargers of a site after a wrong key was pushed) would be a write storm:
    per (identity, reason, address) one write per window, the retries in between counted and added to the next
    write; and at most `per_minute` new rows a minute in all (a scan of random identities)."""

    def __init__(self, size: int = 20_000):
        self.size = size
        self.lock = threading.Lock()
        self.recent: OrderedDict[tuple, list] = OrderedDict()  # key -> [written_at (monotonic), unwritten]
        self.minute = (0, 0)  # (minute number, rows created in it)

    def take(self, key: tuple, window: float) -> int | None:
        """None: skip the write (counted); else how many earlier retries this write must add."""
        now = time.monotonic()
        with self.lock:
            entry = self.recent.get(key)
            if entry is not None and now - entry[0] < window:
                entry[1] += 1
                return None
            unwritten = entry[1] if entry else 0
            self.recent[key] = [now, 0]
            self.recent.move_to_end(key)
            while len(self.recent) > self.size:
                self.recent.popitem(last=False)
            return unwritten

    def may_create(self, per_minute: int) -> bool:
        minute = int(time.monotonic() // 60)
        with self.lock:
            current, created = self.minute
            if current != minute:
                current, created = minute, 0
            if created >= per_minute:
                self.minute = (current, created)
                return False
            self.minute = (current, created + 1)
            return True


_throttle = _Throttle()


def connection_refusal_record(
    *,
    ocpp_id: str,
    reason: str,
    remote_addr: str | None,
    detail: str = "",
    station_pk: int | None = None,
) -> ConnectionAttempt | None:
    """A refused or failed handshake (or a connection closed for a frame over the limit): one row per
    (identity, reason, address) and hour with a counter, the hint derived from the reason; for a known
    station also its page header's note. None when the write was coalesced away (see _Throttle)."""
    identity = masking.storable(ocpp_id or "")[:100]
    detail = masking.storable(detail or "")[:300]
    unwritten = _throttle.take((identity, reason, remote_addr), settings.CONNECTION_ATTEMPT_WRITE_SECONDS)
    if unwritten is None:
        return None
    now = timezone.now()
    if station_pk is None:
        station_pk = Station.objects.filter(ocpp_id=identity).values_list("pk", flat=True).first()
    if station_pk is not None:
        Station.objects.filter(pk=station_pk).update(
            last_refused_at=now, last_refusal_reason=(detail or REFUSAL_TEXT.get(reason, reason))[:200]
        )
    window = now - timedelta(seconds=settings.CONNECTION_ATTEMPT_COALESCE_SECONDS)
    with transaction.atomic():
        attempt = (
            ConnectionAttempt.objects.select_for_update()
            .filter(ocpp_id=identity, reason=reason, remote_addr=remote_addr, last_at__gte=window)
            .order_by("-last_at")
            .first()
        )
        if attempt is not None:
            attempt.count += 1 + unwritten
            attempt.last_at, attempt.detail, attempt.station_id = now, detail[:300], station_pk
            attempt.save(update_fields=["count", "last_at", "detail", "station"])
            return attempt
        if not _throttle.may_create(settings.CONNECTION_ATTEMPT_NEW_ROWS_PER_MINUTE):
            logger.warning("connection attempt of %r not stored: new-row limit reached", identity)
            return None
        attempt = ConnectionAttempt.objects.create(
            ocpp_id=identity,
            station_id=station_pk,
            reason=reason,
            detail=detail[:300],
            remote_addr=remote_addr or None,
            count=1 + unwritten,
            first_at=now,
            last_at=now,
        )
    _connection_attempts_prune(identity=identity, unknown=station_pk is None)
    return attempt


def _connection_attempts_prune(*, identity: str, unknown: bool) -> None:
    keep = settings.CONNECTION_ATTEMPTS_PER_IDENTITY
    old = ConnectionAttempt.objects.filter(ocpp_id=identity).order_by("-last_at", "-id").values("pk")[keep:]
    ConnectionAttempt.objects.filter(pk__in=list(old.values_list("pk", flat=True))).delete()
    if unknown:
        limit = settings.CONNECTION_ATTEMPTS_UNKNOWN_MAX
        edge = (
            ConnectionAttempt.objects.filter(station__isnull=True)
            .order_by("-last_at", "-id")
            .values_list("last_at", flat=True)[limit : limit + 1]
        )
        cutoff = next(iter(edge), None)
        if cutoff is not None:
            ConnectionAttempt.objects.filter(station__isnull=True, last_at__lte=cutoff).delete()


def subprotocol_refusal(offered: list | None) -> tuple[str, str]:
    """(reason, detail) for a handshake without a subprotocol we speak (OCPP-J 1.6 §3.2)."""
    if not offered:
        return Reason.NO_SUBPROTOCOL, "no Sec-WebSocket-Protocol header"
    return Reason.UNSUPPORTED_SUBPROTOCOL, ("offered: " + ", ".join(offered))[:300]
