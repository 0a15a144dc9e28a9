#!/usr/bin/env python
"""What an idle connected station costs one daphne process, by Python object type.

Starts daphne (PostgreSQL + Redis, run_daphne.py's settings) with a SIGUSR1 handler that counts every object
the garbage collector tracks (`sys.getsizeof`, an instance's `__dict__` apart), connects --base stations,
takes a count, connects --idle more (booted, idle), takes another, and prints RSS per idle station and the
types that grew most per station. Objects the collector does not track (str, bytes, ints) and allocator
overhead are in the RSS figure only.

    .venv/bin/python bench/idle_objects.py --idle 1500 --database-url postgres://.../eflux_x --redis-url redis://.../4

The database is DROPPED AND RECREATED, the Redis db FLUSHED. Traffic only to 127.0.0.1; bounded in time."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import load  # noqa: E402
import run_daphne  # noqa: E402

LAUNCHER = """
import gc, json, os, signal, sys
from collections import Counter
def dump(sig, frame):
    gc.collect()
    count, size = Counter(), Counter()
    for o in gc.get_objects():
        t = type(o)
        name = f"{t.__module__}.{t.__qualname__}"
        count[name] += 1
        size[name] += sys.getsizeof(o)
        d = getattr(o, "__dict__", None)
        if isinstance(d, dict) and not isinstance(o, type):
            size[name + " (__dict__)"] += sys.getsizeof(d)
    dump.n = getattr(dump, "n", 0) + 1
    path = os.environ["IDLE_OBJECTS_OUT"] + f".{dump.n}"
    json.dump({"count": count, "size": size}, open(path + ".tmp", "w"))
    os.replace(path + ".tmp", path)
signal.signal(signal.SIGUSR1, dump)
from daphne.cli import CommandLineInterface
sys.argv = ["daphne"] + sys.argv[1:]
CommandLineInterface.entrypoint()
"""


def snapshot(pid: int, out: str, n: int, timeout: float = 60) -> dict:
    os.kill(pid, signal.SIGUSR1)
    path = Path(f"{out}.{n}")
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise RuntimeError("no object count from the server")
        time.sleep(0.2)
    return json.loads(path.read_text())


async def hold(url: str, pid: int, args, out: str) -> dict:
    readings: dict = {}
    base_up, full_up = asyncio.Event(), asyncio.Event()
    hold_base, hold_idle = asyncio.Event(), asyncio.Event()

    async def at_base(stats):
        await asyncio.sleep(args.settle)
        readings["rss_base"] = run_daphne.rss_kb(pid)
        readings["before"] = await asyncio.to_thread(snapshot, pid, out, 1)
        base_up.set()

    async def at_full(stats):
        await asyncio.sleep(args.settle)
        readings["rss_full"] = run_daphne.rss_kb(pid)
        readings["idle_connected"] = stats.boot_accepted
        readings["after"] = await asyncio.to_thread(snapshot, pid, out, 2)
        full_up.set()

    base = run_daphne.load_args(
        url,
        stations=args.base,
        rate=0,
        duration=3600,
        ramp=max(1, args.base / 50),
        prefix="OBJB",
        hold=hold_base,
    )
    base_task = asyncio.ensure_future(load.run(base, on_connected=at_base))
    await base_up.wait()
    idle = run_daphne.load_args(
        url,
        stations=args.idle,
        rate=0,
        duration=3600,
        ramp=max(1, args.idle / args.connect_rate),
        prefix="OBJI",
        hold=hold_idle,
    )
    idle_task = asyncio.ensure_future(load.run(idle, on_connected=at_full))
    await full_up.wait()
    hold_idle.set()
    hold_base.set()
    await idle_task
    await base_task
    return readings


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--base", type=int, default=100, help="stations connected before the first count")
    p.add_argument("--idle", type=int, default=1000, help="stations added before the second count")
    p.add_argument("--connect-rate", type=float, default=100)
    p.add_argument("--settle", type=float, default=5.0)
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/eflux_bench")
    p.add_argument("--redis-url", default="redis://127.0.0.1:6379/9")
    args = p.parse_args(argv)
    if not 1 <= args.idle <= 10_000:
        raise SystemExit("1 <= --idle <= 10000")
    tmp = Path(tempfile.mkdtemp(prefix="eflux-objects-"))
    env = run_daphne.server_env("services", tmp, args.database_url, args.redis_url)
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)  # psql, redis-cli and migrate print; stdout is for the result
    try:
        run_daphne.prepare_database("services", env, args.database_url, args.redis_url)
    finally:
        os.dup2(saved, 1)
        os.close(saved)
    out = str(tmp / "objects")
    env["IDLE_OBJECTS_OUT"] = out
    port = run_daphne.free_port()
    cmd = [sys.executable, "-c", LAUNCHER, "-b", "127.0.0.1", "-p", str(port), "--websocket_timeout", "-1"]
    proc = subprocess.Popen(
        [*cmd, "eflux.asgi:application"],
        cwd=run_daphne.ROOT,
        env=env,
        stdout=(tmp / "daphne.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("daphne did not start") from None
                time.sleep(0.2)
        bound = args.base / 50 + args.idle / args.connect_rate + 4 * args.settle + 300
        r = asyncio.run(asyncio.wait_for(hold(f"ws://127.0.0.1:{port}/ocpp/", proc.pid, args, out), bound))
    finally:
        proc.terminate()
        proc.wait(15)
    n = max(r["idle_connected"], 1)
    before, after = r["before"], r["after"]
    rows = []
    for key in set(after["size"]) | set(before["size"]):
        plain = key.removesuffix(" (__dict__)")
        grown = after["size"].get(key, 0) - before["size"].get(key, 0)
        count = after["count"].get(plain, 0) - before["count"].get(plain, 0)
        rows.append((grown, count if plain == key else 0, key))
    rows.sort(reverse=True)
    print(
        f"{r['idle_connected']} idle stations booted; RSS {r['rss_base'] / 1024:.1f} MiB -> "
        f"{r['rss_full'] / 1024:.1f} MiB: {(r['rss_full'] - r['rss_base']) / n:.1f} KiB per station; "
        f"objects the GC tracks: {sum(g for g, _, _ in rows) / n / 1024:.1f} KiB per station"
    )
    for grown, count, key in rows[: args.top]:
        print(f"{grown / n:8.0f} B {count / n:6.2f}/station  {key}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
