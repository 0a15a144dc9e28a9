#!/usr/bin/env python
"""Transaction-message throughput: N stations, each StartTransaction, M MeterValues (one meterValue with
--samples sampled values, attached to the transaction) and StopTransaction, one call outstanding per station
(OCPP-J §4.1.1). Prints calls/s and stored meter rows/s as the stations see them (every answer arrives only
after its commit, so this is committed throughput).

    .venv/bin/python bench/transactions.py --url ws://127.0.0.1:8000/ocpp/ --stations 20 --messages 100

The server must let one address register that many new stations (OCPP_NEW_STATIONS_PER_IP_PER_HOUR).
Traffic goes to 127.0.0.1 only."""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from datetime import UTC, datetime
from urllib.parse import urlparse

from websockets.asyncio.client import connect


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


async def call(ws, action: str, payload: dict, latencies: list[float]) -> list:
    message_id = uuid.uuid4().hex
    started = time.perf_counter()
    await ws.send(json.dumps([2, message_id, action, payload]))
    while True:
        frame = json.loads(await ws.recv())
        if frame[0] == 2:  # a CSMS call (e.g. configuration after boot): not supported here
            await ws.send(json.dumps([4, frame[1], "NotSupported", "", {}]))
            continue
        if frame[1] == message_id:
            latencies.append(time.perf_counter() - started)
            if frame[0] != 3:
                raise RuntimeError(f"{action} failed: {frame}")
            return frame[2]


def sampled(wh: int, samples: int) -> list[dict]:
    values = [{"value": str(wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh"}]
    values.append({"value": "11.04", "measurand": "Power.Active.Import", "unit": "kW"})
    for phase in ("L1", "L2", "L3"):
        values.append({"value": "16.0", "measurand": "Current.Import", "unit": "A", "phase": phase})
        values.append({"value": "230.1", "measurand": "Voltage", "unit": "V", "phase": f"{phase}-N"})
    values.append({"value": "55", "measurand": "SoC", "unit": "Percent"})
    return values[:samples]


async def station(
    url: str, name: str, messages: int, samples: int, latencies: list[float], start_gate, heartbeat
):
    async with connect(url + name, subprotocols=["ocpp1.6"], open_timeout=60) as ws:
        await call(ws, "BootNotification", {"chargePointVendor": "Bench", "chargePointModel": "TX"}, [])
        await start_gate.wait()
        tx = (
            await call(
                ws,
                "StartTransaction",
                {"connectorId": 1, "idTag": "BENCH", "meterStart": 0, "timestamp": now_iso()},
                latencies,
            )
        )["transactionId"]
        for i in range(1, messages + 1):
            if heartbeat:  # the same traffic shape without our writes: the endpoint's own cost
                await call(ws, "Heartbeat", {}, latencies)
                continue
            await call(
                ws,
                "MeterValues",
                {
                    "connectorId": 1,
                    "transactionId": tx,
                    "meterValue": [{"timestamp": now_iso(), "sampledValue": sampled(i * 100, samples)}],
                },
                latencies,
            )
        await call(
            ws,
            "StopTransaction",
            {"transactionId": tx, "meterStop": messages * 100, "timestamp": now_iso()},
            latencies,
        )


async def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default="ws://127.0.0.1:8000/ocpp/")
    parser.add_argument("--stations", type=int, default=20)
    parser.add_argument("--messages", type=int, default=100)
    parser.add_argument("--samples", type=int, default=9)
    parser.add_argument(
        "--heartbeat", action="store_true", help="send Heartbeat instead of MeterValues (baseline)"
    )
    args = parser.parse_args()
    if urlparse(args.url).hostname not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit("only 127.0.0.1")
    url = args.url.rstrip("/") + "/"
    prefix = f"TXB-{uuid.uuid4().hex[:6]}-"
    latencies: list[float] = []
    gate = asyncio.Event()
    tasks = [
        asyncio.create_task(
            station(url, f"{prefix}{i}", args.messages, args.samples, latencies, gate, args.heartbeat)
        )
        for i in range(args.stations)
    ]
    await asyncio.sleep(3)  # let the boots finish before the clock starts
    started = time.perf_counter()
    gate.set()
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - started
    calls = len(latencies)
    rows = 0 if args.heartbeat else args.stations * args.messages * min(args.samples, 9)
    latencies.sort()
    print(
        json.dumps(
            {
                "stations": args.stations,
                "calls": calls,
                "seconds": round(elapsed, 2),
                "calls_per_s": round(calls / elapsed, 1),
                "meter_rows_per_s": round(rows / elapsed, 1),
                "p50_ms": round(latencies[len(latencies) // 2] * 1000, 1),
                "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 1),
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
