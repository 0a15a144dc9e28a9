"""bench/compare.py's summary rows, ratios eflux / baseline and the printed table."""

from __future__ import annotations


def summary(run: dict) -> dict:
    r = run["load"]
    return {
        "calls/s achieved": r["calls_per_second"],
        "calls per server CPU-second": run["calls_per_cpu_second"],
        "server CPU (% of one core)": run["server_cpu_percent_of_one_core"],
        "p50 (ms)": round(r["steady_latency"]["p50_ms"], 1),
        "p99 (ms)": round(r["steady_latency"]["p99_ms"], 1),
        "connect p50 (ms)": round(r["connect_latency"]["p50_ms"], 1),
        "connect p99 (ms)": round(r["connect_latency"]["p99_ms"], 1),
        "boot p50 (ms)": round(r["boot_latency"]["p50_ms"], 1),
        "boot p99 (ms)": round(r["boot_latency"]["p99_ms"], 1),
        "failed connections": r["stations"] - r["connected"],
        "peak RSS per station (KiB)": run["peak_rss_kb_per_station"],
        "errors in window": sum(r["errors_in_window"].values()),
        "generator CPU (% of one core)": r["generator"]["cpu_percent_of_one_core"],
        "generator loop lag p99 (ms)": r["generator"]["loop_lag_p99_ms"],
    }


RATIO_ROWS = (
    "calls per server CPU-second",
    "p50 (ms)",
    "p99 (ms)",
    "connect p50 (ms)",
    "connect p99 (ms)",
    "boot p50 (ms)",
    "boot p99 (ms)",
    "failed connections",
    "peak RSS per station (KiB)",
)


def ratios(base: dict, eflux: dict) -> dict:
    out = {}
    for key in RATIO_ROWS:
        b, e = base[key], eflux[key]
        out[key] = (
            round(e / b, 2) if isinstance(b, int | float) and isinstance(e, int | float) and b else None
        )
    return out


def table(result: dict) -> str:
    base, eflux, ratio = result["baseline"]["summary"], result["eflux"]["summary"], result["ratios"]
    lines = [
        f"{result['stations']} stations, {result['mix']} mix, {result['rate']:g} calls/s offered for {result['duration']:g} s, "
        f"{'known stations reconnecting' if result.get('known') else 'connect'} at {result['connect_rate']:g}/s; "
        f"{result['cpus']} CPUs"
        + (
            "; " + ", ".join(f"{k} {v}" for k, v in result["versions"].items())
            if result.get("versions")
            else ""
        ),
        "| metric | baseline (no DB) | eflux (PostgreSQL + Redis) | eflux / baseline |",
        "|---|---|---|---|",
    ]
    for key in base:
        r = ratio.get(key)
        lines.append(
            f"| {key} | {base[key]} | {eflux[key]} | "
            + (f"{r:.2f}x" if r is not None else ("n/a (baseline 0)" if key in ratio else ""))
            + " |"
        )
    e = result["eflux"]
    if "postgres_cpu_seconds" in e:
        lines.append(
            f"eflux's PostgreSQL backends ({e['postgres_backends']}): {e['postgres_cpu_seconds']} CPU-s in the window "
            f"(daphne {e['server_cpu_seconds']}); calls per CPU-second incl. PostgreSQL: "
            f"{e['calls_per_cpu_second_incl_postgres']}"
        )
    for name in ("baseline", "eflux"):
        run = result[name]
        gen = run["load"]["generator"]
        lines.append(
            f"[{name}] generator: CPU {gen['cpu_percent_of_one_core']:.0f}% of one core, loop lag p99 "
            f"{gen['loop_lag_p99_ms']} ms, max {gen['loop_lag_max_ms']} ms -> "
            + (f"SATURATED ({'; '.join(gen['saturated_because'])})" if gen["saturated"] else "not saturated")
            + f"; RSS {run['rss_kb_start'] / 1024:.1f} MiB at start, {run['rss_kb_connected'] / 1024:.1f} "
            f"connected, peak {run['rss_kb_peak'] / 1024:.1f}; load average at start {' '.join(run['loadavg_start'])}"
        )
        problems = {
            "connect failed": run["load"]["connect_failed"],
            "errors": run["load"]["errors"],
            "closed early": run["load"]["closed_early"],
            "server error lines": run["server_error_lines"],
        }
        problems = {k: v for k, v in problems.items() if v}
        if problems:
            lines.append(f"[{name}] problems: {problems}")
        if "registration" in run:
            reg = run["registration"]
            lines.append(
                f"[{name}] registered first: {reg['registered']} of {result['stations']} booted"
                + (f", failed {reg['connect_failed']}" if reg["connect_failed"] else "")
            )
        if run["load"]["csms_calls_answered"]:
            lines.append(f"[{name}] CALLs from the server answered: {run['load']['csms_calls_answered']}")
    return "\n".join(lines)
