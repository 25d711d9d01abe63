"""Properties of planning, checked against a simulated contact store (``builders.apply_plan``).

Records are drawn from small alphabets so that people collide: the same email, identification or
phone on several records and contacts, aliases that are someone else's address, invalid values,
disabled accounts, several locations.
"""

from collections import Counter
from itertools import product

import pytest
from builders import (
    GLOBAL,
    MULTI,
    NO_SAFEGUARDS,
    OTHER_SOURCE,
    SOURCE,
    apply_plan,
    fake_hash,
    policy,
    record,
    run,
)
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from usersync.core import delta
from usersync.core.plan import WRITES, Op
from usersync.core.planning import build_records, plan
from usersync.core.records import ExistingContact, Snapshot, SourceState
from usersync.core.safeguards import Thresholds

FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

#: The values people are made of: few enough that emails, identifications and phones collide
#: between records and contacts; blanks repeated so that a key is often absent.
NAMES = ["Ada", " Bob "]
EMAILS = ["", "ada@x.io", "ADA@x.io ", "bob@x.io", "cy@x.io", "dee@x.io", "fay@x.io"]
PHONES = ["", "", "650 253 0000", "+1 (650) 253-0001"]
IDS = ["", "", "", "E1", "E2", "E3"]
TITLES = ["", "Dev"]
PINS = ["", "1234"]
ALIASES = [(), (), (), ("ada@x.io",), ("bob@x.io",), ("eve@x.io", "ada@x.io")]
#: What the raw values above are stored as.
STORED = {"ADA@x.io ": "ada@x.io", " Bob ": "Bob", "650 253 0000": "+16502530000",
          "+1 (650) 253-0001": "+16502530001", "1234": fake_hash("1234")}
#: One bad value per field, to make a record rejected now and then (None: the record is fine).
BAD = [None] * 25 + [("first_name", ""), ("email", "bad"), ("sms_phone", "12"), ("pin", "12"),
                    ("image_url", "ftp://x")]
ANCHORS = ["a", "b", "c", "d", "e"]
FILE_ANCHORS = ["identification:E1", "email:ada@x.io", "email:bob@x.io",
                "sms_phone:+16502530000"]
LOCATIONS = ["hq", "warehouse"]
SCOPES = [("hq",), ("warehouse",), ("hq", "warehouse"), ("warehouse", "hq"), ()]


def _people():
    people = []
    for name, email, phone, ident, title, pin, aliases in product(
        NAMES, EMAILS, PHONES, IDS, TITLES, PINS, ALIASES
    ):
        people.append(dict(first_name=name, last_name="L", email=email or ("" if phone else
                                                                            "dee@x.io"),
                           sms_phone=phone, identification=ident, title=title, pin=pin,
                           aliases=aliases))
    return people


#: Raw attributes of a person as a source returns them (one draw picks one).
PEOPLE = _people()
#: The same people as a store holds them.
STORED_PEOPLE = [
    {k: STORED.get(v, v) for k, v in p.items()} for p in PEOPLE if "ADA@x.io " != p["email"]
]
#: Who manages a contact: this source (under an anchor), another source, or nobody.
OWNERS = ([(SOURCE, a) for a in ANCHORS + FILE_ANCHORS] + [(OTHER_SOURCE, "a"),
          (OTHER_SOURCE, "email:ada@x.io")] + [(None, None)] * 4)


def pick(values: list):
    """One of ``values`` by index (cheap for long lists; shrinks toward the first)."""
    return st.integers(0, len(values) - 1).map(values.__getitem__)


PERSON, STORED_PERSON, BAD_VALUE = pick(PEOPLE), pick(STORED_PEOPLE), pick(BAD)


@st.composite
def worlds(draw):
    """Where records come from: a directory (anchors, scopes) or a CSV file; one or many sites."""
    return draw(st.sampled_from(["directory", "csv"])), draw(st.sampled_from([GLOBAL, MULTI]))


@st.composite
def snapshots_records(draw, world, valid: bool = False, disabled: bool = True):
    mode, placement = world
    count = draw(st.integers(0, 5))
    anchors = draw(st.permutations(ANCHORS))[:count]  # a directory's anchors are unique
    records = []
    for i in range(count):
        attributes = dict(draw(PERSON))
        bad = None if valid else draw(BAD_VALUE)
        if bad:
            attributes[bad[0]] = bad[1]
        if mode == "directory":
            locations = None
            if placement.multi_location:  # no location: in no mapped scope (rejected)
                locations = draw(st.sampled_from(SCOPES[:-1] if valid else SCOPES))
            records.append(record(anchor=anchors[i], locations=locations,
                                  disabled=disabled and draw(st.booleans()), **attributes))
        else:
            if placement.multi_location:
                attributes["location"] = draw(st.sampled_from(LOCATIONS))
            records.append(record(line=i + 2, **attributes))
    return records


@st.composite
def stores(draw, placement):
    """An organization's contacts: this source's, another source's, and unmanaged ones."""
    contacts = []
    for contact_id in range(1, draw(st.integers(0, 6)) + 1):
        owner, anchor = draw(st.sampled_from(OWNERS))
        fields = dict(draw(STORED_PERSON))
        active, has_message_rules = draw(st.sampled_from(list(product([True, False], repeat=2))))
        contacts.append(ExistingContact(
            id=contact_id, fields={k: v for k, v in fields.items() if k != "aliases"},
            location=draw(st.sampled_from(LOCATIONS)) if placement.multi_location else None,
            active=active, source_id=owner, anchor=anchor, aliases=fields["aliases"],
            has_message_rules=has_message_rules,
        ))
    return contacts


@st.composite
def situations(draw, with_manual: bool = True):
    """A world, a store, a snapshot of it, the source's state and options.

    The store is random contacts, usually after an earlier run of the source over them, so that
    the snapshot meets contacts it is linked to, archived ones, and ones it matched before.
    """
    world = draw(worlds())
    store = draw(stores(world[1]))
    if draw(st.booleans()):
        history = draw(snapshots_records(world), label="earlier snapshot")
        store = apply_plan(run(history, store, placement=world[1], thresholds=NO_SAFEGUARDS),
                           store)
    records = draw(snapshots_records(world))
    kind = draw(st.sampled_from(["full", "full", "full", "incomplete", "delta"]))
    if kind == "delta":
        snapshot = Snapshot.delta(records, removed=draw(st.sets(st.sampled_from(ANCHORS))))
    else:
        snapshot = Snapshot.full(records, complete=kind == "full")
    ids = [c.id for c in store]
    manual = {}
    if with_manual and ids:
        manual = draw(st.dictionaries(st.sampled_from(ANCHORS), st.sampled_from(ids), max_size=2))
    state = SourceState(ignored=frozenset(draw(st.sets(st.sampled_from(ANCHORS), max_size=1))),
                        manual=manual)
    options = dict(placement=world[1], archive_missing=draw(st.sampled_from([True, True, False])),
                   archive_disabled=draw(st.booleans()),
                   contact_limit=draw(st.one_of(st.none(), st.integers(0, 8))))
    return store, snapshot, state, options


def writes(plan_):
    return [o.to_data() for o in plan_.operations if o.op in WRITES]


def active_set(store) -> Counter:
    """Active contacts as a person sees them: anchor, location and every field; ids ignored."""
    return Counter(
        (c.anchor, c.location, tuple(sorted(c.fields.items())), tuple(sorted(c.aliases)))
        for c in store if c.active
    )


@FAST
@given(situations())
def test_idempotent_the_same_snapshot_twice_writes_nothing_the_second_time(situation):
    store, snapshot, state, options = situation
    first = run(snapshot, store, state, **options)
    after = apply_plan(first, store)
    second = run(snapshot, after, state, **options)
    assert writes(second) == [], (writes(first), writes(second))


@FAST
@given(st.data())
def test_convergent_sync_a_then_b_equals_sync_b_from_scratch(data):
    world = data.draw(worlds())
    a = data.draw(snapshots_records(world), label="A")
    b = data.draw(snapshots_records(world, valid=True), label="B")
    archive_disabled = data.draw(st.booleans(), label="archive_disabled")
    options = dict(placement=world[1], thresholds=NO_SAFEGUARDS, archive_disabled=archive_disabled)

    after_a = apply_plan(run(a, [], **options), [])
    then_b = run(b, after_a, **options)
    # Conflicts and rejected records keep contacts as they are on purpose (never a guess, one bad
    # record never archives): convergence is promised for runs without them. Keeping disabled
    # accounts depends on history by design (kept if known, never created if new).
    assume(not then_b.of(Op.CONFLICT, Op.ERROR))
    assume(archive_disabled or not any(r.disabled for r in b))
    scratch = apply_plan(run(b, [], **options), [])
    assert active_set(apply_plan(then_b, after_a)) == active_set(scratch)


@FAST
@given(situations())
def test_an_incomplete_full_snapshot_never_archives(situation):
    store, snapshot, state, options = situation
    incomplete = Snapshot.full(snapshot.records, complete=False)
    result = run(incomplete, store, state, **options)
    assert not result.of(Op.ARCHIVE), [o.to_data() for o in result.of(Op.ARCHIVE)]


def record_keys(records) -> set[tuple[str, str]]:
    """Every (key, stored value) any record could match on, in any location."""
    keys = set()
    for rec in records:
        for name in ("email", "sms_phone", "identification"):
            value = STORED.get(rec.attributes[name][0], rec.attributes[name][0])
            if value:
                keys.add((name, value))
        keys.update(("email", alias) for alias in rec.attributes["aliases"])
    return keys


def contact_keys(contact) -> set[tuple[str, str]]:
    keys = {(name, contact.fields[name]) for name in ("email", "sms_phone", "identification")
            if contact.fields[name]}
    return keys | {("email", alias) for alias in contact.aliases}


@FAST
@given(situations(with_manual=False))
def test_nothing_outside_the_source_is_touched(situation):
    store, snapshot, state, options = situation
    result = run(snapshot, store, state, **options)
    by_id = {c.id: c for c in store}
    keys = record_keys(snapshot.records)
    for operation in result.operations:
        mentioned = {operation.contact_id, *operation.candidates} - {None}
        assert mentioned <= set(by_id), operation  # only contacts it was given
        for contact_id in mentioned:
            contact = by_id[contact_id]
            if contact.source_id != SOURCE:
                # a contact the source does not manage is only ever found through a shared key
                assert contact_keys(contact) & keys, (operation, contact)
        if operation.op in WRITES and operation.contact_id is not None:
            assert by_id[operation.contact_id].source_id in (SOURCE, None), operation
        if operation.op is Op.ARCHIVE:
            contact = by_id[operation.contact_id]
            assert contact.source_id == SOURCE and contact.active, operation


@FAST
@given(situations())
def test_a_rejected_or_conflicting_record_never_archives_its_contact(situation):
    store, snapshot, state, options = situation
    result = run(snapshot, store, state, **options)
    linked = {}
    for c in store:
        if c.source_id == SOURCE:
            linked.setdefault(c.anchor, set()).add(c.id)
    kept = set()
    for operation in result.of(Op.ERROR, Op.CONFLICT):
        if operation.field != "contact_limit":
            kept |= linked.get(operation.anchor, set()) | set(operation.candidates)
    archived = {o.contact_id for o in result.of(Op.ARCHIVE)}
    assert not kept & archived, [o.to_data() for o in result.operations]


def narrow(store, needs) -> list[ExistingContact]:
    """What the store loads for a delta (``app.sync.loading``), written out plainly: this
    source's contacts under a named anchor, manually mapped ones, and any sharing a key value."""
    def wanted(c: ExistingContact) -> bool:
        emails = {c.fields.get("email"), *c.aliases}
        return ((c.source_id == SOURCE and c.anchor in needs.anchors)
                or c.id in needs.contact_ids
                or c.fields.get("identification") in needs.keys["identification"]
                or c.fields.get("sms_phone") in needs.keys["sms_phone"]
                or bool(emails & needs.keys["email"]))
    return [c for c in store if wanted(c)]


@FAST
@given(situations(), st.sets(st.sampled_from(ANCHORS)), st.booleans())
def test_a_delta_plans_the_same_from_the_contacts_it_needs_as_from_all(situation, removed,
                                                                        safeguards):
    """An incremental run loads only what ``delta.needs`` names, plus two counts: its plan must
    be the plan made from every contact of the organization, safeguards and limit included."""
    store, snapshot, state, options = situation
    snapshot = Snapshot.delta(snapshot.records, removed=removed | snapshot.removed)
    if safeguards:
        options = dict(options, thresholds=Thresholds(percent=20.0, minimum=1, maximum=2))
    made = policy(**options)
    needs = delta.needs(snapshot, build_records(snapshot.records, made), state)
    totals = delta.Totals(
        managed_active=sum(1 for c in store if c.active and c.source_id == SOURCE and c.anchor),
        organization_active=sum(1 for c in store if c.active))

    everything = plan(snapshot, store, made, state)
    part = plan(snapshot, narrow(store, needs), made, state, totals)

    assert part.to_data() == everything.to_data()


def test_only_a_delta_is_planned_from_part_of_the_contacts():
    """A full snapshot archives what it does not contain: planned from part of the contacts it
    would archive the rest; ``needs`` asks for everything and ``plan`` refuses totals."""
    full = Snapshot.full([record(anchor="a", email="ada@x.io")])
    assert delta.needs(full, build_records(full.records, policy()), SourceState()) is None
    with pytest.raises(ValueError, match="only a delta"):
        plan(full, [], policy(), SourceState(), delta.Totals(0, 0))
