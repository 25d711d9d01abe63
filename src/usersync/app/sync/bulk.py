"""Inserting and updating many rows at once, for the one writer of synced contacts (``apply``).

Django's ``bulk_create`` builds a model instance per row and prepares every value of every row
through its field machinery, and on SQLite it sends at most 999 parameters per statement (about 50
contacts): 100,000 contacts cost tens of seconds, most of a sync. Here a value is prepared once
per *column* where it is the same for every row (the organization, the source, the run's time,
the defaults), through Django's own field conversion, and per row only where it differs: text,
numbers and ``None`` pass as they are, JSON as its text (``json_text``). On SQLite a
statement holds up to 500 rows, within the parameters it takes (``_insert_sqlite``);
PostgreSQL gets the rows through ``COPY`` (``_copy``).

Rows are plain tuples in the order of ``columns`` (model attribute names, e.g. ``contact_id``),
given as a list or made as they are inserted (an iterator); ``update`` takes the primary key
first.
"""

from __future__ import annotations

import queue
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import closing
from datetime import datetime
from itertools import chain, islice
from typing import Any, TypeVar

import orjson
from django.db import DEFAULT_DB_ALIAS, connection, connections, models, transaction

#: Rows in one SQLite ``INSERT``. Its parameter limit (250,000 as Debian builds it) would allow
#: 12,500 contacts or 125,000 message rules a statement, which SQLite compiles into a program of
#: 50-90 MB; 500 rows a statement took 3-5 MB and was as fast or faster (measured 100,000 rows of
#: 20 columns: 0.98 s at 12,500 a statement, 0.75-0.84 s at 500).
SQLITE_ROWS = 500
#: SQLite statements whose parameters are made ahead while one is written (``_made_ahead``).
SQLITE_AHEAD = 2
#: The name of the thread that makes them.
AHEAD_THREAD = "usersync-bulk-ahead"
T = TypeVar("T")
#: The columns of a row whose values are adapted (``_adapter``), each with how.
Adapters = list[tuple[int, Callable[[Any], Any]]]


def insert(model: type[models.Model], columns: Sequence[str], rows: Iterable[Sequence[Any]],
           constants: Mapping[str, Any] = {}, *, returning_ids: bool = False,
           on_conflict: str = "", per_statement: int = SQLITE_ROWS) -> list[int]:
    """Insert ``rows`` into ``model``'s table; their ids, in order, if ``returning_ids``.

    ``constants`` give the value of a column for every row; a column in neither ``columns`` nor
    ``constants`` gets its field's default. ``on_conflict`` is appended as SQL (``ON CONFLICT …``,
    the same on SQLite and PostgreSQL). ``per_statement``: SQLite's rows a statement, at most
    (fewer for large rows, whose statements SQLite holds whole). Inside a transaction, an insert
    that fails on PostgreSQL fails the transaction (it makes no savepoint)."""
    count = None
    if returning_ids and connection.vendor == "postgresql":  # an id for each row, taken first
        rows = list(rows)
        count = len(rows)
    rows = iter(rows)
    first = next(rows, None)
    if first is None:
        return []
    rows = chain([first], rows)
    fields = {f.attname: f for f in model._meta.concrete_fields if not f.primary_key}
    fixed = {name: _prepared(fields[name], value) for name, value in constants.items()}
    for name, field in fields.items():
        if name not in fixed and name not in columns:
            if not field.has_default() and not field.null:
                raise ValueError(f"{model.__name__}.{name} has no default: give its value")
            fixed[name] = _prepared(field, field.get_default())
    per_row = [fields[name] for name in columns]
    adapters = _adapters(per_row)
    names = [fields[name].column for name in (*columns, *fixed)]
    constant_values = list(fixed.values())
    if connection.vendor == "postgresql":
        # through a temporary table (``on_conflict``), the constants are given once, as it is
        # inserted; straight into the table, in every row
        given, per_row = (constant_values, []) if on_conflict else ([], constant_values)
        values = (_adapted([*row, *per_row], adapters) for row in rows)
        return _copy(model, names, values, count, on_conflict, given)
    return _insert_sqlite(model, names, rows, adapters, constant_values, returning_ids,
                          on_conflict, per_statement)


def _insert_sqlite(model: type[models.Model], columns: list[str], rows: Iterator[Sequence[Any]],
                   adapters: Adapters, constant_values: list[Any], returning_ids: bool,
                   on_conflict: str, per_statement: int) -> list[int]:
    """SQLite: multi-row ``INSERT`` statements of ``per_statement`` rows (fewer when that many
    would pass its parameter limit), written with ``?`` marks and run by sqlite3 itself: Django's
    SQLite cursor rewrites every ``%s`` of a statement with a regex, a second per 100,000 rows
    here. The rows and their parameters are made ahead, on a thread (``_made_ahead``)."""
    quote = connection.ops.quote_name
    names = ", ".join(quote(column) for column in columns)
    placeholders = "(" + ", ".join("?" * len(columns)) + ")"
    tail = on_conflict
    if returning_ids:
        tail += f" RETURNING {quote(model._meta.pk.column)}"
    connection.ensure_connection()
    limit = connection.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    step = max(1, min(per_statement, limit // len(columns)))

    def statements() -> Iterator[tuple[int, list[Any]]]:
        """Each statement's row count and parameters."""
        while batch := list(islice(rows, step)):
            params: list[Any] = []
            for row in batch:
                params.extend(_adapted(list(row), adapters) if adapters else row)
                params.extend(constant_values)
            yield len(batch), params

    made = statements()
    first = next(made)  # here: most inserts are one statement, which needs no thread
    rest = _made_ahead(made, SQLITE_AHEAD) if first[0] == step else made
    ids: list[int] = []
    # Django's errors, as through its cursor
    with closing(rest), connection.cursor() as cursor, connection.wrap_database_errors:
        for count, params in chain([first], rest):
            sqlite3.Cursor.execute(
                cursor.cursor, f"INSERT INTO {quote(model._meta.db_table)} ({names}) VALUES "
                f"{', '.join([placeholders] * count)} {tail}", params)
            if returning_ids:
                ids.extend(row[0] for row in cursor.fetchall())
    return ids


def _made_ahead(items: Iterator[T], ahead: int) -> Iterator[T]:
    """``items``, made on a thread up to ``ahead`` before they are taken. SQLite lets go of
    Python's lock while it writes a statement's rows (into the table and each of its indexes):
    meanwhile, the next statements' rows and parameters are made on the machine's other core
    (a first sync of 100,000 people: its contacts 1.06 → 0.90 s, its directory objects, whose
    values become JSON, 1.0 → 0.8 s). What making them raises is raised here, where the item
    would have been taken; a caller that stops taking them stops the thread."""
    made: queue.Queue = queue.Queue(maxsize=ahead)
    stop = threading.Event()
    end = object()

    def make() -> None:
        try:
            while not stop.is_set():
                item = next(items, end)
                made.put((item, None))
                if item is end:
                    return
        except BaseException as error:  # raised again where the item is taken
            made.put((end, error))

    thread = threading.Thread(target=make, name=AHEAD_THREAD, daemon=True)
    thread.start()
    try:
        while True:
            item, error = made.get()
            if item is end:
                if error is not None:
                    raise error
                return
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # room for a put it waits on: it then sees ``stop``
            try:
                made.get(timeout=0.01)
            except queue.Empty:
                pass


def _copy(model: type[models.Model], columns: list[str], rows: Iterator[Sequence[Any]],
          returning: int | None, on_conflict: str, constants: Sequence[Any] = ()) -> list[int]:
    """PostgreSQL: the rows through ``COPY``, which takes a contact in ~25 µs where a multi-row
    ``INSERT`` takes ~170 µs (the server analyzes its VALUES row by row; measured at 12,000
    contacts, the same with 1,000 or 3,000 rows a statement). The ids are taken from the table's
    sequence first (``returning``: as many as the rows); with ``on_conflict``, the rows are
    copied into a temporary table and inserted from it, the clause applied, and the values of
    the last columns, the same for every row, given once (``constants``: the rows hold the
    others; copied in every row, they took a day of changes' directory objects from 23.7 to 27
    ms)."""
    if returning is not None and on_conflict:
        raise ValueError("ids of rows that may conflict cannot be known before the insert")
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    ids: list[int] = []
    # a transaction of its own outside one, no savepoint inside one (the five of a run's
    # apply took 3 ms)
    with (transaction.atomic(savepoint=False), connection.cursor() as cursor,
          connection.wrap_database_errors):
        if returning is not None:
            pk = model._meta.pk.column
            cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, %s)) "
                           "FROM generate_series(1, %s)", [model._meta.db_table, pk, returning])
            ids = [row[0] for row in cursor.fetchall()]
            columns = [pk, *columns]
            rows = ([contact_id, *row] for contact_id, row in zip(ids, rows))
        names = ", ".join(quote(column) for column in columns)
        copied = ", ".join(quote(column) for column in columns[:len(columns) - len(constants)])
        target = table
        if on_conflict:  # a new name each time; dropped when the transaction commits
            target = quote(f"bulk_{model._meta.db_table}_{uuid.uuid4().hex[:12]}")
            cursor.execute(f"CREATE TEMPORARY TABLE {target} ON COMMIT DROP AS "
                           f"SELECT {copied} FROM {table} WITH NO DATA")
        with cursor.cursor.copy(f"COPY {target} ({copied}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        if on_conflict:
            given = "".join(", %s" for _ in constants)
            cursor.execute(f"INSERT INTO {table} ({names}) SELECT {copied}{given} FROM {target} "
                           f"{on_conflict}", list(constants))
    return ids


def update(model: type[models.Model], columns: Sequence[str], rows: Iterable[Sequence[Any]],
           constants: Mapping[str, Any] = {}, *, scope: Mapping[str, Any] = {}) -> int:
    """Set ``columns`` (model attribute names) of the rows whose primary key is each row's first
    value to its other values, each prepared as ``insert`` prepares it (through the field once
    per distinct time, JSON as its text, the rest as it is: through the field per value, 1,000
    contacts' changes took 7 ms more), and the columns of ``constants`` to their value, the
    same for every row (sent once: an array of 1,000 times took 3 ms to send); only rows whose
    columns of ``scope`` hold its values. How many rows it updated.

    Django's ``bulk_update`` builds a ``CASE WHEN`` expression per row and column, which costs
    more than the writes it makes. SQLite runs one statement for every row (``executemany``);
    PostgreSQL one statement for all, the rows as one array per column (``unnest``): 1,000
    contacts took 47 ms one by one, 28 ms so."""
    by_name = {f.attname: f for f in model._meta.concrete_fields}
    fields = [by_name[name] for name in columns]
    adapters = _adapters(fields)
    params = [_adapted([*values, key], adapters) for key, *values in rows]
    if not params:
        return 0
    quote = connection.ops.quote_name
    table, pk = quote(model._meta.db_table), model._meta.pk
    names = [quote(field.column) for field in (*fields, pk)]

    def prepared(given: Mapping[str, Any]) -> dict[str, Any]:
        return {quote(by_name[name].column): _prepared(by_name[name], value)
                for name, value in given.items()}
    fixed, scoped = prepared(constants), prepared(scope)
    same = [f"{name} = %s" for name in fixed]
    within = "".join(f" AND {table}.{name} = %s" for name in scoped)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            arrays = ", ".join(f"%s::{field.db_type(connection)}[]" for field in (*fields, pk))
            sets = ", ".join([*(f"{name} = v.{name}" for name in names[:-1]), *same])
            cursor.execute(f"UPDATE {table} SET {sets} FROM unnest({arrays}) "
                           f"AS v({', '.join(names)}) WHERE {table}.{names[-1]} = v.{names[-1]}"
                           f"{within}",
                           [*fixed.values(), *(list(column) for column in zip(*params)),
                            *scoped.values()])
        else:
            sets = ", ".join([*(f"{name} = %s" for name in names[:-1]), *same])
            values, limits = list(fixed.values()), list(scoped.values())
            cursor.executemany(f"UPDATE {table} SET {sets} WHERE {names[-1]} = %s{within}",
                               [[*row[:-1], *values, row[-1], *limits] for row in params])
        return cursor.rowcount


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


def upsert_clause(unique: Iterable[str], update: Iterable[str], model: type[models.Model], *,
                  unless_same: Sequence[str] = ()) -> str:
    """``ON CONFLICT (unique) DO UPDATE SET column = excluded.column, …`` for ``insert``; with
    ``unless_same``, a stored row whose columns ``unless_same`` all hold the new values already
    is left as it is."""
    columns = {f.attname: f.column for f in model._meta.concrete_fields}
    quote = connection.ops.quote_name
    keys = ", ".join(quote(columns[name]) for name in unique)
    sets = ", ".join(f"{quote(columns[n])} = excluded.{quote(columns[n])}" for n in update)
    clause = f"ON CONFLICT ({keys}) DO UPDATE SET {sets}"
    if unless_same:
        table = quote(model._meta.db_table)
        stored = ", ".join(f"{table}.{quote(columns[name])}" for name in unless_same)
        new = ", ".join(f"excluded.{quote(columns[name])}" for name in unless_same)
        # SQLite knows ``IS DISTINCT FROM`` only since 3.39; its ``IS NOT`` means the same
        differs = "IS DISTINCT FROM" if connection.vendor == "postgresql" else "IS NOT"
        clause += f" WHERE ({stored}) {differs} ({new})"
    return clause


def _prepared(field: models.Field, value: Any, database=connection) -> Any:
    """``value`` as ``field`` writes it: JSON as its text (``json_text``; through Django's
    adapter, psycopg dumped the default of a first sync's 100,000 new contacts' aliases again
    in every row of their ``COPY``), a time as its ISO 8601 text with its offset (Django's is
    text already on SQLite; psycopg took 90 ms more for a ``COPY`` of 100,000 directory
    objects, each with three times)."""
    if value is not None and _is_json(field):
        return json_text(value)
    prepared = field.get_db_prep_save(value, database)
    return prepared.isoformat() if isinstance(prepared, datetime) else prepared


def _adapter(field: models.Field):
    """How a per-row value of ``field`` becomes a parameter (``None``: as it is)."""
    if _is_json(field):
        return json_text
    if isinstance(field, models.DateTimeField):
        prepared: dict[Any, Any] = {}  # a run writes few distinct times (its start, now)
        database = connections[DEFAULT_DB_ALIAS]  # this thread's: rows are made on another

        def adapt(value):
            if value not in prepared:
                prepared[value] = _prepared(field, value, database)
            return prepared[value]
        return adapt
    if isinstance(field, (models.CharField, models.TextField, models.BooleanField,
                          models.ForeignKey, models.IntegerField)):
        return None
    raise TypeError(f"bulk writes take no per-row value of {type(field).__name__} {field.name}; "
                    "bulk.insert takes it as a constant")


def _is_json(field: models.Field) -> bool:
    """Whether ``field`` holds JSON as ``json_text`` writes it (no encoder of its own)."""
    return isinstance(field, models.JSONField) and field.encoder is None


def json_text(value: Any) -> str:
    """A value as JSON text, as a JSON column (or a text column of JSON: ``history``'s batches)
    takes it on either database: orjson wrote the directory objects' mapped values of a first
    sync of 100,000 people in 0.02 s, the standard library's ``json`` (through Django's
    adapter) in 0.24 s."""
    return orjson.dumps(value).decode()


def _adapters(fields: Sequence[models.Field]) -> Adapters:
    return [(index, adapt) for index, adapt in enumerate(map(_adapter, fields))
            if adapt is not None]


def _adapted(row: list[Any], adapters: Adapters) -> list[Any]:
    """``row``, a list of its own, with its values made parameters in place: only those of its
    adapted columns are looked at (a contact has one of ten, its aliases; 100,000 contacts'
    rows took 40 ms less so)."""
    for index, adapt in adapters:
        value = row[index]
        if value is not None:
            row[index] = adapt(value)
    return row
