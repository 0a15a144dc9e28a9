"""What every version's ChargePoint shares: strict framing, the journal written before processing, OCPP error
codes spelled per version, and outbound calls driven by the call service (stations/calls.py).

The `ocpp` library still does what it is good at: @on/@after routing (collected through inheritance, so
mixins such as TransactionHandlersV16 add handlers) and snake_case <-> camelCase translation. We replace its
frame parsing, schema validation and error naming because they are lax (NaN, duplicate keys, 37+ character
ids pass) and spell 1.6 errors the 2.0 way."""

import asyncio
import functools
import inspect
import json
import logging
from typing import Any, Protocol

from ocpp.charge_point import remove_nones, serialize_as_dict
from ocpp.exceptions import OCPPError
from ocpp.routing import create_route_map

from stations.calls import CallOutcome
from stations.models import MessageLog

from . import case, framing, journal, masking
from . import validation as v

logger = logging.getLogger(__name__)


def _wants_call_id(handler) -> bool:
    """Whether a @on/@after handler takes the frame's message id. Cached per function: inspect.signature
    on every frame was ~3 % of a loaded daphne process's CPU (docs/benchmarks.md)."""
    return _takes_call_id(getattr(handler, "__func__", handler))


@functools.cache
def _takes_call_id(func) -> bool:
    return "call_unique_id" in inspect.signature(func).parameters


class _Routes:
    """A ChargePoint's route map as the library's (action → {"_on_action": handler, "_after_action": hook,
    ...}, handlers bound to the instance), built from a map made once per class. The library builds its map
    per instance: getattr of every routable name of every version for each connection (CPU in the
    handshake) and a dict per action held by every idle connection (memory)."""

    __slots__ = ("_owner", "_routes")
    _BOUND = ("_on_action", "_after_action")

    def __init__(self, owner, routes: dict[str, dict[str, Any]]):
        self._owner = owner
        self._routes = routes

    def get(self, action: str, default=None) -> dict[str, Any] | None:
        entry = self._routes.get(action)
        if entry is None:
            return default
        return {k: (f.__get__(self._owner) if k in self._BOUND else f) for k, f in entry.items()}

    def __contains__(self, action: str) -> bool:
        return action in self._routes

    def has_after(self, action: str) -> bool:
        """Whether the action has an @after hook (without binding its handlers)."""
        return "_after_action" in self._routes.get(action, ())

    def __getitem__(self, action: str) -> dict[str, Any]:
        entry = self.get(action)
        if entry is None:
            raise KeyError(action)
        return entry

    def keys(self):
        return self._routes.keys()


_class_routes: dict[type, dict[str, dict[str, Any]]] = {}


def _routes_of(cls: type) -> dict[str, dict[str, Any]]:
    """The library's create_route_map run on the class (so @on/@after are the plain functions), cached."""
    routes = _class_routes.get(cls)
    if routes is None:
        routes = _class_routes[cls] = create_route_map(cls)
    return routes


class Connection(Protocol):
    """What the library's ChargePoint reads frames from and writes them to (stations.consumers._Connection)."""

    async def recv(self) -> str | None: ...

    async def send(self, text: str) -> None: ...


class CsmsChargePointMixin:
    """Mixed in before the library's per-version ChargePoint class."""

    #: schema directory version for stations/ocpp/validation.py ("1.6", later "2.0.1")
    schema_version = "1.6"
    #: error kind → CALLERROR code as this OCPP version spells it
    ERRORS: dict[str, str] = {}
    #: error codes a handler may raise with the library's exception classes, respelled for this version
    RESPELL: dict[str, str] = {}
    #: all actions this version knows (either direction), for NotImplemented vs NotSupported
    KNOWN_ACTIONS: frozenset[str] = frozenset()
    #: action → name of a method(**snake_case payload) -> (journal.Effect | None, response) for station
    #: messages whose answer does not depend on the database: CALL row, effect and CALLRESULT row are written
    #: in one transaction (`_fused_call`). The action's @on handler must give the same result (it runs when
    #: the fused path declines) and the action must have no @after hook.
    FUSED: dict[str, str] = {}

    id: str
    _connection: Connection
    route_map: _Routes  # action → {"_on_action": handler, "_after_action": hook, ...}

    def __init__(self, *, ocpp_id: str, connection: Connection, station_pk: int, connection_id: str):
        # Not the library's ChargePoint.__init__: of what it sets up, only the id, the connection and the
        # route map are used here (this mixin replaces its receive loop and its call(), whose lock and
        # response queue cost every idle connection ~2 KB), and its route map is built once per class.
        self.id = ocpp_id
        self._connection = connection
        self.route_map = _Routes(self, _routes_of(type(self)))
        self.station_pk = station_pk
        self.connection_id = connection_id
        self._waiting: dict[str, tuple[str, asyncio.Future]] = {}  # message id → (action, future)
        self._call_log_ids: dict[str, int] = {}  # outbound CALL message id → its journal row
        self._background: set[asyncio.Task] = set()

    def frame_error_kind(self, error: framing.FrameInvalid) -> str:
        """The error kind a broken frame is answered with (OCPP-J 1.6: as framing classified it)."""
        return error.kind

    async def refuse_call(self, action: str) -> str | None:
        """A reason to answer this CALL SecurityError before it is handled, or None (2.0.1 B02/B03)."""
        return None

    # --- incoming ---------------------------------------------------------------------------------

    async def start(self):
        # The library's loop logs every raw frame at INFO; frames can carry the AuthorizationKey.
        while (raw := await self._connection.recv()) is not None:
            await self.route_message(raw)

    async def route_message(self, raw):
        try:
            frame = framing.parse(raw)
        except framing.FrameInvalid as e:
            await self._journal_in(MessageLog.Kind.INVALID, "", e.message_id, masking.mask_raw(raw))
            kind = self.frame_error_kind(e)
            if e.message_type in (3, 4):
                # A broken answer is never answered (OCPP-J §4.2: CALLERROR replies to a CALL); the call it
                # belongs to, if any, fails with the reason.
                self._resolve(e.message_id, CallOutcome("error", None, self.ERRORS[kind], e.description))
                return
            await self._send_error(e.message_id, kind, e.description, response_to=None)
            return

        if frame.message_type == 2:
            stored = masking.dumps_call(raw, frame.message_id, frame.action, frame.payload)
            if frame.action in self.FUSED and await self._fused_call(frame, stored):
                return
            log_id = await self._journal_in(MessageLog.Kind.CALL, frame.action, frame.message_id, stored)
            await self._handle_frame_call(frame, log_id)
            return

        entry = self._waiting.get(frame.message_id)
        action = entry[0] if entry else ""
        response_to = self._call_log_ids.pop(frame.message_id, None)
        if frame.message_type == 3:
            await self._journal_in(
                MessageLog.Kind.CALLRESULT,
                action,
                frame.message_id,
                masking.dumps([3, frame.message_id, frame.payload]),
                response_to,
            )
            if entry is None:
                logger.warning("%s: CALLRESULT for unknown message id %s", self.id, frame.message_id)
                return
            try:
                v.validate(self.schema_version, v.CALLRESULT, action, frame.payload)
            except v.PayloadInvalid as e:
                self._resolve(
                    frame.message_id,
                    CallOutcome(
                        "error",
                        frame.payload,
                        self.ERRORS[e.kind],
                        f"invalid {action} response: {e.description}",
                    ),
                )
                return
            self._resolve(frame.message_id, CallOutcome("result", frame.payload))
        else:
            frame_list = [4, frame.message_id, frame.error_code, frame.error_description, frame.error_details]
            await self._journal_in(
                MessageLog.Kind.CALLERROR, action, frame.message_id, masking.dumps(frame_list), response_to
            )
            self._resolve(
                frame.message_id,
                CallOutcome("error", None, frame.error_code, frame.error_description, frame.error_details),
            )

    async def _fused_call(self, frame: framing.Frame, stored: str) -> bool:
        """Answer a FUSED action with one transaction for the CALL's journal row, its effect and our
        CALLRESULT's row, then send. False (nothing written, nothing sent) hands the frame to the ordinary
        path, which journals it alone and answers whatever is wrong with it: a refusal, an invalid payload,
        a value the builder rejects, or an effect that failed in the database."""
        if await self.refuse_call(frame.action):
            return False
        if self.route_map.has_after(frame.action):
            return False
        try:
            v.validate(self.schema_version, v.CALL, frame.action, frame.payload)
            fuse = getattr(self, self.FUSED[frame.action])
            kwargs = case.to_snake(frame.payload)
            effect, response = (
                fuse(**kwargs, call_unique_id=frame.message_id) if _wants_call_id(fuse) else fuse(**kwargs)
            )
            result: dict | functools.partial
            if callable(response):
                # The answer needs the effect's value (a transactionId): built in the transaction, after it.
                answer = None
                result = functools.partial(self._fused_result, frame, response)
            else:
                answer = self._answer(frame, response)
                result = self._fused_row(frame, answer)
        except (v.PayloadInvalid, ValueError, TypeError):
            return False
        exchange = journal.Exchange(
            call=self._journal_row(
                MessageLog.Direction.IN, MessageLog.Kind.CALL, frame.action, frame.message_id, stored, None
            ),
            effect=effect,
            result=result,
        )
        try:
            built = await journal.exchange_writer().submit(exchange)
        except (asyncio.CancelledError, KeyboardInterrupt, SystemExit):
            raise
        except Exception:
            logger.warning(
                "%s: %s could not be stored with its effect; handling it alone", self.id, frame.action
            )
            return False
        await self._connection.send(json.dumps(built or answer, separators=(",", ":")))
        return True

    def _answer(self, frame: framing.Frame, response) -> list:
        """Our CALLRESULT frame for this response, checked against the schema (PayloadInvalid if not)."""
        payload = case.to_camel(remove_nones(serialize_as_dict(response)))
        v.validate(self.schema_version, v.CALLRESULT, frame.action, payload)
        return [3, frame.message_id, payload]

    def _fused_row(self, frame: framing.Frame, answer: list) -> dict:
        return self._journal_row(
            MessageLog.Direction.OUT,
            MessageLog.Kind.CALLRESULT,
            frame.action,
            frame.message_id,
            masking.dumps(answer),
            None,
        )

    def _fused_result(self, frame: framing.Frame, respond, value) -> tuple[dict, list]:
        # In the exchange's transaction (the database thread): an invalid answer raises, the exchange fails
        # and the frame goes the ordinary way (whose handler answers CALLERROR InternalError).
        answer = self._answer(frame, respond(value))
        return self._fused_row(frame, answer), answer

    async def _handle_frame_call(self, frame: framing.Frame, log_id: int):
        refusal = await self.refuse_call(frame.action)
        if refusal:
            await self._send_error(frame.message_id, v.SECURITY, refusal, log_id)
            return
        handlers = self.route_map.get(frame.action)
        if not handlers or "_on_action" not in handlers:
            # OCPP-J 1.6 §4.2.3: NotImplemented = "Action is not known by receiver"; NotSupported = "Action is
            # recognized but not supported". (The library has these two the other way round.)
            kind = v.NOT_SUPPORTED if frame.action in self.KNOWN_ACTIONS else v.NOT_IMPLEMENTED
            await self._send_error(frame.message_id, kind, f"{frame.action} is not handled here", log_id)
            return
        try:
            v.validate(self.schema_version, v.CALL, frame.action, frame.payload)
        except v.PayloadInvalid as e:
            await self._send_error(frame.message_id, e.kind, e.description, log_id)
            return

        kwargs = case.to_snake(frame.payload)
        handler = handlers["_on_action"]
        wants_id = _wants_call_id(handler)
        try:
            response = handler(**kwargs, call_unique_id=frame.message_id) if wants_id else handler(**kwargs)
            if inspect.isawaitable(response):
                response = await response
        except OCPPError as e:
            await self._send_code(frame.message_id, e.code, e.description, e.details or {}, log_id)
            return
        except ValueError as e:  # e.g. an unparseable dateTime the schema lets through (formats unchecked)
            await self._send_error(frame.message_id, v.TYPE, str(e), log_id)
            return
        except Exception:
            logger.exception("%s: handler for %s failed", self.id, frame.action)
            await self._send_error(frame.message_id, v.INTERNAL, "an internal error occurred", log_id)
            return

        payload = case.to_camel(remove_nones(serialize_as_dict(response)))
        try:
            v.validate(self.schema_version, v.CALLRESULT, frame.action, payload)
        except v.PayloadInvalid as e:
            logger.error("%s: our %s response is invalid: %s", self.id, frame.action, e.description)
            await self._send_error(frame.message_id, v.INTERNAL, "an internal error occurred", log_id)
            return
        await self._send_frame(
            [3, frame.message_id, payload], MessageLog.Kind.CALLRESULT, frame.action, frame.message_id, log_id
        )

        after = handlers.get("_after_action")
        if after is not None:
            wants_id = _wants_call_id(after)
            result = after(**kwargs, call_unique_id=frame.message_id) if wants_id else after(**kwargs)
            if inspect.isawaitable(result):
                # A task, not awaited: an @after hook may call the station, whose answer arrives through
                # this very loop (docs/architecture.md, Channels pitfall 1).
                task = asyncio.ensure_future(result)
                self._background.add(task)
                task.add_done_callback(self._background.discard)

    # --- outgoing ---------------------------------------------------------------------------------

    def _journal_row(self, direction, kind, action: str, message_id: str, payload: str, response_to) -> dict:
        return dict(
            station_id=self.station_pk,
            connection_id=self.connection_id,
            direction=direction,
            kind=kind,
            action=masking.storable(action[:64]),
            message_id=masking.storable(message_id)[:64],
            payload=payload,
            response_to_id=response_to,
        )

    async def _journal(self, direction, kind, action: str, message_id: str, payload: str, response_to) -> int:
        return await journal.writer().submit(
            self._journal_row(direction, kind, action, message_id, payload, response_to)
        )

    async def _journal_in(self, kind, action, message_id, payload, response_to=None) -> int:
        return await self._journal(MessageLog.Direction.IN, kind, action, message_id, payload, response_to)

    async def _send_frame(self, frame: list, kind, action: str, message_id: str, response_to: int | None):
        # Journal first, then send: the journal never misses a frame that left.
        await self._journal(
            MessageLog.Direction.OUT, kind, action, message_id, masking.dumps(frame), response_to
        )
        await self._connection.send(json.dumps(frame, separators=(",", ":")))

    async def _send_error(self, message_id: str, kind: str, description: str, response_to: int | None):
        await self._send_code(message_id, self.ERRORS[kind], description, {}, response_to)

    async def _send_code(self, message_id, code, description, details, response_to):
        code = self.RESPELL.get(code, code)
        frame = [4, message_id, code, description[:255], details if isinstance(details, dict) else {}]
        await self._send_frame(frame, MessageLog.Kind.CALLERROR, "", message_id, response_to)

    async def send_call(
        self, *, message_id: str, action: str, payload: dict, timeout: float, journal_id: int
    ) -> CallOutcome:
        """Send a CALL whose journal row the call service already wrote (same transaction as claiming the
        call), wait for its answer. Runs in the consumer's call task, never in a message handler."""
        future = asyncio.get_running_loop().create_future()
        self._waiting[message_id] = (action, future)
        self._call_log_ids[message_id] = journal_id
        try:
            await self._connection.send(json.dumps([2, message_id, action, payload], separators=(",", ":")))
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            return CallOutcome("timeout")
        finally:
            self._waiting.pop(message_id, None)
            self._call_log_ids.pop(message_id, None)

    def awaiting_answer(self) -> bool:
        """A call of ours is still unanswered (its answer has not been read from the socket)."""
        return any(not future.done() for _, future in self._waiting.values())

    def _resolve(self, message_id: str, outcome: CallOutcome):
        entry = self._waiting.get(message_id)
        if entry and not entry[1].done():
            entry[1].set_result(outcome)
