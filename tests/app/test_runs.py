"""The sync service end to end on a real database: read → plan → apply, blocks and approvals."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import IntegrityError, OperationalError, connection, transaction

from usersync.app.directory.models import (
    Contact,
    DirectoryObject,
    MessageRule,
    Source,
    SourceKind,
    SyncRun,
)
from usersync.app.keys import hash_secret
from usersync.app.sources import create_source
from usersync.app.sync import apply as applying
from usersync.app.sync import bulk, history, readers, runs
from usersync.core.plan import Change, Op, Operation, Plan

from support.jobs import held_by_another_connection
from support.syncing import active, csv_bytes, import_csv, person

pytestmark = pytest.mark.django_db

PEOPLE = [person(n, "headquarters" if n % 2 else "warehouse") for n in range(1, 31)]
NOW = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)


def test_import_creates_contacts_per_location_with_message_rules(acme):
    outcome = import_csv(acme, csv_bytes(*PEOPLE))

    assert outcome.status == "succeeded"
    assert outcome.plan.counts["created"] == 30
    assert active(acme).filter(location__identifier="headquarters").count() == 15
    assert active(acme).filter(location__identifier="warehouse").count() == 15
    assert MessageRule.objects.filter(contact__organization=acme, channel="email").count() == 30
    run = SyncRun.objects.get(pk=outcome.run.pk)
    assert run.status == "succeeded" and run.counts["created"] == 30
    assert history.plan_of(run).to_data() == outcome.plan.to_data()  # kept whole, in order


def test_the_same_file_twice_changes_nothing_the_second_time(acme):
    import_csv(acme, csv_bytes(*PEOPLE))
    before = {c.pk: c.updated_at for c in Contact.objects.all()}

    second = import_csv(acme, csv_bytes(*PEOPLE))

    counts = second.plan.counts
    assert (counts["created"], counts["updated"], counts["archived"], counts["reactivated"]) == (0, 0, 0, 0)
    assert counts["unchanged"] == 30
    assert {c.pk: c.updated_at for c in Contact.objects.all()} == before


def test_a_person_anchored_by_a_dn_longer_than_300_characters_syncs_and_is_recognized(acme):
    """Without an entryUUID, an LDIF entry is anchored by its DN, which a deep tree makes long."""
    tree = ",".join(f"ou=Department number {n} of the company" for n in range(12))
    ldif = (f"dn: cn=Ada Long,{tree},ou=headquarters,dc=acme,dc=example\n"
            "objectClass: inetOrgPerson\n"
            "cn: Ada Long\ngivenName: Ada\nsn: Long\nmail: ada@acme.example\n\n").encode()
    source = readers.import_source(acme, SourceKind.LDIF)

    first = runs.sync(source, readers.file_reader(source, ldif), trigger="upload")
    second = runs.sync(source, readers.file_reader(source, ldif), trigger="upload")

    assert first.status == "succeeded" and first.plan.counts["created"] == 1
    assert second.status == "succeeded" and second.plan.counts["unchanged"] == 1
    contact = Contact.objects.get(organization=acme)
    assert len(contact.anchor) > 300 and contact.anchor.endswith("dc=acme,dc=example")
    assert DirectoryObject.objects.get(source=source).anchor == contact.anchor


def test_an_email_too_long_to_store_is_an_error_of_its_record_only(acme):
    too_long = "a" * 250 + "@acme.example"

    outcome = import_csv(acme, csv_bytes(person(1), person(2, email=too_long), person(3)))

    assert outcome.status == "succeeded" and outcome.plan.counts["created"] == 2
    error, = [op for op in outcome.plan.operations if op.op is Op.ERROR]
    assert "longer than 254 characters" in error.reason
    assert sorted(active(acme).values_list("email", flat=True)) == [
        "person1@acme.example", "person3@acme.example"]


def test_a_nul_character_is_an_error_of_its_record_only(acme):
    """PostgreSQL cannot keep U+0000 in text: the person is not synced, the others are."""
    outcome = import_csv(acme, csv_bytes(person(1), person(2, dept="Sa\x00les"), person(3)))

    assert outcome.status == "succeeded" and outcome.plan.counts["created"] == 2
    error, = [op for op in outcome.plan.operations if op.op is Op.ERROR]
    assert error.reason.startswith("Department contains a NUL character")


def test_preview_writes_nothing(acme):
    outcome = import_csv(acme, csv_bytes(*PEOPLE), preview=True)

    assert outcome.status == "preview" and outcome.run is None
    assert outcome.plan.counts["created"] == 30
    assert Contact.objects.count() == 0 and SyncRun.objects.count() == 0
    assert DirectoryObject.objects.count() == 0


def test_a_change_updates_the_same_contact_field_by_field(acme):
    import_csv(acme, csv_bytes(*PEOPLE))
    original = Contact.objects.get(identification="E0001")
    changed = [person(1, dept="Finance", email="new1@acme.example"), *PEOPLE[1:]]

    outcome = import_csv(acme, csv_bytes(*changed))

    update = outcome.plan.of(runs.Op.UPDATE)[0]
    assert update.contact_id == original.pk
    assert {(c.field, c.before, c.after) for c in update.changes} == {
        ("department", "Sales", "Finance"), ("email", "person1@acme.example", "new1@acme.example")}
    contact = Contact.objects.get(pk=original.pk)
    assert (contact.department, contact.email) == ("Finance", "new1@acme.example")


def test_mass_removal_is_blocked_then_approved_archives_exactly_the_plan(acme):
    import_csv(acme, csv_bytes(*PEOPLE))
    ids = {c.identification: c.pk for c in Contact.objects.all()}

    blocked = import_csv(acme, csv_bytes(*PEOPLE[:12]))

    assert blocked.status == "blocked"
    assert "would archive 18 of 30" in blocked.plan.blocked
    assert active(acme).count() == 30  # nothing archived while blocked

    approved = runs.approve(blocked.run, by="test")

    assert approved.status == "succeeded" and approved.decided_by == "test"
    archived = set(Contact.objects.filter(status="archived").values_list("identification", flat=True))
    assert archived == {f"E{n:04d}" for n in range(13, 31)}

    back = import_csv(acme, csv_bytes(*PEOPLE))

    assert back.plan.counts["reactivated"] == 18
    assert {c.identification: c.pk for c in active(acme)} == ids  # same records, same ids


def test_updates_write_each_contacts_own_changes_and_reactivation_clears_the_archive(acme):
    import_csv(acme, csv_bytes(*PEOPLE))
    import_csv(acme, csv_bytes(*PEOPLE[:29]))  # person 30 leaves: archived
    before = {c.identification: c for c in Contact.objects.filter(organization=acme)}
    assert before["E0030"].status == "archived" and before["E0030"].archived_at is not None

    changed = [person(1, dept="Support"), person(2, location="headquarters"),
               *PEOPLE[2:29], person(30, "warehouse", first="Back")]
    outcome = import_csv(acme, csv_bytes(*changed))

    assert (outcome.plan.counts["updated"], outcome.plan.counts["reactivated"]) == (2, 1)
    after = {c.identification: c for c in Contact.objects.filter(organization=acme)
             .select_related("location")}
    assert (after["E0001"].department, after["E0001"].location.identifier) == (
        "Support", "headquarters")
    assert (after["E0002"].department, after["E0002"].location.identifier) == (
        "Sales", "headquarters")
    back = after["E0030"]
    assert (back.status, back.archived_at, back.archived_reason, back.first_name) == (
        "active", None, "", "Back")
    assert {k for k, c in after.items() if c.updated_at != before[k].updated_at} == {
        "E0001", "E0002", "E0030"}
    assert after["E0003"].updated_at == before["E0003"].updated_at


def test_a_stale_blocked_plan_cannot_be_approved(acme):
    import_csv(acme, csv_bytes(*PEOPLE))
    blocked = import_csv(acme, csv_bytes(*PEOPLE[:5]))
    import_csv(acme, csv_bytes(*PEOPLE, person(99)))  # a newer run applies

    with pytest.raises(runs.RunRefused, match="out of date"):
        runs.approve(blocked.run, by="test")
    assert active(acme).count() == 31


def test_a_new_blocked_run_supersedes_the_older_one(acme):
    import_csv(acme, csv_bytes(*PEOPLE))
    first = import_csv(acme, csv_bytes(*PEOPLE[:5]))
    second = import_csv(acme, csv_bytes(*PEOPLE[:6]))

    assert SyncRun.objects.get(pk=first.run.pk).status == "rejected"
    assert SyncRun.objects.get(pk=second.run.pk).status == "blocked"
    with pytest.raises(runs.RunRefused, match="not blocked"):
        runs.approve(first.run, by="test")


def test_an_approved_plan_skips_the_contacts_deleted_since_and_updates_the_rest(acme):
    """Some of a blocked plan's updates name contacts an admin deleted before the approval: the
    others are written, and only they are announced as updated."""
    import_csv(acme, csv_bytes(*PEOPLE))
    source = Source.objects.get(organization=acme)
    contacts = list(Contact.objects.filter(organization=acme).order_by("pk"))
    plan = Plan(tuple(Operation(Op.UPDATE, contact_id=c.pk, changes=(Change("title", "", "Boss"),))
                      for c in contacts[:4]))
    Contact.objects.filter(pk__in=[contacts[1].pk, contacts[3].pk]).delete()

    with transaction.atomic():
        applied = applying.apply(source, plan, NOW, NOW)

    assert applied.updated == [contacts[0].pk, contacts[2].pk]
    assert dict(Contact.objects.filter(title="Boss").values_list("pk", "updated_at")) == {
        contacts[0].pk: NOW, contacts[2].pk: NOW}


def test_reject_discards_the_plan(acme):
    import_csv(acme, csv_bytes(*PEOPLE))
    blocked = import_csv(acme, csv_bytes(*PEOPLE[:3]))

    runs.reject(blocked.run, by="test")

    assert SyncRun.objects.get(pk=blocked.run.pk).status == "rejected"
    assert active(acme).count() == 30


def test_organizations_never_touch_each_others_contacts(acme, globex):
    import_csv(acme, csv_bytes(*PEOPLE))
    same_people = [person(n, location="") for n in range(1, 31)]
    import_csv(globex, csv_bytes(*same_people))
    acme_ids = set(Contact.objects.filter(organization=acme).values_list("pk", flat=True))

    # globex's people all leave (approved); acme is untouched
    emptied = import_csv(globex, csv_bytes(person(1, location="")))
    runs.approve(emptied.run, by="test")

    assert active(acme).count() == 30
    assert set(active(acme).values_list("pk", flat=True)) == acme_ids
    assert active(globex).count() == 1
    assert all(c.location_id is None for c in Contact.objects.filter(organization=globex))


def test_a_crash_mid_apply_leaves_nothing_half_done(acme, monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(applying, "_message_rules", explode)

    with pytest.raises(RuntimeError):
        import_csv(acme, csv_bytes(*PEOPLE))

    _failed_keeping_nothing()


@pytest.mark.django_db(transaction=True)  # checked when the run's transaction commits
def test_a_write_the_databases_checks_refuse_fails_the_run(acme, monkeypatch):
    """Foreign keys are checked after the apply (on PostgreSQL while the plan is kept, at the
    commit on SQLite): a contact whose location went away meanwhile fails the whole run."""
    create = applying._create

    def location_gone(source, operations, locations, now):
        return create(source, operations, dict.fromkeys(locations, 999999), now)
    monkeypatch.setattr(applying, "_create", location_gone)

    with pytest.raises(IntegrityError):
        import_csv(acme, csv_bytes(*PEOPLE))

    _failed_keeping_nothing()


def _failed_keeping_nothing() -> None:
    """The one run failed, its transaction gone with everything it wrote: no contact, and no
    plan (the run does not show one it never kept)."""
    assert Contact.objects.count() == 0
    run = SyncRun.objects.get()
    assert run.status == "failed" and run.error_code == "internal_error"
    assert run.plan is None and run.counts == {} and not history.operations(run).exists()


def test_one_run_at_a_time_per_source(acme):
    outcome = import_csv(acme, csv_bytes(*PEOPLE))
    SyncRun.objects.filter(pk=outcome.run.pk).update(status="running")

    with pytest.raises(runs.RunRefused, match="already has a run in progress"):
        import_csv(acme, csv_bytes(*PEOPLE))


def test_unmanaged_contacts_are_never_archived(acme):
    manual = Contact.objects.create(organization=acme, first_name="Walk", last_name="In",
                                    email="walkin@acme.example",
                                    location=acme.locations.get(identifier="warehouse"))
    import_csv(acme, csv_bytes(*PEOPLE))
    outcome = import_csv(acme, csv_bytes(*PEOPLE[:27]))

    assert outcome.status == "succeeded" and outcome.plan.counts["archived"] == 3
    assert Contact.objects.get(pk=manual.pk).status == "active"
    assert Contact.objects.get(pk=manual.pk).source is None


def test_an_existing_contact_is_matched_by_email_and_taken_over(acme):
    existing = Contact.objects.create(organization=acme, first_name="Old", last_name="Name",
                                      email="person1@acme.example",
                                      location=acme.locations.get(identifier="headquarters"))
    outcome = import_csv(acme, csv_bytes(person(1)))

    op = outcome.plan.operations[0]
    assert (op.op, op.contact_id, op.matched_by) == ("update", existing.pk, "email")
    contact = Contact.objects.get(pk=existing.pk)
    assert (contact.first_name, contact.source.name, contact.anchor) == ("First1", "csv-import", "identification:E0001")


def test_directory_objects_record_state(acme):
    rows = [person(1), person(2, last=""), person(3)]
    import_csv(acme, csv_bytes(*rows))

    states = dict(DirectoryObject.objects.values_list("anchor", "state"))
    assert states == {"identification:E0001": "mapped", "identification:E0002": "unmapped",
                      "identification:E0003": "mapped"}
    bad = DirectoryObject.objects.get(anchor="identification:E0002")
    assert "Last Name is required" in bad.message


def test_the_pin_is_stored_only_as_a_keyed_hash(acme):
    import_csv(acme, csv_bytes(person(1, pin="4821")))

    keyed = hash_secret("4821")  # its hex digits may hold "4821" by chance: not the PIN
    contact = Contact.objects.get()
    assert contact.pin_hash == keyed and keyed.startswith("hmac-sha256:")
    run = SyncRun.objects.get()
    assert "4821" not in str(history.plan_of(run).to_data()).replace(keyed, "")
    assert "pin" not in DirectoryObject.objects.get().attributes  # the Directory users tab


def test_a_directory_object_keeps_the_mapped_values_as_json_has_them():
    plain = Operation(Op.CREATE, anchor="a", fields={"first_name": "Ada", "email": "a@x.io"})
    listed = Operation(Op.CREATE, anchor="b", fields={"first_name": "Bo", "pin": "hmac-sha256:1",
                                                      "aliases": ("b2@x.io",)})

    assert applying._mapped(plain) is plain.fields  # nothing to change: not copied
    assert applying._mapped(listed) == {"first_name": "Bo", "aliases": ["b2@x.io"]}
    assert listed.fields["pin"] == "hmac-sha256:1"  # the operation itself is left alone


def test_a_run_that_changed_many_contacts_refreshes_the_planners_statistics(
        acme, monkeypatch, django_assert_num_queries):
    analyzed = []
    analyze = bulk.analyze

    def spy(*models):
        analyzed.append(models)
        analyze(*models)
    monkeypatch.setattr(bulk, "analyze", spy)

    import_csv(acme, csv_bytes(*PEOPLE))
    assert analyzed == []  # 30 contacts: not worth it
    many = [person(n, "headquarters" if n % 2 else "warehouse") for n in range(1, 1201)]
    assert import_csv(acme, csv_bytes(*many)).plan.counts["created"] == 1170

    assert analyzed == [(Contact, DirectoryObject, MessageRule)]
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("SELECT DISTINCT tbl FROM sqlite_stat1")
            assert {"directory_contact", "directory_directoryobject"} <= {
                row[0] for row in cursor.fetchall()}
        else:
            cursor.execute("SELECT reltuples FROM pg_class WHERE relname = 'directory_contact'")
            assert cursor.fetchone()[0] >= 1200
    assert import_csv(acme, csv_bytes(*many)).plan.counts["unchanged"] == 1200
    assert len(analyzed) == 1  # nothing changed the second time

    more = [(f"F{n}", "L", f"x{n}@acme.example") for n in range(10_000)]
    bulk.insert(Contact, ["first_name", "last_name", "email"], more, {
        "organization_id": acme.pk, "created_at": NOW, "updated_at": NOW})
    changed = list(Contact.objects.filter(organization=acme).values_list("id", flat=True)[:1100])
    day = applying.Applied(updated=changed)
    applying.refresh_statistics(day, acme.pk, Plan((), managed_active=1200))
    assert len(analyzed) == 1  # 1,100 of 11,200 (counted): a day of changes, not worth a second
    with django_assert_num_queries(0):  # the source alone managed enough to tell
        applying.refresh_statistics(day, acme.pk, Plan((), managed_active=11_001))
    assert len(analyzed) == 1


def test_a_directory_object_whose_state_and_contact_change_is_rewritten_with_them(acme):
    """Its indexed columns are written apart from its other values (``apply._INDEXED``): both
    must follow the record, whether they change or not."""
    first = import_csv(acme, csv_bytes(person(1, email="not an address"), person(2)))
    assert first.plan.counts["errors"] == 1
    broken, fine = DirectoryObject.objects.order_by("anchor")
    assert (broken.state, broken.contact_id) == ("unmapped", None)

    mended = import_csv(acme, csv_bytes(person(1), person(2, dept="Support")))

    assert mended.plan.counts["created"] == mended.plan.counts["updated"] == 1
    contacts = {c.email: c.pk for c in active(acme)}
    now_broken, now_fine = DirectoryObject.objects.order_by("anchor")
    assert (now_broken.state, now_broken.contact_id) == ("mapped", contacts["person1@acme.example"])
    assert (now_fine.state, now_fine.contact_id) == ("mapped", contacts["person2@acme.example"])
    assert now_fine.attributes["department"] == "Support"


def test_a_full_read_notes_once_when_it_saw_everyone_and_what_left_keeps_its_last_sighting(acme):
    first = import_csv(acme, csv_bytes(*PEOPLE))
    second = import_csv(acme, csv_bytes(*PEOPLE[1:]))
    third = import_csv(acme, csv_bytes(*PEOPLE[1:]))
    t1, t2, t3 = (SyncRun.objects.get(pk=o.run.pk).finished_at for o in (first, second, third))

    objects = list(DirectoryObject.objects.select_related("source"))
    gone = [o for o in objects if not o.present]
    assert len(gone) == 1 and gone[0].seen_at == t1  # returned by the first import, not after
    present = [o for o in objects if o.present]
    assert len(present) == len(PEOPLE) - 1
    assert {(o.seen_at, o.last_seen_at) for o in present} == {(t3, t1)}  # no row rewritten


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_applies_of_one_source_take_turns_and_leave_its_row_free_for_edits(acme):
    source = create_source(acme, "hr", "csv", {})
    other = create_source(acme, "payroll", "csv", {})

    with held_by_another_connection(lambda: applying._take_turns(source)):  # an apply
        Source.objects.filter(pk=source.pk).update(name="hr-renamed")  # not held up
        with transaction.atomic():
            connection.cursor().execute("SET LOCAL lock_timeout = '300ms'")
            applying._take_turns(other)  # another source's apply goes ahead
        with pytest.raises(OperationalError, match="lock timeout"), transaction.atomic():
            connection.cursor().execute("SET LOCAL lock_timeout = '300ms'")
            applying._take_turns(source)  # waits for the first to commit
    with transaction.atomic():
        applying._take_turns(source)  # free again
