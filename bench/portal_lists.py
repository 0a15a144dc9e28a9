#!/usr/bin/env python
"""Portal lists at scale: the Charging Stations list (/stations/) and the Sessions list (/sessions/) with a small
fleet and a large one in the same run, and the ratio large/small per page and persona.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/eflux_lists_bench \\
        .venv/bin/python bench/portal_lists.py --small 100 --large 10000 --rounds 10 --repeat 5

Both fleets live side by side in the benchmark database, each in its own PostgreSQL schema (fleet_small,
fleet_large: dropped, migrated and seeded by COPY at the start, see bench/portal_fleet.py; then VACUUM ANALYZE,
what autovacuum gives a production database). Per station: 2 connectors, --sessions-per-station sessions, each
with --values-per-session meter values (10,000 x 10 x 10 = 1,000,000 meter values). Accounts hold 10 stations
each; the account owner's account holds --owner-share of the fleet (10 %: 1,000 stations and ~10,000 sessions
at 10,000), so the owner's pages grow with the fleet too.

Pages are requested in-process with Django's test Client (no HTTP server and no socket: the view, its queries
and the template rendering are timed), logged in with force_login, DEBUG off, persistent database connection
as in production. The fleets take turns: each of --rounds rounds switches to one fleet's schema, requests every
page twice untimed, then --repeat times timed, then does the same on the other fleet (the order alternates), so
that load from other processes on this shared machine falls on both alike. Then each page once more inside
CaptureQueriesContext: the query count and the database time. Printed: median and p90 in ms, queries, db ms, and
the ratios large/small.

Bounded: a fixed number of rows and requests, and --deadline seconds for the whole run. The database's name
must end in "_bench" (its fleet_* schemas are dropped)."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "eflux.settings")
# Production-like request handling: DEBUG off (no per-request query log), no HTTPS redirect in-process.
os.environ.setdefault("DJANGO_SECRET_KEY", "bench-portal-lists-not-a-secret-" + "x" * 20)
os.environ.setdefault("DJANGO_DEBUG", "0")
os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
os.environ.setdefault("LOG_LEVEL", "WARNING")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.http import QueryDict  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from billing.forms import SessionFilterForm  # noqa: E402
from billing.models import ChargingSession  # noqa: E402
from billing.views import PAGE_SIZE  # noqa: E402
from eflux.pagination import KeysetPaginator  # noqa: E402
from stations.models import Station  # noqa: E402
from stations.views import LIST_PAGE_SIZE  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import portal_fleet  # noqa: E402

PAGES = [("station list", "/stations/"), ("sessions list", "/sessions/")]
# The lists' filters measured as well (the sessions filter is a NOT EXISTS subquery per row).
FILTERS = {"station list": "online=yes", "sessions list": "status=completed&billed=unbilled"}


def use_schema(name: str) -> None:
    """Point the (single, persistent) connection at one fleet's schema."""
    connection.close()
    connection.settings_dict.setdefault("OPTIONS", {})["options"] = f"-c search_path={name}"


def build_fleet(label: str, size: int, args, owner_share: float) -> dict:
    schema = f"fleet_{label}"
    use_schema("public")
    with connection.cursor() as cursor:
        cursor.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        cursor.execute(f"CREATE SCHEMA {schema}")
    use_schema(schema)
    call_command("migrate", verbosity=0)
    info = portal_fleet.seed(
        size,
        sessions_per_station=args.sessions_per_station,
        values_per_session=args.values_per_session,
        owner_share=owner_share,
    )
    clients, pages = {}, {}
    users = info.pop("users")
    users["technician"] = portal_fleet.add_technician()
    for persona, user in users.items():
        clients[persona] = Client(HTTP_HOST="127.0.0.1")
        clients[persona].force_login(user)
        pages[persona] = urls(user)
    info["technician_stations"] = Station.objects.visible_to(users["technician"]).count()
    print(f"{label}: {json.dumps(info)}", flush=True)
    return {"schema": schema, "info": info, "clients": clients, "pages": pages}


def _lists(user):
    """The two lists as their views query them (before filters), with their keyset order."""
    return {
        "station list": (Station.objects.visible_to(user), ["ocpp_id"], LIST_PAGE_SIZE),
        "sessions list": (ChargingSession.objects.visible_to(user), ["-started_at", "-id"], PAGE_SIZE),
    }


def urls(user) -> list[tuple[str, str]]:
    """Per list: the first page; the middle page and the page just before the end (the ?after= cursor of the
    row before them, what the "Next"/"Older" link there carries), the last page (?last=1); the filtered first
    and middle pages."""
    out = []
    for name, url in PAGES:
        qs, ordering, per_page = _lists(user)[name]
        ordered = qs.order_by(*ordering)
        filtered = SessionFilterForm(QueryDict(FILTERS[name])) if name == "sessions list" else None
        fqs = (
            filtered.filter(qs)
            if filtered is not None and filtered.is_valid()
            else qs.filter(is_connected=True)
        )
        paginator = KeysetPaginator(qs, ordering, per_page)
        n = ordered.count()
        out.append((name, url))
        # The cursor row is chosen so that a full page follows it (as many rows on the page in both fleets).
        deepest = max(0, n - per_page - 1)
        for label, at in (("middle", min(n // 2, deepest)), ("deepest", deepest)):
            out.append(
                (f"{name}, {label} page", f"{url}?after={paginator.cursor(ordered[at])}" if n else url)
            )
        out.append((f"{name}, last page", f"{url}?last=1"))
        out.append((f"{name}, filtered", f"{url}?{FILTERS[name]}"))
        fn = fqs.count()
        middle = f"{url}?{FILTERS[name]}"
        if fn:
            at = min(fn // 2, max(0, fn - per_page - 1))
            middle += f"&after={paginator.cursor(fqs.order_by(*ordering)[at])}"
        out.append((f"{name}, filtered middle", middle))
    return out


def get(client: Client, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)


def p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]


def run(fleets: dict, args) -> dict:
    deadline = time.monotonic() + args.deadline
    times: dict = {}
    labels = list(fleets)
    for r in range(args.rounds):
        for label in labels if r % 2 == 0 else reversed(labels):
            fleet = fleets[label]
            use_schema(fleet["schema"])
            for persona, client in fleet["clients"].items():
                for page, url in fleet["pages"][persona]:
                    for _ in range(2):  # after the reconnect: warm caches, not timed
                        get(client, url)
                    for _ in range(args.repeat):
                        if time.monotonic() > deadline:
                            raise SystemExit("--deadline reached while measuring")
                        t0 = time.perf_counter()
                        get(client, url)
                        times.setdefault((label, persona, page), []).append((time.perf_counter() - t0) * 1000)
    results = {}
    for label, fleet in fleets.items():
        use_schema(fleet["schema"])
        for persona, client in fleet["clients"].items():
            for page, url in fleet["pages"][persona]:
                get(client, url)
                with CaptureQueriesContext(connection) as ctx:
                    get(client, url)
                t = times[(label, persona, page)]
                results[(label, persona, page)] = {
                    "median_ms": statistics.median(t),
                    "p90_ms": p90(t),
                    "requests": len(t),
                    "queries": len(ctx.captured_queries),
                    "db_ms": sum(float(q["time"]) for q in ctx.captured_queries) * 1000,
                    "sql": [q["sql"] for q in ctx.captured_queries],
                }
    return results


def report(fleets: dict, results: dict, args) -> None:
    out = {"args": {k: str(v) for k, v in vars(args).items()}, "fleets": {}, "rows": []}
    for label, fleet in fleets.items():
        out["fleets"][label] = fleet["info"]
    header = (
        f"{'page':<28} {'persona':<14} {'small med':>9} {'p90':>6} {'q':>3} {'db':>5} "
        f"{'large med':>9} {'p90':>6} {'q':>3} {'db':>5} {'ratio med':>9} {'p90':>6}"
    )
    print("\n" + header + "\n" + "-" * len(header))
    for persona in fleets["small"]["clients"]:
        pages = [p for p, _ in fleets["large"]["pages"][persona]]
        for page in [p for p, _ in fleets["small"]["pages"][persona] if p in pages]:
            small, large = results[("small", persona, page)], results[("large", persona, page)]
            ratio_med = large["median_ms"] / small["median_ms"]
            ratio_p90 = large["p90_ms"] / small["p90_ms"]
            print(
                f"{page:<28} {persona:<14} {small['median_ms']:9.1f} {small['p90_ms']:6.1f} {small['queries']:3d} "
                f"{small['db_ms']:5.1f} {large['median_ms']:9.1f} {large['p90_ms']:6.1f} {large['queries']:3d} "
                f"{large['db_ms']:5.1f} {ratio_med:8.2f}x {ratio_p90:5.2f}x"
            )
            row = {"page": page, "persona": persona, "ratio_median": round(ratio_med, 3)}
            row["ratio_p90"] = round(ratio_p90, 3)
            row["query_count_constant"] = small["queries"] == large["queries"]
            for size, r in (("small", small), ("large", large)):
                row[size] = {k: round(v, 2) for k, v in r.items() if k != "sql"}
            out["rows"].append(row)
            if args.show_sql:
                for sql in large["sql"]:
                    print("    ", sql[:240])
    print(
        "\nms per request, Django test Client in-process; q = queries per page; db = database time of those "
        "queries (one request, ms)"
    )
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")
        print(f"figures written to {args.json}")


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
    parser.add_argument(
        "--small-owner-share",
        type=float,
        default=0.5,
        help="the same in the small fleet: 50 of 100 stations, so that the owner's and the technician's pages "
        "are full pages there too (10 %% would be 10 stations: a 10-row page against the large fleet's 25)",
    )
    parser.add_argument("--rounds", type=int, default=10, help="turns per fleet")
    parser.add_argument("--repeat", type=int, default=5, help="timed requests per page, persona and round")
    parser.add_argument("--deadline", type=float, default=1200, help="seconds for the measuring")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--show-sql", action="store_true", help="print each page's queries (large fleet)")
    args = parser.parse_args()

    if connection.vendor != "postgresql" or not connection.settings_dict["NAME"].endswith("_bench"):
        raise SystemExit("DATABASE_URL must name a PostgreSQL database whose name ends in _bench")
    fleets = {
        label: build_fleet(label, size, args, share)
        for label, size, share in (
            ("small", args.small, args.small_owner_share),
            ("large", args.large, args.owner_share),
        )
    }
    report(fleets, run(fleets, args), args)


if __name__ == "__main__":
    main()
