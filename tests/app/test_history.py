"""A run's plan as kept (``history``): the header on the run, each operation a row, in order;
and migration 0009, which moved the operations of plans kept before out of the run."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from usersync.app.directory.models import RunOperation, SyncRun
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
    RunOperation.objects.filter(run=run).delete()
    monkeypatch.setattr(history, "BATCH", 3)  # four batches of writes and of reads

    history.store(run, PLAN)
    run.save()

    kept = SyncRun.objects.get(pk=run.pk)
    assert "operations" not in kept.plan
    assert history.plan_of(kept) == PLAN
    assert list(RunOperation.objects.filter(run=run).values_list("position", flat=True)) == \
        list(range(10))


def test_the_anchors_read_unchanged_are_kept_only_with_a_blocked_plan(run):
    RunOperation.objects.filter(run=run).delete()
    history.store(run, PLAN.with_blocked(None))
    run.save()
    kept = history.plan_of(SyncRun.objects.get(pk=run.pk))
    assert kept.unchanged == () and kept.operations == PLAN.operations

    RunOperation.objects.filter(run=run).delete()
    history.store(run, PLAN)  # blocked: approving it applies them
    run.save()
    assert history.plan_of(SyncRun.objects.get(pk=run.pk)).unchanged == ("k1", "k2")


def test_a_page_reads_the_operations_of_one_kind(run):
    RunOperation.objects.filter(run=run).delete()
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
def test_migration_0009_moves_kept_operations_to_rows_and_back(acme):
    executor = MigrationExecutor(connection)
    before, after = [("directory", "0008_source_last_full_read")], [("directory", "0009_run_operations")]
    outcome = import_csv(acme, csv_bytes(person(1)))
    executor.migrate(before)
    old = executor.loader.project_state(before).apps.get_model("directory", "SyncRun")
    old.objects.filter(pk=outcome.run.pk).update(plan=PLAN.to_data())
    empty = old.objects.create(organization_id=acme.pk, source_id=outcome.run.source_id,
                               trigger="manual", status="failed", plan=None)

    executor = MigrationExecutor(connection)
    executor.migrate(after)
    moved = SyncRun.objects.get(pk=outcome.run.pk)
    assert moved.plan == PLAN.header() and history.plan_of(moved) == PLAN
    assert SyncRun.objects.get(pk=empty.pk).plan is None

    executor = MigrationExecutor(connection)
    executor.migrate(before)
    back = executor.loader.project_state(before).apps.get_model("directory", "SyncRun")
    assert back.objects.get(pk=outcome.run.pk).plan == PLAN.to_data()
    MigrationExecutor(connection).migrate(executor.loader.graph.leaf_nodes())
