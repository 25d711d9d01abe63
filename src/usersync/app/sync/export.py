"""CSV exports a person opens in a spreadsheet: plans and contacts.

Cells that a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@``, tab, carriage return)
are prefixed with an apostrophe, so an attribute in the directory cannot become a formula on an
admin's machine.
"""

from __future__ import annotations

import csv
from typing import IO, Iterable

from usersync.core.plan import Plan

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value) -> str:
    text = "" if value is None else ", ".join(value) if isinstance(value, (list, tuple)) else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def write_rows(handle: IO[str], header: Iterable[str], rows: Iterable[Iterable]) -> None:
    writer = csv.writer(handle)
    writer.writerow(list(header))
    for row in rows:
        writer.writerow([safe_cell(cell) for cell in row])


PLAN_HEADER = ("operation", "record", "location", "contact", "field", "before", "after", "reason")


def plan_rows(plan: Plan) -> Iterable[tuple]:
    """One row per field change; operations without changes get one row."""
    for op in plan.operations:
        base = (op.op.value, op.label or op.dn or op.anchor, op.location, op.contact_id)
        if op.changes:
            for change in op.changes:
                before, after = change.shown()
                yield (*base, change.field, before, after, op.reason)
        else:
            yield (*base, op.field or "", "", "", op.reason)


def write_plan(handle: IO[str], plan: Plan) -> None:
    write_rows(handle, PLAN_HEADER, plan_rows(plan))
