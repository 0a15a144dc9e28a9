"""Seed a fleet for bench/portal_lists.py with COPY: stations, connectors, sessions and meter values in proportion.

Needs a configured Django (the caller runs django.setup()) on PostgreSQL and empty tables (a fresh schema).
Rows get explicit ids from 1 so that sessions and meter values can name their parents without a round trip; the
sequences are moved past them afterwards so that the ORM can still insert."""

from __future__ import annotations

import itertools
import json
import random
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.db import connection
from django.db.models import fields as model_fields

from accounts.models import Account, ChargeCard, Location, Membership, User
from billing.models import ChargingSession, MeterValue
from stations.models import Connector, Station

STATIONS_PER_ACCOUNT = 10
CARDS_PER_ACCOUNT = 5
CONNECTORS = (1, 2)
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
DAYS = 90
# A sample every 15 minutes, alternating the two measurands the sessions list and chart use.
SAMPLES = (("Energy.Active.Import.Register", "Wh"), ("Power.Active.Import", "W"))
SEEDED = [Account, Location, ChargeCard, Station, Connector, ChargingSession, MeterValue, User, Membership]


def _defaults(model, given: Iterable[str]) -> tuple[list[str], list]:
    """Every concrete column not in `given`, with the value Django would have written (COPY bypasses Django)."""
    given = set(given)
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


def copy_rows(model, rows: Iterable[dict]) -> int:
    """COPY rows (dicts keyed by field name, all with the same keys, "id" included) into the model's table."""
    rows = iter(rows)
    first = next(rows, None)
    if first is None:
        return 0
    keys = list(first)
    extra_names, extra_values = _defaults(model, keys)
    columns = [model._meta.get_field(k).column for k in keys] + extra_names
    count = 0
    with connection.cursor() as cursor:
        with cursor.cursor.copy(f"COPY {model._meta.db_table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in itertools.chain([first], rows):
                copy.write_row((*(row[k] for k in keys), *extra_values))
                count += 1
    return count


def _reset_sequences() -> None:
    with connection.cursor() as cursor:
        for model in SEEDED:
            table = model._meta.db_table
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE(MAX(id), 0) + 1, false) "
                f"FROM {table}"
            )


def _money(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"))


def seed(stations: int, *, sessions_per_station: int, values_per_session: int, owner_share: float) -> dict:
    """The fleet; returns its row counts and the users the pages are requested as (operator, account owner)."""
    rng = random.Random(stations)  # the same fleet for the same size
    started = time.perf_counter()
    # Account 1 is the owner's, its stations spread evenly through the fleet (and so through the station list's
    # OCPP ID order); every other account holds STATIONS_PER_ACCOUNT stations in a row.
    account_of, others = [], 0
    for i in range(stations):
        if int((i + 1) * owner_share) > int(i * owner_share):
            account_of.append(1)
        else:
            account_of.append(2 + others // STATIONS_PER_ACCOUNT)
            others += 1
    owner_stations = account_of.count(1)
    accounts = max(account_of)
    copy_rows(Account, ({"id": a, "name": f"Account {a:05d}"} for a in range(1, accounts + 1)))
    copy_rows(
        Location, ({"id": a, "account": a, "name": f"Car park {a:05d}"} for a in range(1, accounts + 1))
    )
    copy_rows(
        ChargeCard,
        (
            {
                "id": c,
                "id_tag": f"TAG{c:08d}",
                "label": f"Card {c}",
                "account": (c - 1) // CARDS_PER_ACCOUNT + 1,
            }
            for c in range(1, accounts * CARDS_PER_ACCOUNT + 1)
        ),
    )
    copy_rows(
        Station,
        (
            {
                "id": i + 1,
                "ocpp_id": f"CP-{i:06d}",
                "serial_number": f"SN{i:08d}",
                "vendor": "Alfen",
                "model": "Eve Double",
                "setup_state": Station.SetupState.ACTIVE,
                "is_connected": i % 3 != 0,
                "last_seen_at": NOW - timedelta(seconds=i % 600),
                "account": account_of[i],
                "location": account_of[i],
            }
            for i in range(stations)
        ),
    )
    copy_rows(
        Connector,
        (
            {"id": i * len(CONNECTORS) + n + 1, "station": i + 1, "connector_id": cid, "status": "Available"}
            for i in range(stations)
            for n, cid in enumerate(CONNECTORS)
        ),
    )
    starts: list[datetime] = []

    def sessions():
        for i in range(stations):
            for k in range(sessions_per_station):
                sid = len(starts) + 1
                # Spread over the last DAYS days; the newest on connector 1 of every 10th station still runs.
                start = NOW - timedelta(days=DAYS * (1 - (k + rng.random()) / sessions_per_station))
                starts.append(start)
                active = k == sessions_per_station - 1 and i % 10 == 0
                # 1 in 10 sessions is charged with another account's card (roaming inside the platform).
                card_account = account_of[i] if rng.random() > 0.1 else rng.randint(1, accounts)
                card = (card_account - 1) * CARDS_PER_ACCOUNT + rng.randint(1, CARDS_PER_ACCOUNT)
                energy, duration = rng.randint(2_000, 40_000), rng.randint(1_800, 14_400)
                subtotal = _money(Decimal(energy) / 1000 * Decimal("0.35"))
                vat = _money(subtotal * Decimal("0.21"))
                yield {
                    "id": sid,
                    "station": i + 1,
                    "connector_id": 1 if active else CONNECTORS[k % len(CONNECTORS)],
                    "transaction_id": sid,
                    "status": ChargingSession.Status.ACTIVE if active else ChargingSession.Status.COMPLETED,
                    "id_tag": f"TAG{card:08d}",
                    "card": card,
                    "account": account_of[i],
                    "auth_status": ChargingSession.AuthStatus.ACCEPTED,
                    "meter_start": 0,
                    "meter_stop": None if active else energy,
                    "started_at": start,
                    "stopped_at": None if active else start + timedelta(seconds=duration),
                    "start_received_at": start,
                    "energy_wh": energy,
                    "duration_seconds": duration,
                    "price_per_kwh": Decimal("0.3500"),
                    "energy_amount": subtotal,
                    "subtotal": subtotal,
                    "vat_amount": vat,
                    "total": subtotal + vat,
                }

    session_rows = copy_rows(ChargingSession, sessions())

    def meter_values():
        mid = 0
        for sid, start in enumerate(starts, 1):
            station = (sid - 1) // sessions_per_station + 1
            for v in range(values_per_session):
                mid += 1
                at = start + timedelta(minutes=15 * v)
                measurand, unit = SAMPLES[v % len(SAMPLES)]
                value = Decimal(1_000 * v) if unit == "Wh" else Decimal(11_000)
                yield {
                    "id": mid,
                    "station": station,
                    "session": sid,
                    "connector_id": 1,
                    "reported_transaction_id": sid,
                    "timestamp": at,
                    "received_at": at,
                    "measurand": measurand,
                    "unit": unit,
                    "raw_value": str(value),
                    "value": value,
                }

    value_rows = copy_rows(MeterValue, meter_values())
    _reset_sequences()
    operator = User.objects.create(username="bench-operator", is_platform_operator=True, is_staff=True)
    owner = User.objects.create(username="bench-owner")
    Membership.objects.create(user=owner, account_id=1, role=Membership.Role.ACCOUNT_ADMIN)
    seeded = time.perf_counter() - started
    with connection.cursor() as cursor:
        for model in SEEDED:
            cursor.execute(f"VACUUM ANALYZE {model._meta.db_table}")
    return {
        "stations": stations,
        "connectors": stations * len(CONNECTORS),
        "sessions": session_rows,
        "meter_values": value_rows,
        "accounts": accounts,
        "owner_stations": owner_stations,
        "owner_sessions": ChargingSession.objects.visible_to(owner).count(),
        "seed_seconds": round(seeded, 1),
        "vacuum_analyze_seconds": round(time.perf_counter() - started - seeded, 1),
        "users": {"operator": operator, "account owner": owner},
    }


def add_technician():
    """A Field Service Technician whose service account (account 2) looks after account 1's stations: the
    technician persona of the station list (technicians see no sessions)."""
    tech = User.objects.create(username="bench-technician")
    Membership.objects.create(user=tech, account_id=2, role=Membership.Role.FIELD_SERVICE)
    Station.objects.filter(account_id=1).update(field_service_account_id=2)
    with connection.cursor() as cursor:  # what autovacuum does after a change like this one
        cursor.execute(f"VACUUM ANALYZE {Station._meta.db_table}")
    return tech
