"""Bulk INSERT of plain rows for the hot write paths (the OCPP journal, meter values): no model instance per
row and no client-side quoting of each value.

Why not `bulk_create`: on PostgreSQL Django 5.2 sends one `INSERT ... SELECT * FROM UNNEST(%s, %s, ...)` with one
array per column, and psycopg's client-side binding (Django's default cursor) quotes every element of every
array in Python. Under the capacity issue's load that quoting alone was ~16 % of the daphne process's CPU, and
building the model instances and their per-field `get_db_prep_save` calls another ~10 % (profile in
docs/benchmarks.md). Here PostgreSQL gets all rows as one JSON parameter (below, `rows_json`: built by the json
module's C encoder, bound server side, one round trip; COPY, used before, needs two and returns no ids).

Other databases (the embedded SQLite default) get `executemany` of one INSERT, values prepared by the model's
fields, so both paths store the same thing. Callers run inside their own transaction or alone in autocommit:
it is one INSERT statement (all rows or none, constraints checked as usual, deferred foreign keys at commit)."""

import functools
import json
import re
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

import psycopg
from django.db import connection
from django.db.models import Model


def rows_insert(model: type[Model], columns: Sequence[str], rows: Sequence[Sequence]) -> None:
    """Insert `rows` (tuples of Python values in the order of `columns`, field attnames such as
    "station_id") into `model`'s table."""
    if not rows:
        return
    fields = [model._meta.get_field(c) for c in columns]
    table = connection.ops.quote_name(model._meta.db_table)
    names = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    if connection.vendor == "postgresql":
        # One round trip (below: rows_json); plain Python values are what Django itself hands psycopg.
        values = json_columns(model, tuple(columns))
        pg_execute(
            f"INSERT INTO {table} ({names}) SELECT {values} FROM jsonb_array_elements(%s::jsonb) AS r(e)",
            [rows_json(rows)],
        )
        return
    prepared = [[f.get_db_prep_save(v, connection) for f, v in zip(fields, row, strict=True)] for row in rows]
    placeholders = ", ".join(["%s"] * len(fields))
    with connection.cursor() as cursor:
        cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({placeholders})", prepared)


def db_value(model: type[Model], name: str, value):
    """`value` as the database takes it for `model`'s field `name` (a datetime is a string on SQLite)."""
    return model._meta.get_field(name).get_db_prep_save(value, connection)


def rows_update(model: type[Model], values: dict, where: str, params: Sequence) -> int:
    """`UPDATE <table> SET <values> WHERE <where>`, the number of rows changed. `where` is SQL over the
    table's column names with %s placeholders; pass its datetime params through db_value. For one-statement
    writes on every frame (StatusNotification, the journal's last_seen_at): building an ORM update compiles
    the query anew each time, ~0.5 ms of CPU here, more than the statement takes PostgreSQL."""
    table = connection.ops.quote_name(model._meta.db_table)
    names = [model._meta.get_field(name) for name in values]
    assignments = ", ".join(f"{connection.ops.quote_name(f.column)} = %s" for f in names)
    prepared = [f.get_db_prep_save(v, connection) for f, v in zip(names, values.values(), strict=True)]
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET {assignments} WHERE {where}", [*prepared, *params])
        return cursor.rowcount


def instance_insert_ignore(obj: Model) -> bool:
    """INSERT the row of an unsaved model instance (auto primary key) unless it would break a unique
    constraint (`ON CONFLICT DO NOTHING`: PostgreSQL, SQLite >= 3.24); True if it was inserted. One plain
    statement, no savepoint needed for the conflict. The instance's pk is not set."""
    model = type(obj)
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    values = [f.get_db_prep_save(f.pre_save(obj, True), connection) for f in fields]
    table = connection.ops.quote_name(model._meta.db_table)
    names = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({names}) VALUES ({placeholders(values)}) ON CONFLICT DO NOTHING", values
        )
        return cursor.rowcount == 1


def placeholders(values: Sequence) -> str:
    """`%s, %s, ...` for an IN (...) list of these values."""
    return ", ".join(["%s"] * len(values))


# --- PostgreSQL: many rows as one JSON parameter -------------------------------------------------------
#
# Every statement that waits for PostgreSQL costs this process ~60-70 us of CPU beyond the statement itself on
# this machine (sleeping in poll and being woken: `SELECT pg_sleep(0.0005)` 69 us against `SELECT 1` 12 us),
# so the hot writers count round trips. A COPY is two (start, then data and end) and its ids need a third
# (nextval); rows sent as one JSON array parameter, read back by jsonb_array_elements and cast per column,
# go in with ids drawn and returned by the same statement, in one round trip. One parameter, bound server
# side: no client-side quoting per value (the JSON text is built by the json module's C encoder).


def _json_default(value):
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)  # exact: cast back by the column's numeric type
    raise TypeError(f"{type(value).__name__} is not a row value")


def rows_json(rows: Sequence[Sequence]) -> str:
    """The rows (tuples of plain values: str, int, bool, None, Decimal, aware datetime) as one JSON array."""
    return json.dumps(rows, default=_json_default, separators=(",", ":"))


@functools.cache
def json_columns(model: type[Model], columns: tuple[str, ...], source: str = "e", offset: int = 0) -> str:
    """`(e->>0)::type0, (e->>1)::type1, ...`: the values of one JSON row (`source`, an array whose element
    offset + i is column i) cast to the columns' database types."""
    casts = []
    for i, name in enumerate(columns):
        field = model._meta.get_field(name)
        db_type = field.rel_db_type(connection) if field.is_relation else field.db_type(connection)
        # Without the type modifier: a cast to varchar(64) would cut a longer value silently, where the
        # INSERT's own assignment to the column refuses it, as any INSERT would.
        casts.append(f"({source}->>{offset + i})::{re.sub(r'[(].*[)]', '', db_type)}")
    return ", ".join(casts)


def sequence_of(model: type[Model]) -> str:
    """The SQL expression of `model`'s primary key sequence (for nextval)."""
    table = connection.ops.quote_name(model._meta.db_table)
    return f"pg_get_serial_sequence('{table}', '{model._meta.pk.column}')"


def pg_execute(sql: str, params: Sequence) -> list[tuple]:
    """Run one statement on the default connection with server-side binding (psycopg's plain Cursor rather
    than Django's client-binding one: the JSON parameter is sent as is, and a repeated statement is prepared
    by psycopg), errors translated as Django's own cursor does (so a lost connection is an OperationalError
    and the connection is checked before reuse). In the caller's transaction, or alone in autocommit."""
    connection.ensure_connection()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description is not None else []
