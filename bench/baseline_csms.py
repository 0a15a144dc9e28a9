#!/usr/bin/env python
"""Baseline CSMS for the benchmarks: the smallest Central System the `ocpp` library's own example makes, on
`websockets`, with no database, no journal, no channel layer. bench/compare.py drives it and eflux with the
same load, so eflux's figures read as a ratio to "the library alone".

Written in the style of the library's examples/v16/central_system.py: one `ocpp.v16.ChargePoint` per
connection, an `@on` handler per action, the library's schema validation on (its default). Handlers answer
BootNotification, Heartbeat, StatusNotification, MeterValues, Authorize, StartTransaction and StopTransaction;
an unknown OCPP ID is accepted like any other (there is no database to look it up in).

    .venv/bin/python bench/baseline_csms.py --port 9000
    # stations connect to ws://127.0.0.1:9000/ocpp/<id> (or ws://127.0.0.1:9000/<id>)

Binds 127.0.0.1 unless --host says otherwise. SIGTERM or SIGINT stops it.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import signal
import sys
from datetime import UTC, datetime

import websockets
from ocpp.routing import on
from ocpp.v16 import ChargePoint as BaseChargePoint
from ocpp.v16 import call_result
from ocpp.v16.datatypes import IdTagInfo
from ocpp.v16.enums import Action, AuthorizationStatus, RegistrationStatus

SUBPROTOCOL = "ocpp1.6"
HEARTBEAT_INTERVAL = 300
_transaction_ids = itertools.count(1)
logger = logging.getLogger("baseline_csms")


def now() -> str:
    return datetime.now(UTC).isoformat()


class ChargePoint(BaseChargePoint):
    @on(Action.boot_notification)
    def on_boot_notification(self, charge_point_vendor: str, charge_point_model: str, **kwargs):
        return call_result.BootNotification(
            current_time=now(), interval=HEARTBEAT_INTERVAL, status=RegistrationStatus.accepted
        )

    @on(Action.heartbeat)
    def on_heartbeat(self):
        return call_result.Heartbeat(current_time=now())

    @on(Action.status_notification)
    def on_status_notification(self, connector_id: int, error_code: str, status: str, **kwargs):
        return call_result.StatusNotification()

    @on(Action.meter_values)
    def on_meter_values(self, connector_id: int, meter_value: list, **kwargs):
        return call_result.MeterValues()

    @on(Action.authorize)
    def on_authorize(self, id_tag: str):
        return call_result.Authorize(id_tag_info=IdTagInfo(status=AuthorizationStatus.accepted))

    @on(Action.start_transaction)
    def on_start_transaction(
        self, connector_id: int, id_tag: str, meter_start: int, timestamp: str, **kwargs
    ):
        return call_result.StartTransaction(
            transaction_id=next(_transaction_ids),
            id_tag_info=IdTagInfo(status=AuthorizationStatus.accepted),
        )

    @on(Action.stop_transaction)
    def on_stop_transaction(self, meter_stop: int, timestamp: str, transaction_id: int, **kwargs):
        return call_result.StopTransaction(id_tag_info=IdTagInfo(status=AuthorizationStatus.accepted))


async def on_connect(websocket) -> None:
    """One station: check the subprotocol as the library's example does, then let ChargePoint run it."""
    requested = websocket.request.headers.get("Sec-WebSocket-Protocol")
    if not requested or websocket.subprotocol != SUBPROTOCOL:
        logger.warning("closing: client asked for %r, not %s", requested, SUBPROTOCOL)
        await websocket.close()
        return
    charge_point_id = websocket.request.path.rstrip("/").rsplit("/", 1)[-1] or "unnamed"
    charge_point = ChargePoint(charge_point_id, websocket)
    try:
        await charge_point.start()
    except websockets.exceptions.ConnectionClosed:
        pass


async def serve(host: str, port: int) -> None:
    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))
    async with websockets.serve(
        on_connect,
        host,
        port,
        subprotocols=[SUBPROTOCOL],  # otherwise the library's example defaults, as daphne runs on its own
    ):
        print(f"baseline CSMS listening on ws://{host}:{port}/ocpp/<id>", flush=True)
        await stop


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=9000)
    p.add_argument(
        "--log-level", default="WARNING", help="e.g. INFO to see every frame (default %(default)s)"
    )
    args = p.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper())
    asyncio.run(serve(args.host, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
