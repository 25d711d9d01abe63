"""CSV exports a person opens in a spreadsheet: plans and contacts.

Cells that a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@``, tab, carriage return)
are prefixed with an apostrophe, so an attribute in the directory cannot become a formula on an
admin's machine.
"""

from __future__ import annotations

import csv
from typing import IO, Iterable

from usersync.core.plan import Change, Op, Operation, Plan

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value) -> str:
    text = "" if value is None else ", ".join(value) if isinstance(value, (list, tuple)) else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def write_rows(handle: IO[str], header: Iterable[str], rows: Iterable[Iterable]) -> None:
    writer = csv.writer(handle)
    writer.writerow(list(header))
    for row in rows:
        writer.writerow([safe_cell(cell) for cell in row])


PLAN_HEADER = ("operation", "record", "name", "location", "contact", "field", "before", "after",
               "reason")


def operation_name(op: Operation) -> str:
    """Who an operation is about: the mapped name, else the mapped email; an archive's label is
    the contact's name. Empty for records that mapped to nothing (errors, skips)."""
    fields = op.fields
    name = f"{fields.get('first_name', '')} {fields.get('last_name', '')}".strip()
    return name or str(fields.get("email", "")) or (op.label if op.op is Op.ARCHIVE else "")


def field_changes(op: Operation) -> tuple[Change, ...]:
    """The field changes of an operation; a created contact's values are changes from nothing."""
    if op.op is Op.CREATE:
        return tuple(Change(name, "", value) for name, value in op.fields.items() if value)
    return op.changes


def plan_rows(plan: Plan) -> Iterable[tuple]:
    """One row per field change (a created contact: one per value); operations without changes
    get one row."""
    for op in plan.operations:
        base = (op.op.value, op.label or op.dn or op.anchor, operation_name(op), op.location,
                op.contact_id)
        changes = field_changes(op)
        for change in changes:
            before, after = change.shown()
            yield (*base, change.field, before, after, op.reason)
        if not changes:
            yield (*base, op.field or "", "", "", op.reason)


def write_plan(handle: IO[str], plan: Plan) -> None:
    write_rows(handle, PLAN_HEADER, plan_rows(plan))
