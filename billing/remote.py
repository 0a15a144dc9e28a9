"""Remote start and stop (OCPP 1.6 §5.11, §5.12) from the portal, through the call service.

Remote start asks the same authorization decision as Authorize/StartTransaction before anything is sent: a
card that would be refused at the station is refused here, with the reason. The station's answer is shown
as it came (Accepted / Rejected / CALLERROR / no answer / offline) and recorded in the audit trail. These
functions block until the station answers or the call times out, so they never run inside a database
transaction (the call row must be visible to the consumer that sends it)."""

import secrets
from dataclasses import dataclass

from accounts.audit import audit_record
from billing.authorization import REASON_LABELS, authorize
from billing.models import ChargingSession, TransactionEventRecord
from eflux.lib.id_tags import normalize_id_tag
from stations import calls
from stations.models import Connector
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


def _start_call(station, tag: str, connector_id: int) -> dict:
    if not station.is_ocpp201:
        return {"action": "RemoteStartTransaction", "payload": {"connectorId": connector_id, "idTag": tag}}
    # OCPP 2.0.1 F01: RequestStartTransaction names the EVSE; the platform's connector maps to (EVSE, connector).
    evse = (
        Connector.objects.filter(station=station, connector_id=connector_id)
        .values_list("evse_number", flat=True)
        .first()
    )
    payload = {
        "idToken": {"idToken": tag, "type": "Central"},
        "remoteStartId": secrets.randbelow(2**31 - 1) + 1,
        "evseId": evse or connector_id,
    }
    return {"action": "RequestStartTransaction", "payload": payload}


def _stop_call(session: ChargingSession) -> dict:
    if not session.station.is_ocpp201:
        return {"action": "RemoteStopTransaction", "payload": {"transactionId": session.transaction_id}}
    # F03: the station's own transactionId, as its TransactionEvents named it.
    tx = (
        TransactionEventRecord.objects.filter(session=session)
        .values_list("transaction_id", flat=True)
        .first()
    )
    return {
        "action": "RequestStopTransaction",
        "payload": {"transactionId": tx or str(session.transaction_id)},
    }


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
        call = _call(station=station, **_start_call(station, tag, connector_id), acting_user=acting_user)
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
        call = _call(station=station, **_stop_call(session), acting_user=acting_user)
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
