"""processes_reap never takes the calling process for dead: its heartbeat and the reap are two calls that an
overloaded ORM pool can separate by more than the dead window (docs/benchmarks.md, "Connect path and memory
per connection")."""

from datetime import timedelta

from django.utils import timezone

from stations.models import ServerProcess, Station
from stations.services import presence


def test_a_stale_row_of_the_calling_process_keeps_its_stations_and_a_dead_process_loses_them(db):
    stale = timezone.now() - timedelta(hours=1)
    ServerProcess.objects.create(pk=presence.PROCESS_ID, host="here", pid=1, heartbeat_at=stale)
    ServerProcess.objects.create(pk="d" * 32, host="gone", pid=2, heartbeat_at=stale)
    mine = Station.objects.create(ocpp_id="REAP-MINE", is_connected=True, server_process=presence.PROCESS_ID)
    theirs = Station.objects.create(ocpp_id="REAP-DEAD", is_connected=True, server_process="d" * 32)

    assert presence.processes_reap() == 1

    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert mine.is_connected and not theirs.is_connected


def test_the_calling_process_once_stopped_is_not_alive_for_the_reaper(db):
    now = timezone.now()
    ServerProcess.objects.create(pk=presence.PROCESS_ID, host="here", pid=1, heartbeat_at=now, stopped_at=now)
    station = Station.objects.create(
        ocpp_id="REAP-STOP", is_connected=True, server_process=presence.PROCESS_ID
    )

    assert presence.processes_reap() == 1
    station.refresh_from_db()
    assert not station.is_connected
