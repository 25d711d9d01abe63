"""Inserting and updating many rows at once, for the one writer of synced contacts (``apply``).

Django's ``bulk_create`` builds a model instance per row and prepares every value of every row
through its field machinery, and on SQLite it sends at most 999 parameters per statement (about 50
contacts): 100,000 contacts cost tens of seconds, most of a sync. Here a value is prepared once
per *column* where it is the same for every row (the organization, the source, the run's time,
the defaults), through Django's own field conversion, and per row only where it differs: text,
numbers and ``None`` pass as they are, JSON goes through the backend's adapter. On SQLite a
statement holds up to 500 rows, within the parameters it takes (``_insert_sqlite``);
PostgreSQL gets the rows through ``COPY`` (``_copy``).

Rows are plain tuples in the order of ``columns`` (model attribute names, e.g. ``contact_id``);
``update`` takes the primary key first.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from django.db import connection, models, transaction

#: Rows in one SQLite ``INSERT``. Its parameter limit (250,000 as Debian builds it) would allow
#: 12,500 contacts or 125,000 message rules a statement, which SQLite compiles into a program of
#: 50-90 MB; 500 rows a statement took 3-5 MB and was as fast or faster (measured 100,000 rows of
#: 20 columns: 0.98 s at 12,500 a statement, 0.75-0.84 s at 500).
SQLITE_ROWS = 500


def insert(model: type[models.Model], columns: Sequence[str], rows: Sequence[Sequence[Any]],
           constants: Mapping[str, Any] = {}, *, returning_ids: bool = False,
           on_conflict: str = "") -> list[int]:
    """Insert ``rows`` into ``model``'s table; their ids, in order, if ``returning_ids``.

    ``constants`` give the value of a column for every row; a column in neither ``columns`` nor
    ``constants`` gets its field's default. ``on_conflict`` is appended as SQL (``ON CONFLICT …``,
    the same on SQLite and PostgreSQL)."""
    if not rows:
        return []
    fields = {f.attname: f for f in model._meta.concrete_fields if not f.primary_key}
    fixed = {name: _prepared(fields[name], value) for name, value in constants.items()}
    for name, field in fields.items():
        if name not in fixed and name not in columns:
            if not field.has_default() and not field.null:
                raise ValueError(f"{model.__name__}.{name} has no default: give its value")
            fixed[name] = _prepared(field, field.get_default())
    per_row = [fields[name] for name in columns]
    adapters = [_adapter(field) for field in per_row]
    if all(adapt is None for adapt in adapters):
        adapters = None
    names = [fields[name].column for name in (*columns, *fixed)]
    constant_values = list(fixed.values())
    if connection.vendor == "postgresql":
        values = ([*(row if adapters is None else _adapted(row, adapters)), *constant_values]
                  for row in rows)
        return _copy(model, names, values, len(rows), returning_ids, on_conflict)
    return _insert_sqlite(model, names, rows, adapters, constant_values, returning_ids,
                          on_conflict)


def _insert_sqlite(model: type[models.Model], columns: list[str], rows: Sequence[Sequence[Any]],
                   adapters, constant_values: list[Any], returning_ids: bool,
                   on_conflict: str) -> list[int]:
    """SQLite: multi-row ``INSERT`` statements of ``SQLITE_ROWS`` rows (fewer when that many
    would pass its parameter limit), written with ``?`` marks and run by sqlite3 itself: Django's
    SQLite cursor rewrites every ``%s`` of a statement with a regex, a second per 100,000 rows
    here."""
    quote = connection.ops.quote_name
    names = ", ".join(quote(column) for column in columns)
    placeholders = "(" + ", ".join("?" * len(columns)) + ")"
    tail = on_conflict
    if returning_ids:
        tail += f" RETURNING {quote(model._meta.pk.column)}"
    connection.ensure_connection()
    limit = connection.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    step = max(1, min(SQLITE_ROWS, limit // len(columns)))
    ids: list[int] = []
    # Django's errors, as through its cursor
    with connection.cursor() as cursor, connection.wrap_database_errors:
        for start in range(0, len(rows), step):
            batch = rows[start:start + step]
            params: list[Any] = []
            for row in batch:
                params.extend(row if adapters is None else _adapted(row, adapters))
                params.extend(constant_values)
            sqlite3.Cursor.execute(
                cursor.cursor, f"INSERT INTO {quote(model._meta.db_table)} ({names}) VALUES "
                f"{', '.join([placeholders] * len(batch))} {tail}", params)
            if returning_ids:
                ids.extend(row[0] for row in cursor.fetchall())
    return ids


def _copy(model: type[models.Model], columns: list[str], rows: Iterator[list[Any]], count: int,
          returning_ids: bool, on_conflict: str) -> list[int]:
    """PostgreSQL: the rows through ``COPY``, which takes a contact in ~25 µs where a multi-row
    ``INSERT`` takes ~170 µs (the server analyzes its VALUES row by row; measured at 12,000
    contacts, the same with 1,000 or 3,000 rows a statement). The ids are taken from the table's
    sequence first; with ``on_conflict``, the rows are copied into a temporary table and inserted
    from it, the clause applied."""
    if returning_ids and on_conflict:
        raise ValueError("ids of rows that may conflict cannot be known before the insert")
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    ids: list[int] = []
    with transaction.atomic(), connection.cursor() as cursor, connection.wrap_database_errors:
        if returning_ids:
            pk = model._meta.pk.column
            cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, %s)) "
                           "FROM generate_series(1, %s)", [model._meta.db_table, pk, count])
            ids = [row[0] for row in cursor.fetchall()]
            columns = [pk, *columns]
            rows = ([contact_id, *row] for contact_id, row in zip(ids, rows))
        names = ", ".join(quote(column) for column in columns)
        target = table
        if on_conflict:  # a new name each time; dropped when the transaction commits
            target = quote(f"bulk_{model._meta.db_table}_{uuid.uuid4().hex[:12]}")
            cursor.execute(f"CREATE TEMPORARY TABLE {target} ON COMMIT DROP AS "
                           f"SELECT {names} FROM {table} WITH NO DATA")
        with cursor.cursor.copy(f"COPY {target} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        if on_conflict:
            cursor.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM {target} "
                           f"{on_conflict}")
    return ids


def update(model: type[models.Model], columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Set ``columns`` (model attribute names) of the rows whose primary key is each row's first
    value to its other values, every value prepared by its field as ``QuerySet.update`` prepares
    it. Django's ``bulk_update`` builds a ``CASE WHEN`` expression per row and column, which
    costs more than the writes it makes. SQLite runs one statement for every row
    (``executemany``); PostgreSQL one statement for all, the rows as one array per column
    (``unnest``): 1,000 contacts took 47 ms one by one, 28 ms so."""
    by_name = {f.attname: f for f in model._meta.concrete_fields}
    fields = [by_name[name] for name in columns]
    params = [[*(field.get_db_prep_save(value, connection) for field, value in zip(fields, values)),
               key] for key, *values in rows]
    if not params:
        return
    quote = connection.ops.quote_name
    table, pk = quote(model._meta.db_table), model._meta.pk
    names = [quote(field.column) for field in (*fields, pk)]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            arrays = ", ".join(f"%s::{field.db_type(connection)}[]" for field in (*fields, pk))
            sets = ", ".join(f"{name} = v.{name}" for name in names[:-1])
            cursor.execute(f"UPDATE {table} SET {sets} FROM unnest({arrays}) "
                           f"AS v({', '.join(names)}) WHERE {table}.{names[-1]} = v.{names[-1]}",
                           [list(column) for column in zip(*params)])
        else:
            sets = ", ".join(f"{name} = %s" for name in names[:-1])
            cursor.executemany(f"UPDATE {table} SET {sets} WHERE {names[-1]} = %s", params)


def analyze(*models: type[models.Model]) -> None:
    """Refresh the query planner's statistics of the tables of ``models``. PostgreSQL's
    autovacuum analyzes a table a minute or more after a bulk load, SQLite never on its own:
    until then, look-ups are planned for the tables as they were (empty after a first sync).

    SQLite reads every row: from a sample (``analysis_limit``) it counted the first thousand
    entries of an index that starts with the organization, all of one organization, and took
    the organization for selective; it then looked up a thousand contacts by id in a scan of
    the organization's 100,000 (10 ms instead of 1 ms). The whole of 100,000 contacts and their
    directory objects takes 0.07 s."""
    quote = connection.ops.quote_name
    tables = [quote(model._meta.db_table) for model in models]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"ANALYZE {', '.join(tables)}")
            return
        for table in tables:
            cursor.execute(f"ANALYZE {table}")


def upsert_clause(unique: Iterable[str], update: Iterable[str], model: type[models.Model]) -> str:
    """``ON CONFLICT (unique) DO UPDATE SET column = excluded.column, …`` for ``insert``."""
    columns = {f.attname: f.column for f in model._meta.concrete_fields}
    quote = connection.ops.quote_name
    keys = ", ".join(quote(columns[name]) for name in unique)
    sets = ", ".join(f"{quote(columns[n])} = excluded.{quote(columns[n])}" for n in update)
    return f"ON CONFLICT ({keys}) DO UPDATE SET {sets}"


def _prepared(field: models.Field, value: Any) -> Any:
    return field.get_db_prep_save(value, connection)


def _adapter(field: models.Field):
    """How a per-row value of ``field`` becomes a parameter (``None``: as it is)."""
    if isinstance(field, models.JSONField):
        # bound once: ``connection`` is a proxy, whose every look-up of ``ops`` took 1.4 µs
        # (0.28 s of a first sync of 100,000 people: their aliases, their directory objects)
        adapt_json, encoder = connection.ops.adapt_json_value, field.encoder
        return lambda value: adapt_json(value, encoder)
    if isinstance(field, models.DateTimeField):
        prepared: dict[Any, Any] = {}  # a run writes few distinct times (its start, now)

        def adapt(value):
            if value not in prepared:
                prepared[value] = _prepared(field, value)
            return prepared[value]
        return adapt
    if isinstance(field, (models.CharField, models.TextField, models.BooleanField,
                          models.ForeignKey, models.IntegerField)):
        return None
    raise TypeError(f"bulk.insert takes {type(field).__name__} {field.name} only as a constant")


def _adapted(row: Sequence[Any], adapters) -> list[Any]:
    return [value if adapt is None or value is None else adapt(value)
            for value, adapt in zip(row, adapters)]
