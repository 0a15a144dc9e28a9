"""Remote start and stop (OCPP 1.6 §5.11, §5.12) from the portal, through the call service.

Remote start asks the same authorization decision as Authorize/StartTransaction before anything is sent: a
card that would be refused at the station is refused here, with the reason. The station's answer is shown
as it came (Accepted / Rejected / CALLERROR / no answer / offline) and recorded in the audit trail. These
functions block until the station answers or the call times out, so they never run inside a database
transaction (the call row must be visible to the consumer that sends it)."""

from dataclasses import dataclass

from accounts.audit import audit_record
from billing.authorization import REASON_LABELS, authorize
from billing.models import ChargingSession
from eflux.lib.id_tags import normalize_id_tag
from stations import calls
from stations.services.commands import call_meaning


@dataclass
class RemoteResult:
    ok: bool
    message: str
    call_status: str = ""
    answer: str = ""

    def as_dict(self) -> dict:
        return {
            "ok": self.ok,
            "message": self.message,
            "call_status": self.call_status,
            "answer": self.answer,
        }


def _outcome(call, action: str) -> RemoteResult:
    meaning = call_meaning(call)
    return RemoteResult(meaning.ok, f"{action}: {meaning.text}.", meaning.call_status, meaning.answer)


def _call(*, station, action: str, payload: dict, acting_user):
    return calls.call_and_wait(
        station=station, action=action, payload=payload, requested_by=acting_user, source="portal"
    )


def session_remote_start(*, station, id_tag: str, connector_id: int, acting_user) -> RemoteResult:
    tag = normalize_id_tag(id_tag, strict=False)
    decision = authorize(station=station, id_tag=tag)
    changes = {"idTag": [None, tag], "connectorId": [None, str(connector_id)]}
    if not decision.accepted:
        result = RemoteResult(
            False,
            f"Not started: {REASON_LABELS.get(decision.reason, decision.reason)} ({decision.status}).",
            answer=decision.status,
        )
    else:
        call = _call(
            station=station,
            action="RemoteStartTransaction",
            payload={"connectorId": connector_id, "idTag": tag},
            acting_user=acting_user,
        )
        result = _outcome(call, "Remote start")
    audit_record(
        actor=acting_user,
        action="session.remote_start",
        obj=station,
        station=station,
        account=station.account,
        changes=changes,
        result=result.as_dict(),
    )
    return result


def session_remote_stop(*, session: ChargingSession, acting_user) -> RemoteResult:
    station = session.station
    if not session.is_active or not session.transaction_id:
        result = RemoteResult(False, "Not sent: the session is not running.")
    else:
        call = _call(
            station=station,
            action="RemoteStopTransaction",
            payload={"transactionId": session.transaction_id},
            acting_user=acting_user,
        )
        result = _outcome(call, "Remote stop")
    audit_record(
        actor=acting_user,
        action="session.remote_stop",
        obj=session,
        station=station,
        account=station.account,
        changes={"transactionId": [None, str(session.transaction_id)]},
        result=result.as_dict(),
    )
    return result
