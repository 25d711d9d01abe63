"""A plan is data: it survives JSON (preview, blocked run, history) and hides secrets."""

import json

import pytest
from builders import MULTI, contact, fake_hash, managed, record, run

from usersync.core.plan import MASK, Change, Op, Operation, Plan
from usersync.core.records import Snapshot, SnapshotKind


def realistic_plan() -> Plan:
    existing = [
        managed(1, "g1", email="ada@example.com", title="Analyst", location="hq",
                pin=fake_hash("1111")),
        managed(2, "g2", email="bob@example.com", location="hq", active=False),
        managed(3, "g3", email="cy@example.com", location="hq"),
        contact(4, email="dee@example.com", location="hq", identification="E4"),
        contact(5, email="eve@example.com", location="hq"),
        contact(6, email="other@example.com", identification="E5", location="hq"),
    ]
    records = [
        record(anchor="g1", email="ada@example.com", title="Countess", pin="2222",
               aliases=["A.L@example.com", "ada.l@example.com"], locations=["warehouse"],
               dn="CN=Ada,OU=Warehouse"),
        record(anchor="g2", email="bob@example.com", locations=["hq"]),
        record(anchor="g4", email="dee@example.com", identification="E4", locations=["hq"]),
        record(anchor="g5", identification="E5", email="eve@example.com", locations=["hq"]),
        record(anchor="g6", email="fay@example.com", sms_phone="650 253 0000", slack="@fay",
               pin="9876", locations=["hq"]),
        record(anchor="g7", email="bad", locations=["hq"], dn="CN=Bad"),
    ]
    return run(records, existing, placement=MULTI)


def test_a_realistic_plan_has_every_kind_of_operation():
    kinds = {o.op for o in realistic_plan().operations}
    assert kinds >= {Op.UPDATE, Op.REACTIVATE, Op.LINK, Op.CONFLICT, Op.CREATE, Op.ERROR,
                     Op.ARCHIVE}


def test_a_plan_round_trips_through_json_without_loss():
    original = realistic_plan().with_blocked("waiting for a person")
    data = json.loads(json.dumps(original.to_data()))
    assert Plan.from_data(data) == original
    assert Plan.from_data(data).counts == original.counts


@pytest.mark.parametrize(
    "operation",
    [
        Operation(Op.SKIP, anchor="g1", reason="ignored by an admin"),
        Operation(Op.UNCHANGED, contact_id=0, anchor="g0", location="hq", matched_by="anchor"),
        Operation(Op.UPDATE, contact_id=9, changes=(Change("aliases", (), ("a@x.io",)),
                                                    Change("location", "hq", ""))),
        Operation(Op.ERROR, line=7, label="line 7", field="pin", reason="PIN must be 4 digits"),
        Operation(Op.CONFLICT, anchor="g1", candidates=(3, 4), reason="matches 2 contacts"),
    ],
)
def test_each_operation_round_trips(operation):
    assert Operation.from_data(json.loads(json.dumps(operation.to_data()))) == operation


def test_operation_data_leaves_out_what_is_empty():
    assert Operation(Op.SKIP, anchor="g1").to_data() == {"op": "skip", "anchor": "g1"}


def test_plan_data_holds_only_the_hash_of_a_pin():
    text = json.dumps(realistic_plan().to_data())
    assert "2222" not in text and "9876" not in text and "1111" not in text
    assert fake_hash("9876") in text  # the writer needs the hash to store it


@pytest.mark.parametrize(
    "change, shown",
    [
        (Change("pin", "h:old", "h:new"), (MASK, MASK)),
        (Change("pin", "", "h:new"), ("", MASK)),  # a PIN was set
        (Change("pin", "h:old", ""), (MASK, "")),  # a PIN was cleared
        (Change("title", "Analyst", "Countess"), ("Analyst", "Countess")),
        (Change("aliases", (), ("a@x.io",)), ((), ("a@x.io",))),
    ],
)
def test_changes_are_shown_with_secrets_masked(change, shown):
    assert change.shown() == shown


def test_a_pin_change_in_a_real_plan_is_shown_masked():
    update = next(o for o in realistic_plan().operations if o.contact_id == 1)
    pin = next(c for c in update.changes if c.field == "pin")
    assert pin.shown() == (MASK, MASK)
    assert next(c for c in update.changes if c.field == "location").shown() == ("hq", "warehouse")


def test_old_plan_data_without_newer_keys_still_loads():
    plan = Plan.from_data({"operations": [{"op": "archive", "contact_id": 4}]})
    assert plan.kind is SnapshotKind.FULL and plan.complete and plan.blocked is None
    assert plan.counts["archived"] == 1 and plan.changes_anything


def test_counts_name_every_operation_kind():
    counts = run(Snapshot.full([])).counts
    assert counts == {"created": 0, "updated": 0, "linked": 0, "reactivated": 0, "archived": 0,
                      "unchanged": 0, "conflicts": 0, "errors": 0, "skipped": 0}
