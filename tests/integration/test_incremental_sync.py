"""Incremental sync against the session's real Samba AD DC and slapd (issue 6).

Each test configures a source as every surface does, runs it the way a scheduled or manual run
does (``readers.configured_reader``: the run decides full or incremental by itself), changes the
directory through ``samba_changes`` / ``slapd_changes`` (undone after the test), and checks that
the next run read only what changed: its plan is a delta whose counts name exactly those changes,
and nothing else was touched. Full reads come back when they must: another domain controller, a
changed scope, the periodic full reconcile (a clock moved forward), a server that lost its session
log; a failed delta read archives nothing and moves no watermark. OpenLDAP reads a day's changes
with one sync search from the bases' common parent (one per naming context; per base when the
account may not search the parent), and people who moved between, into or out of the bases end up
with the contacts of where they are now.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import ldap
import ldap.modlist
import pytest
from support import directory_data as data
from support import samba, slapd
from support.slapd import Slapd

from usersync.app import sources
from usersync.app.directory.models import Contact, Source, SyncRun
from usersync.app.orgs.services import create_organization
from usersync.app.sync import readers, runs
from usersync.connectors import ldap_changes
from usersync.connectors.ldap import LdapConnector
from usersync.connectors.ldap_content_sync import SYNC_REQUEST
from usersync.connectors.scope import normalize_dn

pytestmark = pytest.mark.django_db

HQ, WAREHOUSE, ELSEWHERE = (samba.ou_dn((ou,)) for ou in ("Headquarters", "Warehouse",
                                                           "Elsewhere"))
IN_SCOPE = [p for location in ("headquarters", "warehouse") for p in data.people_in(location)]
AD_ACTIVE = [p for p in IN_SCOPE if p.active]


@pytest.fixture
def org(db):
    return create_organization("acme", "Acme", ["headquarters", "warehouse"])


def ad_source(org, dc, *, admin: bool = False, **settings) -> Source:
    """Headquarters and Warehouse of the Samba domain, bound as the read-only account (or as the
    domain's Administrator, who may list deleted objects)."""
    values = {"urls": [dc.ldaps_url], "bind_dn": dc.admin_upn if admin else dc.reader_upn,
              "scopes": [{"base": HQ, "location": "headquarters"},
                         {"base": WAREHOUSE, "location": "warehouse"}],
              "ca_pem": dc.ca_pem, **settings}
    return sources.create_source(org, "corp-ad", "active_directory", values,
                                 dc.admin_password if admin else dc.reader_password)


def ldap_source(org, server, **settings) -> Source:
    values = {"urls": [server.url_ldap], "bind_dn": server.reader_dn,
              "scopes": [{"base": slapd.ou_dn(("Headquarters",)), "location": "headquarters"},
                         {"base": slapd.ou_dn(("Warehouse",)), "location": "warehouse"}],
              "ca_pem": server.ca_pem, **settings}
    return sources.create_source(org, "corp-ldap", "ldap", values, server.reader_password)


def sync(source: Source, read=None, full: bool = False) -> runs.Outcome:
    source.refresh_from_db()
    return runs.sync(source, read or readers.configured_reader(source, full=full))


def at(source: Source, moment: datetime):
    """The source's reader with the connector's clock at ``moment``."""
    def read():
        connector = LdapConnector(sources.ldap_settings(source), now=lambda: moment)
        return connector.read(incremental=readers.incremental(source))
    return read


def succeeded(outcome: runs.Outcome, kind: str) -> dict:
    """The counts that are not zero of a successful run whose read was ``kind``."""
    assert outcome.status == "succeeded", (outcome.error, outcome.plan and outcome.plan.blocked)
    assert outcome.plan.kind == kind, outcome.notices
    run = SyncRun.objects.get(pk=outcome.run.pk)
    assert run.plan["kind"] == kind  # the run's record says which kind of read it was
    said = "incremental read" if kind == "delta" else "full read"
    assert any(n.startswith(said) for n in run.notices), run.notices
    return {k: v for k, v in outcome.plan.counts.items() if v}


def notice(outcome: runs.Outcome, start: str) -> str:
    return next(n for n in outcome.notices if n.startswith(start))


def contact_of(org, person: data.Person) -> Contact:
    return Contact.objects.get(organization=org, identification=person.employee_id)


def statuses(org) -> dict[str, str]:
    return dict(Contact.objects.filter(organization=org).values_list("identification", "status"))


# -- Active Directory ----------------------------------------------------------------------------

def test_ad_a_delta_reads_only_what_changed_and_touches_nothing_else(org, samba_domain,
                                                                     samba_changes):
    source = ad_source(org, samba_domain)
    first = sync(source)
    assert succeeded(first, "full") == {"created": len(AD_ACTIVE), "skipped": 4}
    assert "first read" in notice(first, "full read")
    assert sync(source).plan.counts == dict.fromkeys(first.plan.counts, 0)  # nothing changed
    before = {c.pk: c.updated_at for c in Contact.objects.filter(organization=org)}
    renamed, disabled, moved = (data.BY_KEY[k] for k in ("zmuller", "jkowalska", "lrossi"))

    samba_changes.modify(samba.person_dn(renamed), title="Group CFO")
    samba_changes.add_person("newhire", "Nina", "Newhire", employee_id="N0001")
    samba_changes.disable(samba.person_dn(disabled))
    samba_changes.move(samba.person_dn(moved), ELSEWHERE)
    outcome = sync(source)

    assert succeeded(outcome, "delta") == {"updated": 1, "created": 1, "archived": 2}
    assert outcome.plan.read == 3  # the moved user is not in scope: named only as removed
    assert "3 people changed and 1 left the scope" in notice(outcome, "incremental read")
    assert contact_of(org, renamed).title == "Group CFO"
    assert contact_of(org, disabled).archived_reason == "disabled in the directory"
    assert contact_of(org, moved).archived_reason == "removed from the directory"
    assert Contact.objects.get(identification="N0001").status == "active"
    touched = {c.pk for c in Contact.objects.filter(organization=org)
               if before.get(c.pk) != c.updated_at}
    assert touched == {contact_of(org, p).pk for p in (renamed, disabled, moved)} | {
        Contact.objects.get(identification="N0001").pk}
    assert Source.objects.get(pk=source.pk).sync_state["usn"]  # the watermark moved on

    samba_changes.enable(samba.person_dn(disabled))
    assert succeeded(sync(source), "delta") == {"reactivated": 1}


def test_ad_deleted_users_are_archived_when_the_account_may_list_deleted_objects(
        org, samba_domain, samba_changes):
    admin = ad_source(org, samba_domain, admin=True)
    dn = samba_changes.add_person("leaver", "Lee", "Leaver", employee_id="L0001")
    succeeded(sync(admin), "full")

    samba_changes.delete(dn)
    outcome = sync(admin)

    assert succeeded(outcome, "delta") == {"archived": 1}
    assert Contact.objects.get(identification="L0001").archived_reason == (
        "removed from the directory")


def test_ad_deleted_users_wait_for_the_full_reconcile_when_the_account_may_not_see_them(
        org, samba_domain, samba_changes):
    source = ad_source(org, samba_domain)  # the read-only account: no access to tombstones
    dn = samba_changes.add_person("leaver", "Lee", "Leaver", employee_id="L0001")
    succeeded(sync(source), "full")

    samba_changes.delete(dn)
    outcome = sync(source)

    assert succeeded(outcome, "delta") == {}
    assert any("CN=Deleted Objects" in n and "full reconcile" in n for n in outcome.notices)
    assert Contact.objects.get(identification="L0001").status == "active"
    later = sync(source, at(source, datetime.now(UTC) + timedelta(hours=25)))
    assert succeeded(later, "full") == {"archived": 1, "unchanged": len(AD_ACTIVE), "skipped": 4}
    assert "full reconcile is due" in notice(later, "full read")


def test_ad_another_domain_controller_means_a_full_read(org, samba_domain, samba_changes):
    source = ad_source(org, samba_domain)
    succeeded(sync(source), "full")
    state = Source.objects.get(pk=source.pk).sync_state
    (invocation_id, usn), = state["usn"].items()
    # the watermark of another DC (or of this one before a restore from backup): not this one's
    Source.objects.filter(pk=source.pk).update(
        sync_state={**state, "usn": {"0bad0bad-0000-4000-8000-000000000000": usn}})

    outcome = sync(source)

    assert succeeded(outcome, "full") == {"unchanged": len(AD_ACTIVE), "skipped": 4}
    assert f"another domain controller answered (invocationId {invocation_id})" in notice(
        outcome, "full read")
    assert succeeded(sync(source), "delta") == {}  # this DC's watermark is kept now


def test_ad_a_changed_scope_filter_or_mapping_means_a_full_read(org, samba_domain):
    source = ad_source(org, samba_domain)
    succeeded(sync(source), "full")

    sources.edit_source(source, settings={"exclusions": ["title=Intern*"]})
    outcome = sync(source)

    assert succeeded(outcome, "full")["unchanged"] > 0
    assert "scope, filter, groups, exclusions, mapping or options changed" in notice(
        outcome, "full read")
    sources.edit_source(source, archive_disabled=False)  # an option planning depends on
    assert "options changed" in notice(sync(source), "full read")
    assert succeeded(sync(source), "delta") == {}
    assert succeeded(sync(source, full=True), "full")["unchanged"] > 0  # usersync sync --full
    assert "asked for" in notice(sync(source, full=True), "full read")


def test_ad_the_full_reconcile_follows_the_sources_interval(org, samba_domain):
    source = ad_source(org, samba_domain)
    sources.edit_source(source, full_reconcile_hours=6)
    now = datetime.now(UTC)
    succeeded(sync(source, at(source, now)), "full")

    assert succeeded(sync(source, at(source, now + timedelta(hours=5))), "delta") == {}
    due = sync(source, at(source, now + timedelta(hours=6, minutes=1)))

    assert succeeded(due, "full") == {"unchanged": len(AD_ACTIVE), "skipped": 4}
    assert "last full read" in notice(due, "full read")
    assert succeeded(sync(source, at(source, now + timedelta(hours=7))), "delta") == {}


def test_ad_an_account_that_expires_without_a_change_is_archived_by_the_next_delta(
        org, samba_domain, samba_changes):
    source = ad_source(org, samba_domain)
    person = data.BY_KEY["aberg"]
    now = datetime.now(UTC)
    samba_changes.expire(samba.person_dn(person), now + timedelta(hours=2))
    succeeded(sync(source, at(source, now)), "full")
    assert contact_of(org, person).status == "active"

    outcome = sync(source, at(source, now + timedelta(hours=3)))  # no write in the directory

    assert succeeded(outcome, "delta") == {"archived": 1}
    assert contact_of(org, person).archived_reason == "disabled in the directory"


def test_ad_a_group_scoped_source_reads_in_full_only_when_a_group_changed(org, samba_domain,
                                                                           samba_changes):
    sales = samba.group_dn("Sales")
    source = ad_source(org, samba_domain, groups=[sales])
    members = {p.employee_id for p in data.group_members("Sales") if p in AD_ACTIVE}
    assert succeeded(sync(source), "full")["created"] == len(members)
    assert succeeded(sync(source), "delta") == {}
    joiner = next(p for p in AD_ACTIVE if p.employee_id not in members)

    samba_changes.add_member("Sales Nordics", samba.person_dn(joiner))  # a nested group
    outcome = sync(source)

    assert succeeded(outcome, "full") == {"created": 1, "unchanged": len(members)}
    assert "Sales Nordics" in notice(outcome, "full read")
    assert succeeded(sync(source), "delta") == {}


def test_ad_a_failed_delta_read_archives_nothing_and_keeps_the_watermark(org, samba_domain,
                                                                         samba_changes):
    source = ad_source(org, samba_domain)
    succeeded(sync(source), "full")
    saved = Source.objects.get(pk=source.pk).sync_state
    moved = data.BY_KEY["lrossi"]
    samba_changes.move(samba.person_dn(moved), ELSEWHERE)

    def stop_before_what_left(message: str) -> None:
        if "entries read" in message:
            samba_domain.stop()  # after the scoped searches, before the search of what left

    def read():
        connector = LdapConnector(sources.ldap_settings(source))
        return connector.read(progress=stop_before_what_left,
                              incremental=readers.incremental(source))

    try:
        failed = sync(source, read)
    finally:
        samba_domain.start()

    assert failed.status == "failed" and failed.error.code == "connection_lost"
    assert set(statuses(org).values()) == {"active"}
    assert Source.objects.get(pk=source.pk).sync_state == saved
    assert succeeded(sync(source), "delta") == {"archived": 1}  # the change is read again
    assert contact_of(org, moved).status == "archived"


# -- OpenLDAP ------------------------------------------------------------------------------------

def test_openldap_a_delta_reads_only_what_changed_and_touches_nothing_else(org, slapd_server,
                                                                          slapd_changes):
    source = ldap_source(org, slapd_server)
    first = sync(source)
    assert succeeded(first, "full") == {"created": len(IN_SCOPE)}
    assert sync(source).plan.counts == dict.fromkeys(first.plan.counts, 0)
    gone = slapd_changes.add_person("leaver", "Lee", "Leaver", employee_id="L0001")
    assert succeeded(sync(source), "delta") == {"created": 1}
    renamed, moved, between = (data.BY_KEY[k] for k in ("zmuller", "lrossi", "cdubois"))
    before = {c.pk: c.updated_at for c in Contact.objects.filter(organization=org)}

    slapd_changes.modify(slapd.person_dn(renamed), title="Group CFO")
    slapd_changes.add_person("newhire", "Nina", "Newhire", employee_id="N0001")
    slapd_changes.delete(gone)
    slapd_changes.move(slapd.person_dn(moved), slapd.ou_dn(("Elsewhere",)))
    slapd_changes.move(slapd.person_dn(between), slapd.ou_dn(("Warehouse",)))
    outcome = sync(source)

    assert succeeded(outcome, "delta") == {"updated": 2, "created": 1, "archived": 2}
    assert contact_of(org, renamed).title == "Group CFO"
    assert contact_of(org, moved).archived_reason == "removed from the directory"
    assert Contact.objects.get(identification="L0001").status == "archived"
    assert contact_of(org, between).location.identifier == "warehouse"  # moved between scopes
    touched = {c.pk for c in Contact.objects.filter(organization=org)
               if before.get(c.pk) != c.updated_at}
    assert touched == {contact_of(org, p).pk for p in (renamed, moved, between)} | set(
        Contact.objects.filter(identification__in=["L0001", "N0001"]).values_list("pk", flat=True))


def test_openldap_a_restarted_server_without_its_session_log_means_a_full_read(
        org, slapd_server, slapd_changes):
    source = ldap_source(org, slapd_server)
    succeeded(sync(source), "full")
    person = data.BY_KEY["zmuller"]

    slapd_changes.modify(slapd.person_dn(person), title="Group CFO")
    slapd_server.restart()  # the session log lives in memory: what it knew of that is gone
    outcome = sync(source)

    assert succeeded(outcome, "full") == {"updated": 1, "unchanged": len(IN_SCOPE) - 1}
    assert "session log" in notice(outcome, "full read")
    assert succeeded(sync(source), "delta") == {}


def test_openldap_a_group_scoped_source_is_always_read_in_full(org, slapd_server):
    source = ldap_source(org, slapd_server, groups=[slapd.group_dn("Sales")])
    succeeded(sync(source), "full")

    outcome = sync(source)

    assert "limited to groups" in notice(outcome, "full read")
    assert succeeded(outcome, "full")["unchanged"] > 0


def test_openldap_a_server_without_content_sync_is_read_in_full_with_a_notice(org):
    with Slapd(syncprov=False) as server:
        source = ldap_source(org, server)
        succeeded(sync(source), "full")

        outcome = sync(source)

    assert succeeded(outcome, "full") == {"unchanged": len(IN_SCOPE)}
    assert "syncprov" in notice(outcome, "full read")
    assert Source.objects.get(pk=source.pk).sync_state == {}


# -- OpenLDAP: one sync search from the common parent of the bases -------------------------------

HQ_DN, WAREHOUSE_DN, ELSEWHERE_DN = (slapd.ou_dn((ou,)) for ou in ("Headquarters", "Warehouse",
                                                                     "Elsewhere"))
OTHER_DN = "dc=other,dc=test"  # a second naming context (database) on the same server
PARTNERS_DN = f"ou=Partners,{OTHER_DN}"


def sync_searches(monkeypatch, before=None) -> list[str]:
    """The bases of the sync searches the source's next runs start (the session's connection
    wrapped to note each search carrying the sync request control, and to call ``before`` with
    how many came before it)."""
    bases: list[str] = []
    opened = ldap_changes.open_session

    class Noting:
        def __init__(self, connection):
            self._connection = connection

        def __getattr__(self, name):
            return getattr(self._connection, name)

        def search_ext(self, base, *args, serverctrls=None, **kwargs):
            if any(c.controlType == SYNC_REQUEST for c in serverctrls or ()):
                if before is not None:
                    before(len(bases))
                bases.append(base)
            return self._connection.search_ext(base, *args, serverctrls=serverctrls, **kwargs)

    @contextmanager
    def noting(settings, now):
        with opened(settings, now) as session:
            session.connection = Noting(session.connection)
            yield session

    monkeypatch.setattr(ldap_changes, "open_session", noting)
    return bases


def cookie_roots(source: Source) -> set[str]:
    return set(Source.objects.get(pk=source.pk).sync_state["cookies"])


def as_owner(server: Slapd):
    """A connection to ``server`` as the user running it (it may manage cn=config and data)."""
    conn = ldap.initialize(server.url_ldapi)
    conn.sasl_external_bind_s()
    return conn


def add(conn, dn: str, **attributes) -> str:
    conn.add_s(dn, ldap.modlist.addModlist(
        {name: [v.encode() for v in (value if isinstance(value, list) else [value])]
         for name, value in attributes.items()}))
    return dn


def add_naming_context(server: Slapd) -> None:
    """A second database with syncprov on ``server``: ``dc=other,dc=test`` with ``ou=Partners``
    and two people the reader may read."""
    conn = as_owner(server)
    folder = server.folder / "other"
    folder.mkdir()
    owner = f"gidNumber={os.getegid()}+uidNumber={os.geteuid()},cn=peercred,cn=external,cn=auth"
    add(conn, "olcDatabase=mdb,cn=config", objectClass=["olcDatabaseConfig", "olcMdbConfig"],
        olcDatabase="mdb", olcDbDirectory=str(folder), olcSuffix=OTHER_DN,
        olcDbIndex="entryUUID,entryCSN eq",
        olcAccess=f"to * by dn.exact={owner} manage by users read")
    add(conn, "olcOverlay=syncprov,olcDatabase={2}mdb,cn=config", olcOverlay="syncprov",
        objectClass=["olcOverlayConfig", "olcSyncProvConfig"], olcSpSessionlog="1000")
    add(conn, OTHER_DN, objectClass=["dcObject", "organization"], dc="other", o="other")
    add(conn, PARTNERS_DN, objectClass="organizationalUnit", ou="Partners")
    for key, number in (("ppartner", "P0001"), ("qpartner", "P0002")):
        add(conn, f"uid={key},{PARTNERS_DN}", objectClass="inetOrgPerson", uid=key, cn=key,
            sn=key.title(), givenName="Pat", mail=f"{key}@other.test", employeeNumber=number)


def test_openldap_a_day_of_changes_is_read_in_one_sync_search_from_the_bases_parent(
        org, slapd_server, slapd_changes, monkeypatch):
    source = ldap_source(org, slapd_server)
    succeeded(sync(source), "full")
    assert cookie_roots(source) == {normalize_dn(slapd.PEOPLE_DN)}
    for key in ("jnunez", "flefevre", "mgarcia", "nbrown"):
        slapd_changes.modify(slapd.person_dn(data.BY_KEY[key]), title="Changed")
    slapd_changes.add_person("newhire", "Nina", "Newhire", ou=("Warehouse",),
                             employee_id="N0001")
    slapd_changes.modify(slapd.person_dn(data.BY_KEY["ecarter"]), title="Changed")  # no base
    slapd_changes.modify(slapd.group_dn("Sales"), description="Changed")
    searches = sync_searches(monkeypatch)

    outcome = sync(source)

    assert succeeded(outcome, "delta") == {"updated": 4, "created": 1}
    assert outcome.plan.read == 5
    assert searches == [slapd.PEOPLE_DN]  # not one per base
    assert "5 people changed" in notice(outcome, "incremental read")


def test_openldap_a_person_moved_between_bases_keeps_one_contact_in_the_new_location(
        org, slapd_server, slapd_changes):
    source = ldap_source(org, slapd_server)
    succeeded(sync(source), "full")
    person = data.BY_KEY["hbecker"]
    old = contact_of(org, person)

    slapd_changes.move(slapd.person_dn(person), WAREHOUSE_DN)
    outcome = sync(source)

    assert succeeded(outcome, "delta") == {"updated": 1}
    contacts = Contact.objects.filter(organization=org, identification=person.employee_id)
    assert [(c.pk, c.location.identifier, c.status) for c in contacts] == [
        (old.pk, "warehouse", "active")]


def test_openldap_a_person_moved_out_of_every_base_but_under_their_parent_is_archived(
        org, slapd_server, slapd_changes):
    source = ldap_source(org, slapd_server)
    succeeded(sync(source), "full")
    person = data.BY_KEY["sjensen"]

    slapd_changes.move(slapd.person_dn(person), ELSEWHERE_DN)  # under ou=People, the root
    outcome = sync(source)

    assert succeeded(outcome, "delta") == {"archived": 1}
    assert outcome.plan.read == 0  # under the root but under no base: not a record
    assert contact_of(org, person).archived_reason == "removed from the directory"


def test_openldap_leaving_one_of_two_nested_bases_archives_only_that_locations_contact(
        db, slapd_server, slapd_changes):
    org = create_organization("acme", "Acme", ["headquarters", "engineering"])
    source = ldap_source(org, slapd_server, scopes=[
        {"base": HQ_DN, "location": "headquarters"},
        {"base": slapd.ou_dn(("Headquarters", "Engineering")), "location": "engineering"}])
    succeeded(sync(source), "full")
    person = data.BY_KEY["wfang"]
    where = {c.location.identifier for c in Contact.objects.filter(
        organization=org, identification=person.employee_id)}
    assert where == {"headquarters", "engineering"}  # an entry under both bases: both locations

    slapd_changes.move(slapd.person_dn(person), HQ_DN)
    outcome = sync(source)

    assert succeeded(outcome, "delta") == {"archived": 1, "unchanged": 1}
    assert cookie_roots(source) == {normalize_dn(HQ_DN)}  # the outer base is the parent
    statuses_of = dict(Contact.objects.filter(organization=org, identification=person.employee_id)
                       .values_list("location__identifier", "status"))
    assert statuses_of == {"headquarters": "active", "engineering": "archived"}


def test_openldap_a_change_outside_every_base_is_no_record_and_archives_nothing(
        org, slapd_server, slapd_changes):
    source = ldap_source(org, slapd_server)
    succeeded(sync(source), "full")
    before = statuses(org)

    slapd_changes.modify(slapd.person_dn(data.BY_KEY["vnovak"]), title="Changed")  # Elsewhere
    slapd_changes.add_person("bulky", "Bo", "Bulk", ou=("Bulk",), employee_id="B0001")
    outcome = sync(source)

    assert succeeded(outcome, "delta") == {}
    assert outcome.plan.read == 0
    assert statuses(org) == before


def test_openldap_cookies_saved_per_base_by_an_earlier_version_mean_one_full_read(
        org, slapd_server):
    source = ldap_source(org, slapd_server)
    succeeded(sync(source), "full")
    state = Source.objects.get(pk=source.pk).sync_state
    (cookie,) = state["cookies"].values()
    Source.objects.filter(pk=source.pk).update(
        sync_state={**state, "cookies": {HQ_DN: cookie, WAREHOUSE_DN: cookie}})

    outcome = sync(source)

    assert succeeded(outcome, "full") == {"unchanged": len(IN_SCOPE)}
    assert "no sync cookie was saved for the search root" in notice(outcome, "full read")
    assert cookie_roots(source) == {normalize_dn(slapd.PEOPLE_DN)}
    assert succeeded(sync(source), "delta") == {}


def test_openldap_bases_in_two_naming_contexts_get_one_sync_search_each(db, monkeypatch):
    org = create_organization("acme", "Acme", ["headquarters", "warehouse", "partners"])
    with Slapd() as server:
        add_naming_context(server)
        source = ldap_source(org, server, scopes=[
            {"base": HQ_DN, "location": "headquarters"},
            {"base": WAREHOUSE_DN, "location": "warehouse"},
            {"base": PARTNERS_DN, "location": "partners"}])
        assert succeeded(sync(source), "full") == {"created": len(IN_SCOPE) + 2}
        assert cookie_roots(source) == {normalize_dn(slapd.PEOPLE_DN), normalize_dn(PARTNERS_DN)}
        admin = as_owner(server)
        admin.modify_s(f"uid=ppartner,{PARTNERS_DN}", [(ldap.MOD_REPLACE, "title", [b"Lead"])])
        admin.rename_s(slapd.person_dn(data.BY_KEY["lrossi"]), "uid=lrossi", HQ_DN)
        admin.delete_s(f"uid=qpartner,{PARTNERS_DN}")
        searches = sync_searches(monkeypatch)

        outcome = sync(source)

    assert succeeded(outcome, "delta") == {"updated": 2, "archived": 1}
    assert sorted(searches) == sorted([slapd.PEOPLE_DN, PARTNERS_DN])
    assert Contact.objects.get(organization=org, identification="P0001").title == "Lead"
    assert Contact.objects.get(organization=org, identification="P0002").status == "archived"
    assert contact_of(org, data.BY_KEY["lrossi"]).location.identifier == "headquarters"


def test_openldap_bases_whose_parent_the_account_may_not_search_are_searched_each(
        org, monkeypatch):
    person = data.BY_KEY["lrossi"]
    with Slapd() as server:
        as_owner(server).modify_s("olcDatabase={1}mdb,cn=config", [(ldap.MOD_ADD, "olcAccess", [
            f"{{0}}to dn.base={slapd.PEOPLE_DN} by dn.exact={server.reader_dn} none "
            "by * break".encode()])])
        source = ldap_source(org, server)
        assert succeeded(sync(source), "full") == {"created": len(IN_SCOPE)}
        assert cookie_roots(source) == {normalize_dn(HQ_DN), normalize_dn(WAREHOUSE_DN)}

        def move_after_the_first(searched: int) -> None:  # Warehouse → Headquarters, between
            if searched == 1:  # the two searches: gone from the one, not seen by the other
                server.admin().rename_s(slapd.person_dn(person), "uid=lrossi", HQ_DN)
        searches = sync_searches(monkeypatch, before=move_after_the_first)

        outcome = sync(source)
        again = sync(source)

    assert searches == [HQ_DN, WAREHOUSE_DN] * 2
    assert succeeded(outcome, "delta") == {"updated": 1}  # found again: moved, not archived
    assert contact_of(org, person).location.identifier == "headquarters"
    assert succeeded(again, "delta") == {"unchanged": 1}  # the Headquarters search sees it now
