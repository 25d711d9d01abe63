"""Safeguards: mass changes and suspicious reads wait for a person."""

import pytest
from builders import managed, ops, record, run

from usersync.core.plan import Op, Operation, Plan
from usersync.core.records import Snapshot, SnapshotKind
from usersync.core.safeguards import Thresholds, verdict


def plan_archiving(archives: int, managed_active: int, **kwargs) -> Plan:
    operations = tuple(Operation(Op.ARCHIVE, contact_id=i) for i in range(archives))
    kwargs.setdefault("read", 1)
    return Plan(operations=operations, managed_active=managed_active, **kwargs)


@pytest.mark.parametrize(
    "archives, managed_active, blocked",
    [
        (0, 100, False),
        (20, 100, False),  # exactly 20% is allowed
        (21, 100, True),  # more than 20% and at least 10
        (9, 40, False),  # 22% but fewer than 10
        (10, 40, True),
        (3, 3, False),  # a small source may lose everyone (below the minimum)
        (500, 5000, False),  # 10%, and not more than 500
        (501, 10000, True),  # more than 500 is always a mass change
        (12, 0, True),  # archiving contacts the source does not count as its own
    ],
)
def test_archives_above_the_default_threshold_are_blocked(archives, managed_active, blocked):
    reason = verdict(plan_archiving(archives, managed_active), Thresholds())
    assert (reason is not None) is blocked
    if blocked:
        assert f"would archive {archives} of {managed_active}" in reason
        assert "approve" in reason


@pytest.mark.parametrize(
    "thresholds, archives, blocked",
    [
        (Thresholds(percent=5, minimum=1, maximum=500), 6, True),
        (Thresholds(percent=5, minimum=1, maximum=500), 5, False),
        (Thresholds(percent=100, minimum=1, maximum=50), 51, True),
        (Thresholds(percent=100, minimum=10**9, maximum=10**9), 100, False),
    ],
)
def test_thresholds_are_per_source(thresholds, archives, blocked):
    assert (verdict(plan_archiving(archives, 100), thresholds) is not None) is blocked


def test_an_empty_full_read_while_the_source_manages_contacts_is_blocked():
    existing = [managed(1, "g1", email="a@x.io"), managed(2, "g2", email="b@x.io")]
    result = run([], existing)
    assert "returned no users" in result.blocked
    assert "manages 2 active contacts" in result.blocked
    assert ops(result) == [Op.ARCHIVE, Op.ARCHIVE]  # kept for one approval to apply exactly


@pytest.mark.parametrize(
    "snapshot, existing",
    [
        (Snapshot.full([]), []),  # a new source with an empty scope
        (Snapshot.full([]), [managed(1, "g1", email="a@x.io", active=False)]),
        (Snapshot.delta([]), [managed(1, "g1", email="a@x.io")]),  # nothing changed
    ],
    ids=["nothing managed", "only archived managed", "empty delta"],
)
def test_an_empty_read_is_fine_when_nothing_is_lost(snapshot, existing):
    assert run(snapshot, existing).blocked is None


def test_an_incomplete_snapshot_never_archives():
    existing = [managed(i, f"g{i}", email=f"p{i}@x.io") for i in range(1, 30)]
    records = [record(anchor="g1", email="p1@x.io"), record(anchor="g2", email="p2@x.io",
                                                            disabled=True)]
    result = run(Snapshot.full(records, complete=False), existing)
    assert not result.of(Op.ARCHIVE)
    assert result.blocked is None and result.complete is False


def test_a_plan_that_archives_on_an_incomplete_read_is_blocked_whatever_made_it():
    reason = verdict(plan_archiving(1, 100, complete=False), Thresholds())
    assert reason is not None and "not complete" in reason


def test_a_mass_archive_from_a_real_run_is_blocked_and_small_ones_are_not():
    existing = [managed(i, f"g{i}", email=f"p{i}@x.io") for i in range(1, 51)]
    keep_40 = [record(anchor=f"g{i}", email=f"p{i}@x.io") for i in range(1, 41)]
    keep_45 = keep_40 + [record(anchor=f"g{i}", email=f"p{i}@x.io") for i in range(41, 46)]
    assert run(keep_45, existing).blocked is None  # 5 of 50
    blocked = run(keep_40, existing)  # 10 of 50 = 20%: not more than 20%
    assert blocked.blocked is None
    blocked = run(keep_40[:-1], existing)  # 11 of 50 = 22%
    assert "would archive 11 of 50" in blocked.blocked


def test_disabled_accounts_count_toward_the_threshold():
    existing = [managed(i, f"g{i}", email=f"p{i}@x.io") for i in range(1, 21)]
    records = [record(anchor=f"g{i}", email=f"p{i}@x.io", disabled=i <= 10) for i in range(1, 21)]
    result = run(records, existing)
    assert len(result.of(Op.ARCHIVE)) == 10
    assert "would archive 10 of 20" in result.blocked


def test_a_delta_that_removes_many_is_blocked_too():
    existing = [managed(i, f"g{i}", email=f"p{i}@x.io") for i in range(1, 21)]
    result = run(Snapshot.delta([], removed={f"g{i}" for i in range(1, 16)}), existing)
    assert result.kind is SnapshotKind.DELTA and len(result.of(Op.ARCHIVE)) == 15
    assert "would archive 15 of 20" in result.blocked
