"""An incremental run loads only the contacts its delta names (``loading.contacts_to_plan``):
planned from them, a delta gives the plan it gets from every contact of the organization."""

from __future__ import annotations

import random

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from usersync.app.directory.models import Contact, ContactStatus, MessageRule, Source, SourceKind
from usersync.app.sync import loading, readers
from usersync.core.mapping import AttributeMapping
from usersync.core.planning import build_records, plan
from usersync.core.records import CONTACT_FIELDS, Snapshot, SourceRecord, SourceState

pytestmark = pytest.mark.django_db

MAPPING = AttributeMapping.from_data(
    [f"{name}={name}" for name in CONTACT_FIELDS if name != "pin"] + ["aliases=aliases|all"])
LOCATIONS = ["headquarters", "warehouse"]
#: Small pools, so that keys collide between records and contacts of every kind.
EMAILS = [f"p{n}@acme.example" for n in range(40)]
PHONES = [f"+1650253{n:04d}" for n in range(25)]
IDENTS = [f"E{n}" for n in range(30)]


def _contacts(rng: random.Random, org, source, other, locations) -> None:
    """This source's contacts (under anchors a0…), another source's, unmanaged ones."""
    contacts = []
    for n in range(160):
        owner = rng.choice([source, source, other, None])
        contacts.append(Contact(
            organization=org, location_id=locations[rng.choice(LOCATIONS)],
            source=owner, anchor=f"a{rng.randrange(60)}" if owner else None,
            first_name=f"F{n}", last_name="L", email=rng.choice(EMAILS + [""] * 20),
            sms_phone=rng.choice(PHONES + [""] * 20), identification=rng.choice(IDENTS + [""] * 40),
            aliases=rng.sample(EMAILS, rng.choice([0, 0, 1, 2])),
            status=rng.choice([ContactStatus.ACTIVE] * 3 + [ContactStatus.ARCHIVED])))
    Contact.objects.bulk_create(contacts)
    ids = list(Contact.objects.filter(organization=org).values_list("id", flat=True))
    MessageRule.objects.bulk_create(MessageRule(contact_id=i, channel="email")
                                    for i in rng.sample(ids, 50))


def _delta(rng: random.Random) -> Snapshot:
    records = []
    for anchor in rng.sample([f"a{n}" for n in range(80)], 20):
        attributes = {"first_name": (f"R{anchor}",), "last_name": ("L",),
                      "email": (rng.choice(EMAILS + ["", "bad address"]),),
                      "sms_phone": (rng.choice(PHONES + ["", ""]),),
                      "identification": (rng.choice(IDENTS + [""] * 10),),
                      "aliases": tuple(rng.sample(EMAILS, rng.choice([0, 1])))}
        records.append(SourceRecord(attributes, anchor=anchor, dn=f"uid={anchor}",
                                    locations=tuple(rng.sample(LOCATIONS, rng.choice([1, 2]))),
                                    disabled=rng.random() < 0.1))
    return Snapshot.delta(records, removed={f"a{n}" for n in rng.sample(range(80), 8)})


def _totals(source):
    """The organization's totals, as a delta's run asks for them."""
    with loading.asked_aside(source, Snapshot.delta([], removed=set())) as asking:
        return asking().totals


@pytest.mark.parametrize("ahead", [False, True], ids=["in line", "anchors asked aside"])
@pytest.mark.parametrize("seed", range(6))
def test_a_delta_plans_the_same_from_what_it_names_as_from_every_contact(acme, seed, ahead):
    rng = random.Random(seed)
    source = readers.import_source(acme, SourceKind.CSV)
    other = Source.objects.create(organization=acme, name="other", kind=SourceKind.CSV)
    locations = dict(acme.locations.values_list("identifier", "id"))
    _contacts(rng, acme, source, other, locations)
    source.organization.contact_limit = rng.choice([None, 100, 130])
    source.safeguard_percent, source.safeguard_minimum, source.safeguard_maximum = 20.0, 2, 5
    policy = loading.policy(source, MAPPING)
    some = list(Contact.objects.filter(organization=acme).values_list("id", flat=True)[:3])
    state = SourceState(ignored=frozenset({"a1"}), manual={"a2": some[0], "a70": some[1]})
    snapshot = _delta(rng)

    with loading.asked_aside(source, snapshot) as asking:
        asked = asking()
    existing = loading.contacts_to_plan(source, snapshot, build_records(snapshot.records, policy),
                                        state, asked if ahead else None)
    totals = asked.totals
    everything = loading.existing_contacts(acme.pk)

    assert len(existing) < len(everything)  # the lever: not everyone
    assert (plan(snapshot, existing, policy, state, totals).to_data()
            == plan(snapshot, everything, policy, state).to_data())


def test_the_narrow_load_finds_contacts_by_each_key_and_alias(acme):
    """One unmanaged contact per way of being found; the others stay unloaded."""
    source = readers.import_source(acme, SourceKind.CSV)
    by = {key: Contact.objects.create(organization=acme, first_name=key, last_name="L", **values)
          for key, values in {
              "email": {"email": "ada@acme.example"},
              "alias": {"email": "x@acme.example", "aliases": ["old@acme.example", "ada2@acme.example"]},
              "sms_phone": {"sms_phone": "+16502530000"},
              "identification": {"identification": "E7"},
              "anchor": {"source": source, "anchor": "gone"},
              "manual": {"email": "m@acme.example"},
              "unrelated": {"email": "bob@acme.example", "aliases": ["bob2@acme.example"]},
          }.items()}
    records = [SourceRecord({"first_name": ("Ada",), "last_name": ("L",), "email": (email,),
                             "sms_phone": (phone,), "identification": (ident,)},
                            anchor=anchor, locations=("headquarters",))
               for anchor, email, phone, ident in [("n1", "ada@acme.example", "", ""),
                                                   ("n2", "ada2@acme.example", "", ""),
                                                   ("n3", "", "650 253 0000", ""),
                                                   ("n4", "z@acme.example", "", "E7")]]
    snapshot = Snapshot.delta(records, removed={"gone"})
    policy = loading.policy(source, MAPPING)

    state = SourceState(manual={"n4": by["manual"].pk})

    built = build_records(snapshot.records, policy)
    with loading.asked_aside(source, snapshot) as asking:
        asked = asking()
    existing = loading.contacts_to_plan(source, snapshot, built, state)
    with CaptureQueriesContext(connection) as made:
        with_asked = loading.contacts_to_plan(source, snapshot, built, state, asked)

    loaded = {c.id for c in existing}
    assert loaded == {c.pk for key, c in by.items() if key != "unrelated"}
    assert with_asked == existing
    assert asked.anchors == {"n1", "n2", "n3", "n4", "gone"}
    assert asked.found == {by["anchor"].pk}
    assert not [q for q in made if "anchor" in q["sql"].split("WHERE")[-1]]  # not asked again
    assert asked.totals.organization_active == 7 and asked.totals.managed_active == 1


def test_the_narrow_load_never_finds_another_organizations_contacts(acme, globex):
    """Every look-up is scoped: keys, aliases and anchors shared with another organization's
    contacts, and a manual mapping to one of them, load none of them."""
    source = readers.import_source(acme, SourceKind.CSV)
    theirs = readers.import_source(globex, SourceKind.CSV)
    elsewhere = [
        Contact.objects.create(organization=globex, first_name="G", last_name="L", **values)
        for values in ({"email": "ada@acme.example", "aliases": ["ada2@acme.example"]},
                       {"sms_phone": "+16502530000", "identification": "E7"},
                       {"source": theirs, "anchor": "n1", "email": "g@globex.example"})]
    records = [SourceRecord({"first_name": ("Ada",), "last_name": ("L",),
                             "email": ("ada@acme.example",), "sms_phone": ("650 253 0000",),
                             "identification": ("E7",)}, anchor="n1",
                            locations=("headquarters",)),
               SourceRecord({"first_name": ("Bo",), "last_name": ("L",),
                             "email": ("ada2@acme.example",)}, anchor="n2",
                            locations=("headquarters",))]
    snapshot = Snapshot.delta(records, removed=set())
    policy = loading.policy(source, MAPPING)
    state = SourceState(manual={"n2": elsewhere[0].pk})

    existing = loading.contacts_to_plan(source, snapshot,
                                        build_records(snapshot.records, policy), state)

    assert existing == [] and _totals(source).organization_active == 0


def test_a_full_snapshot_still_loads_every_contact(acme):
    source = readers.import_source(acme, SourceKind.CSV)
    Contact.objects.create(organization=acme, first_name="A", last_name="L", email="a@acme.example")
    snapshot = Snapshot.full([])

    policy = loading.policy(source, MAPPING)
    built = build_records(snapshot.records, policy)
    existing = loading.contacts_to_plan(source, snapshot, built, SourceState())

    assert len(existing) == 1
