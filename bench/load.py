#!/usr/bin/env python
"""Load generator: N simulated OCPP 1.6J stations from one process (asyncio + websockets).

Each station connects with subprotocol ocpp1.6, sends BootNotification and StatusNotification for connectors 0
and 1, then sends its traffic so that all stations together send --rate calls per second, for --duration
seconds. --mix realistic (the default): Heartbeat 1 : StatusNotification 1 : MeterValues 2, each MeterValues
one 3-phase sample (energy register, power, current and voltage per phase, SoC; 11 sampled values);
--mix thirds: Heartbeat / StatusNotification / MeterValues with two values in turn (the earliest figures);
--mix transactions: the realistic mix inside charging sessions: StartTransaction, then MeterValues with the
transactionId the server answered, Heartbeat and StatusNotification, then StopTransaction (with the meter
reading and a transactionData sample) after SESSION_CALLS calls, and the next session. Each station starts
its first session while booting, at a staggered point of it, so starts and stops spread over the window. The idTags are unknown to
the server (it answers Invalid but still opens the session and stores its values; the station goes on as if
authorized). Like a charger, a station has at most one call outstanding
(OCPP-J §4.1.1): when the server is slower than the schedule, that station's next call waits, so the
achieved rate shows the server's capacity. Latency is measured from sending a CALL to receiving its
CALLRESULT; the schedule is not corrected for that wait (coordinated omission), so read p99 as "at the
achieved rate".

A CALL from the server (GetConfiguration, ChangeConfiguration, TriggerMessage, ...) gets a schema-valid
CALLRESULT (a plain, cautious charger's answer: no keys known, changes and triggers rejected), and is counted.

Frames are built by hand, not with the ocpp library: its schema validation costs more client CPU per message
than the server's whole round trip, and the client shares the machine with the server. Still, the generator
reports whether it was itself the bottleneck: its own CPU use (% of one core; asyncio runs on one) and the
event loop's lag (a 20 ms ticker's overshoot) during the measured window. When it is saturated, the server
was not offered the load, and the result says so ("generator saturated").

    .venv/bin/python bench/load.py --url ws://127.0.0.1:8000/ocpp/ --stations 100 --rate 200 --duration 30

Traffic only to 127.0.0.1 unless --allow-remote is given. The server must let one address register that many
new stations (OCPP_NEW_STATIONS_PER_IP_PER_HOUR); bench/run_daphne.py sets that for its own server.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import sys
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlparse

import websockets
from websockets.asyncio.client import connect

SUBPROTOCOL = "ocpp1.6"
MIXES = ("realistic", "thirds", "transactions")
# --mix transactions: a station's charging session lasts this many of its calls (StartTransaction, then the
# realistic mix with transactionId on every MeterValues, then StopTransaction).
SESSION_CALLS = 20
# The generator calls itself saturated above this share of one core, or when its event loop lags this much.
SATURATED_CPU_PERCENT = 85
SATURATED_LAG_P99_MS = 50
LAG_TICK = 0.02

# A cautious charger's schema-valid answer to each CALL a Central System can send in OCPP 1.6 (payloads of
# the .conf messages): nothing known, nothing changed, nothing triggered. Anything else: CALLERROR NotImplemented.
_CSMS_ANSWERS = {
    "CancelReservation": {"status": "Rejected"},
    "ChangeAvailability": {"status": "Rejected"},
    "ChangeConfiguration": {"status": "Rejected"},
    "ClearCache": {"status": "Rejected"},
    "ClearChargingProfile": {"status": "Unknown"},
    "DataTransfer": {"status": "UnknownVendorId"},
    "GetCompositeSchedule": {"status": "Rejected"},
    "GetDiagnostics": {},
    "GetLocalListVersion": {"listVersion": -1},
    "RemoteStartTransaction": {"status": "Rejected"},
    "RemoteStopTransaction": {"status": "Rejected"},
    "ReserveNow": {"status": "Rejected"},
    "Reset": {"status": "Rejected"},
    "SendLocalList": {"status": "NotSupported"},
    "SetChargingProfile": {"status": "NotSupported"},
    "TriggerMessage": {"status": "Rejected"},
    "UnlockConnector": {"status": "NotSupported"},
    "UpdateFirmware": {},
}


def csms_answer(message_id: str, action: str, payload) -> list:
    """The frame a bench station sends back for a CALL from the server."""
    if action == "GetConfiguration":
        keys = payload.get("key") if isinstance(payload, dict) else None
        answer = {"unknownKey": [str(k)[:50] for k in keys]} if keys else {"configurationKey": []}
        return [3, message_id, answer]
    if action in _CSMS_ANSWERS:
        return [3, message_id, _CSMS_ANSWERS[action]]
    return [4, message_id, "NotImplemented", "bench station", {}]


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(q / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[index]


@dataclass
class Stats:
    connect_ok: int = 0
    boot_accepted: int = 0
    connect_failed: Counter = field(default_factory=Counter)
    connect_latencies: list[float] = field(default_factory=list)  # TCP connect + HTTP 101, successful only
    csms_calls: Counter = field(default_factory=Counter)  # CALLs from the server, by action, all answered
    errors: Counter = field(default_factory=Counter)
    sent: Counter = field(default_factory=Counter)
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    steady_answered: int = 0  # answered inside the measured window
    steady_end: float = float("inf")
    closed_early: int = 0

    def latency_summary(self, actions: list[str] | None = None) -> dict:
        values = sorted(
            itertools.chain.from_iterable(
                v for k, v in self.latencies.items() if actions is None or k in actions
            )
        )
        return {
            "count": len(values),
            "p50_ms": percentile(values, 50) * 1000,
            "p90_ms": percentile(values, 90) * 1000,
            "p99_ms": percentile(values, 99) * 1000,
            "max_ms": (values[-1] if values else float("nan")) * 1000,
        }


class Station:
    """One websocket, one outstanding call at a time."""

    def __init__(self, ws, ocpp_id: str, stats: Stats, timeout: float, mix: str = "realistic"):
        self.ws, self.ocpp_id, self.stats, self.timeout, self.mix = ws, ocpp_id, stats, timeout, mix
        self.pending: dict[str, asyncio.Future] = {}
        self.meter_wh = random.randint(0, 10_000_000)
        self.soc = random.randint(5, 80)
        self.amps = random.choice((10.0, 16.0, 24.0, 32.0))  # per phase, what this charge is offered
        self.transaction_id: int | None = None  # --mix transactions: the session in progress
        self.session_calls = 0
        self.reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                frame = json.loads(raw)
                if frame[0] in (3, 4):
                    future = self.pending.pop(frame[1], None)
                    if future and not future.done():
                        future.set_result(frame)
                elif frame[0] == 2:
                    # The server asked us something (e.g. configuration after boot): answer as a charger would.
                    self.stats.csms_calls[str(frame[2])] += 1
                    answer = csms_answer(frame[1], frame[2], frame[3] if len(frame) > 3 else {})
                    await self.ws.send(json.dumps(answer, separators=(",", ":")))
        except websockets.exceptions.ConnectionClosed:
            pass
        finally:
            for future in self.pending.values():
                if not future.done():
                    future.set_exception(ConnectionError("connection closed"))

    async def call(self, action: str, payload: dict, *, steady: bool = False) -> dict | None:
        message_id = str(uuid.uuid4())
        future = asyncio.get_running_loop().create_future()
        self.pending[message_id] = future
        started = time.perf_counter()
        self.stats.sent[action] += 1
        try:
            await self.ws.send(json.dumps([2, message_id, action, payload], separators=(",", ":")))
            frame = await asyncio.wait_for(future, self.timeout)
        except TimeoutError:
            self.pending.pop(message_id, None)
            self.stats.errors[f"{action}: timeout"] += 1
            return None
        except (ConnectionError, websockets.exceptions.ConnectionClosed):
            self.stats.errors[f"{action}: connection closed"] += 1
            raise
        elapsed = time.perf_counter() - started
        if frame[0] == 4:
            self.stats.errors[f"{action}: CALLERROR {frame[2]}"] += 1
            return None
        self.stats.latencies[action].append(elapsed)
        if steady and time.monotonic() <= self.stats.steady_end:
            self.stats.steady_answered += 1
        return frame[2]

    def next_message(self, n: int) -> tuple[str, dict]:
        if self.mix == "realistic":
            return self._realistic(n)
        if self.mix == "transactions":
            return self._transactions(n)
        kind = n % 3
        if kind == 0:
            return "Heartbeat", {}
        if kind == 1:
            status = "Available" if n % 2 else "Preparing"
            return "StatusNotification", {
                "connectorId": 1,
                "errorCode": "NoError",
                "status": status,
                "timestamp": now_iso(),
            }
        self.meter_wh += random.randint(50, 300)
        return "MeterValues", {
            "connectorId": 1,
            "meterValue": [
                {
                    "timestamp": now_iso(),
                    "sampledValue": [
                        {
                            "value": str(self.meter_wh),
                            "measurand": "Energy.Active.Import.Register",
                            "unit": "Wh",
                            "context": "Sample.Periodic",
                        },
                        {"value": "11040", "measurand": "Power.Active.Import", "unit": "W"},
                    ],
                }
            ],
        }

    def _realistic(self, n: int) -> tuple[str, dict]:
        """Heartbeat 1 : StatusNotification 1 : MeterValues 2, in the order MV, HB, MV, SN."""
        kind = n % 4
        if kind == 1:
            return "Heartbeat", {}
        if kind == 3:
            return "StatusNotification", {
                "connectorId": 1,
                "errorCode": "NoError",
                "status": "Charging" if (n // 4) % 2 else "SuspendedEV",
                "timestamp": now_iso(),
            }
        return "MeterValues", {"connectorId": 1, "meterValue": [self.three_phase_sample()]}

    def _transactions(self, n: int) -> tuple[str, dict]:
        if self.transaction_id is None:
            return "StartTransaction", {
                "connectorId": 1,
                "idTag": f"BENCH{self.ocpp_id[-5:]}"[:20],
                "meterStart": self.meter_wh,
                "timestamp": now_iso(),
            }
        self.session_calls += 1
        if self.session_calls >= SESSION_CALLS:
            sample = self.three_phase_sample()
            tx, self.transaction_id, self.session_calls = self.transaction_id, None, 0
            return "StopTransaction", {
                "transactionId": tx,
                "meterStop": self.meter_wh,
                "timestamp": now_iso(),
                "reason": "EVDisconnected",
                "transactionData": [sample],
            }
        action, payload = self._realistic(n)
        if action == "MeterValues":
            payload["transactionId"] = self.transaction_id
        return action, payload

    def answered(self, action: str, result: dict | None) -> None:
        """What a station keeps from an answer: the transactionId of its StartTransaction."""
        if action == "StartTransaction" and result is not None:
            self.transaction_id = result.get("transactionId")

    def three_phase_sample(self) -> dict:
        """One periodic sample of a 3-phase AC charge: energy register, power, current and voltage per phase, SoC."""
        volts = [round(random.gauss(230.0, 2.0), 1) for _ in range(3)]
        amps = [round(max(0.0, self.amps + random.gauss(0.0, 0.3)), 2) for _ in range(3)]
        watts = [round(v * a) for v, a in zip(volts, amps, strict=True)]
        self.meter_wh += max(1, sum(watts) // 60)  # a sample a minute
        self.soc = min(100, self.soc + random.choice((0, 0, 1)))
        periodic = {"context": "Sample.Periodic"}
        values = [
            {
                "value": str(self.meter_wh),
                "measurand": "Energy.Active.Import.Register",
                "unit": "Wh",
                "location": "Outlet",
                **periodic,
            }
        ]
        for measurand, unit, readings, phases in (
            ("Power.Active.Import", "W", watts, ("L1", "L2", "L3")),
            ("Current.Import", "A", amps, ("L1", "L2", "L3")),
            ("Voltage", "V", volts, ("L1-N", "L2-N", "L3-N")),
        ):
            for reading, phase in zip(readings, phases, strict=True):
                values.append(
                    {"value": str(reading), "measurand": measurand, "unit": unit, "phase": phase, **periodic}
                )
        values.append(
            {"value": str(self.soc), "measurand": "SoC", "unit": "Percent", "location": "EV", **periodic}
        )
        return {"timestamp": now_iso(), "sampledValue": values}


async def run_station(
    index: int, args, stats: Stats, t0: float, up: asyncio.Event, release: asyncio.Event
) -> None:
    ocpp_id = f"{args.prefix}-{index:05d}"
    reported = False

    def report_up(accepted: bool) -> None:
        # Every station reports once, booted or not, so the measured window never waits for a lost one.
        nonlocal reported
        if not reported:
            reported = True
            args.reported += 1
            if args.reported >= args.stations:
                up.set()

    await asyncio.sleep(max(0.0, t0 + args.ramp * index / max(args.stations, 1) - time.monotonic()))
    url = args.url.rstrip("/") + "/" + ocpp_id
    connect_started = time.perf_counter()
    try:
        ws = await connect(
            url,
            subprotocols=[SUBPROTOCOL],
            open_timeout=args.timeout,
            ping_interval=None,
            compression=None,
            max_queue=64,
        )
    except Exception as exc:  # noqa: BLE001 - counted and reported, a load test carries on
        stats.connect_failed[_reason(exc)] += 1
        report_up(False)
        return
    stats.connect_latencies.append(time.perf_counter() - connect_started)
    station = Station(ws, ocpp_id, stats, args.timeout, getattr(args, "mix", "realistic"))
    try:
        if ws.subprotocol != SUBPROTOCOL:
            stats.connect_failed["no ocpp1.6 subprotocol"] += 1
            return
        stats.connect_ok += 1
        boot = await station.call(
            "BootNotification",
            {
                "chargePointVendor": "EfluxBench",
                "chargePointModel": "LOAD-1",
                "chargePointSerialNumber": ocpp_id[:25],
                "firmwareVersion": "bench",
            },
        )
        accepted = bool(boot and boot.get("status") == "Accepted")
        stats.boot_accepted += accepted
        for connector in (0, 1):
            await station.call(
                "StatusNotification",
                {
                    "connectorId": connector,
                    "errorCode": "NoError",
                    "status": "Available",
                    "timestamp": now_iso(),
                },
            )
        if station.mix == "transactions":
            # The fleet is in steady state when the window opens: every station is charging, and the
            # sessions end at staggered times (else all 500 StopTransactions would come in one burst).
            station.answered("StartTransaction", await station.call(*station.next_message(0)))
            station.session_calls = index % SESSION_CALLS
        report_up(accepted)
        await release.wait()  # all stations are up (or failed): the measured window starts together
        if args.rate > 0:
            interval = args.stations / args.rate
            next_at = time.monotonic() + random.random() * interval
            n = index
            while True:
                delay = next_at - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                if time.monotonic() >= args.steady_end:
                    break
                action, payload = station.next_message(n)
                n += 1
                station.answered(action, await station.call(action, payload, steady=True))
                next_at += interval
        else:
            await args.hold_until.wait()
    except (ConnectionError, websockets.exceptions.ConnectionClosed):
        stats.closed_early += 1
    finally:
        report_up(False)
        await ws.close()
        station.reader.cancel()


class SaturationMonitor:
    """The generator's own load during the measured window: CPU seconds of this process per wall second, and
    the event loop's lag (how late a LAG_TICK sleep wakes up). Either one high means the generator, not the
    server, may have set the pace."""

    def __init__(self):
        self.lags: list[float] = []
        self.task: asyncio.Task | None = None

    def start(self) -> None:
        self.cpu0, self.wall0 = time.process_time(), time.monotonic()
        self.task = asyncio.ensure_future(self._tick())

    async def _tick(self) -> None:
        while True:
            started = time.monotonic()
            await asyncio.sleep(LAG_TICK)
            self.lags.append(max(0.0, time.monotonic() - started - LAG_TICK))

    def stop(self) -> dict:
        wall = max(time.monotonic() - self.wall0, 1e-9)
        cpu_percent = 100 * (time.process_time() - self.cpu0) / wall
        if self.task is not None:
            self.task.cancel()
        lags = sorted(self.lags)
        lag_p99_ms = percentile(lags, 99) * 1000 if lags else 0.0
        reasons = []
        if cpu_percent >= SATURATED_CPU_PERCENT:
            reasons.append(f"CPU {cpu_percent:.0f}% of one core >= {SATURATED_CPU_PERCENT}%")
        if lag_p99_ms >= SATURATED_LAG_P99_MS:
            reasons.append(f"event-loop lag p99 {lag_p99_ms:.0f} ms >= {SATURATED_LAG_P99_MS} ms")
        return {
            "pid": os.getpid(),
            "cpu_percent_of_one_core": round(cpu_percent, 1),
            "loop_lag_p50_ms": round(percentile(lags, 50) * 1000, 1) if lags else 0.0,
            "loop_lag_p99_ms": round(lag_p99_ms, 1),
            "loop_lag_max_ms": round(lags[-1] * 1000, 1) if lags else 0.0,
            "saturated": bool(reasons),
            "saturated_because": reasons,
        }


def _reason(exc: Exception) -> str:
    if isinstance(exc, websockets.exceptions.InvalidStatus):
        return f"HTTP {exc.response.status_code}"
    return type(exc).__name__


async def run(args, on_connected=None) -> dict:
    """Run the load; `on_connected` (async, optional) is awaited once every station has booted or failed,
    before the measured window starts (bench/run_daphne.py measures memory there)."""
    host = urlparse(args.url).hostname
    if host not in ("127.0.0.1", "localhost", "::1") and not args.allow_remote:
        raise SystemExit(f"refusing to load {host}: only 127.0.0.1 unless --allow-remote")
    stats = Stats()
    connected, release = asyncio.Event(), asyncio.Event()
    args.hold_until = asyncio.Event()
    args.reported = 0
    t0 = time.monotonic()
    tasks = [
        asyncio.ensure_future(run_station(i, args, stats, t0, connected, release))
        for i in range(args.stations)
    ]
    await connected.wait()
    connect_seconds = time.monotonic() - t0
    boot_latency = stats.latency_summary(["BootNotification"])
    if on_connected is not None:
        await on_connected(stats)
    args.steady_end = stats.steady_end = time.monotonic() + args.duration
    before = dict(stats.errors)
    monitor = SaturationMonitor()
    monitor.start()
    release.set()
    if args.rate <= 0:
        # Idle stations: hold the connections for --duration, or until the caller sets args.hold.
        hold = getattr(args, "hold", None)
        await (hold.wait() if hold is not None else asyncio.sleep(args.duration))
        args.hold_until.set()
    steady_latencies = {
        k: []
        for k in ("Heartbeat", "StatusNotification", "MeterValues", "StartTransaction", "StopTransaction")
    }
    # Steady-state latencies only: drop what the boot phase recorded for the same actions.
    boot_counts = {k: len(stats.latencies[k]) for k in steady_latencies}
    await asyncio.gather(*tasks)
    generator = monitor.stop()
    for k in steady_latencies:
        steady_latencies[k] = stats.latencies[k][boot_counts[k] :]
    steady = Stats(latencies=defaultdict(list, steady_latencies))
    errors_in_window = Counter(stats.errors)
    errors_in_window.subtract(before)
    connect_latencies = sorted(stats.connect_latencies)
    result = {
        "url": args.url,
        "stations": args.stations,
        "connected": stats.connect_ok,
        "boot_accepted": stats.boot_accepted,
        "connect_failed": dict(stats.connect_failed),
        "connect_seconds": round(connect_seconds, 2),
        "connect_latency": {
            "count": len(connect_latencies),
            "p50_ms": percentile(connect_latencies, 50) * 1000,
            "p99_ms": percentile(connect_latencies, 99) * 1000,
            "max_ms": (connect_latencies[-1] if connect_latencies else float("nan")) * 1000,
        },
        "mix": getattr(args, "mix", "realistic"),
        "boot_latency": boot_latency,
        "target_rate": args.rate,
        "duration": args.duration,
        "steady_calls": stats.steady_answered,
        "calls_per_second": round(stats.steady_answered / args.duration, 1),
        "steady_latency": steady.latency_summary(),
        "steady_latency_by_action": {k: steady.latency_summary([k]) for k in steady_latencies},
        "errors": {k: v for k, v in stats.errors.items() if v},
        "errors_in_window": {k: v for k, v in errors_in_window.items() if v},
        "closed_early": stats.closed_early,
        "csms_calls_answered": dict(stats.csms_calls),
        "generator": generator,
    }
    return result


def report(result: dict) -> str:
    lat = result["steady_latency"]
    boot = result["boot_latency"]
    conn = result["connect_latency"]
    lines = [
        f"stations: {result['stations']} requested, {result['connected']} connected, "
        f"{result['boot_accepted']} boots accepted in {result['connect_seconds']} s"
        + (f", failed: {result['connect_failed']}" if result["connect_failed"] else ""),
        f"connect (TCP + HTTP 101): p50 {conn['p50_ms']:.1f} ms, p99 {conn['p99_ms']:.1f} ms, "
        f"max {conn['max_ms']:.1f} ms",
        f"boot latency: p50 {boot['p50_ms']:.1f} ms, p99 {boot['p99_ms']:.1f} ms, max {boot['max_ms']:.1f} ms",
    ]
    if result["target_rate"] > 0:
        lines += [
            f"calls: {result['steady_calls']} answered in {result['duration']} s = "
            f"{result['calls_per_second']} calls/s (target {result['target_rate']})",
            f"latency: p50 {lat['p50_ms']:.1f} ms, p90 {lat['p90_ms']:.1f} ms, "
            f"p99 {lat['p99_ms']:.1f} ms, max {lat['max_ms']:.1f} ms",
        ]
        for action, summary in result["steady_latency_by_action"].items():
            if summary["count"]:
                lines.append(
                    f"  {action}: {summary['count']} calls, p50 {summary['p50_ms']:.1f} ms, "
                    f"p99 {summary['p99_ms']:.1f} ms"
                )
    else:
        lines.append(f"held {result['connected']} idle connections for {result['duration']} s")
    lines.append(f"errors: {result['errors'] or 'none'}; connections closed early: {result['closed_early']}")
    if result["csms_calls_answered"]:
        lines.append(f"CALLs from the server answered: {result['csms_calls_answered']}")
    gen = result["generator"]
    lines.append(
        f"generator: CPU {gen['cpu_percent_of_one_core']:.0f}% of one core, event-loop lag "
        f"p50 {gen['loop_lag_p50_ms']:.1f} / p99 {gen['loop_lag_p99_ms']:.1f} / max {gen['loop_lag_max_ms']:.1f} ms"
        + (
            f" -> GENERATOR SATURATED ({'; '.join(gen['saturated_because'])}): the server was not offered the full load"
            if gen["saturated"]
            else " (not saturated)"
        )
    )
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", default="ws://127.0.0.1:8000/ocpp/", help="OCPP base URL (default %(default)s)")
    p.add_argument("--stations", type=int, default=50, help="number of stations (default %(default)s)")
    p.add_argument(
        "--rate",
        type=float,
        default=100,
        help="calls/s from all stations together; 0 = idle (default %(default)s)",
    )
    p.add_argument("--duration", type=float, default=20, help="measured seconds (default %(default)s)")
    p.add_argument(
        "--mix",
        choices=MIXES,
        default="realistic",
        help="realistic: HB 1 : status 1 : 3-phase MeterValues 2; thirds: the earlier mix; transactions: "
        "realistic inside Start/StopTransaction sessions (default %(default)s)",
    )
    p.add_argument("--ramp", type=float, default=5, help="spread the connects over this many seconds")
    p.add_argument("--prefix", default="BENCH", help="OCPP IDs are PREFIX-00000, PREFIX-00001, ...")
    p.add_argument("--timeout", type=float, default=30, help="per-call and connect timeout (s)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--allow-remote", action="store_true", help=argparse.SUPPRESS)
    return p


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    if args.stations < 1 or args.duration <= 0 or args.duration > 600:
        raise SystemExit("--stations >= 1 and 0 < --duration <= 600")
    result = asyncio.run(run(args))
    print(json.dumps(result, indent=2) if args.json else report(result))
    return 0 if result["connected"] == args.stations and not result["errors"] else 1


if __name__ == "__main__":
    sys.exit(main())
