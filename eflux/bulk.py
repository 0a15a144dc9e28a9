"""Bulk INSERT of plain rows for the hot write paths (the OCPP journal, meter values): no model instance per
row and no client-side quoting of each value.

Why not `bulk_create`: on PostgreSQL Django 5.2 sends one `INSERT ... SELECT * FROM UNNEST(%s, %s, ...)` with one
array per column, and psycopg's client-side binding (Django's default cursor) quotes every element of every
array in Python. Under the capacity issue's load that quoting alone was ~16 % of the daphne process's CPU, and
building the model instances and their per-field `get_db_prep_save` calls another ~10 % (profile in
docs/benchmarks.md). Here PostgreSQL gets the rows by COPY (psycopg's `Cursor.copy`, rows formatted by its C
implementation): PostgreSQL took 21,000 rows/s by COPY on this machine against 2,300 single-row commits/s.

Other databases (the embedded SQLite default) get `executemany` of one INSERT, values prepared by the model's
fields, so both paths store the same thing. Callers run inside their own transaction: COPY is a statement of
it like any INSERT (all rows or none, constraints checked as usual, deferred foreign keys at commit)."""

from collections.abc import Sequence

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
        with connection.cursor() as cursor:
            # Plain Python values (str, int, bool, Decimal, aware datetime, None) are what Django itself hands
            # psycopg for these field types; psycopg's text COPY escapes tabs, newlines and backslashes.
            with cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        return
    prepared = [[f.get_db_prep_save(v, connection) for f, v in zip(fields, row, strict=True)] for row in rows]
    placeholders = ", ".join(["%s"] * len(fields))
    with connection.cursor() as cursor:
        cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({placeholders})", prepared)


def ids_reserve(model: type[Model], count: int) -> list[int]:
    """`count` new primary keys of `model` (an auto/identity id column), ascending, for rows_insert: COPY
    returns no ids. PostgreSQL only: one SELECT of nextval() on the column's sequence, which is what a plain
    INSERT would draw from, so ids stay unique against every other writer."""
    table = model._meta.db_table
    column = model._meta.pk.column
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [connection.ops.quote_name(table), column, count],
        )
        return sorted(row[0] for row in cursor.fetchall())


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


def placeholders(values: Sequence) -> str:
    """`%s, %s, ...` for an IN (...) list of these values."""
    return ", ".join(["%s"] * len(values))
