"""Who may connect: identity rules, admission of known and new stations (self-registration with a per-address
limit), HTTP Basic (security profile 1) and the station's stored password."""

import base64
import binascii
import hmac
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.db import IntegrityError, transaction
from django.utils import timezone

from stations.models import Station

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
