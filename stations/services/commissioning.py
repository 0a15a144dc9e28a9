"""The commissioning test: after the connectors are configured, prove one connector works end to end and keep
the result as a report for the installer and the site owner.

Steps (each bounded by COMMISSIONING_STEP_SECONDS, the meter by COMMISSIONING_METER_SECONDS):
1. TriggerMessage StatusNotification (OCPP 1.6 §5.17) and the connector reports Available;
2. RemoteStartTransaction with the test card (billing.remote, the portal's own code path: authorized first);
3. the session starts (StartTransaction);
4. the meter rises (MeterValues; TriggerMessage MeterValues asks for fresh readings);
5. RemoteStopTransaction, the session is completed;
6. the connector is Available again.
The first failing step ends the run with its reason; a session it started is stopped."""

import time

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.audit import audit_record
from billing.models import ChargingSession
from billing.remote import session_remote_start, session_remote_stop
from eflux.jobs import enqueue
from eflux.lib.id_tags import normalize_id_tag
from eflux.pdf import pdf_from_template
from stations import calls
from stations.models import CommissioningRun, Connector, Station

from .commands import call_meaning

RUN_TASK = "stations.tasks.commissioning_run_task"
POLL_SECONDS = 1.0
Run = CommissioningRun


class _Failed(Exception):
    pass


@transaction.atomic
def commissioning_start(*, station: Station, connector_id: int, id_tag: str, acting_user) -> CommissioningRun:
    run = Run.objects.create(
        station=station,
        connector_id=connector_id,
        id_tag=normalize_id_tag(id_tag, strict=False),
        requested_by=acting_user,
    )
    audit_record(
        actor=acting_user,
        action="station.commissioning",
        obj=station,
        station=station,
        account=station.account,
        changes={"connector": connector_id, "run": run.pk},
    )
    transaction.on_commit(lambda: enqueue(RUN_TASK, run.pk))
    return run


def _step(run: CommissioningRun, label: str, state: str = "busy", detail: str = "") -> None:
    if run.steps and run.steps[-1]["label"] == label:
        run.steps[-1].update(state=state, detail=detail)
    else:
        run.steps.append({"label": label, "state": state, "detail": detail})
    Run.objects.filter(pk=run.pk).update(steps=run.steps)


def _until(predicate, seconds: float):
    deadline = time.monotonic() + seconds
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(POLL_SECONDS)


def _call(run, station, action: str, payload: dict, label: str):
    call = calls.call_and_wait(
        station=station, action=action, payload=payload, requested_by=run.requested_by, source="commissioning"
    )
    meaning = call_meaning(call)
    if not meaning.ok:
        raise _Failed(f"{label}: {meaning.text}.")
    return call


def _connector_status(station: Station, connector_id: int) -> str:
    return (
        Connector.objects.filter(station=station, connector_id=connector_id)
        .values_list("status", flat=True)
        .first()
        or ""
    )


def commissioning_run(*, run_id: int) -> CommissioningRun | None:
    run = (
        Run.objects.select_related("station", "requested_by")
        .filter(pk=run_id, status=Run.Status.RUNNING)
        .first()
    )
    if run is None:
        return None
    station, cid = run.station, run.connector_id
    step_s, meter_s = settings.COMMISSIONING_STEP_SECONDS, settings.COMMISSIONING_METER_SECONDS
    session = None
    try:
        label = "Connector reports its status (TriggerMessage StatusNotification)"
        _step(run, label)
        if not Station.objects.filter(pk=station.pk, is_connected=True).exists():
            raise _Failed("The station is offline.")
        asked = timezone.now()
        _call(
            run,
            station,
            "TriggerMessage",
            {"requestedMessage": "StatusNotification", "connectorId": cid},
            label,
        )
        fresh = _until(
            lambda: (
                Connector.objects.filter(station=station, connector_id=cid, status_timestamp__gte=asked)
                .values_list("status", flat=True)
                .first()
            ),
            step_s,
        )
        status = fresh or _connector_status(station, cid)
        if status != "Available":
            raise _Failed(f"Connector {cid} reports {status or 'nothing'}, not Available.")
        _step(run, label, "done", "Available")

        label = f"Remote start with test card {run.id_tag}"
        _step(run, label)
        began = timezone.now()
        result = session_remote_start(
            station=station, id_tag=run.id_tag, connector_id=cid, acting_user=run.requested_by
        )
        if not result.ok:
            raise _Failed(result.message)
        session = _until(
            lambda: ChargingSession.objects.filter(
                station=station,
                connector_id=cid,
                status=ChargingSession.Status.ACTIVE,
                start_received_at__gte=began,
            ).first(),
            step_s,
        )
        if session is None:
            raise _Failed(f"The station accepted the remote start but started no session within {step_s} s.")
        Run.objects.filter(pk=run.pk).update(session=session)
        _step(run, label, "done", f"session {session.transaction_id} started")

        label = "Meter rises while charging"
        _step(run, label)

        def risen():
            calls.call_and_wait(
                station=station,
                action="TriggerMessage",
                payload={"requestedMessage": "MeterValues", "connectorId": cid},
                requested_by=run.requested_by,
                source="commissioning",
            )
            time.sleep(POLL_SECONDS)
            return (
                ChargingSession.objects.filter(pk=session.pk, energy_wh__gt=0)
                .values_list("energy_wh", flat=True)
                .first()
            )

        energy = _until(risen, meter_s)
        if not energy:
            raise _Failed(
                f"The meter did not rise within {meter_s} s of charging (0 Wh): check the meter and that the "
                "test vehicle draws power."
            )
        Run.objects.filter(pk=run.pk).update(energy_wh=energy)
        _step(run, label, "done", f"+{energy} Wh")

        label = "Remote stop; the session is completed"
        _step(run, label)
        result = session_remote_stop(session=session, acting_user=run.requested_by)
        if not result.ok:
            raise _Failed(result.message)
        done = _until(
            lambda: ChargingSession.objects.filter(
                pk=session.pk, status=ChargingSession.Status.COMPLETED
            ).exists(),
            step_s,
        )
        if not done:
            raise _Failed(f"The station accepted the stop but reported no StopTransaction within {step_s} s.")
        session = None
        _step(run, label, "done")

        label = "Connector is Available again"
        _step(run, label)
        back = _until(lambda: _connector_status(station, cid) == "Available", step_s)
        if not back:
            raise _Failed(
                f"Connector {cid} reports {_connector_status(station, cid) or 'nothing'} after the stop."
            )
        _step(run, label, "done")
        run.status, run.reason = Run.Status.PASSED, ""
    except _Failed as failure:
        run.status, run.reason = Run.Status.FAILED, str(failure)[:300]
        if run.steps:
            _step(run, run.steps[-1]["label"], "failed", run.reason)
    except Exception as exc:  # the report says so; the worker's log has the traceback
        run.status, run.reason = Run.Status.FAILED, f"Internal error: {exc.__class__.__name__}"
        raise
    finally:
        if session is not None and run.status != Run.Status.PASSED:
            session_remote_stop(
                session=session, acting_user=run.requested_by
            )  # never leave the test charging
        Run.objects.filter(pk=run.pk).update(status=run.status, reason=run.reason, finished_at=timezone.now())
    return run


def commissioning_report_pdf(*, run: CommissioningRun) -> bytes:
    """The stored run's report as a PDF for the installer and the site owner (same facts as the report page)."""
    return pdf_from_template(
        "stations/commissioning_report_pdf.html",
        {"station": run.station, "run": run, "generated_at": timezone.now()},
    )
