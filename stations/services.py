"""Station-side services: admission (self-registration, HTTP Basic, throttling), presence, the OCPP journal,
and what station-initiated messages change. Version-neutral: the OCPP handlers (stations/ocpp/v16.py) only
translate messages into these calls. Each write commits before the handler answers the station."""

import base64
import binascii
import hmac
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from .models import Connector, OcppCall, Station

# OCPP-J 2.0.1 part 4 §3.1.1 (the rule the 1.6 security whitepaper's profiles assume): identity is an
# identifierString (a-z A-Z 0-9 * - _ = : + | @ .) of at most 48 characters, without ':' because the
# identity is also the HTTP Basic username and ':' separates username from password (RFC 7617).
IDENTITY_RE = re.compile(r"[A-Za-z0-9*\-_=+|@.]{1,48}")


def identity_is_valid(ocpp_id: str) -> bool:
    return bool(IDENTITY_RE.fullmatch(ocpp_id or ""))


# --- Admission ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Admission:
    outcome: str  # "ok" | "throttled"
    station_pk: int | None = None
    password_hash: str = ""
    created: bool = False


def station_admit(*, ocpp_id: str, remote_addr: str | None) -> Admission:
    """Find the station, or register an unknown one in state *needs configuration* (the manual: it
    "should appear in the Charging Stations menu"), unless this address already created too many."""
    station = Station.objects.filter(ocpp_id=ocpp_id).only("pk", "password_hash").first()
    if station:
        return Admission("ok", station.pk, station.password_hash)
    limit = settings.OCPP_NEW_STATIONS_PER_IP_PER_HOUR
    recent = Station.objects.filter(
        registered_from_ip=remote_addr, created_at__gte=timezone.now() - timedelta(hours=1)
    ).count()
    if remote_addr and recent >= limit:
        return Admission("throttled")
    try:
        with transaction.atomic():
            station = Station.objects.create(ocpp_id=ocpp_id, registered_from_ip=remote_addr or None)
    except IntegrityError:  # the same new station connected twice at once
        station = Station.objects.get(ocpp_id=ocpp_id)
        return Admission("ok", station.pk, station.password_hash)
    return Admission("ok", station.pk, "", created=True)


def basic_auth_ok(*, authorization: str, ocpp_id: str, password_hash: str) -> bool:
    """Security profile 1 (security whitepaper A00.FR.202-204): HTTP Basic, username = the OCPP ID.
    Deliberately slow (Django's password hasher): call it off the ORM thread."""
    scheme, _, encoded = (authorization or "").partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return False
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return False
    username, sep, password = decoded.partition(":")
    if not sep or username != ocpp_id:
        return False
    # PBKDF2 costs ~0.3 s of CPU here; a reconnect storm of a few thousand chargers would queue minutes of it.
    # Remember recent successes in this process, keyed by an HMAC of (stored hash, password): a changed
    # password_hash (new AuthorizationKey) or a different password never matches a remembered entry.
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
    """Store a station's Basic-auth password (its AuthorizationKey) hashed; empty removes it."""
    station.password_hash = station_password_hash(password) if password else ""
    station.save(update_fields=["password_hash", "updated_at"])
    return station


# --- Presence -------------------------------------------------------------------------------------


@transaction.atomic
def station_connect(*, station_pk: int, connection_id: str, ocpp_version: str) -> None:
    now = timezone.now()
    Station.objects.filter(pk=station_pk).update(
        is_connected=True,
        connection_id=connection_id,
        ocpp_version=ocpp_version,
        connected_at=now,
        last_seen_at=now,
    )
    # A call sent over an older socket will not be answered on this one: settle it now so the queue moves
    # (its old consumer records nothing later: outcomes only land on calls still marked sent).
    OcppCall.objects.filter(station_id=station_pk, status=OcppCall.Status.SENT).exclude(
        connection_id=connection_id
    ).update(
        status=OcppCall.Status.OFFLINE,
        finished_at=now,
        error_description="the station reconnected before answering",
    )


@transaction.atomic
def station_disconnect(*, station_pk: int, connection_id: str) -> bool:
    """Mark the station offline if `connection_id` is still its live connection (a superseded socket's late
    disconnect changes nothing). Calls this connection sent and never saw answered end as offline; when the
    station really went away, so do the calls still queued for it."""
    now = timezone.now()
    was_current = bool(
        Station.objects.filter(pk=station_pk, connection_id=connection_id).update(
            is_connected=False, disconnected_at=now
        )
    )
    offline = OcppCall.objects.filter(station_id=station_pk)
    offline = offline.filter(
        Q(status=OcppCall.Status.SENT, connection_id=connection_id)
        | (Q(status=OcppCall.Status.PENDING) if was_current else Q(pk__in=[]))
    )
    offline.update(
        status=OcppCall.Status.OFFLINE,
        finished_at=now,
        error_description="the station disconnected before answering",
    )
    return was_current


# --- Journal --------------------------------------------------------------------------------------


# Journal rows are written by stations/ocpp/journal.py (group commit, one writer per process).


# --- Station-initiated messages --------------------------------------------------------------------


def parse_station_datetime(value: str | None) -> datetime | None:
    """OCPP dateTime (1.6 §2.1: ISO 8601, UTC expected). A charger without a zone is read as UTC."""
    if value is None:
        return None
    parsed = parse_datetime(value)
    if parsed is None:
        raise ValueError(f"not an ISO 8601 date-time: {value!r}")
    if timezone.is_naive(parsed):
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def station_boot(
    *,
    station_pk: int,
    vendor: str,
    model: str,
    serial_number: str = "",
    charge_box_serial_number: str = "",
    firmware_version: str = "",
    iccid: str = "",
    imsi: str = "",
    meter_type: str = "",
    meter_serial_number: str = "",
) -> None:
    Station.objects.filter(pk=station_pk).update(
        vendor=vendor,
        model=model,
        serial_number=serial_number,
        charge_box_serial_number=charge_box_serial_number,
        firmware_version=firmware_version,
        iccid=iccid,
        imsi=imsi,
        meter_type=meter_type,
        meter_serial_number=meter_serial_number,
        last_boot_at=timezone.now(),
        updated_at=timezone.now(),
    )


def station_after_boot(station_pk: int) -> None:
    """Runs after each accepted BootNotification has been answered (an @after hook), so it may call the
    station. Follow-up work after a boot (e.g. resuming configuration jobs) starts here."""
    from .setup import configuration_after_boot  # portal (issue #3): resume waiting configuration jobs

    configuration_after_boot(station_pk=station_pk)


def connector_status_report(
    *,
    station_pk: int,
    connector_id: int,
    status: str,
    error_code: str,
    info: str = "",
    vendor_id: str = "",
    vendor_error_code: str = "",
    timestamp: datetime | None = None,
) -> bool:
    """Record a StatusNotification (OCPP 1.6 §4.9). Notifications can arrive out of order (queued while
    offline): one with an older timestamp than the stored state never overwrites it. True if applied.
    The common case (known connector, newer state) is one conditional UPDATE."""
    timestamp = timestamp or timezone.now()
    fields = {
        "status": status,
        "error_code": error_code,
        "info": info,
        "vendor_id": vendor_id,
        "vendor_error_code": vendor_error_code,
        "status_timestamp": timestamp,
    }
    connector = Connector.objects.filter(station_id=station_pk, connector_id=connector_id)
    not_newer = Q(status_timestamp__isnull=True) | Q(status_timestamp__lte=timestamp)
    if connector.filter(not_newer).update(**fields):
        return True
    if connector.exists():
        return False  # stored state is newer
    try:
        with transaction.atomic():
            Connector.objects.create(station_id=station_pk, connector_id=connector_id, **fields)
        return True
    except IntegrityError:  # created concurrently (another connection of the same station)
        return bool(connector.filter(not_newer).update(**fields))


def station_firmware_status(*, station_pk: int, status: str) -> None:
    Station.objects.filter(pk=station_pk).update(firmware_status=status, updated_at=timezone.now())


def station_diagnostics_status(*, station_pk: int, status: str) -> None:
    Station.objects.filter(pk=station_pk).update(diagnostics_status=status, updated_at=timezone.now())


def station_security_event(
    *, station_pk: int, event_type: str, timestamp: datetime, tech_info: str = ""
) -> None:
    Station.objects.filter(pk=station_pk).update(
        security_event=event_type[:50],
        security_event_info=tech_info[:255],
        security_event_at=timestamp,
        updated_at=timezone.now(),
    )


# vendorId → handler(station_pk, message_id, data) -> (status, data). OCPP 1.6 §4.3: a vendorId nobody
# handles is answered UnknownVendorId.
DATA_TRANSFER_HANDLERS: dict[str, Callable[[int, str, str | None], tuple[str, str | None]]] = {}


def station_data_transfer(*, station_pk: int, vendor_id: str, message_id: str = "", data: str | None = None):
    handler = DATA_TRANSFER_HANDLERS.get(vendor_id)
    if handler is None:
        return "UnknownVendorId", None
    return handler(station_pk, message_id, data)
