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


# --- Model instances through plain statements ----------------------------------------------------------
#
# For the few ORM reads and writes on every transaction message (StartTransaction, StopTransaction): building
# the query (compiling a 44-column SELECT, INSERT or UPDATE) cost more CPU than PostgreSQL took to answer it.
# These helpers give the same instances (Model.from_db, the field's and the backend's converters applied as
# the ORM applies them, so a deferred field still loads on access and save() still works) from SQL built once
# per model.


@functools.lru_cache(maxsize=128)
def _read_plan(model: type[Model], fields: tuple[str, ...] | None, vendor: str):
    """The chosen concrete fields (all when `fields` is None) in the table's order (what from_db expects),
    with the converters the ORM applies to each of their values on this database."""
    chosen = [f for f in model._meta.concrete_fields if fields is None or f.attname in fields]
    plan = []
    for f in chosen:
        col = f.get_col(model._meta.db_table)
        converters = tuple(connection.ops.get_db_converters(col) + col.get_db_converters(connection))
        plan.append((f, col, converters))
    return tuple(f.attname for f in chosen), plan


def select_columns(model: type[Model], fields: tuple[str, ...] | None = None, alias: str = "") -> str:
    """`alias.col1, alias.col2, ...`: the columns `instance_of` reads, in its order."""
    _, plan = _read_plan(model, fields, connection.vendor)
    prefix = f"{alias}." if alias else ""
    return ", ".join(prefix + connection.ops.quote_name(f.column) for f, _, _ in plan)


@functools.lru_cache(maxsize=256)
def _select_sql(model: type[Model], where: str, lock: bool, order_by: str, vendor: str) -> str:
    table = connection.ops.quote_name(model._meta.db_table)
    lock_sql = " FOR UPDATE" if lock and connection.features.has_select_for_update else ""
    return f"SELECT {select_columns(model)} FROM {table} WHERE {where} ORDER BY {order_by}{lock_sql}"


def instance_of(model: type[Model], row: Sequence, fields: tuple[str, ...] | None = None):
    """The instance of `model` whose `select_columns(model, fields)` are `row` (fields not chosen are
    deferred: they load when read)."""
    names, plan = _read_plan(model, fields, connection.vendor)
    values = []
    for (_, col, converters), value in zip(plan, row, strict=True):
        for converter in converters:
            value = converter(value, col, connection)
        values.append(value)
    return model.from_db(connection.alias, names, values)


def instances_select(
    model: type[Model], where: str, params: Sequence, *, lock: bool = False, order_by: str = "id"
) -> list:
    """`SELECT <all columns> FROM <table> WHERE <where> ORDER BY <order_by> [FOR UPDATE]` as instances.
    `where` and `order_by` are SQL over the table's column names, `where` with %s placeholders."""
    rows = fetch(_select_sql(model, where, lock, order_by, connection.vendor), params)
    return [instance_of(model, row) for row in rows]


def fetch(sql: str, params: Sequence) -> list[tuple]:
    """Run one plain statement on the default connection, its rows (none for a statement without any):
    server-side binding on PostgreSQL (pg_execute), Django's cursor elsewhere."""
    if connection.vendor == "postgresql":
        return pg_execute(sql, params)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description is not None else []


@functools.lru_cache(maxsize=128)
def _insert_sql(model: type[Model], ignore_conflicts: bool, vendor: str) -> str:
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    table = connection.ops.quote_name(model._meta.db_table)
    names = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    return (
        f"INSERT INTO {table} ({names}) VALUES ({placeholders(fields)})"
        + (" ON CONFLICT DO NOTHING" if ignore_conflicts else "")
        + f" RETURNING {connection.ops.quote_name(model._meta.pk.column)}"
    )


def instance_insert(obj: Model, *, ignore_conflicts: bool = False) -> bool:
    """INSERT the row of an unsaved model instance (auto primary key, fields prepared as save() prepares
    them) in one plain statement; its pk is set. With `ignore_conflicts`, a row that would break a unique
    constraint is not inserted (`ON CONFLICT DO NOTHING`: PostgreSQL, SQLite >= 3.35) and False is returned,
    so no savepoint is needed for the conflict; other errors (check constraints, foreign keys) raise."""
    model = type(obj)
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    values = [f.get_db_prep_save(f.pre_save(obj, True), connection) for f in fields]
    rows = fetch(_insert_sql(model, ignore_conflicts, connection.vendor), values)
    if not rows:
        return False
    obj.pk = rows[0][0]
    obj._state.adding = False
    obj._state.db = connection.alias
    return True


@functools.lru_cache(maxsize=128)
def _update_sql(model: type[Model], vendor: str) -> str:
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    table = connection.ops.quote_name(model._meta.db_table)
    assignments = ", ".join(f"{connection.ops.quote_name(f.column)} = %s" for f in fields)
    return f"UPDATE {table} SET {assignments} WHERE {connection.ops.quote_name(model._meta.pk.column)} = %s"


def instance_update(obj: Model) -> None:
    """save() of a loaded instance as one plain UPDATE of all its columns (auto_now fields set as save()
    sets them). The instance must not have deferred fields (they would be written as they are not)."""
    model = type(obj)
    if obj.get_deferred_fields():
        raise ValueError(f"{model.__name__} {obj.pk}: deferred fields cannot be written")
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    values = [f.get_db_prep_save(f.pre_save(obj, False), connection) for f in fields]
    fetch(_update_sql(model, connection.vendor), [*values, obj.pk])


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
        # (rownumber is None without a result set; `description` would build its column list first.)
        return cursor.fetchall() if cursor.rownumber is not None else []
