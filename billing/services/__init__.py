"""Charging sessions: the writes behind StartTransaction, MeterValues and StopTransaction (OCPP 1.6 §4.7,
§4.8, §4.10) and the portal's remote start/stop. One module per workflow: sessions (Authorize, start, stop,
orphan stops, the connector-reuse rule, the price snapshot), meter_values, review (the flags).

Never lose, never double (§3.7, errata §3.18, §3.54):
- every function here is one database transaction (a `*_store` variant runs in its caller's, for the
  OCPP handlers that write a message's journal rows and its effect together); the OCPP handler answers
  only after the commit, so a confirmation always means "committed". A database error propagates and the handler answers CALLERROR
  InternalError, which 1.6 §3.7.1 + OCPP-J errata §3.3 define as "failure to process the message": the
  station retries the same message later.
- sanity checks never refuse a transaction message (§4.8, §4.10: "SHOULD NOT ever cause the Central System
  to not respond"); odd data is stored as reported and the session is flagged for review.
- every lookup by transactionId is scoped to the station that sends it: station A can never touch
  station B's session, whatever id it claims.
- arguments are snake_case, as the ocpp library hands them to the handlers; the handlers build the wire
  payloads.
"""

from billing.services.meter_values import meter_values_record, meter_values_record_many, meter_values_store
from billing.services.review import FLAG_LABELS, Flag
from billing.services.sessions import (
    StopResult,
    authorize_id_tag,
    session_price,
    transaction_start,
    transaction_start_store,
    transaction_stop,
    transaction_stop_store,
)

__all__ = [
    "FLAG_LABELS",
    "Flag",
    "StopResult",
    "authorize_id_tag",
    "meter_values_record",
    "meter_values_record_many",
    "meter_values_store",
    "session_price",
    "transaction_start",
    "transaction_start_store",
    "transaction_stop",
    "transaction_stop_store",
]
