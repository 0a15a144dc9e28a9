"""This server process's lifeline: it proves it is alive (a ServerProcess row refreshed every few seconds),
marks offline the stations of processes that stopped proving it, reconciles the database with the sockets it
really holds, and on SIGTERM marks its own stations offline before it exits.

Started by the first station connection of the process (daphne speaks no ASGI lifespan), before that
connection writes its presence, so no reaper ever sees a station held by an unknown process."""

import asyncio
import logging
import sys
import threading

from django.conf import settings
from django.db import close_old_connections, connection

from eflux.asyncdb import db, db_own_thread

from . import process_channel
from .ocpp import registry
from .services import presence

logger = logging.getLogger(__name__)

_registered = False
_stopping = False
_task: asyncio.Task | None = None
_joining: asyncio.Task | None = None


async def ensure_started() -> None:
    global _registered, _task
    if not _registered:
        await db(presence.process_register)()
        _registered = True
        _on_shutdown(_stop)
    if (_task is None or _task.done()) and not _stopping:
        _task = asyncio.get_running_loop().create_task(_beat_forever())
        _join_channel_group()


def stopping() -> bool:
    return _stopping


async def beat_once() -> None:
    # On a thread of its own: behind a backlog of handshakes on the shared pool, the heartbeat was late by
    # more than the dead window and other processes would take this one for dead.
    superseded = await db_own_thread(presence.process_beat, "lifeline")(held=registry.held())
    for pk in superseded:
        consumer = registry.local_consumer(pk)
        if consumer is not None:
            await consumer.supersede()
    reaped = await db_own_thread(presence.processes_reap, "lifeline")()
    if reaped:
        logger.warning("marked %s stations offline: their server process stopped proving it is alive", reaped)
    _join_channel_group()


def _join_channel_group() -> None:
    """Join (again) this process's channel group, in its own task: with Redis down each attempt waits out
    its timeout, and neither the heartbeat nor a handshake waits behind it (a process that stops beating
    has its stations reaped by the others)."""
    global _joining
    loop = asyncio.get_running_loop()
    if _joining is None or _joining.done() or _joining.get_loop() is not loop:
        _joining = loop.create_task(process_channel.join())


async def _beat_forever() -> None:
    while not _stopping:
        await asyncio.sleep(settings.OCPP_PROCESS_BEAT_SECONDS)
        try:
            await beat_once()
        except Exception:  # a database or Redis hiccup must not end the lifeline; the next beat retries
            logger.exception("server process heartbeat failed")


def _stop() -> None:
    """SIGTERM: the reactor is about to stop and close every socket; say so in the database first, in one
    statement, instead of one disconnect write per station racing the exit."""
    global _stopping
    _stopping = True

    def run():
        close_old_connections()
        try:
            count = presence.process_stop()
            logger.info("shutting down: marked %s stations offline", count)
        except Exception:
            logger.exception("could not mark this process's stations offline at shutdown")
        finally:
            connection.close()

    # The ORM may not run on the event loop's thread (Django refuses sync DB calls from async contexts).
    worker = threading.Thread(target=run, name="eflux-shutdown")
    worker.start()
    worker.join(15)


def _on_shutdown(callback) -> None:
    # Only the reactor daphne installed (daphne.server installs its asyncio reactor at import): importing
    # twisted's reactor module ourselves would install a default one. Not under daphne: no shutdown hook.
    reactor = sys.modules.get("twisted.internet.reactor")
    if reactor is not None:
        reactor.addSystemEventTrigger("before", "shutdown", callback)
