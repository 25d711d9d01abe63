"""Matching: which contact a record is — by link, manual mapping, then keys; never a guess."""

import pytest
from builders import (
    GLOBAL,
    MAPPING,
    MULTI,
    OTHER_SOURCE,
    SOURCE,
    contact,
    fake_hash,
    managed,
    only,
    ops,
    record,
    run,
)

from usersync.core.desired import build
from usersync.core.matching import (
    Conflict,
    ContactIndex,
    Matched,
    New,
    decide_by_keys,
    pair_linked,
)
from usersync.core.plan import Op
from usersync.core.records import SourceState

ADA = dict(email="ada@example.com", sms_phone="+1 650 253 0000", identification="E1")


def desired(placement=None, **kwargs):
    return build(record(**kwargs), MAPPING, placement or GLOBAL, fake_hash)


@pytest.mark.parametrize(
    "record_keys, contact_keys, by",
    [
        ({"identification": "E1", "email": "new@example.com"}, {"identification": "E1"},
         "identification"),
        ({"email": "ADA@example.com"}, {"email": "ada@example.com"}, "email"),
        ({"email": "ada@example.com"}, {"email": "old@example.com",
                                        "aliases": ["ada@example.com"]}, "email"),
        ({"email": "new@example.com", "aliases": ["ada@example.com"]},
         {"email": "ada@example.com"}, "email"),
        ({"sms_phone": "(650) 253-0000"}, {"sms_phone": "+16502530000"}, "sms_phone"),
    ],
)
def test_an_unmanaged_contact_is_matched_by_one_key_and_linked(record_keys, contact_keys, by):
    aliases = contact_keys.pop("aliases", ())
    existing = [contact(5, aliases=aliases, **contact_keys)]
    result = run([record(anchor="g1", **record_keys)], existing)
    [op] = result.operations
    assert op.op in (Op.LINK, Op.UPDATE)
    assert (op.contact_id, op.link, op.matched_by, op.anchor) == (5, True, by, "g1")


def test_identification_lets_a_csv_change_email_and_phone_without_a_new_contact():
    existing = [managed(5, "identification:E1", identification="E1", email="old@example.com",
                        sms_phone="+16502530000")]
    result = run([record(line=2, identification="E1", email="new@example.com",
                         sms_phone="+16502530001")], existing)
    update = only(result, Op.UPDATE)
    assert update.contact_id == 5 and update.matched_by == "anchor" and not update.link
    assert {c.field for c in update.changes} == {"email", "sms_phone"}
    assert not result.of(Op.CREATE, Op.ARCHIVE)


def test_the_sources_link_wins_over_keys_pointing_elsewhere():
    existing = [managed(5, "g1", email="old@example.com"), contact(6, email="ada@example.com")]
    result = run([record(anchor="g1", email="ada@example.com")], existing)
    [op] = result.operations
    assert (op.op, op.contact_id, op.matched_by) == (Op.UPDATE, 5, "anchor")


def test_a_manual_mapping_wins_over_keys():
    existing = [contact(5, email="someone@example.com"), contact(6, email="ada@example.com")]
    state = SourceState(manual={"g1": 5})
    result = run([record(anchor="g1", email="ada@example.com")], existing, state)
    [op] = result.operations
    assert (op.op, op.contact_id, op.matched_by, op.link) == (Op.UPDATE, 5, "manual", True)


def test_a_manual_mapping_never_takes_a_contact_another_present_record_is_linked_to():
    existing = [managed(5, "g2", email="bob@example.com", first_name="Bob")]
    state = SourceState(manual={"g1": 5})
    result = run([record(anchor="g1", email="ada@example.com"),
                  record("Bob", anchor="g2", email="bob@example.com")], existing, state)
    touching_5 = [o for o in result.operations if o.contact_id == 5]
    assert [(o.op, o.anchor) for o in touching_5] == [(Op.UNCHANGED, "g2")]
    assert only(result, Op.CREATE).anchor == "g1"


def test_two_keys_pointing_at_different_contacts_is_a_conflict_listing_both():
    existing = [contact(5, identification="E1", email="other@example.com"),
                contact(6, email="ada@example.com")]
    result = run([record(anchor="g1", identification="E1", email="ada@example.com")], existing)
    conflict = only(result, Op.CONFLICT)
    assert conflict.candidates == (5, 6)
    assert "matches 2 contacts" in conflict.reason and "identification" in conflict.reason
    assert not result.changes_anything


def test_a_conflict_protects_managed_candidates_from_archiving():
    existing = [managed(5, "old-1", identification="E1"),
                managed(6, "old-2", email="ada@example.com")]
    result = run([record(anchor="g1", identification="E1", email="ada@example.com")], existing)
    assert ops(result) == [Op.CONFLICT]


def test_a_contact_managed_by_another_source_is_a_conflict_not_a_takeover():
    existing = [contact(5, email="ada@example.com", source_id=OTHER_SOURCE, anchor="x")]
    result = run([record(anchor="g1", email="ada@example.com")], existing)
    conflict = only(result, Op.CONFLICT)
    assert conflict.candidates == (5,) and "another source" in conflict.reason
    assert not result.changes_anything


def test_keys_match_only_within_the_same_location():
    existing = [contact(5, email="ada@example.com", location="warehouse")]
    result = run([record(anchor="g1", email="ada@example.com", locations=["hq"])], existing,
                 placement=MULTI)
    create = only(result, Op.CREATE)
    assert create.location == "hq"
    assert all(o.contact_id != 5 for o in result.operations)


def test_a_contact_is_matched_by_one_record_only():
    existing = [contact(5, email="ada@example.com", sms_phone="+16502530000")]
    result = run([record(anchor="g1", email="ada@example.com"),
                  record("Bob", anchor="g2", sms_phone="+16502530000")], existing)
    assert [(o.op, o.contact_id, o.anchor) for o in result.operations] == [
        (Op.UPDATE, 5, "g1"), (Op.CREATE, None, "g2"),  # g1 takes it (and clears its phone)
    ]


def test_ignored_directory_objects_are_skipped_and_their_contacts_kept():
    existing = [managed(5, "g1", email="ada@example.com")]
    state = SourceState(ignored=frozenset({"g1"}))
    result = run([record(anchor="g1", email="changed@example.com")], existing, state)
    assert ops(result) == [Op.SKIP]
    skipped = result.operations[0]
    assert skipped.reason == "ignored by an admin" and skipped.contact_id is None
    # the record's mapped values travel with the skip: the admin still sees who was ignored
    assert skipped.fields["email"] == "changed@example.com"


def test_an_ignored_object_that_left_the_directory_does_not_archive_its_contact():
    existing = [managed(5, "g1", email="ada@example.com"), managed(6, "g2", first_name="Bob",
                                                                   email="bob@example.com")]
    state = SourceState(ignored=frozenset({"g1"}))
    result = run([record("Bob", anchor="g2", email="bob@example.com")], existing, state)
    assert ops(result) == [Op.UNCHANGED]


# -- the decisions as values -------------------------------------------------------------------


def test_decide_by_keys_returns_values():
    [want] = desired(anchor="g1", **ADA)
    index = ContactIndex([contact(5, email="ada@example.com")], SOURCE)
    assert decide_by_keys(want, index, set(), {}) == Matched(index.by_id[5], "email")
    assert decide_by_keys(want, index, {5}, {}) == New()
    other = ContactIndex([contact(5, identification="E1"), contact(6, sms_phone="+16502530000")],
                         SOURCE)
    decision = decide_by_keys(want, other, set(), {})
    assert isinstance(decision, Conflict) and decision.candidates == (5, 6)


def test_a_contact_linked_to_another_present_record_is_not_taken_by_keys():
    [want] = desired(anchor="g1", email="ada@example.com")
    index = ContactIndex([managed(5, "g2", email="ada@example.com")], SOURCE)
    decision = decide_by_keys(want, index, set(), {"g2": "line 4"})
    assert isinstance(decision, Conflict) and "the contact of line 4" in decision.reason


def test_pairing_prefers_the_same_location_then_moves_leftovers():
    wants = desired(MULTI, anchor="g1", email="a@x.io", locations=["warehouse", "hq"])
    hq, other = managed(5, "g1", location="hq"), managed(6, "g1", location="lab")
    pairs, unpaired, free = pair_linked(wants, [other, hq])
    assert [(w.location, c.id) for w, c in pairs] == [("hq", 5), ("warehouse", 6)]
    assert unpaired == [] and free == []


def test_pairing_prefers_an_active_contact_over_an_archived_twin():
    [want] = desired(MULTI, anchor="g1", email="a@x.io", locations=["hq"])
    archived, active = (managed(5, "g1", location="hq", active=False),
                        managed(6, "g1", location="hq"))
    pairs, _, free = pair_linked([want], [archived, active])
    assert [c.id for _, c in pairs] == [6] and [c.id for c in free] == [5]


def test_an_ignored_csv_row_is_known_by_the_anchor_built_from_its_keys():
    existing = [managed(5, "email:ada@example.com", email="ada@example.com")]
    state = SourceState(ignored=frozenset({"email:ada@example.com"}))
    result = run([record(line=2, email="ada@example.com", title="Countess")], existing, state)
    skip = only(result, Op.SKIP)
    assert (skip.anchor, skip.line) == ("email:ada@example.com", 2)
    assert skip.reason == "ignored by an admin"
    assert ops(result) == [Op.SKIP]


@pytest.mark.parametrize("order", [[0, 1], [1, 0]], ids=["claimer last", "claimer first"])
def test_a_conflict_resolves_when_another_record_claims_one_candidate_in_any_order(order):
    # both contacts carry ada@ as an alias; dee@ is contact 6's own address
    existing = [contact(5, email="", aliases=["ada@example.com"], identification="E5"),
                contact(6, email="dee@example.com", aliases=["ada@example.com"])]
    rows = [record(anchor="g1", email="ada@example.com", identification="E5"),
            record("Dee", anchor="g2", email="dee@example.com")]
    result = run([rows[i] for i in order], existing)
    matched = {o.anchor: o.contact_id for o in result.operations}
    assert matched == {"g1": 5, "g2": 6}
    assert not result.of(Op.CONFLICT)
