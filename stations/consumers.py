"""The OCPP-J websocket endpoint: one consumer per charger connection.

Channels runs a consumer's handlers one at a time, so nothing here ever awaits the station (docs/architecture.md,
Channels pitfall 1): receive() only queues the frame; the ChargePoint loop reads that queue in its own task; calls to
the station run in a second task, started when a call is queued, that takes them one by one from the database
(stations/calls.py) and ends when none is left.

What other processes tell a station's socket (a call is queued, a newer connection took over) reaches this
process's channel group and is handed over here (stations/process_channel.py): a connection itself does no
channel-layer work, so its handshake and its memory do not depend on Redis."""

import asyncio
import base64
import collections
import logging
import uuid

from asgiref.sync import sync_to_async
from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from eflux.asyncdb import db

from . import calls, lifeline, process_channel
from .ocpp import daphne_denial, registry
from .ocpp.versions import CHARGE_POINT_CLASSES, choose_subprotocol
from .services import admission, presence

logger = logging.getLogger(__name__)

# RFC 6455 §7.4.1 has 1002 (protocol error) and 1009 (too big), but autobahn under daphne lets an application
# close only with 1000 or 3000-4999 (and daphne drops the reason): refusals close with 1000 and are logged.
CLOSE_NORMAL = 1000
# How long a closing connection may take to process the frames it had already received.
DRAIN_SECONDS = 5


class _Connection:
    """What the `ocpp` ChargePoint reads from and writes to. Frames wait in a deque that exists only while
    some wait (an idle connection holds one waiting future, not an asyncio.Queue's three deques)."""

    __slots__ = ("consumer", "_frames", "_waiter")

    def __init__(self, consumer: "OcppConsumer"):
        self.consumer = consumer
        self._frames: collections.deque[str | None] | None = None
        self._waiter: asyncio.Future | None = None

    def put(self, text: str | None) -> None:
        """Queue a frame (None: the socket closed; recv returns it after every frame before it)."""
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():  # recv is waiting, so nothing is queued
            waiter.set_result(text)
            return
        if self._frames is None:
            self._frames = collections.deque()
        self._frames.append(text)

    async def recv(self) -> str | None:
        if self._frames:
            text = self._frames.popleft()
            if not self._frames:
                self._frames = None
            return text
        self._waiter = asyncio.get_running_loop().create_future()
        return await self._waiter

    async def send(self, text: str) -> None:
        await self.consumer.send(text_data=text)


def _admit_and_connect(
    *, ocpp_id: str, remote_addr: str | None, connection_id: str, ocpp_version: str
) -> tuple[admission.Admission, tuple[str, bool] | None]:
    """Admission, and for a station that has no credentials to check (nothing between admission and presence
    then) presence too, in one trip to the ORM pool: (admission, station_connect's answer or None). A station
    with credentials is marked online only after they are verified (None: the caller verifies, then calls
    station_connect). Presence before the 101: once the station sees it, the database says it is online."""
    admitted = admission.station_admit(ocpp_id=ocpp_id, remote_addr=remote_addr)
    if admitted.outcome != "ok" or admitted.checks_credentials:
        return admitted, None
    connected = presence.station_connect(
        station_pk=admitted.station_pk, connection_id=connection_id, ocpp_version=ocpp_version
    )
    return admitted, connected


class OcppConsumer(AsyncWebsocketConsumer):
    station_pk: int | None = None
    connection_id: str = ""
    cp = None
    closing = False
    cp_task: asyncio.Task | None = None
    calls_task: asyncio.Task | None = None
    _wake_pending = False

    async def __call__(self, scope, receive, send):
        """As AsyncConsumer.__call__, without a channel of its own on the channel layer (messages from other
        processes reach this process's channel: stations/process_channel.py) and so without Channels'
        await_many_dispatch, which keeps a task per source and builds a wait set per message."""
        self.scope = scope
        self.base_send = send
        try:
            while True:
                await self.dispatch(await receive())
        except StopConsumer:
            pass
        finally:
            self._forget()

    def _forget(self) -> None:
        """However this instance ends: also when daphne cancels it (an application that does not finish its
        disconnect within daphne's close timeout, seen by thousands in an overloaded reconnect storm), its
        tasks stop and the registry lets go of it, so the lifeline's reconciliation marks the station offline
        instead of counting a dead socket as held."""
        for task in (self.cp_task, self.calls_task):
            if task is not None and not task.done():
                task.cancel()
        if self.station_pk is not None:
            registry.unregister(self.station_pk, self)

    async def dispatch(self, message):
        """As AsyncConsumer.dispatch, without its `aclose_old_connections()` before every message: that is a
        hop to the single thread-sensitive thread per websocket frame (~16 % of a loaded process's CPU,
        docs/benchmarks.md) to tidy that thread's connections, which this consumer never uses: all its ORM
        work runs through eflux.asyncdb.db, which closes stale connections around each call itself."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def websocket_connect(self, message):
        ocpp_id = self.scope["url_route"]["kwargs"]["identity"]
        # OCPP-J 1.6 §3.2: an identity the Central System does not accept gets HTTP 404.
        if not admission.identity_is_valid(ocpp_id):
            await self._refused(ocpp_id, admission.Reason.INVALID_IDENTITY)
            await self._deny(404)
            return
        subprotocol = choose_subprotocol(self.scope.get("subprotocols") or [])
        if subprotocol is None:
            # OCPP-J 1.6 §3.2: "complete the WebSocket handshake with a response without a
            # Sec-WebSocket-Protocol header and then immediately close the WebSocket connection."
            await self._refused(ocpp_id, *admission.subprotocol_refusal(self.scope.get("subprotocols")))
            await self.accept()
            await self.close(code=CLOSE_NORMAL)
            return
        remote = (self.scope.get("client") or [None])[0]
        if lifeline.stopping():
            await self._deny(503)  # shutting down: the station retries and reaches another process
            return
        await lifeline.ensure_started()  # this process is registered before it marks anything online
        self.connection_id = uuid.uuid4().hex
        self.loop = asyncio.get_running_loop()
        # Handshake work runs off the single thread-sensitive ORM thread (stations.ocpp.base.db): queued behind
        # every other station's frames, 610 of 1,000 new stations connecting at 100/s missed daphne's handshake
        # timeout; off it, 1 of 1,000 (docs/benchmarks.md). A station without credentials is admitted and
        # marked online in the same trip (_admit_and_connect).
        admitted, connected = await db(_admit_and_connect)(
            ocpp_id=ocpp_id, remote_addr=remote, connection_id=self.connection_id, ocpp_version=subprotocol
        )
        if admitted.outcome == "throttled":
            logger.warning("refused new station %r from %s: registration limit reached", ocpp_id, remote)
            await self._refused(ocpp_id, admission.Reason.THROTTLED)
            await self._deny(404)
            return
        if connected is None:
            authorization = dict(self.scope.get("headers") or []).get(b"authorization", b"").decode("latin-1")
            # PBKDF2 is slow on purpose: verify on a worker thread, not the single ORM thread.
            verdict = await sync_to_async(admission.credentials_check, thread_sensitive=False)(
                authorization=authorization, ocpp_id=ocpp_id, admitted=admitted
            )
            if not verdict.ok:
                logger.warning("refused station %r from %s: %s", ocpp_id, remote, verdict.reason)
                await self._refused(
                    ocpp_id,
                    admission.REFUSAL_REASONS[verdict.reason],
                    verdict.reason,
                    station_pk=admitted.station_pk,
                )
                await self._deny(401, [(b"www-authenticate", b'Basic realm="OCPP", charset="UTF-8"')])
                return
            if verdict.promote or verdict.prove:
                # Before the 101: the station's next connection is judged by what this one proved.
                await db(admission.station_credentials_used)(
                    station_pk=admitted.station_pk, admitted=admitted, verdict=verdict
                )
            if lifeline.stopping():
                await self._deny(503)
                return
            # Presence first, then the handshake: once the station sees 101, the database says it is online.
            connected = await db(presence.station_connect)(
                station_pk=admitted.station_pk, connection_id=self.connection_id, ocpp_version=subprotocol
            )
        self.station_pk = admitted.station_pk
        held_by, calls_pending = connected
        try:
            await self._take_over(ocpp_id, subprotocol, held_by)
        except BaseException:
            # A handshake that does not complete never leaves its station online.
            await db(presence.station_disconnect)(
                station_pk=self.station_pk, connection_id=self.connection_id
            )
            self.station_pk = None
            raise
        registry.register(self.station_pk, self)
        calls.sweeper_ensure()
        if calls_pending:  # queued in the instant before this connection; later ones wake it themselves
            self.wake()

    async def _take_over(self, ocpp_id: str, subprotocol: str, held_by: str) -> None:
        # Newest connection wins: any older socket of this station, in any process, closes itself. Through the
        # channel layer when it is up; when Redis is down the older process notices through the database on
        # its next heartbeat (stations.lifeline), so a layer outage never fails a handshake.
        # Only when another process held it: a reconnect storm after a restart sends no superseded messages
        # (each one took a Redis connection from the pool in the handshake; 500/s exhausted it).
        if held_by:
            await process_channel.send(
                held_by,
                {
                    "type": "ocpp.superseded",
                    "station_pk": self.station_pk,
                    "connection_id": self.connection_id,
                },
            )
        old = registry.local_consumer(self.station_pk)
        if old is not None and old is not self:
            await old.supersede()

        self.connection = _Connection(self)
        self.cp = CHARGE_POINT_CLASSES[subprotocol](
            ocpp_id=ocpp_id,
            connection=self.connection,
            station_pk=self.station_pk,
            connection_id=self.connection_id,
        )
        self.cp_task = asyncio.create_task(self._run_charge_point())
        await self.accept(subprotocol=subprotocol)

    async def websocket_disconnect(self, message):
        """As AsyncWebsocketConsumer's, without its group discards (this consumer joins no group) and its
        aclose_old_connections() (see dispatch)."""
        await self.disconnect(message["code"])
        raise StopConsumer()

    async def _refused(self, ocpp_id: str, reason: str, detail: str = "", station_pk: int | None = None):
        # Connection diagnostics (stations.services.admission): the refusal stands even if noting it fails.
        remote = (self.scope.get("client") or [None])[0]
        try:
            await db(admission.connection_refusal_record)(
                ocpp_id=ocpp_id, reason=reason, remote_addr=remote, detail=detail, station_pk=station_pk
            )
        except Exception:
            logger.exception("station %r: recording the refusal failed", ocpp_id)

    async def _deny(self, status: int, headers: list | None = None):
        if daphne_denial.INSTALLED or "websocket.http.response" in (self.scope.get("extensions") or {}):
            await self.base_send(
                {"type": "websocket.http.response.start", "status": status, "headers": headers or []}
            )
            await self.base_send({"type": "websocket.http.response.body", "body": b""})
        else:
            await self.close()  # the server's plain refusal (403)

    async def receive(self, text_data=None, bytes_data=None):
        if text_data is None:
            try:
                text_data = (bytes_data or b"").decode("utf-8")
            except UnicodeDecodeError:
                text_data = base64.b64encode(bytes_data).decode()  # not JSON: answered FormationViolation
        # Refused before parsing: a frame over the limit closes the connection (RFC 6455 "message too big").
        limit = settings.OCPP_MAX_FRAME_BYTES
        if len(text_data) > limit or (len(text_data) * 4 > limit and len(text_data.encode()) > limit):
            logger.warning("station %s sent a frame over %s bytes; closing", self.station_pk, limit)
            ocpp_id = self.scope["url_route"]["kwargs"]["identity"]
            detail = f"a frame of {len(text_data.encode())} bytes; the limit is {limit}"
            await self._refused(ocpp_id, admission.Reason.FRAME_TOO_LARGE, detail, station_pk=self.station_pk)
            await self.close(code=CLOSE_NORMAL)
            return
        self.connection.put(text_data)

    async def disconnect(self, code):
        if self.station_pk is None:
            return
        self.closing = True
        await self._drain()
        for task in (self.cp_task, self.calls_task):
            if task is not None:
                task.cancel()
        registry.unregister(self.station_pk, self)
        # Presence first: the station must not stay marked online because something after it failed.
        was_current = await db(presence.station_disconnect)(
            station_pk=self.station_pk, connection_id=self.connection_id
        )
        if not was_current:
            # Superseded: the call this socket had outstanding is settled now, so the newer connection
            # (here or in another process) may send the next one.
            newer = registry.local_consumer(self.station_pk)
            if newer is not None:
                newer.wake()
            else:
                holder = await db(presence.station_holder)(station_pk=self.station_pk)
                await process_channel.send(holder, {"type": "ocpp.wake", "station_pk": self.station_pk})

    async def _drain(self):
        """Frames that arrived before the close are still processed: a charger that answers Reset and
        closes at once must not have its answer recorded as "offline", and a StopTransaction sent just
        before a close is stored. Bounded: a stuck handler cannot hold the disconnect forever."""
        if self.cp_task is None:
            return
        self.connection.put(None)
        await asyncio.wait({self.cp_task}, timeout=DRAIN_SECONDS)
        if self.cp.awaiting_answer():
            return  # no answer can arrive on a closed socket: station_disconnect settles the call as offline
        # The call task records an answer the drain just delivered, then stops (it checks `closing`).
        if self.calls_task is not None and not self.calls_task.done():
            await asyncio.wait({self.calls_task}, timeout=DRAIN_SECONDS)

    # --- what other code tells this connection ---------------------------------------------------

    async def supersede(self):
        logger.info(
            "station %s: connection %s superseded by a newer one", self.station_pk, self.connection_id
        )
        await self.close(code=CLOSE_NORMAL)

    def wake(self):
        """Calls may be queued: take them (the call task runs until none is left, then ends)."""
        self._wake_pending = True
        if (self.calls_task is None or self.calls_task.done()) and not self.closing and self.cp is not None:
            self.calls_task = self.loop.create_task(self._run_calls())

    # --- the two tasks (the call task only while calls are queued) -------------------------------

    async def _run_charge_point(self):
        try:
            await self.cp.start()
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("station %s: charge point loop failed", self.station_pk)
            await self.close(code=CLOSE_NORMAL)

    async def _run_calls(self):
        """The station's call queue: claim the oldest pending call, send it, wait for the answer or the
        timeout, record it, next. One outstanding call per station (OCPP-J 1.6 §4.1.1)."""
        claim = db(calls.call_claim_next)
        record = db(calls.call_record_outcome)
        while self._wake_pending and not self.closing:
            self._wake_pending = False
            while not self.closing:
                claimed = await claim(station_pk=self.station_pk, connection_id=self.connection_id)
                if claimed is None:
                    break
                try:
                    outcome = await self.cp.send_call(
                        message_id=claimed.message_id,
                        action=claimed.action,
                        payload=claimed.payload,
                        timeout=claimed.timeout,
                        journal_id=claimed.journal_id,
                    )
                except asyncio.CancelledError:
                    raise  # disconnect: station_disconnect marks this call offline
                except Exception as e:
                    logger.exception("station %s: sending call %s failed", self.station_pk, claimed.call_id)
                    outcome = calls.failed_outcome(str(e))
                await record(call_id=claimed.call_id, outcome=outcome)
