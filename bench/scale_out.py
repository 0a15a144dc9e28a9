#!/usr/bin/env python
"""Horizontal scale on one host: the same load against one daphne process, then against two daphne processes
behind Debian's haproxy (deploy/haproxy.cfg, rendered by eflux.lib.haproxy), in one run, on PostgreSQL + Redis.
Prints calls/s and latency for each layout and the ratios two / one.

    .venv/bin/python bench/scale_out.py --database-url postgres://postgres@127.0.0.1:5432/eflux_bench \\
        --redis-url redis://127.0.0.1:6379/15 --stations 400 --rate 1200 --duration 20 --repeat 2

Layouts (--layouts, comma-separated, run in this order, --repeat times):
  one      one daphne, stations connect to it directly (the single-process figure of bench/run_daphne.py);
  one-lb   one daphne behind haproxy (what the balancer itself costs);
  two-lb   two daphne processes behind haproxy (leastconn spreads the stations).
Every daphne runs as bench/run_daphne.py starts it (DEBUG off, --websocket_timeout -1) with --server-env on
top; the database is dropped and recreated once, and every layout uses the same station ids, so after the
first layout the stations are known ones. The load is bench/load.py's (realistic mix, one outstanding call per
station); offer more than one process carries, or the two layouts cannot differ. The generator reports when it
is itself saturated: then the layouts were not offered the full load. Each measured window is <= 60 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))
import load  # noqa: E402
import run_daphne  # noqa: E402

from eflux.lib.haproxy import config_render, server_states  # noqa: E402

LAYOUTS = {"one": (1, False), "one-lb": (1, True), "two-lb": (2, True)}


def haproxy_start(tmp: Path, servers: list[str]) -> tuple[subprocess.Popen, int]:
    port = run_daphne.free_port()
    sock = str(tmp / "haproxy.sock")
    cfg = tmp / "haproxy.cfg"
    cfg.write_text(
        config_render(
            listen=f"127.0.0.1:{port}",
            servers=servers,
            health_host="localhost",
            stats_socket=sock,
            maxconn=8192,  # haproxy needs 2 file descriptors per connection; this machine allows 20,000
        )
    )
    binary = next(
        (p for p in ("/usr/sbin/haproxy", "/usr/local/sbin/haproxy") if os.access(p, os.X_OK)), None
    )
    if binary is None:
        raise SystemExit("haproxy is not installed: scripts/install-haproxy.sh")
    proc = subprocess.Popen(
        [binary, "-db", "-f", str(cfg)], stdout=(tmp / "haproxy.log").open("wb"), stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError((tmp / "haproxy.log").read_text(errors="replace"))
        try:
            if os.path.exists(sock) and all(s == "UP" for s in server_states(sock).values()):
                return proc, port
        except OSError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError("haproxy's servers did not come UP")


def machine_ticks() -> tuple[int, int]:
    """(idle, total) jiffies of all CPUs since boot, from /proc/stat: how busy the whole machine was."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return fields[3] + fields[4], sum(fields[:8])  # idle + iowait; user..steal


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


async def measure(url: str, pids: list[int], balancer: int | None, args) -> dict:
    marks: dict = {}

    async def at_start(stats):
        marks["t"] = time.monotonic()
        marks["cpu"] = [run_daphne.cpu_seconds(p) for p in pids]
        marks["lb"] = run_daphne.cpu_seconds(balancer) if balancer else 0.0
        marks["machine"] = machine_ticks()

    result = await load.run(
        run_daphne.load_args(
            url,
            stations=args.stations,
            rate=args.rate,
            duration=args.duration,
            ramp=args.ramp,
            prefix="SCALE",
        ),
        on_connected=at_start,
    )
    wall = time.monotonic() - marks["t"]
    idle, total = (now - then for now, then in zip(machine_ticks(), marks["machine"], strict=True))
    # Everything on the machine (other users too): with no idle CPU left, a second process has no core to use.
    result["machine_idle_percent"] = round(100 * idle / max(total, 1))
    result["server_cpu_percent"] = [
        round(100 * (run_daphne.cpu_seconds(p) - c) / wall) for p, c in zip(pids, marks["cpu"], strict=True)
    ]
    daphne_cpu = sum(result["server_cpu_percent"]) / 100 * wall
    result["calls_per_daphne_cpu_second"] = round(result["steady_calls"] / max(daphne_cpu, 1e-9), 1)
    if balancer:
        result["haproxy_cpu_percent"] = round(100 * (run_daphne.cpu_seconds(balancer) - marks["lb"]) / wall)
    return result


def run_layout(name: str, env: dict, tmp: Path, args) -> dict:
    count, balanced = LAYOUTS[name]
    daphnes = [run_daphne.start_daphne(env, tmp / f"{name}-daphne-{i}.log") for i in range(count)]
    balancer = None
    try:
        if balanced:
            balancer, port = haproxy_start(tmp, [f"127.0.0.1:{p}" for _, p in daphnes])
        else:
            port = daphnes[0][1]
        result = asyncio.run(
            measure(
                f"ws://127.0.0.1:{port}/ocpp/",
                [proc.pid for proc, _ in daphnes],
                balancer and balancer.pid,
                args,
            )
        )
        if any(proc.poll() is not None for proc, _ in daphnes):
            raise RuntimeError(f"a daphne process died during {name}")
    finally:
        if balancer:
            stop(balancer)
        for proc, _ in daphnes:
            stop(proc)
    result["layout"] = name
    return result


def summary(result: dict) -> str:
    lat, gen = result["steady_latency"], result["generator"]
    cpu = " + ".join(f"{c}%" for c in result["server_cpu_percent"])
    line = (
        f"{result['layout']:>6}: {result['calls_per_second']:7.1f} calls/s, p50 {lat['p50_ms']:6.1f} ms, "
        f"p99 {lat['p99_ms']:7.1f} ms; daphne CPU {cpu} of a core "
        f"({result['calls_per_daphne_cpu_second']:.0f} calls per daphne CPU-second)"
    )
    if "haproxy_cpu_percent" in result:
        line += f", haproxy {result['haproxy_cpu_percent']}%"
    line += (
        f", generator {gen['cpu_percent_of_one_core']:.0f}%; machine idle {result['machine_idle_percent']}%"
    )
    if result["errors"] or result["connect_failed"]:
        line += f"; errors {result['errors']}, connect failed {result['connect_failed']}"
    if gen["saturated"]:
        line += f"; GENERATOR SATURATED ({'; '.join(gen['saturated_because'])})"
    return line


def overall(results: list[dict], layouts: list[str]) -> str:
    """Median and range over the rounds, per layout, and of the per-round ratios to "one"."""

    def spread(values: list[float], digits: int = 0) -> str:
        values = sorted(values)
        median = statistics.median(values)
        return f"median {median:.{digits}f} (range {values[0]:.{digits}f}-{values[-1]:.{digits}f})"

    lines = [f"over {max(r['round'] for r in results)} rounds:"]
    for name in layouts:
        rows = [r for r in results if r["layout"] == name]
        lines.append(
            f"  {name:>6}: calls/s {spread([r['calls_per_second'] for r in rows])}, "
            f"p99 ms {spread([r['steady_latency']['p99_ms'] for r in rows])}, "
            f"calls per daphne CPU-second {spread([r['calls_per_daphne_cpu_second'] for r in rows])}, "
            f"machine idle % {spread([r['machine_idle_percent'] for r in rows])}"
        )
    rounds = {}
    for r in results:
        rounds.setdefault(r["round"], {})[r["layout"]] = r
    for name in ("one-lb", "two-lb"):
        pairs = [(by[name], by["one"]) for by in rounds.values() if name in by and "one" in by]
        if pairs:
            lines.append(
                f"  {name} / one: calls/s ratio {spread([a['calls_per_second'] / max(b['calls_per_second'], 0.1) for a, b in pairs], 2)}, "
                f"p99 ratio {spread([a['steady_latency']['p99_ms'] / max(b['steady_latency']['p99_ms'], 0.001) for a, b in pairs], 2)}"
            )
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/eflux_bench")
    p.add_argument("--redis-url", default="redis://127.0.0.1:6379/15")
    p.add_argument("--layouts", default="one,two-lb", help=f"comma-separated, of {', '.join(LAYOUTS)}")
    p.add_argument("--stations", type=int, default=400)
    p.add_argument("--rate", type=float, default=1200, help="calls/s offered by all stations together")
    p.add_argument("--duration", type=float, default=20)
    p.add_argument("--ramp", type=float, default=5)
    p.add_argument("--repeat", type=int, default=1, help="run the layouts this many times, interleaved")
    p.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for every daphne, e.g. ORM_THREADS=8 (repeatable)",
    )
    p.add_argument("--out", type=Path, default=None, help="also write all results as JSON here")
    args = p.parse_args(argv)
    layouts = [name.strip() for name in args.layouts.split(",") if name.strip()]
    if unknown := set(layouts) - set(LAYOUTS):
        raise SystemExit(f"unknown layouts: {sorted(unknown)}")
    if args.duration > 60 or args.repeat > 5:
        raise SystemExit("keep each run <= 60 s and --repeat <= 5: the machine is shared")

    results: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="eflux-scale-") as tmpdir:
        tmp = Path(tmpdir)
        env = run_daphne.server_env("services", tmp, args.database_url, args.redis_url)
        env.update(item.split("=", 1) for item in args.server_env)
        run_daphne.prepare_database("services", env, args.database_url, args.redis_url)
        print(
            f"{args.stations} stations, {args.rate:g} calls/s offered, {args.duration:g} s measured, "
            f"{os.cpu_count()} CPUs, server env {args.server_env or 'default'}",
            flush=True,
        )
        for round_ in range(1, args.repeat + 1):
            by_layout = {}
            for name in layouts:
                result = run_layout(name, env, tmp, args)
                result["round"] = round_
                results.append(result)
                by_layout[name] = result
                print(f"[round {round_}] {summary(result)}", flush=True)
            base = by_layout.get("one")
            for name in ("one-lb", "two-lb"):
                if base and name in by_layout:
                    other = by_layout[name]
                    print(
                        f"[round {round_}] {name} / one: calls/s x{other['calls_per_second'] / max(base['calls_per_second'], 0.1):.2f}, "
                        f"p99 x{other['steady_latency']['p99_ms'] / max(base['steady_latency']['p99_ms'], 0.001):.2f}",
                        flush=True,
                    )
    print(overall(results, layouts), flush=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
