"""Which connection holds a station: online/offline as the database records it (newest connection wins),
and the liveness of the server processes that hold connections: a process that stops proving it is alive
(killed, host gone) has its stations marked offline by whoever notices first."""

import functools
import os
import socket
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from eflux import bulk
from stations.models import OcppCall, ServerProcess, Station

# This process's identity in ServerProcess; a new one per process start (a restarted process is new).
PROCESS_ID = uuid.uuid4().hex


def station_connect(*, station_pk: int, connection_id: str, ocpp_version: str) -> tuple[str, bool]:
    """This connection now holds the station. Returns (held by, calls pending): the other server process the
    database had it connected through ("" if none), whose old socket must be told to close (the row lock
    orders two connects of one station), and whether calls wait for it (else nothing wakes the call queue)."""
    now = timezone.now()
    if connection.vendor == "postgresql":
        # One statement in autocommit (its own transaction): the row locked, its previous holder read and
        # presence written, and the calls waiting for the station, in one round trip instead of five (BEGIN,
        # SELECT ... FOR UPDATE, SELECT calls, UPDATE, COMMIT; every reconnect of a storm runs it).
        with connection.cursor() as cursor:
            cursor.execute(
                _connect_sql(),
                [
                    connection_id,
                    PROCESS_ID,
                    ocpp_version,
                    now,
                    now,
                    station_pk,
                    OcppCall.Status.SENT,
                    OcppCall.Status.PENDING,
                ],
            )
            row = cursor.fetchone()
        if row is None:
            return "", False
        was_connected, server_process, statuses = row
        calls = set(statuses or ())
    else:
        with transaction.atomic():
            was_connected, server_process, calls = _station_connect_rows(
                station_pk, connection_id, ocpp_version, now
            )
    if OcppCall.Status.SENT in calls:
        # A call sent over an older socket will not be answered on this one: settle it now so the queue
        # moves (its old consumer records nothing later: outcomes only land on calls still marked sent).
        OcppCall.objects.filter(station_id=station_pk, status=OcppCall.Status.SENT).exclude(
            connection_id=connection_id
        ).update(
            status=OcppCall.Status.OFFLINE,
            finished_at=now,
            error_description="the station reconnected before answering",
        )
    held_by = server_process if was_connected and server_process != PROCESS_ID else ""
    return held_by or "", OcppCall.Status.PENDING in calls


@functools.cache
def _connect_sql() -> str:
    station = connection.ops.quote_name(Station._meta.db_table)
    calls = connection.ops.quote_name(OcppCall._meta.db_table)
    return (
        f"UPDATE {station} AS s SET is_connected = true, connection_id = %s, server_process = %s, "
        "ocpp_version = %s, connected_at = %s, last_seen_at = %s "
        f"FROM (SELECT id, is_connected, server_process FROM {station} WHERE id = %s FOR UPDATE) AS old "
        "WHERE s.id = old.id "
        "RETURNING old.is_connected, old.server_process, "
        f"ARRAY(SELECT DISTINCT c.status FROM {calls} AS c WHERE c.station_id = old.id AND c.status IN (%s, %s))"
    )


def _station_connect_rows(
    station_pk: int, connection_id: str, ocpp_version: str, now
) -> tuple[bool, str, set]:
    """Other databases (SQLite): the previous holder, the calls' states and the presence UPDATE as plain
    statements in the caller's transaction."""
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT is_connected, server_process FROM {Station._meta.db_table} WHERE id = %s{lock}",
            [station_pk],
        )
        before = cursor.fetchone()
        cursor.execute(
            f"SELECT DISTINCT status FROM {OcppCall._meta.db_table} WHERE station_id = %s AND status IN (%s, %s)",
            [station_pk, OcppCall.Status.SENT, OcppCall.Status.PENDING],
        )
        calls = {row[0] for row in cursor.fetchall()}
    bulk.rows_update(
        Station,
        {
            "is_connected": True,
            "connection_id": connection_id,
            "server_process": PROCESS_ID,
            "ocpp_version": ocpp_version,
            "connected_at": now,
            "last_seen_at": now,
        },
        "id = %s",
        [station_pk],
    )
    if before is None:
        return False, "", calls
    return bool(before[0]), before[1] or "", calls


def station_holder(*, station_pk: int) -> str:
    """The server process the database says holds the station's live socket ("" if it is offline)."""
    holder = Station.objects.filter(pk=station_pk, is_connected=True).values_list("server_process", flat=True)
    return holder.first() or ""


@transaction.atomic
def station_disconnect(*, station_pk: int, connection_id: str) -> bool:
    """Mark the station offline if `connection_id` is still its live connection (a superseded socket's late
    disconnect changes nothing). Calls this connection sent and never saw answered end as offline; when the
    station really went away, so do the calls still queued for it."""
    now = timezone.now()
    # Plain statements, as in station_connect: every disconnect runs this (a mass disconnect, thousands).
    was_current = bool(
        bulk.rows_update(
            Station,
            {"is_connected": False, "disconnected_at": now},
            "id = %s AND connection_id = %s",
            [station_pk, connection_id],
        )
    )
    which = "(status = %s AND connection_id = %s)" + (" OR status = %s" if was_current else "")
    bulk.rows_update(
        OcppCall,
        {
            "status": OcppCall.Status.OFFLINE,
            "finished_at": now,
            "error_description": "the station disconnected before answering",
        },
        f"station_id = %s AND ({which})",
        [
            station_pk,
            OcppCall.Status.SENT,
            connection_id,
            *([OcppCall.Status.PENDING] if was_current else []),
        ],
    )
    return was_current


# --- server process liveness ------------------------------------------------------------------------


def _settle_calls_of(station_pks, why: str) -> None:
    OcppCall.objects.filter(
        station_id__in=station_pks, status__in=[OcppCall.Status.PENDING, OcppCall.Status.SENT]
    ).update(status=OcppCall.Status.OFFLINE, finished_at=timezone.now(), error_description=why)


def process_register() -> None:
    """Before this process marks its first station online (so a reaper never sees an unknown process)."""
    now = timezone.now()
    ServerProcess.objects.update_or_create(
        pk=PROCESS_ID,
        defaults={"host": socket.gethostname()[:255], "pid": os.getpid(), "heartbeat_at": now},
        create_defaults={
            "host": socket.gethostname()[:255],
            "pid": os.getpid(),
            "started_at": now,
            "heartbeat_at": now,
        },
    )


def process_beat(*, held: dict[int, str]) -> list[int]:
    """This process is alive. `held`: station pk → connection id of the sockets this process really holds.

    Reconciles the database with them: a station marked online through this process without a socket here
    (a handshake that never completed, a disconnect whose write failed) goes offline; a socket here whose
    station the database gives to a newer connection is returned, to be closed (newest connection wins even
    when the channel layer could not deliver the "superseded" message)."""
    now = timezone.now()
    ServerProcess.objects.filter(pk=PROCESS_ID).update(heartbeat_at=now)
    rows = list(
        Station.objects.filter(server_process=PROCESS_ID, is_connected=True).values_list(
            "pk", "connection_id", "connected_at"
        )
    )
    marked = {pk: conn for pk, conn, _ in rows}
    # A handshake in progress has written presence but has not registered its socket yet: leave it alone.
    # Filtered here, not only by the UPDATE's own condition: in a reconnect storm hundreds of handshakes are
    # in progress at every beat, and an ORM UPDATE (compiled, a round trip) for each was 14 % of the
    # process's CPU while 2,000 known stations reconnected at 250/s (docs/benchmarks.md, 2026-12-01 night).
    grace = now - timedelta(seconds=max(settings.OCPP_PROCESS_BEAT_SECONDS * 2, 10))
    orphans = [
        pk
        for pk, conn, connected_at in rows
        if held.get(pk) != conn and connected_at is not None and connected_at < grace
    ]
    for pk in orphans:  # rare: one conditional UPDATE each, so a reconnect in between is never undone
        if Station.objects.filter(
            pk=pk, connection_id=marked[pk], is_connected=True, connected_at__lt=grace
        ).update(is_connected=False, disconnected_at=now):
            _settle_calls_of([pk], "the station's connection is gone")
    return [pk for pk, conn in held.items() if marked.get(pk) != conn]


def processes_reap() -> int:
    """Mark offline every station held by a process that stopped proving it is alive; return how many."""
    now = timezone.now()
    dead_before = now - timedelta(seconds=settings.OCPP_PROCESS_DEAD_SECONDS)
    # The calling process is alive whatever its row says: its beat's heartbeat and this reap are two calls on
    # the ORM pool, and in an overloaded reconnect storm the second waited more than the dead window behind
    # handshakes, so the only daphne process marked 1,931 of its own stations offline (docs/benchmarks.md).
    alive = ServerProcess.objects.filter(
        Q(heartbeat_at__gte=dead_before) | Q(pk=PROCESS_ID), stopped_at__isnull=True
    )
    with transaction.atomic():
        stranded = list(
            Station.objects.filter(is_connected=True)
            .exclude(server_process__in=alive.values("pk"))
            .values_list("pk", flat=True)
        )
        if stranded:
            Station.objects.filter(pk__in=stranded).exclude(server_process__in=alive.values("pk")).update(
                is_connected=False, disconnected_at=now
            )
            _settle_calls_of(stranded, "the server process holding the station stopped")
        # Forget processes gone for a day (their rows only serve the reaper).
        ServerProcess.objects.filter(heartbeat_at__lt=now - timedelta(days=1)).delete()
    return len(stranded)


def process_stop() -> int:
    """This process is shutting down (SIGTERM): its stations go offline now, not after the dead window."""
    now = timezone.now()
    with transaction.atomic():
        ServerProcess.objects.filter(pk=PROCESS_ID).update(stopped_at=now)
        held = list(
            Station.objects.filter(server_process=PROCESS_ID, is_connected=True).values_list("pk", flat=True)
        )
        Station.objects.filter(pk__in=held, server_process=PROCESS_ID).update(
            is_connected=False, disconnected_at=now
        )
        _settle_calls_of(held, "the server process holding the station shut down")
    return len(held)
