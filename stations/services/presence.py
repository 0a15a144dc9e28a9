"""Which connection holds a station: online/offline as the database records it (newest connection wins)."""

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from stations.models import OcppCall, Station


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
