"""A run's plan as kept (``history``): the header on the run, each operation a row, in order;
and migration 0009, which moved the operations of plans kept before out of the run."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

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


def test_a_file_with_bytes_that_are_not_utf8_is_kept_as_read_with_its_text_in_any_script(acme):
    """What a run keeps is written as UTF-8 JSON: a cell that is not UTF-8 is kept as its
    record's error, naming the byte, and text in any script as it was read."""
    data = csv_bytes(person(1, first="Zoë", last="Ōtomo"), person(2, last="Kim"),
                     person(3, first="李", last="Nguyễn"))
    data = data.replace(b"Kim", b"K\xe9m")

    outcome = import_csv(acme, data)

    run = SyncRun.objects.get(pk=outcome.run.pk)
    assert run.status == "succeeded"
    (error,) = history.shown(history.operations(run, Op.ERROR))
    assert error.line == 3 and error.field == "last_name" and "0xE9" in error.reason
    created = history.shown(history.operations(run, Op.CREATE))
    assert [(o.fields["first_name"], o.fields["last_name"]) for o in created] == [
        ("Zoë", "Ōtomo"), ("李", "Nguyễn")]
    assert "Zoë" in OperationBatch.objects.get(run=run, op="create").data  # not "Zo\\u00eb"


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


# -- forgetting old runs --------------------------------------------------------------------------

def _runs(source, ages_in_days, status="succeeded"):
    """Runs of ``source`` created that many days ago, each with a batch of operations."""
    made = []
    for age in ages_in_days:
        run = SyncRun.objects.create(organization_id=source.organization_id, source=source,
                                     trigger="schedule", status=status)
        SyncRun.objects.filter(pk=run.pk).update(created_at=timezone.now() - timedelta(days=age))
        OperationBatch.objects.create(run=run, op="create", start=0, count=0, first_position=0,
                                      last_position=0, data="[]")
        made.append(run.pk)
    return made


def test_runs_past_their_time_are_forgotten_with_their_operations_but_a_sources_last_stay(
        run, globex, settings):
    settings.RUN_HISTORY_DAYS = 30
    source = run.source
    SyncRun.objects.filter(pk=run.pk).update(created_at=timezone.now() - timedelta(days=90))
    blocked = _runs(source, [80], status="blocked")
    old = _runs(source, range(64, 40, -1)) + _runs(source, [40], status="failed")  # oldest first
    young = _runs(source, [2, 1])
    other = import_csv(globex, csv_bytes(person(1))).run.source
    elsewhere = _runs(other, range(70, 40, -1))

    forgotten = history.forget_old_runs(source.pk, timezone.now())

    kept = set(SyncRun.objects.filter(source=source).values_list("pk", flat=True))
    assert kept == {*young, *old[-18:], *blocked}  # the last 20, and the blocked one
    assert forgotten == 1 + len(old) - 18  # the first run too
    assert not OperationBatch.objects.exclude(run__in=SyncRun.objects.all()).exists()
    assert OperationBatch.objects.filter(run__source=source).count() == len(kept)
    assert set(elsewhere) <= set(SyncRun.objects.values_list("pk", flat=True))

    settings.RUN_HISTORY_DAYS = 0  # keep every run
    assert history.forget_old_runs(other.pk, timezone.now()) == 0


def test_a_run_that_ends_forgets_its_sources_old_runs_after_its_commit(run, acme, settings,
                                                                       django_capture_on_commit_callbacks):
    settings.RUN_HISTORY_DAYS = 30
    old = _runs(run.source, range(60, 35, -1))

    with django_capture_on_commit_callbacks(execute=True):
        import_csv(acme, csv_bytes(person(1), person(2)))

    assert SyncRun.objects.filter(source=run.source).count() == history.KEEP_RUNS
    assert not SyncRun.objects.filter(pk__in=old[:6]).exists()
