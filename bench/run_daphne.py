#!/usr/bin/env python
"""Start one daphne process on 127.0.0.1 with a fresh database, then measure it with bench/load.py:

1. memory: RSS with --base-stations idle stations connected and booted, then with --idle-stations more;
   the difference divided by --idle-stations is the memory one connected station costs the process;
2. throughput: --stations stations sending --rate calls/s (comma-separated list: one run per rate) for
   --duration seconds each; calls/s achieved, latency percentiles and the server's CPU use.

    .venv/bin/python bench/run_daphne.py --backend embedded --idle-stations 1000 --stations 100 --rate 200,400
    .venv/bin/python bench/run_daphne.py --backend services --idle-stations 1000 --stations 100 --rate 200,400

--backend embedded: SQLite file + in-memory channel layer (the no-setup default).
--backend services: PostgreSQL (DATABASE_URL, default database eflux_bench, dropped and recreated) and
Redis (REDIS_URL, default db 15) for the channel layer.
The server runs with DEBUG off and LOG_LEVEL=WARNING (per-frame INFO logging is not what we measure), and lets
one address register any number of new stations (OCPP_NEW_STATIONS_PER_IP_PER_HOUR).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent))
import load  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PAGE_KB = os.sysconf("SC_PAGE_SIZE") / 1024
TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def server_env(backend: str, tmp: Path, database_url: str, redis_url: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "SQLITE_PATH")}
    env.update(
        DJANGO_SETTINGS_MODULE="eflux.settings",
        DJANGO_DEBUG="0",
        DJANGO_SECRET_KEY="bench-only-secret-key-0123456789-0123456789-0123456789",
        SECURE_SSL_REDIRECT="0",
        LOG_LEVEL="WARNING",
        OCPP_NEW_STATIONS_PER_IP_PER_HOUR="100000000",
        PYTHONUNBUFFERED="1",
    )
    if backend == "services":
        env.update(DATABASE_URL=database_url, REDIS_URL=redis_url, CHANNEL_PREFIX="bench")
    else:
        env["SQLITE_PATH"] = str(tmp / "bench.sqlite3")
    return env


def prepare_database(backend: str, env: dict, database_url: str, redis_url: str) -> None:
    if backend == "services":
        name = database_url.rsplit("/", 1)[1]
        admin = database_url.rsplit("/", 1)[0] + "/postgres"
        for sql in (f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"'):
            subprocess.run(["psql", admin, "-qc", sql], check=True)
        db = redis_url.rsplit("/", 1)[1]
        subprocess.run(["redis-cli", "-u", redis_url.rsplit("/", 1)[0], "-n", db, "flushdb"], check=True)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def start_daphne(env: dict, log: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "daphne",
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "--websocket_timeout",
            "-1",
            "eflux.asgi:application",
        ],
        cwd=ROOT,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"daphne exited:\n{log.read_text(errors='replace')}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return proc, port
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("daphne did not start")


def load_args(url: str, **overrides) -> SimpleNamespace:
    defaults = vars(load.parser().parse_args([]))
    defaults.update(url=url, **overrides)
    return SimpleNamespace(**defaults)


async def measure_memory(
    url: str, pid: int, base: int, idle: int, settle: float, connect_rate: float, warm: bool
) -> dict:
    """RSS with `base` stations connected, then with `base + idle`; all stations booted and idle.
    warm: first connect, boot and disconnect the same `idle` stations once, so that what the first boot of
    a new station costs the heap (rows created, caches, allocator growth Python keeps) is paid before the
    measurement, and what remains is closer to the cost of holding a connection."""
    hold_base, hold_idle = asyncio.Event(), asyncio.Event()
    readings: dict = {"rss_kb_started": rss_kb(pid), "warm": warm}
    base_up = asyncio.Event()
    ramp = max(1.0, idle / connect_rate)
    if warm:
        warm_args = load_args(url, stations=idle, rate=0, duration=1, ramp=ramp, prefix="MEMIDLE")
        warm_result = await load.run(warm_args)
        readings["warm_connected"] = warm_result["boot_accepted"]
        await asyncio.sleep(settle)

    async def at_base(stats):
        await asyncio.sleep(settle)
        readings["rss_kb_base"] = rss_kb(pid)
        readings["base_connected"] = stats.boot_accepted
        base_up.set()

    async def at_full(stats):
        await asyncio.sleep(settle)
        readings["rss_kb_full"] = rss_kb(pid)
        readings["idle_connected"] = stats.boot_accepted

    base_args = load_args(url, stations=base, rate=0, duration=3600, ramp=1, prefix="MEMBASE", hold=hold_base)
    base_task = asyncio.ensure_future(load.run(base_args, on_connected=at_base))
    await base_up.wait()
    t0 = time.monotonic()
    idle_args = load_args(
        url, stations=idle, rate=0, duration=3600, ramp=ramp, prefix="MEMIDLE", hold=hold_idle
    )
    idle_task = asyncio.ensure_future(load.run(idle_args, on_connected=at_full))
    while "rss_kb_full" not in readings:
        await asyncio.sleep(0.2)
    readings["idle_connect_seconds"] = round(time.monotonic() - t0, 1)
    hold_idle.set()
    hold_base.set()
    idle_result, base_result = await idle_task, await base_task
    readings["errors"] = {**base_result["errors"], **idle_result["errors"]}
    readings["connect_failed"] = {**base_result["connect_failed"], **idle_result["connect_failed"]}
    connected = readings["idle_connected"]
    readings["kb_per_station"] = round(
        (readings["rss_kb_full"] - readings["rss_kb_base"]) / max(connected, 1), 1
    )
    return readings


async def measure_rate(url: str, pid: int, stations: int, rate: float, duration: float, ramp: float) -> dict:
    marks = {}

    async def at_start(stats):
        marks["cpu"], marks["t"] = cpu_seconds(pid), time.monotonic()

    args = load_args(url, stations=stations, rate=rate, duration=duration, ramp=ramp, prefix="RATE")
    result = await load.run(args, on_connected=at_start)
    result["server_cpu_percent_of_one_core"] = round(
        100 * (cpu_seconds(pid) - marks["cpu"]) / (time.monotonic() - marks["t"]), 0
    )
    result["rss_kb_after"] = rss_kb(pid)
    return result


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backend", choices=["embedded", "services"], default="embedded")
    p.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/eflux_bench")
    p.add_argument("--redis-url", default="redis://127.0.0.1:6379/15")
    p.add_argument("--base-stations", type=int, default=20)
    p.add_argument("--idle-stations", type=int, default=500, help="0 skips the memory measurement")
    p.add_argument("--settle", type=float, default=3.0, help="seconds to wait before reading RSS")
    p.add_argument("--connect-rate", type=float, default=50, help="new idle connections per second")
    p.add_argument(
        "--warm",
        action="store_true",
        help="connect, boot and disconnect the idle stations once first (shows reuse on reconnect)",
    )
    p.add_argument("--stations", type=int, default=100)
    p.add_argument("--rate", default="200", help="comma-separated calls/s; one run each; empty skips")
    p.add_argument("--duration", type=float, default=30)
    p.add_argument("--ramp", type=float, default=5)
    p.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for the server, e.g. DB_CONN_MAX_AGE=60 (repeatable)",
    )
    p.add_argument("--out", type=Path, default=None, help="also write all results as JSON here")
    p.add_argument("--server-log", type=Path, default=None, help="keep the server's log here")
    args = p.parse_args(argv)
    if args.duration > 60:
        raise SystemExit("keep each run <= 60 s: the machine is shared")

    with tempfile.TemporaryDirectory(prefix="eflux-bench-") as tmpdir:
        tmp = Path(tmpdir)
        env = server_env(args.backend, tmp, args.database_url, args.redis_url)
        env.update(item.split("=", 1) for item in args.server_env)
        prepare_database(args.backend, env, args.database_url, args.redis_url)
        log = tmp / "daphne.log"
        proc, port = start_daphne(env, log)
        url = f"ws://127.0.0.1:{port}/ocpp/"
        results: dict = {"backend": args.backend, "cpus": os.cpu_count(), "server_env": args.server_env}
        try:
            if args.idle_stations:
                memory = asyncio.run(
                    measure_memory(
                        url,
                        proc.pid,
                        args.base_stations,
                        args.idle_stations,
                        args.settle,
                        args.connect_rate,
                        args.warm,
                    )
                )
                results["memory"] = memory
                print(
                    f"[{args.backend}{' warm' if args.warm else ''}] memory: RSS {memory['rss_kb_started'] / 1024:.1f} MiB at start, "
                    f"{memory['rss_kb_base'] / 1024:.1f} MiB with {memory['base_connected']} stations, "
                    f"{memory['rss_kb_full'] / 1024:.1f} MiB with {memory['idle_connected']} more "
                    f"(connected in {memory['idle_connect_seconds']} s) → "
                    f"{memory['kb_per_station']} KiB per station; "
                    f"failed: {memory['connect_failed'] or 'none'}, errors: {memory['errors'] or 'none'}",
                    flush=True,
                )
            results["rates"] = []
            for rate in [float(r) for r in args.rate.split(",") if r.strip()]:
                result = asyncio.run(
                    measure_rate(url, proc.pid, args.stations, rate, args.duration, args.ramp)
                )
                results["rates"].append(result)
                print(f"[{args.backend}] {args.stations} stations, target {rate:g} calls/s:", flush=True)
                print("  " + load.report(result).replace("\n", "\n  "), flush=True)
                print(
                    f"  server CPU: {result['server_cpu_percent_of_one_core']:.0f}% of one core", flush=True
                )
                if proc.poll() is not None:
                    raise RuntimeError("daphne died during the run")
        finally:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
            server_errors = [
                line
                for line in log.read_text(errors="replace").splitlines()
                if "Traceback" in line or " ERROR " in line
            ]
            results["server_error_lines"] = len(server_errors)
            if args.server_log:
                args.server_log.write_bytes(log.read_bytes())
            if server_errors:
                print(f"server log: {len(server_errors)} error lines, first: {server_errors[0][:200]}")
        if args.out:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
