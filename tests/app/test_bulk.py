"""Bulk writes (``bulk.insert``): the rows as given, their ids in order, Django's errors."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from django.db import IntegrityError, connection, transaction

from usersync.app.directory.models import Contact, DirectoryObject, SourceKind
from usersync.app.orgs.services import create_organization
from usersync.app.sources import create_source
from usersync.app.sync import bulk

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)
EARLIER = datetime(2026, 11, 21, 23, 5, 7, 123456, tzinfo=UTC)


@pytest.fixture
def source(db):
    org = create_organization("acme", "Acme")
    return create_source(org, "hr", SourceKind.CSV, {})


def test_rows_are_inserted_as_given_with_their_ids_in_order(source):
    rows = [(f"First{n}", "Last", f"p{n}@acme.example", ["a@x.example"] if n % 2 else [])
            for n in range(2500)]
    assert len(rows) > bulk.SQLITE_ROWS  # several statements on SQLite
    ids = bulk.insert(Contact, ["first_name", "last_name", "email", "aliases"], rows,
                      {"organization_id": source.organization_id, "created_at": NOW,
                       "updated_at": NOW}, returning_ids=True)

    stored = {c.pk: c for c in Contact.objects.all()}
    assert len(ids) == len(rows) == len(stored)
    for contact_id, (first, last, email, aliases) in zip(ids, rows):
        contact = stored[contact_id]
        assert (contact.first_name, contact.last_name, contact.email, contact.aliases) == (
            first, last, email, aliases)
        assert contact.created_at == NOW and contact.status == "active"  # constant, default


def test_datetimes_of_each_row_are_written_exactly(source):
    rows = [(f"a{n}", [EARLIER, NOW, None][n % 3]) for n in range(9)]
    bulk.insert(DirectoryObject, ["anchor", "synced_at"], rows,
                {"source_id": source.pk, "first_seen_at": NOW})

    assert dict(DirectoryObject.objects.values_list("anchor", "synced_at")) == dict(rows)


def test_a_conflicting_row_is_djangos_integrity_error_and_writes_nothing(source):
    with pytest.raises(IntegrityError), transaction.atomic():
        bulk.insert(DirectoryObject, ["anchor"], [("same",), ("other",), ("same",)],
                    {"source_id": source.pk, "first_seen_at": NOW})

    assert not DirectoryObject.objects.exists()


def test_an_upsert_unless_same_leaves_rows_that_hold_its_values_alone(source):
    stored = [("same", {"title": "CEO"}, None), ("moved", {"title": "CTO"}, EARLIER),
              ("unsynced", {}, EARLIER), ("synced", {}, None)]
    columns = ["anchor", "attributes", "synced_at"]
    constants = {"source_id": source.pk, "first_seen_at": EARLIER, "last_seen_at": EARLIER}
    bulk.insert(DirectoryObject, columns, stored, constants)

    read = [("same", {"title": "CEO"}, None), ("moved", {"title": "CFO"}, EARLIER),
            ("unsynced", {}, None), ("synced", {}, EARLIER), ("new", {}, None)]
    bulk.insert(DirectoryObject, columns, read, {**constants, "last_seen_at": NOW},
                on_conflict=bulk.upsert_clause(["source_id", "anchor"],
                                               ["attributes", "synced_at", "last_seen_at"],
                                               DirectoryObject,
                                               unless_same=["attributes", "synced_at"]))

    written = {o.anchor: (o.attributes, o.synced_at, o.last_seen_at)
               for o in DirectoryObject.objects.all()}
    assert written == {"same": ({"title": "CEO"}, None, EARLIER),  # left alone
                       "moved": ({"title": "CFO"}, EARLIER, NOW),
                       "unsynced": ({}, None, NOW), "synced": ({}, EARLIER, NOW),  # NULLs
                       "new": ({}, None, NOW)}


def _ahead_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == bulk.AHEAD_THREAD]


def test_rows_made_as_they_are_inserted_are_inserted_in_order_with_their_ids(source):
    """An iterator's rows, several statements of them on SQLite (made ahead on a thread), with
    a JSON value and a time made per row."""
    made = ((f"a{n}", {"n": n}, [EARLIER, NOW][n % 2]) for n in range(1200))
    ids = bulk.insert(DirectoryObject, ["anchor", "attributes", "synced_at"], made,
                      {"source_id": source.pk, "first_seen_at": NOW}, returning_ids=True)

    stored = {o.pk: o for o in DirectoryObject.objects.all()}
    assert len(ids) == len(stored) == 1200
    for n, object_id in enumerate(ids):
        assert (stored[object_id].anchor, stored[object_id].attributes,
                stored[object_id].synced_at) == (f"a{n}", {"n": n}, [EARLIER, NOW][n % 2])
    assert _ahead_threads() == []
    assert bulk.insert(DirectoryObject, ["anchor"], iter([]), {"source_id": source.pk}) == []


def test_an_error_making_the_rows_is_raised_and_nothing_is_written(source):
    def made():
        for n in range(1200):
            if n == 1100:  # in the third statement on SQLite, made on the thread
                raise ValueError("no value for row 1100")
            yield (f"a{n}",)

    with pytest.raises(ValueError, match="row 1100"), transaction.atomic():
        bulk.insert(DirectoryObject, ["anchor"], made(), {"source_id": source.pk,
                                                          "first_seen_at": NOW})

    assert not DirectoryObject.objects.exists() and _ahead_threads() == []


def test_a_failed_statement_stops_the_rows_made_ahead(source):
    """The second statement conflicts: the rows after it are not made any more."""
    asked = []

    def made():
        for n in range(5000):
            asked.append(n)
            yield ("same" if n in (0, 700) else f"a{n}",)

    with pytest.raises(IntegrityError), transaction.atomic():
        bulk.insert(DirectoryObject, ["anchor"], made(), {"source_id": source.pk,
                                                          "first_seen_at": NOW})

    assert _ahead_threads() == [] and not DirectoryObject.objects.exists()
    if connection.vendor == "sqlite":  # 500 rows a statement: the two written, two made
        assert len(asked) <= 5 * bulk.SQLITE_ROWS  # ahead and one waiting for room, no more


@pytest.mark.skipif("connection.vendor != 'sqlite'")
def test_after_analyze_sqlite_finds_an_organizations_contacts_by_id_not_by_a_scan(source):
    """The statistics count every row: sampled, the index that starts with the organization
    looked selective, and a look-up of 1,000 ids scanned all of the organization's contacts."""
    rows = [(f"First{n}", "Last", f"p{n}@acme.example") for n in range(20_000)]
    ids = bulk.insert(Contact, ["first_name", "last_name", "email"], rows, {
        "organization_id": source.organization_id, "created_at": NOW, "updated_at": NOW},
        returning_ids=True)
    bulk.analyze(Contact)

    found = Contact.objects.filter(organization_id=source.organization_id, id__in=ids[::20])
    sql, params = found.values_list("id").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
        plan = " ".join(row[-1] for row in cursor.fetchall())
    assert "PRIMARY KEY" in plan, plan
    assert found.count() == 1000


def test_rows_are_updated_with_their_values_of_every_kind_and_nothing_else(source):
    ids = bulk.insert(Contact, ["first_name", "last_name", "email"],
                      [(f"First{n}", "Last", f"p{n}@acme.example") for n in range(3)],
                      {"organization_id": source.organization_id, "created_at": NOW,
                       "updated_at": NOW}, returning_ids=True)

    written = bulk.update(Contact, ["title", "aliases", "archived_at", "source_id"], [
        (ids[0], "Chief", ["a@acme.example", "b@acme.example"], EARLIER, source.pk),
        (ids[1], "", [], None, None),
        (max(ids) + 1, "Nobody", ["n@acme.example"], NOW, None),  # gone: nothing to update
    ], {"updated_at": EARLIER, "department": "Sales"})  # the same for every row

    assert written == 2

    stored = {c.pk: c for c in Contact.objects.all()}
    assert len(stored) == 3
    first, second, third = (stored[i] for i in ids)
    assert (first.title, first.aliases, first.archived_at, first.source_id) == (
        "Chief", ["a@acme.example", "b@acme.example"], EARLIER, source.pk)
    assert (second.title, second.aliases, second.archived_at, second.source_id) == (
        "", [], None, None)
    assert [(c.updated_at, c.department) for c in (first, second)] == [(EARLIER, "Sales")] * 2
    assert (third.title, third.email, third.updated_at, third.department) == (
        "", "p2@acme.example", NOW, "")


#: Quotes, backslashes, braces, commas, a "NULL", nothing, letters of several scripts.
TEXTS = ['say "hi"', "back\\slash\\", "{a,b}", "a, b", "NULL", "", "Zoë 東京", "it's", '\\"',
         "  spaced  ", "tab\tand\nnew line"]


def test_text_of_every_kind_is_updated_as_it_is(source):
    """Text of every kind, and none (PostgreSQL gets the values of a column as one array
    literal)."""
    texts = TEXTS
    ids = bulk.insert(Contact, ["first_name", "last_name"], [("A", str(n)) for n in texts],
                      {"organization_id": source.organization_id, "created_at": NOW,
                       "updated_at": NOW}, returning_ids=True)

    bulk.update(Contact, ["title", "anchor"],
                [(i, text, None if n % 2 else text) for n, (i, text) in enumerate(zip(ids, texts))])

    stored = dict(Contact.objects.values_list("id", "title"))
    assert [stored[i] for i in ids] == texts
    anchors = dict(Contact.objects.values_list("id", "anchor"))
    assert [anchors[i] for i in ids] == [None if n % 2 else t for n, t in enumerate(texts)]


def test_json_values_with_text_of_every_kind_are_written_as_they_are(source):
    """JSON columns get their values' text (``json_text``): in a ``COPY`` or an ``INSERT``,
    and in an update's array."""
    ids = bulk.insert(Contact, ["first_name", "last_name", "aliases"],
                      [("A", str(n), [text]) for n, text in enumerate(TEXTS)],
                      {"organization_id": source.organization_id, "created_at": NOW,
                       "updated_at": NOW}, returning_ids=True)
    bulk.insert(DirectoryObject, ["anchor", "attributes"],
                [(str(n), {"title": text, "aliases": [text, "x"], "none": None})
                 for n, text in enumerate(TEXTS)], {"source_id": source.pk, "first_seen_at": NOW})

    aliases = dict(Contact.objects.values_list("id", "aliases"))
    assert [aliases[i] for i in ids] == [[text] for text in TEXTS]
    attributes = dict(DirectoryObject.objects.values_list("anchor", "attributes"))
    assert [attributes[str(n)] for n in range(len(TEXTS))] == [
        {"title": text, "aliases": [text, "x"], "none": None} for text in TEXTS]

    bulk.update(Contact, ["aliases"], [(i, [text, text]) for i, text in zip(ids, reversed(TEXTS))])

    aliases = dict(Contact.objects.values_list("id", "aliases"))
    assert [aliases[i] for i in ids] == [[text, text] for text in reversed(TEXTS)]


def test_a_json_value_the_same_for_every_row_is_written_as_it_is(source):
    """A JSON constant, inserted (through a temporary table on PostgreSQL when the insert has
    an ``on_conflict``) and updated."""
    upsert = bulk.upsert_clause(["source_id", "anchor"], ["attributes"], DirectoryObject)
    for on_conflict in ("", upsert):
        bulk.insert(DirectoryObject, ["anchor"], [("a",), ("b",)],
                    {"source_id": source.pk, "first_seen_at": NOW, "attributes": {"t": TEXTS}},
                    on_conflict=on_conflict)
    ids = bulk.insert(Contact, ["first_name", "last_name"], [("A", "L"), ("B", "L")],
                      {"organization_id": source.organization_id, "created_at": NOW,
                       "updated_at": NOW}, returning_ids=True)
    bulk.update(Contact, ["first_name"], [(ids[0], "C")], {"aliases": TEXTS})

    assert list(DirectoryObject.objects.values_list("attributes", flat=True)) == [{"t": TEXTS}] * 2
    assert dict(Contact.objects.values_list("id", "aliases")) == {ids[0]: TEXTS, ids[1]: []}


def test_an_update_writes_only_the_rows_in_its_scope(source, globex):
    ours, theirs = (bulk.insert(Contact, ["first_name", "last_name"], [("A", "L")],
                                {"organization_id": org, "created_at": NOW, "updated_at": NOW},
                                returning_ids=True)[0]
                    for org in (source.organization_id, globex.pk))

    written = bulk.update(Contact, ["title"], [(ours, "Chief"), (theirs, "Chief")],
                          scope={"organization_id": source.organization_id})

    assert written == 1
    assert dict(Contact.objects.values_list("id", "title")) == {ours: "Chief", theirs: ""}


def test_rows_can_be_updated_with_constants_alone(source):
    ids = bulk.insert(Contact, ["first_name", "last_name"], [("A", "L"), ("B", "M")],
                      {"organization_id": source.organization_id, "created_at": NOW,
                       "updated_at": NOW}, returning_ids=True)

    bulk.update(Contact, [], [(ids[0],)], {"updated_at": EARLIER})

    assert dict(Contact.objects.values_list("id", "updated_at")) == {ids[0]: EARLIER,
                                                                     ids[1]: NOW}
