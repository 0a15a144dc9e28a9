#!/usr/bin/env python
"""Portal lists at scale: the Charging Stations list (/stations/) and the Sessions list (/sessions/) with a small
fleet and a large one, measured one after the other in one run, with the ratio large/small per page.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/eflux_lists_bench \\
        .venv/bin/python bench/portal_lists.py --small 100 --large 10000 --repeat 30

Each fleet is seeded from empty with COPY (psycopg): per station 2 connectors and --sessions-per-station
sessions, each session with --values-per-session meter values (10,000 stations x 10 x 10 = 1,000,000 meter
values), then VACUUM ANALYZE (what autovacuum gives a production database). Accounts hold 10 stations each, and
the account owner's account holds --owner-share of the fleet (10 % by default: 1,000 stations and their
10,000 sessions at the large size), so the owner's pages grow with the fleet too.

Pages are requested in-process with Django's test Client (no HTTP server, no network: the view, its queries
and the template rendering are what is timed), logged in with force_login, DEBUG off. Each page is requested
--warmup times, then --repeat times timed; then once more inside CaptureQueriesContext for the query count and
the database time. Printed: median and p90 in ms, queries per page, and the ratios large/small.

Bounded: the seed is a fixed number of rows, every loop is a fixed count, and --deadline stops the run.
The database must be a dedicated benchmark database (its name must end in "_bench"): it is emptied first."""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "eflux.settings")
# Production-like request handling: DEBUG off (no query log kept per request), no HTTPS redirect in-process.
os.environ.setdefault("DJANGO_SECRET_KEY", "bench-portal-lists-not-a-secret-" + "x" * 20)
os.environ.setdefault("DJANGO_DEBUG", "0")
os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
os.environ.setdefault("LOG_LEVEL", "WARNING")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.models import fields as model_fields  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from accounts.models import Account, ChargeCard, Location, Membership, User  # noqa: E402
from billing.models import ChargingSession, MeterValue  # noqa: E402
from stations.models import Connector, Station  # noqa: E402

STATIONS_PER_ACCOUNT = 10
CARDS_PER_ACCOUNT = 5
CONNECTORS = (1, 2)
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
MEASURANDS = ("Energy.Active.Import.Register", "Power.Active.Import")

# What the run empties before each seed (children first; CASCADE covers the journal, jobs and audit rows).
TABLES = [
    MeterValue,
    ChargingSession,
    Connector,
    Station,
    ChargeCard,
    Location,
    Membership,
    Account,
    User,
]


# --- seeding ----------------------------------------------------------------------------------------


def _defaults(model, given: list[str]) -> tuple[list[str], list]:
    """Every concrete column not in `given`, with the value Django would have written (COPY bypasses Django)."""
    names, values = [], []
    for field in model._meta.concrete_fields:
        if field.primary_key or field.name in given or field.attname in given:
            continue
        if isinstance(field, model_fields.DateTimeField) and (field.auto_now or field.auto_now_add):
            value = NOW
        else:
            value = field.get_default()
        if isinstance(value, list | dict):
            value = json.dumps(value)  # text COPY: PostgreSQL parses the jsonb itself
        names.append(field.column)
        values.append(value)
    return names, values


def copy_rows(model, columns: list[str], rows) -> int:
    """COPY rows (tuples in `columns` order, id first) into the model's table; returns the row count."""
    extra_names, extra_values = _defaults(model, columns)
    column_names = [model._meta.get_field(c).column for c in columns] + extra_names
    sql = f"COPY {model._meta.db_table} ({', '.join(column_names)}) FROM STDIN"
    count = 0
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        for row in rows:
            copy.write_row((*row, *extra_values))
            count += 1
    return count


def empty_database() -> None:
    tables = ", ".join(m._meta.db_table for m in TABLES)
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")


def reset_sequences() -> None:
    with connection.cursor() as cursor:
        for model in TABLES:
            table = model._meta.db_table
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE(MAX(id), 0) + 1, false) "
                f"FROM {table}"
            )


def seed(stations: int, *, sessions_per_station: int, values_per_session: int, owner_share: float) -> dict:
    """A fleet from empty; returns row counts and the users the pages are requested as."""
    rng = random.Random(stations)  # same fleet for the same size
    started = time.perf_counter()
    empty_database()
    owner_stations = max(1, round(stations * owner_share))
    # Account 1 is the owner's; the others hold STATIONS_PER_ACCOUNT stations each.
    account_of = [
        1 if i < owner_stations else 2 + (i - owner_stations) // STATIONS_PER_ACCOUNT for i in range(stations)
    ]
    accounts = max(account_of)
    copy_rows(Account, ["id", "name"], ((a, f"Account {a:05d}") for a in range(1, accounts + 1)))
    copy_rows(
        Location, ["id", "account", "name"], ((a, a, f"Car park {a:05d}") for a in range(1, accounts + 1))
    )
    cards = accounts * CARDS_PER_ACCOUNT
    copy_rows(
        ChargeCard,
        ["id", "id_tag", "label", "account"],
        ((c, f"TAG{c:08d}", f"Card {c}", (c - 1) // CARDS_PER_ACCOUNT + 1) for c in range(1, cards + 1)),
    )
    copy_rows(
        Station,
        [
            "id",
            "ocpp_id",
            "serial_number",
            "vendor",
            "model",
            "setup_state",
            "is_connected",
            "last_seen_at",
            "account",
            "location",
        ],
        (
            (
                i + 1,
                f"CP-{i:06d}",
                f"SN{i:08d}",
                "Alfen",
                "Eve Double",
                "active",
                i % 3 != 0,
                NOW - timedelta(seconds=i % 600),
                account_of[i],
                account_of[i],
            )
            for i in range(stations)
        ),
    )
    copy_rows(
        Connector,
        ["id", "station", "connector_id", "status", "status_timestamp"],
        (
            (i * len(CONNECTORS) + n + 1, i + 1, cid, "Available", NOW)
            for i in range(stations)
            for n, cid in enumerate(CONNECTORS)
        ),
    )

    def sessions():
        sid = 0
        for i in range(stations):
            account = account_of[i]
            for k in range(sessions_per_station):
                sid += 1
                # Spread over the last 90 days, newest last; the newest on connector 1 of every 10th station runs.
                start = (
                    NOW - timedelta(days=90) + timedelta(days=90 * (k + rng.random()) / sessions_per_station)
                )
                active = k == sessions_per_station - 1 and i % 10 == 0
                connector = 1 if active else CONNECTORS[k % len(CONNECTORS)]
                # 1 in 10 sessions is charged with another account's card (roaming within the platform).
                card_account = account if rng.random() > 0.1 else rng.randint(1, accounts)
                card = (card_account - 1) * CARDS_PER_ACCOUNT + rng.randint(1, CARDS_PER_ACCOUNT)
                energy = rng.randint(2_000, 40_000)
                duration = rng.randint(1_800, 14_400)
                subtotal = (Decimal(energy) / 1000 * Decimal("0.35")).quantize(Decimal("0.01"))
                vat = (subtotal * Decimal("0.21")).quantize(Decimal("0.01"))
                yield (
                    sid,
                    i + 1,
                    connector,
                    sid,
                    "active" if active else "completed",
                    f"TAG{card:08d}",
                    card,
                    account,
                    "Accepted",
                    0,
                    None if active else energy,
                    start,
                    None if active else start + timedelta(seconds=duration),
                    start,
                    energy,
                    duration,
                    Decimal("0.3500"),
                    subtotal,
                    subtotal,
                    vat,
                    subtotal + vat,
                )

    session_rows = copy_rows(
        ChargingSession,
        [
            "id",
            "station",
            "connector_id",
            "transaction_id",
            "status",
            "id_tag",
            "card",
            "account",
            "auth_status",
            "meter_start",
            "meter_stop",
            "started_at",
            "stopped_at",
            "start_received_at",
            "energy_wh",
            "duration_seconds",
            "price_per_kwh",
            "energy_amount",
            "subtotal",
            "vat_amount",
            "total",
        ],
        sessions(),
    )

    def meter_values():
        mid = 0
        for sid in range(1, session_rows + 1):
            station = (sid - 1) // sessions_per_station + 1
            start = NOW - timedelta(days=90)  # the chart is not measured; timestamps only need an order
            for v in range(values_per_session):
                mid += 1
                at = start + timedelta(minutes=15 * v)
                measurand = MEASURANDS[v % len(MEASURANDS)]
                value = Decimal(1_000 * v) if v % 2 == 0 else Decimal(11_000)
                yield (
                    mid,
                    station,
                    sid,
                    1,
                    sid,
                    at,
                    at,
                    measurand,
                    "Wh" if v % 2 == 0 else "W",
                    str(value),
                    value,
                )

    value_rows = copy_rows(
        MeterValue,
        [
            "id",
            "station",
            "session",
            "connector_id",
            "reported_transaction_id",
            "timestamp",
            "received_at",
            "measurand",
            "unit",
            "raw_value",
            "value",
        ],
        meter_values(),
    )
    operator = User.objects.create(username="bench-operator", is_platform_operator=True, is_staff=True)
    owner = User.objects.create(username="bench-owner")
    Membership.objects.create(user=owner, account_id=1, role=Membership.Role.ACCOUNT_ADMIN)
    reset_sequences()
    seeded = time.perf_counter() - started
    with connection.cursor() as cursor:
        for model in TABLES:
            cursor.execute(f"VACUUM ANALYZE {model._meta.db_table}")
    return {
        "stations": stations,
        "connectors": stations * len(CONNECTORS),
        "sessions": session_rows,
        "meter_values": value_rows,
        "owner_stations": owner_stations,
        "owner_sessions": ChargingSession.objects.visible_to(owner).count(),
        "seed_seconds": round(seeded, 1),
        "vacuum_seconds": round(time.perf_counter() - started - seeded, 1),
        "users": {"operator": operator, "account owner": owner},
    }


# --- measuring --------------------------------------------------------------------------------------

PAGES = [("station list", "/stations/"), ("sessions list", "/sessions/")]


def p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.9 * (len(ordered) - 1))))]


def measure(users: dict, *, warmup: int, repeat: int, deadline: float, extra_query: str) -> dict:
    results = {}
    for persona, user in users.items():
        client = Client(HTTP_HOST="127.0.0.1")
        client.force_login(user)
        for page, url in PAGES:
            url = url + extra_query
            for _ in range(warmup):
                assert client.get(url).status_code == 200, url
            times = []
            for _ in range(repeat):
                if time.monotonic() > deadline:
                    raise SystemExit("deadline reached while measuring")
                t0 = time.perf_counter()
                response = client.get(url)
                times.append((time.perf_counter() - t0) * 1000)
                assert response.status_code == 200, (url, response.status_code)
            with CaptureQueriesContext(connection) as ctx:
                assert client.get(url).status_code == 200
            results[(persona, page)] = {
                "median_ms": statistics.median(times),
                "p90_ms": p90(times),
                "queries": len(ctx.captured_queries),
                "db_ms": sum(float(q["time"]) for q in ctx.captured_queries) * 1000,
                "sql": [q["sql"] for q in ctx.captured_queries],
            }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--small", type=int, default=100, help="stations in the baseline fleet")
    parser.add_argument("--large", type=int, default=10_000, help="stations in the large fleet")
    parser.add_argument("--sessions-per-station", type=int, default=10)
    parser.add_argument("--values-per-session", type=int, default=10)
    parser.add_argument(
        "--owner-share", type=float, default=0.1, help="share of the fleet in the owner's account"
    )
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument(
        "--page", default="", help="also measure this page number (a number past the end: the last page)"
    )
    parser.add_argument("--deadline", type=float, default=900, help="seconds for the whole run")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument(
        "--show-sql", action="store_true", help="print the queries of each page (large fleet)"
    )
    args = parser.parse_args()

    if connection.vendor != "postgresql" or not connection.settings_dict["NAME"].endswith("_bench"):
        raise SystemExit(
            "DATABASE_URL must name a PostgreSQL database whose name ends in _bench (it is emptied)"
        )
    deadline = time.monotonic() + args.deadline
    call_command("migrate", verbosity=0)

    fleets = {}
    for label, size in (("small", args.small), ("large", args.large)):
        info = seed(
            size,
            sessions_per_station=args.sessions_per_station,
            values_per_session=args.values_per_session,
            owner_share=args.owner_share,
        )
        users = info.pop("users")
        print(f"{label}: {json.dumps(info)}", flush=True)
        runs = {"": measure(users, warmup=args.warmup, repeat=args.repeat, deadline=deadline, extra_query="")}
        if args.page:
            # A page number past the end gets the last page (Paginator.get_page): the deepest OFFSET.
            query = f"?page={args.page}"
            runs[args.page] = measure(
                users, warmup=args.warmup, repeat=args.repeat, deadline=deadline, extra_query=query
            )
        fleets[label] = {"fleet": info, "runs": runs}

    report(fleets, args)


def report(fleets: dict, args) -> None:
    small, large = fleets["small"], fleets["large"]
    out = {"args": {k: str(v) for k, v in vars(args).items()}, "fleets": {}, "rows": []}
    for label, fleet in fleets.items():
        out["fleets"][label] = fleet["fleet"]
    print()
    header = (
        f"{'page':<28} {'persona':<14} {'small med':>9} {'p90':>7} {'q':>3} {'db':>6} "
        f"{'large med':>9} {'p90':>7} {'q':>3} {'db':>6} {'ratio med':>9} {'p90':>6}"
    )
    print(header)
    print("-" * len(header))
    for run, results in large["runs"].items():
        for key, big in results.items():
            persona, page = key
            base = small["runs"][run][key]
            name = page + (f" ?page={run}" if run else "")
            ratio_med = big["median_ms"] / base["median_ms"]
            ratio_p90 = big["p90_ms"] / base["p90_ms"]
            print(
                f"{name:<28} {persona:<14} {base['median_ms']:9.1f} {base['p90_ms']:7.1f} {base['queries']:3d} "
                f"{base['db_ms']:6.1f} {big['median_ms']:9.1f} {big['p90_ms']:7.1f} {big['queries']:3d} "
                f"{big['db_ms']:6.1f} {ratio_med:8.2f}x {ratio_p90:5.2f}x"
            )
            row = {"page": name, "persona": persona, "ratio_median": round(ratio_med, 3)}
            row["ratio_p90"] = round(ratio_p90, 3)
            for size, r in (("small", base), ("large", big)):
                row[size] = {k: round(v, 2) for k, v in r.items() if k != "sql"}
            out["rows"].append(row)
            if args.show_sql:
                for sql in big["sql"]:
                    print("    ", sql[:300])
    print(
        "\ntimes in ms (Django test Client in-process); q = queries per page; db = database time of those queries"
    )
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")
        print(f"figures written to {args.json}")


if __name__ == "__main__":
    main()
