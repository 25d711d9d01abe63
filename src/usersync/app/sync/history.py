"""A run's plan as kept: the plan but its operations on the run (``SyncRun.plan``, from
``Plan.header``), its operations in batches of one kind (``OperationBatch``), each operation
with its place in the plan.

A first sync of 100,000 people plans 100,000 operations: kept as one JSON value, writing it took
hundreds of megabytes at once (SQLite copies a value twice while it stores it), and every view of
the run read it all back. Kept in batches, they are written a batch at a time, and a run's page
or the API reads only the batches of the operations it shows (``Operations``); approving a
blocked run and the CSV export read them all (``plan_of``).

The batches' JSON is written and read by orjson: a first sync's 100,000 operations (52 MB) took
the standard library's ``json`` 0.35 s to write, orjson 0.04 s.

Runs are not kept for ever (``forget_old_runs``): a source that syncs every hour makes 2,000 runs
in three months.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from itertools import chain, islice
from operator import itemgetter

import orjson
from django.conf import settings
from django.db.models import F, Sum

from usersync.app.directory.models import ACTIVE_RUN_STATUSES, OperationBatch, RunStatus, SyncRun
from usersync.core.plan import Op, Operation, Plan

from . import aside, bulk

#: Operations in a batch.
BATCH = 500
#: Batches in one SQLite statement (20 kept 10 MB more memory after them; one a statement was
#: slower, as it was on PostgreSQL, which now gets them all through one ``COPY``). A batch with a
#: letter beyond Latin-1 is text of 2 bytes a letter to Python (orjson writes UTF-8, not
#: ``\u`` escapes): 5 a statement raised a first sync's peak memory by 11 MiB, 2 by 4.
PER_STATEMENT = 2
_COLUMNS = ["op", "start", "count", "first_position", "last_position", "data"]
#: Batches made while the server checks what the run's transaction wrote (``store``): a day of
#: changes' all, a first sync's first 10,000 operations (their JSON 3-6 MB).
MADE_WHILE_CHECKED = 20
#: The last runs of a source, kept whatever their age: a source that syncs once a month still
#: explains its last runs.
KEEP_RUNS = 20
#: Old runs forgotten at most at once (the rest at the source's next run's end).
FORGET_AT_ONCE = 100


def store(run: SyncRun, plan: Plan) -> None:
    """Keep ``plan`` with ``run``, whose row exists: its operations now, in the caller's
    transaction; the rest in ``run.plan``, which the caller saves. The anchors read unchanged
    are kept only with a blocked plan, which is applied later from what it kept; a plan applied
    now needs them no more, and its counts are the run's (100,000 anchors were 4 MB of the
    run's row, written at each resync and read back at each view of the run). Stored after the
    apply: its first batches are made while the server checks what the apply wrote
    (``aside.checked_meanwhile``)."""
    run.plan = (plan if plan.blocked else replace(plan, unchanged=())).header()
    batches = _batches(plan.operations)
    with aside.checked_meanwhile() as checking:
        first = list(islice(batches, MADE_WHILE_CHECKED)) if checking else []
    bulk.insert(OperationBatch, _COLUMNS, chain(first, batches), {"run_id": run.pk},
                per_statement=PER_STATEMENT)


def _batches(operations: tuple[Operation, ...]) -> Iterator[tuple]:
    """The rows of ``operations``' batches: each kind's positions in the plan, cut in batches
    of ``BATCH``; an operation's data is made only when its batch is written."""
    positions: dict[str, list[int]] = defaultdict(list)
    for position, operation in enumerate(operations):
        positions[operation.op.value].append(position)
    for op, kept in positions.items():
        for start in range(0, len(kept), BATCH):
            part = kept[start:start + BATCH]
            data = bulk.json_text([[p, operations[p].to_data()] for p in part])
            yield op, start, len(part), part[0], part[-1], data


class Operations:
    """A run's operations (of kind ``op``) in the plan's order, as a list that counts itself
    and reads only the batches of the slice it is asked for (a ``Paginator``'s object list)."""

    def __init__(self, run: SyncRun, op: Op | None = None):
        self.batches = OperationBatch.objects.filter(run=run)
        if op is not None:
            self.batches = self.batches.filter(op=op.value)
        self.op = op

    def count(self) -> int:
        return self.batches.aggregate(total=Sum("count"))["total"] or 0

    def __len__(self) -> int:
        return self.count()

    def exists(self) -> bool:
        return self.batches.exists()

    def __iter__(self) -> Iterator[dict]:
        return iter(self[:])

    def __getitem__(self, cut: slice) -> list[dict]:
        """The data (``Operation.to_data``) of the operations ``cut`` takes: of one kind, from
        the batches holding those places among its operations; of every kind, from the
        batches whose positions reach into ``cut``, put back in the plan's order."""
        if not isinstance(cut, slice) or cut.step not in (None, 1):
            raise TypeError("operations are read by slices")
        begin, stop = cut.start or 0, cut.stop
        if self.op is not None:  # places among the operations of the kind
            found = self.batches.alias(end=F("start") + F("count")).filter(end__gt=begin)
            if stop is not None:
                found = found.filter(start__lt=stop)
            pairs = ((start + i, data) for start, text in found.values_list("start", "data")
                     for i, (_position, data) in enumerate(orjson.loads(text)))
        else:  # positions in the plan
            found = self.batches.filter(last_position__gte=begin)
            if stop is not None:
                found = found.filter(first_position__lt=stop)
            pairs = (pair for text in found.values_list("data", flat=True)
                     for pair in orjson.loads(text))
        return [data for place, data in sorted(pairs, key=itemgetter(0))
                if place >= begin and (stop is None or place < stop)]


def plan_of(run: SyncRun) -> Plan:
    """The whole plan ``run`` kept; an empty plan for a run that kept none (it failed first)."""
    if not run.plan:
        return Plan(operations=())
    return Plan.from_data({**run.plan, "operations": operations(run)[:]})


def operations(run: SyncRun, op: Op | None = None) -> Operations:
    """The data of ``run``'s operations (of kind ``op``), in the plan's order: to count or cut
    into pages (``shown`` makes operations of a page)."""
    return Operations(run, op)


def shown(rows) -> list[Operation]:
    """The operations of some of ``operations``' rows."""
    return [Operation.from_data(data) for data in rows]


def first(run: SyncRun, op: Op, count: int) -> list[Operation]:
    """``run``'s first ``count`` operations of kind ``op`` (what a page or an email lists)."""
    return shown(operations(run, op)[:count])


def forget_old_runs(source_id: int, now: datetime) -> int:
    """Delete the source's runs created more than ``settings.RUN_HISTORY_DAYS`` days before
    ``now`` (0: none), with their operations; how many. Its last ``KEEP_RUNS`` runs stay, and
    so does a run still to finish or to decide on (queued, running, blocked)."""
    days = settings.RUN_HISTORY_DAYS
    if days <= 0:
        return 0
    newest_first = SyncRun.objects.filter(source_id=source_id).order_by("-created_at", "-id")
    older = newest_first.values_list("id", flat=True)[KEEP_RUNS:]
    old = list(SyncRun.objects.filter(pk__in=older, created_at__lt=now - timedelta(days=days))
               .exclude(status__in=(*ACTIVE_RUN_STATUSES, RunStatus.BLOCKED))
               .values_list("id", flat=True)[:FORGET_AT_ONCE])
    if old:
        SyncRun.objects.filter(pk__in=old).delete()
    return len(old)
