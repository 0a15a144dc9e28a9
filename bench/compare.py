#!/usr/bin/env python
"""eflux against the bare-library baseline, same load, one after the other in one run; prints both and the
ratios eflux / baseline.

For each server (bench/baseline_csms.py, then one daphne process running eflux on PostgreSQL + Redis):
start it on a free port on 127.0.0.1, read its RSS, then run bench/load.py against it: --stations new
stations connect at --connect-rate per second (the connect phase: connect p50/p99, failed connections) and
boot, then all of them send --rate calls/s of the realistic mix (Heartbeat 1 : StatusNotification 1 :
3-phase MeterValues 2) for --duration seconds, at most one call outstanding per station. Measured:

- calls answered per CPU-second of the server process (utime + stime from /proc during the measured window;
  for eflux also the CPU of its PostgreSQL backends, shown apart, not in the ratio);
- call latency p50/p99 in the window, connect latency p50/p99 (TCP connect to HTTP 101), failed connections;
- peak RSS (VmHWM) minus the RSS before the first station connected, per connected station;
- the generator's own CPU and event-loop lag: a run where the generator was saturated is marked.

    .venv/bin/python bench/compare.py --stations 500 --rate 500 --duration 30
    .venv/bin/python bench/compare.py --stations 1000 --rate 1000 --duration 30 --json
    .venv/bin/python bench/compare.py --known --stations 10000 --connect-rate 250 --rate 200 --duration 10

--known: a reconnect storm of known stations. The stations first connect at --register-rate, boot, stay
--register-hold seconds (so what a new station's first boot starts, e.g. reading its configuration, is
done) and disconnect; then the measured run reconnects the same stations at --connect-rate.

eflux runs with run_daphne.py's settings (DEBUG off, LOG_LEVEL=WARNING, new-station throttle lifted) on the
PostgreSQL database in --database-url (default eflux_bench, DROPPED AND RECREATED) and the Redis db in
--redis-url (default db 9, FLUSHED). Traffic only to 127.0.0.1; every phase is bounded in time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import load  # noqa: E402
import run_daphne  # noqa: E402
from compare_report import ratios, summary, table  # noqa: E402

BENCH = Path(__file__).resolve().parent
MAX_STATIONS = 10_000
MAX_DURATION = 60


def peak_rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM")


def cpu_user_system(pid: int) -> tuple[float, float]:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) / run_daphne.TICKS, int(fields[12]) / run_daphne.TICKS


def postgres_backends_cpu(database: str) -> dict[int, float]:
    """CPU seconds of every PostgreSQL backend process connected to `database`, by pid (from /proc; a
    backend's title is "postgres: USER DATABASE HOST(PORT) STATE")."""
    result = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if title.startswith("postgres: ") and f" {database} " in title:
                result[int(entry.name)] = run_daphne.cpu_seconds(int(entry.name))
        except (OSError, ValueError):
            continue
    return result


def start_profiler(pid: int, duration: float, out: Path, gil: bool = True) -> subprocess.Popen:
    """py-spy (PyPI) samples the server during the window: collapsed stacks ("raw"), one line per stack with
    its sample count, by thread; bench/profile_top.py summarises them. With `gil`, only samples holding the
    GIL (= CPU in Python; but py-spy attributes the time nobody holds it to the last holder, so an idle
    process looks busy in whatever ran last); without, every thread that is not idle (py-spy skips threads
    waiting in a system call). Sampling costs the server a little CPU (py-spy
    reads its memory from another process), so a profiled run's ratio is not a figure."""
    py_spy = Path(sys.executable).parent / "py-spy"
    return subprocess.Popen(
        [
            str(py_spy),
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(int(duration)),
            "--rate",
            "100",
            "--format",
            "raw",
            "--nonblocking",
            *(["--gil"] if gil else []),
            "--threads",
            "--output",
            str(out),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def wait_for_line(proc: subprocess.Popen, log: Path, text: str, seconds: float = 30) -> None:
    """Wait until the server logs `text` (not a probe connection: that would log a failed handshake)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited:\n{log.read_text(errors='replace')}")
        if text in log.read_text(errors="replace"):
            return
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError("server did not start")


def start_baseline(log: Path) -> tuple[subprocess.Popen, int]:
    port = run_daphne.free_port()
    proc = subprocess.Popen(
        [sys.executable, str(BENCH / "baseline_csms.py"), "--port", str(port)],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    wait_for_line(proc, log, "listening on")
    return proc, port


def start_eflux(args, tmp: Path, log: Path) -> tuple[subprocess.Popen, int]:
    env = run_daphne.server_env("services", tmp, args.database_url, args.redis_url)
    # psql, redis-cli and migrate print to our stdout: send that to stderr, stdout is for the result (--json).
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        run_daphne.prepare_database("services", env, args.database_url, args.redis_url)
    finally:
        os.dup2(saved, 1)
        os.close(saved)
    return run_daphne.start_daphne(env, log)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


async def register(args, port: int) -> dict:
    """--known: make the stations known to the server (connect, boot, hold, disconnect) before the storm."""
    reg_args = run_daphne.load_args(
        f"ws://127.0.0.1:{port}/ocpp/",
        stations=args.stations,
        rate=0,
        duration=args.register_hold,
        ramp=max(1.0, args.stations / args.register_rate),
        prefix=args.prefix,
        timeout=args.timeout,
    )
    bound = reg_args.ramp + args.register_hold + 5 * args.timeout + 30
    result = await asyncio.wait_for(load.run(reg_args), bound)
    return {
        "registered": result["boot_accepted"],
        "connect_failed": result["connect_failed"],
        "seconds": round(reg_args.ramp + args.register_hold, 1),
    }


async def measure(args, name: str, proc: subprocess.Popen, port: int) -> dict:
    """One load run against the server `proc` listens in; the server's CPU and memory around it."""
    pid = proc.pid
    await asyncio.sleep(args.settle)
    marks: dict = {
        "rss_kb_start": run_daphne.rss_kb(pid),
        "loadavg_start": Path("/proc/loadavg").read_text().split()[:3],
    }
    if args.known:
        marks["registration"] = await register(args, port)
        await asyncio.sleep(args.settle)
    connect_cpu0 = run_daphne.cpu_seconds(pid)
    database = args.database_url.rsplit("/", 1)[1] if name == "eflux" else None

    async def at_window_start(stats):
        marks["rss_kb_connected"] = run_daphne.rss_kb(pid)
        marks["cpu_connect_phase"] = run_daphne.cpu_seconds(pid) - connect_cpu0
        marks["cpu0"], marks["t0"] = run_daphne.cpu_seconds(pid), time.monotonic()
        marks["user_system0"] = cpu_user_system(pid)
        if database:
            marks["pg0"] = postgres_backends_cpu(database)
        if args.profile and name == "eflux" and args.profile_phase == "window":
            marks["profiler"] = start_profiler(pid, args.duration, args.profile, args.profile_gil)

    load_args = run_daphne.load_args(
        f"ws://127.0.0.1:{port}/ocpp/",
        stations=args.stations,
        rate=args.rate,
        duration=args.duration,
        ramp=max(1.0, args.stations / args.connect_rate),
        prefix=args.prefix,
        timeout=args.timeout,
        mix=args.mix,
    )
    bound = load_args.ramp + args.duration + 5 * args.timeout + 30
    if args.profile and name == "eflux" and args.profile_phase == "connect":
        marks["profiler"] = start_profiler(pid, load_args.ramp + 5, args.profile, args.profile_gil)
    result = await asyncio.wait_for(load.run(load_args, on_connected=at_window_start), bound)
    # The window ends when the last station stops (steady_end, plus at most one outstanding call).
    window_wall = time.monotonic() - marks["t0"]
    cpu = run_daphne.cpu_seconds(pid) - marks["cpu0"]
    user, system = (b - a for a, b in zip(marks["user_system0"], cpu_user_system(pid), strict=True))
    peak = peak_rss_kb(pid)
    if "profiler" in marks:
        marks["profiler"].wait(30)
    connected = result["connected"]
    out = {
        "server": name,
        "pid": pid,
        "load": result,
        "server_cpu_seconds": round(cpu, 2),
        "server_cpu_user_system_seconds": [round(user, 2), round(system, 2)],
        "window_seconds": round(window_wall, 2),
        "server_cpu_percent_of_one_core": round(100 * cpu / window_wall, 1),
        "server_cpu_seconds_connect_phase": round(marks["cpu_connect_phase"], 2),
        "calls_per_cpu_second": round(result["steady_calls"] / cpu, 1) if cpu > 0 else None,
        "rss_kb_start": marks["rss_kb_start"],
        "rss_kb_connected": marks["rss_kb_connected"],
        "rss_kb_peak": peak,
        "peak_rss_kb_per_station": round((peak - marks["rss_kb_start"]) / connected, 1)
        if connected
        else None,
        "loadavg_start": marks["loadavg_start"],
    }
    if "registration" in marks:
        out["registration"] = marks["registration"]
    if database:
        pg1 = postgres_backends_cpu(database)
        pg = sum(v - marks["pg0"].get(p, 0.0) for p, v in pg1.items())
        out["postgres_backends"] = len(pg1)
        out["postgres_cpu_seconds"] = round(pg, 2)
        out["calls_per_cpu_second_incl_postgres"] = round(result["steady_calls"] / (cpu + pg), 1)
    return out


def run_one(args, name: str, tmp: Path) -> dict:
    log = tmp / f"{name}.log"
    print(f"[{name}] starting", file=sys.stderr, flush=True)
    proc, port = start_baseline(log) if name == "baseline" else start_eflux(args, tmp, log)
    try:
        out = asyncio.run(measure(args, name, proc, port))
        if proc.poll() is not None:
            raise RuntimeError(f"{name} died during the run")
    finally:
        stop(proc)
        lines = log.read_text(errors="replace").splitlines()
        errors = [line for line in lines if "Traceback" in line or " ERROR " in line or "ERROR:" in line]
        if args.keep_logs:
            (args.keep_logs / f"{name}.log").write_bytes(log.read_bytes())
    out["server_error_lines"] = len(errors)
    out["server_first_error"] = errors[0][:300] if errors else None
    print(f"[{name}] done", file=sys.stderr, flush=True)
    return out


# What both servers run on: figures of different days compare only on the same versions (the baseline's
# validation is jsonschema's, whose version is whatever the day's install resolved).
VERSIONS_OF = (
    "ocpp",
    "websockets",
    "jsonschema",
    "daphne",
    "twisted",
    "autobahn",
    "channels",
    "psycopg",
    "django",
)


def versions() -> dict[str, str]:
    from importlib import metadata

    found = {"python": sys.version.split()[0]}
    for name in VERSIONS_OF:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "-"
    return found


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--stations", type=int, default=500)
    p.add_argument("--rate", type=float, default=500, help="calls/s offered by all stations together")
    p.add_argument("--duration", type=float, default=30, help=f"measured seconds (<= {MAX_DURATION})")
    p.add_argument("--mix", choices=load.MIXES, default="realistic", help="bench/load.py's traffic mix")
    p.add_argument("--connect-rate", type=float, default=200, help="new connections per second")
    p.add_argument("--timeout", type=float, default=30, help="per-call and connect timeout (s)")
    p.add_argument("--settle", type=float, default=2.0, help="seconds after start before the first reading")
    p.add_argument("--servers", default="baseline,eflux", help="which to run, in this order")
    p.add_argument("--prefix", default="CMP")
    p.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/eflux_bench")
    p.add_argument("--redis-url", default="redis://127.0.0.1:6379/9")
    p.add_argument("--json", action="store_true", help="print the whole result as JSON")
    p.add_argument("--out", type=Path, help="also write the whole result as JSON here")
    p.add_argument("--profile", type=Path, help="py-spy the eflux process into this file")
    p.add_argument(
        "--profile-phase",
        choices=["window", "connect"],
        default="window",
        help="profile the measured window, or the connect phase (the ramp + 5 s)",
    )
    p.add_argument(
        "--profile-all-threads",
        dest="profile_gil",
        action="store_false",
        help="sample every non-idle thread instead of only the GIL holder (py-spy without --gil)",
    )
    p.add_argument("--known", action="store_true", help="measure a reconnect storm of known stations")
    p.add_argument("--register-rate", type=float, default=100, help="--known: connects/s of the first pass")
    p.add_argument("--register-hold", type=float, default=10, help="--known: seconds the first pass stays")
    p.add_argument("--keep-logs", type=Path, help="keep the servers' logs in this directory")
    args = p.parse_args(argv)
    if not 1 <= args.stations <= MAX_STATIONS or not 0 < args.duration <= MAX_DURATION or args.rate <= 0:
        raise SystemExit(f"1 <= --stations <= {MAX_STATIONS}, 0 < --duration <= {MAX_DURATION}, --rate > 0")
    if args.connect_rate <= 0:
        raise SystemExit("--connect-rate > 0")
    servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    if not servers or set(servers) - {"baseline", "eflux"}:
        raise SystemExit("--servers: baseline and/or eflux")
    if args.keep_logs:
        args.keep_logs.mkdir(parents=True, exist_ok=True)

    result: dict = {
        "stations": args.stations,
        "rate": args.rate,
        "duration": args.duration,
        "connect_rate": args.connect_rate,
        "mix": args.mix,
        "known": args.known,
        "cpus": os.cpu_count(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "versions": versions(),
    }
    with tempfile.TemporaryDirectory(prefix="eflux-compare-") as tmpdir:
        for name in servers:
            run = run_one(args, name, Path(tmpdir))
            run["summary"] = summary(run)
            result[name] = run
    if "baseline" in result and "eflux" in result:
        result["ratios"] = ratios(result["baseline"]["summary"], result["eflux"]["summary"])
        text = table(result)
    else:
        text = json.dumps({n: result[n]["summary"] for n in servers}, indent=2)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2) if args.json else text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
