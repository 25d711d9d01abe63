"""A full read that names its unchanged entries (``records.Unchanged``) instead of building them
plans as if it had built them all, from only the contacts the store loads for it.

The store's side is emulated plainly: a record may be read unchanged when the full plan of it is
UNCHANGED, in one location, onto an active contact still linked to its anchor and not mapped by
hand (``app.sync.loading.settled``); the narrowed load is what ``delta.needs`` names plus the
source's active contacts that no unchanged record keeps (``loading._unkept_anchors``), with
``Totals`` counted over every contact.
"""

from dataclasses import replace

from builders import (
    GLOBAL,
    MAPPING,
    MULTI,
    NO_SAFEGUARDS,
    SOURCE,
    apply_plan,
    contact,
    managed,
    policy,
    record,
    run,
)
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from test_properties import ANCHORS, FAST, narrow, snapshots_records, stores

from usersync.core import delta
from usersync.core.mapping import AttributeMapping
from usersync.core.plan import Op, Plan
from usersync.core.planning import build_records, plan
from usersync.core.records import Snapshot, SourceState, Unchanged
from usersync.core.safeguards import Thresholds

#: Like OpenLDAP's default mapping, no aliases: a contact may have some the directory has not.
NO_ALIASES = AttributeMapping.from_data(
    [line for line in MAPPING.to_data() if not line.startswith("aliases")])


def recognizable(full: Plan, records, store, state: SourceState) -> dict[str, Unchanged]:
    """The records a reader could name unchanged after the store settled them (by anchor)."""
    by_id = {c.id: c for c in store}
    single = {r.anchor: r for r in records if len(set(r.locations or (None,))) == 1}
    found = {}
    for op in full.of(Op.UNCHANGED):
        linked = by_id[op.contact_id]
        if (op.anchor in single and linked.active and linked.source_id == SOURCE
                and linked.anchor == op.anchor and op.anchor not in state.manual):
            found[op.anchor] = Unchanged(single[op.anchor].label, op.contact_id)
    return found


def plan_narrowed(records, unchanged: dict[str, Unchanged], store, made, state) -> Plan:
    """The plan of the full read with ``unchanged`` named, from what the store would load."""
    snapshot = Snapshot.full([r for r in records if r.anchor not in unchanged],
                             unchanged=unchanged)
    needs = delta.needs(snapshot, build_records(snapshot.records, made), state)
    kept = {u.contact_id for u in unchanged.values()}
    unkept = {c.anchor for c in store
              if c.active and c.source_id == SOURCE and c.anchor and c.id not in kept}
    totals = delta.Totals(
        managed_active=sum(1 for c in store if c.active and c.source_id == SOURCE and c.anchor),
        organization_active=sum(1 for c in store if c.active))
    loaded = narrow(store, replace(needs, anchors=needs.anchors | unkept))
    return plan(snapshot, loaded, made, state, totals)


def comparable(operation) -> dict:
    """An operation as data. Of a record that duplicates several others, which one its error
    names depends on the order the records are read in, which unchanged records do not keep:
    only that it is a duplicate is compared."""
    data = operation.to_data()
    if operation.op is Op.ERROR and operation.reason.startswith("duplicate "):
        data.update(reason="duplicate", field=None)
    return data


def assert_plans_alike(full: Plan, narrowed: Plan, unchanged: dict[str, Unchanged]) -> None:
    """Every operation but the unchanged records' own; the same counts, reads and verdict."""
    expected = [comparable(o) for o in full.operations
                if not (o.op is Op.UNCHANGED and o.anchor in unchanged)]
    assert [comparable(o) for o in narrowed.operations] == expected
    assert set(narrowed.unchanged) == set(unchanged)
    assert narrowed.counts == full.counts
    assert (narrowed.read, narrowed.managed_active) == (full.read, full.managed_active)
    assert narrowed.blocked == full.blocked


def resync(records, store, recognized, state=SourceState(), **options) -> Plan:
    """Plan ``records`` with those of ``recognized`` (anchors) read unchanged; checks that it is
    the full plan, and returns it."""
    made = policy(**options)
    full = plan(Snapshot.full(records), store, made, state)
    unchanged = recognizable(full, records, store, state)
    assert set(recognized) <= set(unchanged), [o.to_data() for o in full.operations]
    unchanged = {anchor: unchanged[anchor] for anchor in recognized}
    narrowed = plan_narrowed(records, unchanged, store, made, state)
    assert_plans_alike(full, narrowed, unchanged)
    return narrowed


# -- the property ---------------------------------------------------------------------------------

@st.composite
def resyncs(draw):
    """A store after an earlier read, and the next full read: some entries as they were, some
    changed or new, the others deleted; with the source's state and options."""
    placement = draw(st.sampled_from([GLOBAL, MULTI]))
    world = ("directory", placement)
    mapping = draw(st.sampled_from([MAPPING, NO_ALIASES]))
    store = draw(stores(placement))
    earlier = draw(snapshots_records(world, valid=True, disabled=False), label="earlier read")
    store = apply_plan(run(earlier, store, placement=placement, mapping=mapping,
                           thresholds=NO_SAFEGUARDS), store)
    kept = [r for r in earlier if draw(st.integers(0, 3))]  # the others are deleted
    later = [r for r in draw(snapshots_records(world), label="changed or new")
             if r.anchor not in {k.anchor for k in kept}]
    records = draw(st.permutations(kept + later))
    ids = [c.id for c in store]
    state = SourceState(
        ignored=frozenset(draw(st.sets(st.sampled_from(ANCHORS), max_size=1))),
        manual=draw(st.dictionaries(st.sampled_from(ANCHORS), st.sampled_from(ids), max_size=2))
        if ids else {})
    options = dict(placement=placement, mapping=mapping,
                   archive_missing=draw(st.sampled_from([True, True, False])),
                   archive_disabled=draw(st.booleans()),
                   contact_limit=draw(st.one_of(st.none(), st.integers(0, 8))),
                   thresholds=draw(st.sampled_from(
                       [NO_SAFEGUARDS, Thresholds(percent=20.0, minimum=1, maximum=2)])))
    return records, store, state, options


@settings(FAST, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(resyncs(), st.data())
def test_a_full_read_with_unchanged_records_plans_as_if_it_built_them(resynced, data):
    records, store, state, options = resynced
    made = policy(**options)
    full = plan(Snapshot.full(records), store, made, state)
    candidates = recognizable(full, records, store, state)
    assume(candidates)
    chosen = data.draw(st.sets(st.sampled_from(sorted(candidates)), min_size=1), label="unchanged")
    unchanged = {anchor: candidates[anchor] for anchor in chosen}

    assert_plans_alike(full, plan_narrowed(records, unchanged, store, made, state), unchanged)


# -- examples -------------------------------------------------------------------------------------

ADA = dict(dn="uid=ada", anchor="a", email="ada@x.io")
ADA_CONTACT = dict(email="ada@x.io")  # what the record ADA makes


def test_a_record_with_the_email_of_an_unchanged_one_is_a_duplicate_not_a_match():
    records = [record(**ADA), record("Bob", dn="uid=bob", anchor="b", email="ada@x.io")]
    store = [managed(1, "a", **ADA_CONTACT)]

    result = resync(records, store, {"a"})

    (error,) = result.operations
    assert (error.op, error.anchor) == (Op.ERROR, "b")
    assert error.reason == "duplicate Email: ada@x.io is also on uid=ada"
    assert {k: v for k, v in result.counts.items() if v} == {"errors": 1, "unchanged": 1}


def test_the_same_email_in_another_location_is_no_duplicate():
    records = [record(**ADA, locations=["hq"]),
               record("Bob", dn="uid=bob", anchor="b", email="ada@x.io", locations=["warehouse"])]
    store = [managed(1, "a", location="hq", **ADA_CONTACT)]

    result = resync(records, store, {"a"}, placement=MULTI)

    assert [(o.op, o.anchor) for o in result.operations] == [(Op.CREATE, "b")]


def test_a_deleted_record_is_archived_and_an_unchanged_one_is_not():
    records = [record(**ADA)]
    store = [managed(1, "a", **ADA_CONTACT), managed(2, "gone", email="gone@x.io")]

    result = resync(records, store, {"a"}, thresholds=NO_SAFEGUARDS)

    (archive,) = result.operations
    assert (archive.op, archive.contact_id, archive.reason) == (
        Op.ARCHIVE, 2, "no longer in the directory scope")


def test_a_second_contact_linked_to_an_unchanged_anchor_is_archived():
    records = [record(**ADA, locations=["hq"])]
    store = [managed(1, "a", location="hq", **ADA_CONTACT),
             managed(2, "a", location="warehouse", **ADA_CONTACT)]

    result = resync(records, store, {"a"}, placement=MULTI, thresholds=NO_SAFEGUARDS)

    (archive,) = result.operations
    assert (archive.op, archive.contact_id, archive.reason) == (
        Op.ARCHIVE, 2, "no longer in this location's scope")


def test_an_alias_the_mapping_does_not_manage_is_not_held_by_an_unchanged_record():
    """The contact of an unchanged record has an alias of its own (the mapping has no aliases):
    a full plan creates the new person with that address; so must the narrowed one."""
    records = [record(**ADA), record("Bob", dn="uid=bob", anchor="b", email="bob@x.io")]
    store = [managed(1, "a", aliases=["bob@x.io"], **ADA_CONTACT)]

    result = resync(records, store, {"a"}, mapping=NO_ALIASES)

    assert [(o.op, o.anchor) for o in result.operations] == [(Op.CREATE, "b")]


def test_the_contacts_of_unchanged_records_hold_the_contact_limit():
    records = [record(**ADA), record("Bob", dn="uid=bob", anchor="b", email="bob@x.io")]
    store = [managed(1, "a", **ADA_CONTACT), contact(2, email="cy@x.io")]

    result = resync(records, store, {"a"}, contact_limit=2)

    (held,) = result.operations
    assert (held.op, held.field, held.anchor) == (Op.ERROR, "contact_limit", "b")


def test_a_read_of_only_unchanged_records_keeps_every_contact_and_is_not_blocked():
    records = [record(**ADA)]
    store = [managed(1, "a", **ADA_CONTACT)]

    result = resync(records, store, {"a"})

    assert result.operations == () and result.blocked is None
    assert result.read == 1 and result.counts["unchanged"] == 1

