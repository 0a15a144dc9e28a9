"""EVSE IDs: generated batches (eMI3 format), the pool Configure Connectors picks from, and the CSV export."""

import csv
import io

from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from accounts.audit import audit_record
from stations.models import Connector, EvseId, EvseIdBatch

# --- EVSE IDs ---------------------------------------------------------------------------------------


def evse_id_format(country_code: str, operator_id: str, sequence: int) -> str:
    """eMI3 EVSE ID / ISO 15118-2 Annex H: <Country Code>*<Operator ID>*E<Power Outlet ID>.
    Country code ISO 3166-1 alpha-2, operator id 3 alphanumerics, ID type 'E', outlet id alphanumeric
    (here six digits, zero-padded; 1-30 characters allowed)."""
    return f"{country_code.upper()}*{operator_id.upper()}*E{sequence:06d}"


@transaction.atomic
def evse_id_batch_create(*, country_code: str, operator_id: str, count: int, acting_user) -> EvseIdBatch:
    country_code, operator_id = country_code.upper(), operator_id.upper()
    batch = EvseIdBatch.objects.create(
        country_code=country_code, operator_id=operator_id, count=count, created_by=acting_user
    )
    # A concurrent batch for the same operator trips evseid_unique_sequence and rolls this one back.
    start = (
        EvseId.objects.filter(country_code=country_code, operator_id=operator_id).aggregate(
            m=Max("sequence")
        )["m"]
        or 0
    ) + 1
    EvseId.objects.bulk_create(
        EvseId(
            evse_id=evse_id_format(country_code, operator_id, seq),
            country_code=country_code,
            operator_id=operator_id,
            sequence=seq,
            batch=batch,
        )
        for seq in range(start, start + count)
    )
    audit_record(
        actor=acting_user,
        action="evse_ids.generate",
        obj=batch,
        changes={"count": count, "first": evse_id_format(country_code, operator_id, start)},
    )
    return batch


def evse_ids_next_free(count: int) -> list[EvseId]:
    """Preview for the form (not reserved): the IDs autopick would take now, in order."""
    return list(EvseId.objects.filter(status=EvseId.Status.AVAILABLE).order_by("id")[:count]) if count else []


def evse_id_autopick(*, connector: Connector) -> EvseId | None:
    """Assign the next free EVSE ID to a connector. Must run inside the caller's transaction.

    PostgreSQL: SELECT ... FOR UPDATE SKIP LOCKED, so two savers each lock a different row instead of
    both reading the same "next" one. SQLite: the write transaction is taken at BEGIN (IMMEDIATE), so
    savers are serialised anyway."""
    existing = EvseId.objects.filter(connector=connector).first()
    if existing:
        return existing
    qs = EvseId.objects.filter(status=EvseId.Status.AVAILABLE).order_by("id")
    if connection.features.has_select_for_update_skip_locked:
        qs = qs.select_for_update(skip_locked=True)
    evse = qs.first()
    if evse is None:
        return None
    evse.status, evse.connector, evse.assigned_at = EvseId.Status.ASSIGNED, connector, timezone.now()
    evse.save(update_fields=["status", "connector", "assigned_at"])
    return evse


def evse_ids_csv(queryset, link_for) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["evse_id", "status", "station", "connector", "qr_payload"])
    for e in queryset.select_related("connector__station"):
        c = e.connector
        writer.writerow(
            [e.evse_id, e.status, c.station.ocpp_id if c else "", c.connector_id if c else "", link_for(e)]
        )
    return out.getvalue()
