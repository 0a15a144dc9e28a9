"""Who gets in while a station's credentials change (security whitepaper A01, A05): the pure rule as a table,
the same rule with real hashes and the per-process cache of verified passwords, and the handshake over a real
socket against a daphne process (401, the refusal noted on the station, the pending key promoted)."""

import asyncio

import pytest

from stations.models import Station
from stations.services import admission
from stations.services.admission import (
    REFUSED_MALFORMED,
    REFUSED_NO_CREDENTIALS,
    REFUSED_OTHER_USER,
    REFUSED_WRONG_PASSWORD,
    REFUSED_WRONG_PASSWORD_PENDING,
    Admission,
    Presented,
    Verdict,
    credentials_check,
    credentials_decide,
    station_key_accepted,
    station_password_hash,
    station_set_password,
)
from tests.stations.ocpp_helpers import basic_auth, handshake

N, M, U, B = Presented.NOTHING, Presented.MALFORMED, Presented.OTHER_USER, Presented.BASIC
OK = Verdict(True)
PROMOTE = Verdict(True, promote=True)
PROVE = Verdict(True, prove=True)
NO_CREDENTIALS = Verdict(False, REFUSED_NO_CREDENTIALS)
WRONG = Verdict(False, REFUSED_WRONG_PASSWORD)
WRONG_BOTH = Verdict(False, REFUSED_WRONG_PASSWORD_PENDING)
GARBLED = Verdict(False, REFUSED_MALFORMED)
OTHER_USER = Verdict(False, REFUSED_OTHER_USER)
T, F = True, False

# fmt: off
RULES = [
    # case,                                        sent, current ok, pending ok, has current, has pending, required → verdict
    # Never given a password (profile 0, not configured yet): nothing to check, a header is ignored.
    ("new station, no header",                      N, F, F, F, F, F, OK),
    ("new station, some header",                    B, F, F, F, F, F, OK),
    ("new station, garbled header",                 M, F, F, F, F, F, OK),
    # Profile 0 with a freshly accepted key: as before (nothing) or the new key; anything else is refused.
    ("profile 0 + pending key, no header",          N, F, F, F, T, F, OK),
    ("profile 0 + pending key, the new key",        B, F, T, F, T, F, PROMOTE),
    ("profile 0 + pending key, a wrong password",   B, F, F, F, T, F, WRONG_BOTH),
    ("profile 0 + pending key, garbled header",     M, F, F, F, T, F, GARBLED),
    ("profile 0 + pending key, other username",     U, F, F, F, T, F, OTHER_USER),
    # Profile 1 (proven, or set by an operator): the password, nothing else.
    ("profile 1, its password",                     B, T, F, T, F, T, OK),
    ("profile 1, no header",                        N, F, F, T, F, T, NO_CREDENTIALS),
    ("profile 1, a wrong password",                 B, F, F, T, F, T, WRONG),
    ("profile 1, other username",                   U, F, F, T, F, T, OTHER_USER),
    # Profile 1 with a freshly accepted key: the old password or the new key; never nothing.
    ("profile 1 + pending key, the old password",   B, T, F, T, T, T, OK),
    ("profile 1 + pending key, the new key",        B, F, T, T, T, T, PROMOTE),
    ("profile 1 + pending key, no header",          N, F, F, T, T, T, NO_CREDENTIALS),
    ("profile 1 + pending key, a wrong password",   B, F, F, T, T, T, WRONG_BOTH),
    # After the new key was used once it is the only credential (promoted: current, required, no pending).
    ("promoted, the new key",                       B, T, F, T, F, T, OK),
    ("promoted, no header",                         N, F, F, T, F, T, NO_CREDENTIALS),
    # A stored password never used (data from before password_required): its first use binds the station.
    ("password never used, the password",           B, T, F, T, F, F, PROVE),
    ("password never used, no header",              N, F, F, T, F, F, OK),
]
# fmt: on


@pytest.mark.parametrize(
    "presented, current, pending, has_current, has_pending, required, expected",
    [r[1:] for r in RULES],
    ids=[r[0] for r in RULES],
)
def test_admission_rule(presented, current, pending, has_current, has_pending, required, expected):
    verdict = credentials_decide(
        presented=presented,
        current_matches=current,
        pending_matches=pending,
        has_current=has_current,
        has_pending=has_pending,
        required=required,
    )
    assert verdict == expected


@pytest.mark.parametrize(
    "header, presented",
    [
        ("", Presented.NOTHING),
        ("   ", Presented.NOTHING),
        ("Bearer abc", Presented.MALFORMED),
        ("Basic not-base64!", Presented.MALFORMED),
        ("Basic " + "Q1AtMQ==", Presented.MALFORMED),  # "CP-1" without ":"
        (basic_auth("CP-2", "secret-0123456789")["Authorization"], Presented.OTHER_USER),
        (basic_auth("CP-1", "secret-0123456789")["Authorization"], Presented.BASIC),
        (basic_auth("CP-1", "with:colon")["Authorization"], Presented.BASIC),
    ],
)
def test_the_authorization_header_is_read_as_a_charger_sends_it(header, presented):
    assert admission.basic_credentials(header, "CP-1")[0] is presented


OLD, NEW, OTHER = (
    "old-password-0123456789",
    "0123456789abcdef0123456789abcdef01234567",
    "not-the-key-0123456789",
)


def _admitted(current="", pending="", required=False) -> Admission:
    return Admission(
        "ok",
        1,
        station_password_hash(current) if current else "",
        pending_password_hash=station_password_hash(pending) if pending else "",
        password_required=required,
    )


def _check(admitted, password=None):
    header = basic_auth("CP-H", password)["Authorization"] if password else ""
    return credentials_check(authorization=header, ocpp_id="CP-H", admitted=admitted)


def test_with_real_hashes_a_profile_0_station_gets_in_as_before_or_with_its_new_key():
    admitted = _admitted(pending=NEW)
    assert _check(admitted) == OK
    assert _check(admitted, NEW) == PROMOTE
    assert not _check(admitted, OTHER).ok


def test_with_real_hashes_a_profile_1_station_gets_in_with_the_old_password_or_the_new_key():
    admitted = _admitted(current=OLD, pending=NEW, required=True)
    assert _check(admitted, OLD) == OK
    assert _check(admitted, NEW) == PROMOTE
    assert _check(admitted) == Verdict(False, REFUSED_NO_CREDENTIALS)
    assert _check(admitted, OTHER) == Verdict(False, REFUSED_WRONG_PASSWORD_PENDING)


def test_a_verified_password_remembered_for_one_hash_never_opens_another():
    first = _admitted(current=OLD, required=True)
    assert _check(first, OLD).ok  # now remembered for first.password_hash
    # The same password under a new hash (an operator set it again: new salt) is verified afresh, and a
    # different password under the remembered hash is not let in by the cache.
    second = _admitted(current=NEW, required=True)
    assert not _check(second, OLD).ok
    assert not _check(first, NEW).ok
    assert _check(first, OLD).ok


@pytest.mark.django_db
def test_promotion_makes_the_new_key_the_only_credential_and_binds_the_station_to_http_basic():
    station = Station.objects.create(ocpp_id="CP-PROMOTE")
    station_key_accepted(station_pk=station.pk, secret_hash=station_password_hash(NEW))
    station.refresh_from_db()
    admitted = admission.station_admit(ocpp_id="CP-PROMOTE", remote_addr="127.0.0.1")
    assert (admitted.password_hash, admitted.password_required) == ("", False)
    verdict = credentials_check(
        authorization=basic_auth("CP-PROMOTE", NEW)["Authorization"], ocpp_id="CP-PROMOTE", admitted=admitted
    )
    admission.station_credentials_used(station_pk=station.pk, admitted=admitted, verdict=verdict)
    station.refresh_from_db()
    assert station.password_hash == admitted.pending_password_hash
    assert (station.pending_password_hash, station.password_required) == ("", True)


@pytest.mark.django_db
def test_the_proof_of_an_older_key_does_not_overwrite_a_key_accepted_meanwhile():
    station = Station.objects.create(ocpp_id="CP-RACE")
    station_key_accepted(station_pk=station.pk, secret_hash=station_password_hash(OLD))
    admitted = admission.station_admit(ocpp_id="CP-RACE", remote_addr=None)
    newer = station_password_hash(NEW)
    station_key_accepted(station_pk=station.pk, secret_hash=newer)  # between the check and the write
    admission.station_credentials_used(station_pk=station.pk, admitted=admitted, verdict=PROMOTE)
    station.refresh_from_db()
    assert (station.password_hash, station.pending_password_hash, station.password_required) == (
        "",
        newer,
        False,
    )


@pytest.mark.django_db
def test_an_operator_setting_a_password_makes_it_required_and_clearing_it_lets_the_station_in_bare():
    station = Station.objects.create(ocpp_id="CP-OPS")
    station_key_accepted(station_pk=station.pk, secret_hash=station_password_hash(NEW))
    station.refresh_from_db()
    station_set_password(station=station, password=OLD)
    station.refresh_from_db()
    assert station.password_required and station.pending_password_hash == ""
    station_set_password(station=station, password="")
    station.refresh_from_db()
    assert (station.password_hash, station.password_required) == ("", False)


# --- over a real socket --------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_profile_0_station_with_an_accepted_key_keeps_connecting_bare_until_it_uses_the_key(daphne_server):
    station = Station.objects.create(ocpp_id="CP-P0")
    station_key_accepted(station_pk=station.pk, secret_hash=station_password_hash(NEW))

    outcomes = [asyncio.run(handshake(daphne_server, "CP-P0"))]  # as before: no credentials
    outcomes.append(asyncio.run(handshake(daphne_server, "CP-P0", OTHER)))
    outcomes.append(asyncio.run(handshake(daphne_server, "CP-P0", NEW)))  # the first use of the key
    outcomes.append(asyncio.run(handshake(daphne_server, "CP-P0")))  # from now on only the key
    outcomes.append(asyncio.run(handshake(daphne_server, "CP-P0", NEW)))
    assert outcomes == [True, 401, True, 401, True]
    station.refresh_from_db()
    assert station.password_required and station.pending_password_hash == ""
    assert station.last_refusal_reason == REFUSED_NO_CREDENTIALS and station.last_refused_at
    assert NEW not in daphne_server.output()


@pytest.mark.django_db(transaction=True)
def test_a_profile_1_station_keeps_its_old_password_until_it_uses_the_new_key(daphne_server):
    station = Station.objects.create(ocpp_id="CP-P1")
    station_set_password(station=station, password=OLD)
    station_key_accepted(station_pk=station.pk, secret_hash=station_password_hash(NEW))

    outcomes = [asyncio.run(handshake(daphne_server, "CP-P1", OLD))]
    outcomes.append(asyncio.run(handshake(daphne_server, "CP-P1")))
    outcomes.append(asyncio.run(handshake(daphne_server, "CP-P1", NEW)))
    outcomes.append(asyncio.run(handshake(daphne_server, "CP-P1", OLD)))  # A01.FR.03, once the key was used
    outcomes.append(asyncio.run(handshake(daphne_server, "CP-P1", NEW)))
    assert outcomes == [True, 401, True, 401, True]
    station.refresh_from_db()
    assert station.last_refusal_reason == REFUSED_WRONG_PASSWORD
    assert OLD not in daphne_server.output() and NEW not in daphne_server.output()


@pytest.mark.django_db
def test_admission_registers_a_new_station_with_the_models_defaults_once(settings):
    settings.OCPP_NEW_STATIONS_PER_IP_PER_HOUR = 2
    first = admission.station_admit(ocpp_id="CP-NEW-A", remote_addr="10.0.0.7")
    assert (first.outcome, first.created, first.checks_credentials) == ("ok", True, False)
    station = Station.objects.get(ocpp_id="CP-NEW-A")
    assert station.pk == first.station_pk
    assert station.registered_from_ip == "10.0.0.7"
    assert station.setup_state == Station.SetupState.NEEDS_CONFIGURATION and station.currency == "EUR"
    assert station.created_at is not None and station.updated_at is not None and not station.is_connected
    again = admission.station_admit(ocpp_id="CP-NEW-A", remote_addr="10.0.0.7")
    assert (again.outcome, again.station_pk, again.created) == ("ok", first.station_pk, False)
    assert admission.station_admit(ocpp_id="CP-NEW-B", remote_addr="10.0.0.7").created
    # The address's limit: no third new station from it, while known ones and other addresses get in.
    assert admission.station_admit(ocpp_id="CP-NEW-C", remote_addr="10.0.0.7").outcome == "throttled"
    assert admission.station_admit(ocpp_id="CP-NEW-A", remote_addr="10.0.0.7").outcome == "ok"
    assert admission.station_admit(ocpp_id="CP-NEW-C", remote_addr="10.0.0.8").created
    assert admission.station_admit(ocpp_id="CP-NEW-D", remote_addr=None).created
    assert Station.objects.filter(ocpp_id__startswith="CP-NEW-").count() == 4
