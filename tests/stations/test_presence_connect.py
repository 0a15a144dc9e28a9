"""station_connect (one statement on PostgreSQL, plain statements in a transaction elsewhere) and the
handshake's single trip for admission and presence (stations/consumers.py `_admit_and_connect`)."""

import pytest

from stations.consumers import _admit_and_connect
from stations.models import OcppCall, Station
from stations.services import presence
from stations.services.admission import station_key_accepted, station_password_hash


@pytest.mark.django_db
def test_connect_marks_the_station_online_and_names_the_other_process_that_held_it():
    station = Station.objects.create(ocpp_id="PC-1")
    assert presence.station_connect(station_pk=station.pk, connection_id="c1", ocpp_version="ocpp1.6") == (
        "",
        False,
    )
    station.refresh_from_db()
    assert station.is_connected and station.connection_id == "c1" and station.ocpp_version == "ocpp1.6"
    assert station.server_process == presence.PROCESS_ID
    assert station.connected_at is not None and station.last_seen_at == station.connected_at
    # Held by this process already: nobody to tell.
    assert (
        presence.station_connect(station_pk=station.pk, connection_id="c2", ocpp_version="ocpp1.6")[0] == ""
    )
    Station.objects.filter(pk=station.pk).update(server_process="other-process")
    assert presence.station_connect(station_pk=station.pk, connection_id="c3", ocpp_version="ocpp2.0.1") == (
        "other-process",
        False,
    )
    # Marked offline: whoever held it last is not told.
    Station.objects.filter(pk=station.pk).update(server_process="other-process", is_connected=False)
    assert (
        presence.station_connect(station_pk=station.pk, connection_id="c4", ocpp_version="ocpp1.6")[0] == ""
    )
    station.refresh_from_db()
    assert (station.connection_id, station.server_process) == ("c4", presence.PROCESS_ID)


@pytest.mark.django_db
def test_connect_reports_pending_calls_and_settles_calls_sent_over_an_older_socket():
    station = Station.objects.create(ocpp_id="PC-2")
    sent = OcppCall.objects.create(
        station=station, action="Reset", status=OcppCall.Status.SENT, connection_id="old"
    )
    pending = OcppCall.objects.create(station=station, action="Reset")
    done = OcppCall.objects.create(station=station, action="Reset", status=OcppCall.Status.ANSWERED)
    assert presence.station_connect(station_pk=station.pk, connection_id="new", ocpp_version="ocpp1.6") == (
        "",
        True,
    )
    sent.refresh_from_db()
    pending.refresh_from_db()
    done.refresh_from_db()
    assert sent.status == OcppCall.Status.OFFLINE and sent.finished_at is not None
    assert pending.status == OcppCall.Status.PENDING and done.status == OcppCall.Status.ANSWERED


@pytest.mark.django_db
def test_a_station_without_credentials_is_admitted_and_online_in_one_trip_one_with_them_is_not():
    bare = Station.objects.create(ocpp_id="PC-BARE")
    admitted, connected = _admit_and_connect(
        ocpp_id="PC-BARE", remote_addr="127.0.0.1", connection_id="k1", ocpp_version="ocpp1.6"
    )
    assert admitted.station_pk == bare.pk and connected == ("", False)
    assert Station.objects.get(pk=bare.pk).connection_id == "k1"

    keyed = Station.objects.create(ocpp_id="PC-KEY")
    station_key_accepted(station_pk=keyed.pk, secret_hash=station_password_hash("0123456789abcdef0123"))
    admitted, connected = _admit_and_connect(
        ocpp_id="PC-KEY", remote_addr="127.0.0.1", connection_id="k2", ocpp_version="ocpp1.6"
    )
    assert admitted.checks_credentials and connected is None  # verified first, then marked online
    assert not Station.objects.get(pk=keyed.pk).is_connected

    admitted, connected = _admit_and_connect(
        ocpp_id="PC-FRESH", remote_addr=None, connection_id="k3", ocpp_version="ocpp1.6"
    )
    assert admitted.created and connected == ("", False)
    assert Station.objects.get(ocpp_id="PC-FRESH").is_connected


@pytest.mark.django_db
def test_the_beat_marks_offline_only_sockets_gone_for_longer_than_a_handshake_takes():
    from datetime import timedelta

    from django.utils import timezone

    old = timezone.now() - timedelta(minutes=5)
    gone, handshaking, held, moved = (
        Station.objects.create(ocpp_id=f"PB-{n}", is_connected=True, server_process=presence.PROCESS_ID)
        for n in range(4)
    )
    Station.objects.filter(pk__in=[gone.pk, held.pk, moved.pk]).update(connection_id="db", connected_at=old)
    Station.objects.filter(pk=handshaking.pk).update(connection_id="db", connected_at=timezone.now())
    pending = OcppCall.objects.create(station=gone, action="Reset")
    superseded = presence.process_beat(held={held.pk: "db", moved.pk: "older-socket"})
    assert superseded == [moved.pk]  # the database gives it to a newer connection: this socket closes
    connected = dict(Station.objects.filter(ocpp_id__startswith="PB-").values_list("ocpp_id", "is_connected"))
    # PB-3: the connection the database names is not held here either, so it is gone too.
    assert connected == {"PB-0": False, "PB-1": True, "PB-2": True, "PB-3": False}
    pending.refresh_from_db()
    assert pending.status == OcppCall.Status.OFFLINE
