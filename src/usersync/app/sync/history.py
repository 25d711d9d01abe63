"""A run's plan as kept: the plan but its operations on the run (``SyncRun.plan``, from
``Plan.header``), each operation a ``RunOperation`` row, in the plan's order.

A first sync of 100,000 people plans 100,000 operations: kept as one JSON value, writing it took
hundreds of megabytes at once (SQLite copies a value twice while it stores it), and every view of
the run read it all back. Kept as rows, they are written a batch at a time, and a run's page or
the API reads only the operations it shows; approving a blocked run and the CSV export read them
all (``plan_of``).
"""

from __future__ import annotations

from django.db.models import QuerySet

from usersync.app.directory.models import RunOperation, SyncRun
from usersync.core.plan import Op, Operation, Plan

from . import bulk

#: Operations written, or read back, at a time.
BATCH = 5000


def store(run: SyncRun, plan: Plan) -> None:
    """Keep ``plan`` with ``run``, whose row exists: its operations now, in the caller's
    transaction; the rest in ``run.plan``, which the caller saves. The anchors read unchanged
    are kept only with a blocked plan, which is applied later from what it kept; a plan applied
    now needs them no more, and its counts are the run's (100,000 anchors were 4 MB of the
    run's row, written at each resync and read back at each view of the run)."""
    run.plan = plan.header()
    if not plan.blocked:
        run.plan["unchanged"] = []
    for start in range(0, len(plan.operations), BATCH):
        part = enumerate(plan.operations[start:start + BATCH], start)
        bulk.insert(RunOperation, ["position", "op", "data"],
                    [(position, o.op.value, o.to_data()) for position, o in part],
                    {"run_id": run.pk})


def plan_of(run: SyncRun) -> Plan:
    """The whole plan ``run`` kept; an empty plan for a run that kept none (it failed first)."""
    if not run.plan:
        return Plan(operations=())
    rows = operations(run).iterator(chunk_size=BATCH)
    return Plan.from_data({**run.plan, "operations": list(rows)})


def operations(run: SyncRun, op: Op | None = None) -> QuerySet:
    """The data of ``run``'s operations (of kind ``op``), in the plan's order: a query, to count
    or cut into pages (``shown`` makes operations of a page)."""
    found = RunOperation.objects.filter(run=run)
    if op is not None:
        found = found.filter(op=op.value)
    return found.order_by("position").values_list("data", flat=True)


def shown(rows) -> list[Operation]:
    """The operations of some of ``operations``' rows."""
    return [Operation.from_data(data) for data in rows]


def first(run: SyncRun, op: Op, count: int) -> list[Operation]:
    """``run``'s first ``count`` operations of kind ``op`` (what a page or an email lists)."""
    return shown(operations(run, op)[:count])
