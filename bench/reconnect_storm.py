#!/usr/bin/env python
"""Reconnect storm after a restart (docs/reliability.md): --stations known stations connected to one daphne
process on PostgreSQL + Redis; the process gets SIGTERM; a new one starts; every station reconnects at
--rate per second, retrying a failed attempt after a 1-5 s back-off as chargers do. Prints how many came
back and how fast, failed attempts by reason, and how many stations the database shows online without a
socket (falsely online) after the SIGTERM and 2 s and 20 s after the storm.

    .venv/bin/python bench/reconnect_storm.py --stations 2000 --rate 500

Traffic only to 127.0.0.1. Bounded: every connect has a timeout, the whole storm --deadline seconds."""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import websockets

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run_daphne  # noqa: E402


async def storm(port: int, n: int, rate: float, deadline: float, sockets: dict) -> tuple[Counter, list]:
    """Every station connects once at its slot of the schedule and, like a charger, retries a failed attempt
    after a random 1-5 s back-off until it is in or the deadline passes. Returns failed attempts by reason
    and when each station got in."""
    failures: Counter = Counter()
    done_at: list[float] = []
    start = time.monotonic()
    rng = random.Random(1)

    async def one(i):
        await asyncio.sleep(i / rate)
        while time.monotonic() - start < deadline:
            try:
                ws = await websockets.connect(
                    f"ws://127.0.0.1:{port}/ocpp/STORM-{i:05d}", subprotocols=["ocpp1.6"], open_timeout=30
                )
                await ws.send(json.dumps([2, "hb", "Heartbeat", {}]))
                await asyncio.wait_for(ws.recv(), 30)
                sockets[i] = ws
                done_at.append(time.monotonic() - start)
                return
            except websockets.InvalidStatus as e:
                failures[f"HTTP {e.response.status_code}"] += 1
            except Exception as e:
                failures[e.__class__.__name__] += 1
            await asyncio.sleep(rng.uniform(1, 5))

    await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(n))), deadline + 60)
    return failures, sorted(done_at)


def online(env: dict) -> int:
    out = subprocess.run(
        ["psql", env["DATABASE_URL"], "-tAc", "select count(*) from stations_station where is_connected"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(out.stdout.strip())


async def main(args) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="eflux-storm-"))
    env = run_daphne.server_env("services", tmp, args.database_url, args.redis_url)
    run_daphne.prepare_database("services", env, args.database_url, args.redis_url)
    proc, port = run_daphne.start_daphne(env, tmp / "daphne-1.log")
    sockets: dict = {}
    first, _ = await storm(port, args.stations, args.rate, args.deadline, sockets)
    proc.terminate()
    proc.wait(60)
    online_after_sigterm = online(env)
    await asyncio.gather(*(ws.close() for ws in sockets.values()), return_exceptions=True)
    proc, port = run_daphne.start_daphne(env, tmp / "daphne-2.log")
    try:
        sockets = {}
        t0 = time.monotonic()
        failures, done_at = await storm(port, args.stations, args.rate, args.deadline, sockets)
        storm_seconds = time.monotonic() - t0
        online_2s = online(env) if not await asyncio.sleep(2) else None
        await asyncio.sleep(18)  # past the heartbeat's reconciliation window
        online_end = online(env)
        result = {
            "stations": args.stations,
            "rate": args.rate,
            "initial_connect_failures": dict(first),
            "online_in_db_after_sigterm": online_after_sigterm,
            "back": len(sockets),
            "failed_attempts": dict(failures),
            "all_back_after_s": round(done_at[-1], 1) if done_at else None,
            "storm_s": round(storm_seconds, 1),
            "back_within_30s": sum(1 for t in done_at if t <= 30),
            "falsely_online_2s_after": online_2s - len(sockets),
            "falsely_online_20s_after": online_end - len(sockets),
        }
        await asyncio.gather(*(ws.close() for ws in sockets.values()), return_exceptions=True)
        return result
    finally:
        proc.terminate()
        proc.wait(60)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--stations", type=int, default=2000)
    p.add_argument("--rate", type=float, default=500)
    p.add_argument("--deadline", type=float, default=120)
    p.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/eflux_bench")
    p.add_argument("--redis-url", default="redis://127.0.0.1:6379/15")
    print(json.dumps(asyncio.run(main(p.parse_args())), indent=1))
