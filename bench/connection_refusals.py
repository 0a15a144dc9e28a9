"""Connection diagnostics under a refusal storm: database queries and writes of connection_refusal_record
for chargers that retry faster than the write window, against the same calls with the window off (baseline).

    env -u DATABASE_URL -u REDIS_URL SQLITE_PATH=/tmp/bench-refusals.sqlite3 .venv/bin/python manage.py migrate
    env -u DATABASE_URL -u REDIS_URL SQLITE_PATH=/tmp/bench-refusals.sqlite3 .venv/bin/python bench/connection_refusals.py

Bounded: 2,000 calls per case. Prints queries, writes and wall time per case and the ratio of writes."""

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "eflux.settings")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.test import override_settings  # noqa: E402

from stations.models import ConnectionAttempt  # noqa: E402
from stations.services import admission  # noqa: E402

CALLS = 2_000


def run(identities: list[str]) -> tuple[int, int, float]:
    admission._throttle.recent.clear()
    admission._throttle.minute = (0, 0)  # each case starts with the per-minute new-row budget unused
    ConnectionAttempt.objects.all().delete()
    counts = {"queries": 0, "writes": 0}

    def count(execute, sql, params, many, context):
        counts["queries"] += 1
        counts["writes"] += sql.split()[0].upper() in ("INSERT", "UPDATE", "DELETE")
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        started = time.perf_counter()
        for i in range(CALLS):
            admission.connection_refusal_record(
                ocpp_id=identities[i % len(identities)],
                reason=ConnectionAttempt.Reason.NO_CREDENTIALS,
                remote_addr="10.0.0.1",
            )
        elapsed = time.perf_counter() - started
    return counts["queries"], counts["writes"], elapsed


for label, identities in [("1 charger", ["CP-1"]), ("100 chargers", [f"CP-{i}" for i in range(100)])]:
    with override_settings(CONNECTION_ATTEMPT_WRITE_SECONDS=0):
        base = run(identities)
    window = run(identities)
    print(
        f"{label}, {CALLS} refusals: baseline (no window) {base[0]} queries, {base[1]} writes, {base[2]:.2f} s; "
        f"5 s window {window[0]} queries, {window[1]} writes, {window[2]:.2f} s; "
        f"writes ratio {base[1] / max(window[1], 1):.0f}x"
    )
