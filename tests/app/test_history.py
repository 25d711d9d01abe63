"""A run's plan as kept (``history``): the header on the run, each operation a row, in order;
and migration 0009, which moved the operations of plans kept before out of the run."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from usersync.app.directory.models import OperationBatch, SyncRun
from usersync.app.sync import history
from usersync.core.plan import Change, Op, Operation, Plan
from usersync.core.records import SnapshotKind

from support.syncing import csv_bytes, import_csv, person

pytestmark = pytest.mark.django_db

PLAN = Plan(
    operations=tuple(
        [Operation(Op.CREATE, anchor=f"a{n}", label=f"P{n}", location="headquarters",
                   fields={"first_name": f"P{n}", "email": f"p{n}@acme.example",
                           "aliases": ("x@acme.example",)}, channels=("email",))
         for n in range(7)]
        + [Operation(Op.UPDATE, contact_id=5, anchor="u", changes=(Change("title", "A", "B"),)),
           Operation(Op.ERROR, line=3, field="email", reason="not an email"),
           Operation(Op.ARCHIVE, contact_id=9, anchor="gone", reason="not in the directory")]),
    kind=SnapshotKind.DELTA, complete=True, read=9, blocked="too many", managed_active=12,
    unchanged=("k1", "k2"),
)


@pytest.fixture
def run(acme):
    outcome = import_csv(acme, csv_bytes(person(1)))  # any run of the organization will do
    return SyncRun.objects.get(pk=outcome.run.pk)


def test_a_plan_is_kept_whole_and_in_order_across_batches(run, monkeypatch):
    OperationBatch.objects.filter(run=run).delete()
    monkeypatch.setattr(history, "BATCH", 3)  # the 7 creates in 3 batches

    history.store(run, PLAN)
    run.save()

    kept = SyncRun.objects.get(pk=run.pk)
    assert "operations" not in kept.plan
    assert history.plan_of(kept) == PLAN
    batches = OperationBatch.objects.filter(run=run).order_by("first_position")
    assert [(b.op, b.start, b.count, b.first_position, b.last_position) for b in batches] == [
        ("create", 0, 3, 0, 2), ("create", 3, 3, 3, 5), ("create", 6, 1, 6, 6),
        ("update", 0, 1, 7, 7), ("error", 0, 1, 8, 8), ("archive", 0, 1, 9, 9)]


def test_the_anchors_read_unchanged_are_kept_only_with_a_blocked_plan(run):
    OperationBatch.objects.filter(run=run).delete()
    history.store(run, PLAN.with_blocked(None))
    run.save()
    kept = history.plan_of(SyncRun.objects.get(pk=run.pk))
    assert kept.unchanged == () and kept.operations == PLAN.operations

    OperationBatch.objects.filter(run=run).delete()
    history.store(run, PLAN)  # blocked: approving it applies them
    run.save()
    assert history.plan_of(SyncRun.objects.get(pk=run.pk)).unchanged == ("k1", "k2")


INTERLEAVED = Plan(operations=tuple(
    Operation(Op.ERROR if n % 4 == 3 else Op.CREATE, anchor=f"a{n}", line=n,
              reason="not an email" if n % 4 == 3 else "")
    for n in range(23)))


@pytest.mark.parametrize("cut", [slice(0, 4), slice(2, 9), slice(5, 6), slice(15, 40),
                                 slice(22, 23), slice(23, 30), slice(0, None), slice(7, None)])
def test_a_page_of_every_kind_or_of_one_is_the_slice_of_the_plan(run, monkeypatch, cut):
    """The batches of each kind cover ranges of positions that overlap: a page of every kind
    takes from each what falls in it, in the plan's order."""
    OperationBatch.objects.filter(run=run).delete()
    monkeypatch.setattr(history, "BATCH", 4)
    history.store(run, INTERLEAVED)

    every = history.operations(run)
    assert every.count() == len(every) == 23
    assert history.shown(every[cut]) == list(INTERLEAVED.operations[cut])
    for op in (Op.CREATE, Op.ERROR):
        of_kind = [o for o in INTERLEAVED.operations if o.op is op]
        assert history.shown(history.operations(run, op)[cut]) == of_kind[cut]
        assert history.operations(run, op).count() == len(of_kind)
    assert history.operations(run, Op.UPDATE)[cut] == []


def test_a_page_reads_the_operations_of_one_kind(run):
    OperationBatch.objects.filter(run=run).delete()
    history.store(run, PLAN)

    creates = history.operations(run, Op.CREATE)
    assert creates.count() == 7
    assert [o.anchor for o in history.shown(creates[2:4])] == ["a2", "a3"]
    assert history.shown(history.operations(run, Op.ERROR)) == [PLAN.operations[8]]
    assert history.operations(run).count() == 10


def test_a_run_that_kept_no_plan_has_an_empty_one(run):
    run.plan = None
    assert history.plan_of(run).operations == ()


@pytest.mark.django_db(transaction=True)
def test_migrations_0009_and_0012_move_kept_operations_to_rows_then_batches_and_back(acme):
    executor = MigrationExecutor(connection)
    before = [("directory", "0008_source_last_full_read")]
    rows = [("directory", "0009_run_operations")]
    outcome = import_csv(acme, csv_bytes(person(1)))
    executor.migrate(before)
    old = executor.loader.project_state(before).apps.get_model("directory", "SyncRun")
    old.objects.filter(pk=outcome.run.pk).update(plan=PLAN.to_data())
    empty = old.objects.create(organization_id=acme.pk, source_id=outcome.run.source_id,
                               trigger="manual", status="failed", plan=None)

    executor = MigrationExecutor(connection)
    executor.migrate(rows)
    one_each = executor.loader.project_state(rows).apps.get_model("directory", "RunOperation")
    kept = one_each.objects.filter(run_id=outcome.run.pk).order_by("position")
    assert [row.data for row in kept] == [o.to_data() for o in PLAN.operations]

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    moved = SyncRun.objects.get(pk=outcome.run.pk)
    assert moved.plan == PLAN.header() and history.plan_of(moved) == PLAN
    assert history.shown(history.operations(moved, Op.CREATE)[5:7]) == list(PLAN.operations[5:7])
    assert SyncRun.objects.get(pk=empty.pk).plan is None

    executor = MigrationExecutor(connection)
    executor.migrate(before)
    back = executor.loader.project_state(before).apps.get_model("directory", "SyncRun")
    assert back.objects.get(pk=outcome.run.pk).plan == PLAN.to_data()
    MigrationExecutor(connection).migrate(executor.loader.graph.leaf_nodes())
