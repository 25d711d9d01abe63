"""Full reads of the session's real slapd that recognize unchanged entries (issue 6): an entry
whose contact was synced from it and not written since is named, not built (``plan.unchanged``),
and costs no write; anything else is built and planned as before.

Each read here is a full read that may recognize entries: the source's sync state is cleared
first, as if no cookie was saved (``full_read``). ``sync(source, full=True)`` is the full read an
admin asks for, which builds everyone.
"""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from support import directory_data as data
from support import slapd

from usersync.app import sources
from usersync.app.accounts.models import Membership, Role
from usersync.app.directory.models import Contact, DirectoryObject, Source, SyncRun
from usersync.app.orgs.services import create_organization
from usersync.app.sync import readers, runs
from usersync.connectors import ldap_read, openldap

pytestmark = pytest.mark.django_db

IN_SCOPE = [p for location in ("headquarters", "warehouse") for p in data.people_in(location)]
N = len(IN_SCOPE)


@pytest.fixture
def org(db):
    return create_organization("acme", "Acme", ["headquarters", "warehouse"])


@pytest.fixture
def source(org, slapd_server) -> Source:
    values = {"urls": [slapd_server.url_ldap], "bind_dn": slapd_server.reader_dn,
              "scopes": [{"base": slapd.ou_dn(("Headquarters",)), "location": "headquarters"},
                         {"base": slapd.ou_dn(("Warehouse",)), "location": "warehouse"}],
              "ca_pem": slapd_server.ca_pem}
    return sources.create_source(org, "corp-ldap", "ldap", values, slapd_server.reader_password)


def full_read(source: Source) -> runs.Outcome:
    """A full read that recognizes what it can: the saved cookies are forgotten."""
    Source.objects.filter(pk=source.pk).update(sync_state={})
    return sync(source)


def sync(source: Source, full: bool = False) -> runs.Outcome:
    source.refresh_from_db()
    return runs.sync(source, readers.configured_reader(source, full=full))


def counts(outcome: runs.Outcome) -> dict[str, int]:
    """The counts that are not zero of a successful full read."""
    assert outcome.status == "succeeded", (outcome.error, outcome.plan and outcome.plan.blocked)
    assert outcome.plan.kind == "full", outcome.notices
    return {k: v for k, v in outcome.plan.counts.items() if v}


def anchors(source: Source, *people: data.Person) -> set[str]:
    """The anchors of the directory objects of ``people`` (all of the source's if none)."""
    objects = DirectoryObject.objects.filter(source=source)
    if people:
        objects = objects.filter(contact__identification__in=[p.employee_id for p in people])
    return set(objects.values_list("anchor", flat=True))


def contact_of(org, person: data.Person) -> Contact:
    return Contact.objects.get(organization=org, identification=person.employee_id)


def written(org) -> dict[int, object]:
    return dict(Contact.objects.filter(organization=org).values_list("pk", "updated_at"))


def test_an_unchanged_directory_is_read_without_building_or_writing_anyone(org, source):
    assert counts(full_read(source)) == {"created": N}
    assert not DirectoryObject.objects.filter(source=source, digest="").exists()
    before = written(org)
    objects = DirectoryObject.objects.filter(source=source).select_related("source")
    rows_before = set(objects.values_list("pk", "last_seen_at"))

    outcome = full_read(source)

    assert counts(outcome) == {"unchanged": N}
    assert outcome.plan.operations == () and outcome.plan.read == N
    assert set(outcome.plan.unchanged) == anchors(source) and len(anchors(source)) == N
    assert written(org) == before
    assert set(objects.values_list("pk", "last_seen_at")) == rows_before  # no row written
    finished = SyncRun.objects.get(pk=outcome.run.pk).finished_at
    assert {(o.present, o.seen_at) for o in objects} == {(True, finished)}  # seen all the same


def test_the_run_page_counts_the_people_read_unchanged_without_listing_them(org, source):
    full_read(source)
    outcome = full_read(source)
    viewer = get_user_model().objects.create_user("acme-viewer")
    Membership.objects.create(user=viewer, organization=org, role=Role.VIEWER)
    client = Client()
    client.force_login(viewer)

    run_page = f"/orgs/acme/runs/{outcome.run.pk}/"

    page = client.get(f"{run_page}?op=unchanged").content.decode()

    assert f'id="recognized">{N} people were read unchanged' in page
    assert "No operations of this kind." in page
    assert 'id="recognized"' not in client.get(run_page).content.decode()


def test_an_admin_edit_is_built_again_and_reverted(org, source):
    full_read(source)
    person = data.BY_KEY["zmuller"]
    edited = contact_of(org, person)
    edited.title = "Edited by an admin"
    edited.save()

    outcome = full_read(source)

    assert counts(outcome) == {"updated": 1, "unchanged": N - 1}
    (update,) = outcome.plan.operations
    assert update.contact_id == edited.pk
    assert set(outcome.plan.unchanged) == anchors(source) - anchors(source, person)
    assert contact_of(org, person).title == person.title
    assert counts(full_read(source)) == {"unchanged": N}
    assert set(full_read(source).plan.unchanged) == anchors(source)  # settled again


def test_changed_moved_added_and_deleted_entries_are_built_and_the_rest_recognized(
        org, source, slapd_changes):
    leaver = slapd_changes.add_person("leaver", "Lee", "Leaver", employee_id="L0001")
    full_read(source)
    person, mover = data.BY_KEY["zmuller"], data.BY_KEY["lrossi"]
    before = written(org)
    kept = anchors(source) - anchors(source, person, mover) - {
        DirectoryObject.objects.get(source=source, contact__identification="L0001").anchor}

    slapd_changes.modify(slapd.person_dn(person), title="Group CFO")
    slapd_changes.delete(leaver)
    slapd_changes.add_person("newhire", "Nina", "Newhire", employee_id="N0001")
    slapd_changes.move(slapd.person_dn(mover), slapd.ou_dn(("Headquarters",)))
    outcome = full_read(source)

    assert counts(outcome) == {"updated": 2, "archived": 1, "created": 1, "unchanged": N - 2}
    assert set(outcome.plan.unchanged) == kept
    assert contact_of(org, person).title == "Group CFO"
    assert contact_of(org, mover).location.identifier == "headquarters"
    gone = Contact.objects.get(organization=org, identification="L0001")
    assert (gone.status, gone.archived_reason) == ("archived", "no longer in the directory scope")
    assert Contact.objects.get(organization=org, identification="N0001").status == "active"
    after = written(org)
    assert {pk for pk in before if after[pk] != before[pk]} == {
        contact_of(org, person).pk, contact_of(org, mover).pk, gone.pk}


def test_a_changed_entry_taking_an_unchanged_persons_email_is_a_duplicate(
        org, source, slapd_changes):
    full_read(source)
    taker, owner = data.BY_KEY["cdubois"], data.BY_KEY["dkim"]  # both at Headquarters
    (taker_anchor,), before = anchors(source, taker), written(org)

    slapd_changes.modify(slapd.person_dn(taker), mail=owner.primary_email)
    outcome = full_read(source)

    assert counts(outcome) == {"errors": 1, "unchanged": N - 1}
    assert anchors(source, owner) <= set(outcome.plan.unchanged)
    (error,) = outcome.plan.operations
    owner_dn = DirectoryObject.objects.get(source=source, contact=contact_of(org, owner)).dn
    assert (error.op, error.anchor) == ("error", taker_anchor)
    assert error.reason == f"duplicate Email: {owner.primary_email} is also on {owner_dn}"
    assert written(org) == before  # neither contact was touched
    assert contact_of(org, taker).email == taker.primary_email


def test_an_alias_an_admin_gave_a_contact_does_not_make_a_new_entry_a_duplicate(
        org, source, slapd_changes):
    """The OpenLDAP mapping has no aliases: the contact's own alias is no key of its entry."""
    full_read(source)
    person = data.BY_KEY["dkim"]
    contact = contact_of(org, person)
    contact.aliases = ["sales.kim@usersync.test"]
    contact.save()
    full_read(source)  # written since its last sync: built once more, then settled
    assert anchors(source, person) <= set(full_read(source).plan.unchanged)

    slapd_changes.add_person("newhire", "Nina", "Newhire", employee_id="N0001",
                             email="sales.kim@usersync.test")
    outcome = full_read(source)

    assert counts(outcome) == {"created": 1, "unchanged": N}


def test_a_full_read_asked_for_builds_everyone(source):
    full_read(source)

    outcome = sync(source, full=True)

    assert counts(outcome) == {"unchanged": N}
    assert outcome.plan.unchanged == () and len(outcome.plan.operations) == N
    assert any("asked for" in n for n in outcome.notices)


def _new_mapping(source: Source) -> None:
    lines = [line for line in openldap.DEFAULT_MAPPING.to_data() if not line.startswith("dep")]
    sources.edit_source(source, settings={"mapping": lines})


def _new_region(source: Source) -> None:
    source.organization.default_region = "DE"
    source.organization.save()


@pytest.mark.parametrize("change", [_new_mapping, _new_region], ids=["mapping", "region"])
def test_a_new_mapping_or_organization_setting_recognizes_nobody(org, source, change):
    full_read(source)
    assert len(full_read(source).plan.unchanged) == N

    change(source)
    outcome = full_read(source)

    assert outcome.plan.unchanged == ()
    assert counts(outcome) == {"unchanged": N}


def test_an_approved_blocked_read_keeps_its_unchanged_entries(org, source, slapd_changes):
    sources.edit_source(source, safeguard_percent=5.0, safeguard_minimum=1)
    full_read(source)
    movers = [data.BY_KEY[key] for key in ("mgarcia", "ipetrov", "oadeyemi")]
    for person in movers:
        slapd_changes.move(slapd.person_dn(person), slapd.ou_dn(("Elsewhere",)))

    blocked = full_read(source)
    assert blocked.status == "blocked" and len(blocked.plan.unchanged) == N - 3
    runs.approve(blocked.run, by="admin")

    assert {contact_of(org, p).status for p in movers} == {"archived"}
    present = DirectoryObject.objects.filter(source=source, present=True)
    assert set(present.values_list("anchor", flat=True)) == anchors(source) - anchors(
        source, *movers) == set(blocked.plan.unchanged)
    assert set(full_read(source).plan.unchanged) == set(blocked.plan.unchanged)



def test_entries_read_by_their_parents_search_or_each_bases_are_recognized_alike(
        db, slapd_server, monkeypatch):
    org = create_organization("acme", "Acme", ["headquarters", "warehouse", "bulk"])
    values = {"urls": [slapd_server.url_ldap], "bind_dn": slapd_server.reader_dn,
              "scopes": [{"base": slapd.ou_dn(ou), "location": ou.lower()}
                         for ou in ("Headquarters", "Warehouse", "Bulk")],
              "ca_pem": slapd_server.ca_pem}
    source = sources.create_source(org, "corp-ldap", "ldap", values,
                                   slapd_server.reader_password)
    everyone = N + data.BULK_COUNT
    assert counts(full_read(source)) == {"created": everyone}  # by one search of ou=People
    assert counts(full_read(source)) == {"unchanged": everyone}

    given_up = []

    def too_wide(*args, **kwargs):
        given_up.append(True)
        raise ldap_read.WideRoot("as if ou=People held many others")
    monkeypatch.setattr(ldap_read, "read_roots", too_wide)
    outcome = full_read(source)  # by one search of each base

    assert given_up and counts(outcome) == {"unchanged": everyone}


def test_a_full_read_finds_who_left_among_unchanged_entries_and_only_them(org, source,
                                                                          slapd_changes):
    """Nobody gone: the count of present objects says so (``apply._not_read``); one left, one
    read again after it had left: exactly the one who left is no longer present."""
    sources.edit_source(source, safeguard_percent=100.0, safeguard_minimum=100)
    full_read(source)
    assert counts(full_read(source)) == {"unchanged": N}
    assert anchors(source) == set(DirectoryObject.objects.filter(
        source=source, present=True).values_list("anchor", flat=True))

    leaver, returner = data.BY_KEY["mgarcia"], data.BY_KEY["ipetrov"]
    returner_dn = slapd.person_dn(returner)
    away = slapd_changes.move(returner_dn, slapd.ou_dn(("Elsewhere",)))  # out of scope
    assert counts(full_read(source)) == {"unchanged": N - 1, "archived": 1}
    slapd_changes.move(away, returner_dn.split(",", 1)[1])
    slapd_changes.move(slapd.person_dn(leaver), slapd.ou_dn(("Elsewhere",)))

    outcome = full_read(source)

    assert counts(outcome) == {"unchanged": N - 2, "reactivated": 1, "archived": 1}
    present = DirectoryObject.objects.filter(source=source, present=True)
    assert set(present.values_list("anchor", flat=True)) == anchors(source) - anchors(
        source, leaver)
