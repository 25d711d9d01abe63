"""Issue 3 end to end at the sync level: the database, the sync service, the LDAP connector and a
real directory (the session's Samba AD DC and slapd, never one of our own).

Each test configures a source the way every surface does (``sources.create_source`` /
``edit_source``), runs it through ``runs.sync`` with the reader a scheduled or manual run uses
(``readers.configured_reader``), and looks at what was written: contacts, directory objects and the
run record. Directory changes go through ``samba_changes`` / ``slapd_changes``, which undo them
after the test. What each test expects is computed from ``support.directory_data``.
"""

from __future__ import annotations

import json
import logging

import ldap
import ldap.dn
import phonenumbers
import pytest
import trustme

from support import directory_data as data
from support import samba, slapd
from support.ldap_server import ldap_calls

from usersync.app import sources
from usersync.app.directory.models import Contact, DirectoryObject, Source, SyncRun
from usersync.app.orgs.services import create_organization
from usersync.app.sync import readers, runs
from usersync.connectors.ldap import LdapConnector
from usersync.connectors.scope import normalize_dn

pytestmark = pytest.mark.django_db

HQ, WAREHOUSE = samba.ou_dn(("Headquarters",)), samba.ou_dn(("Warehouse",))
BULK, ELSEWHERE = samba.ou_dn(("Bulk",)), samba.ou_dn(("Elsewhere",))
MAPPED = ("headquarters", "warehouse")
#: The people a sync of Headquarters + Warehouse reads; on AD the disabled/expired ones are not
#: created, on OpenLDAP (no account state) everyone is.
IN_SCOPE = [p for location in MAPPED for p in data.people_in(location)]
AD_ACTIVE = [p for p in IN_SCOPE if p.active]


@pytest.fixture
def org(db):
    return create_organization("acme", "Acme", ["headquarters", "warehouse", "bulk"])


def ad_source(org, dc, name: str = "corp-ad", password: str | None = None,
              scopes: dict[str, str] | None = None, **settings) -> Source:
    values = {
        "urls": [dc.ldaps_url],
        "bind_dn": dc.reader_upn,
        "scopes": [{"base": base, "location": location} for location, base in
                   (scopes or {"headquarters": HQ, "warehouse": WAREHOUSE}).items()],
        "ca_pem": dc.ca_pem,
    }
    options = {k: settings.pop(k) for k in list(settings) if k in sources.OPTIONS}
    values.update(settings)
    return sources.create_source(org, name, "active_directory", values,
                                 password or dc.reader_password, **options)


def ldap_source(org, server, name: str = "corp-ldap", **settings) -> Source:
    values = {
        "urls": [server.url_ldap],  # StartTLS
        "bind_dn": server.reader_dn,
        "scopes": [{"base": slapd.ou_dn(("Headquarters",)), "location": "headquarters"},
                   {"base": slapd.ou_dn(("Warehouse",)), "location": "warehouse"}],
        "ca_pem": server.ca_pem,
    }
    values.update(settings)
    return sources.create_source(org, name, "ldap", values, server.reader_password)


def sync(source: Source, read=None) -> runs.Outcome:
    """A full read, whatever the source's watermark: these tests are about full syncs
    (incremental reads are tested in test_incremental_sync.py)."""
    source.refresh_from_db()
    return runs.sync(source, read or readers.configured_reader(source, full=True),
                     trigger="manual")


def succeeded(outcome: runs.Outcome) -> dict:
    assert outcome.status == "succeeded", (outcome.status, outcome.error, outcome.plan
                                           and outcome.plan.blocked)
    return outcome.plan.counts


def changed(counts: dict) -> dict:
    """The counts that are not zero, without "unchanged" (what a run did)."""
    return {k: v for k, v in counts.items() if v and k != "unchanged"}


def e164(number: str) -> str:
    if not number:
        return ""
    return phonenumbers.format_number(phonenumbers.parse(number, None),
                                      phonenumbers.PhoneNumberFormat.E164)


def contacts_by_identification(org) -> dict[str, Contact]:
    found = Contact.objects.filter(organization=org).select_related("location")
    return {c.identification: c for c in found}


def by_key(org, people) -> dict[str, Contact]:
    """The contact of each person (employee IDs are unique in the test directory)."""
    contacts = contacts_by_identification(org)
    return {p.key: contacts[p.employee_id] for p in people}


def directory_object(source: Source, contact: Contact) -> DirectoryObject:
    return DirectoryObject.objects.get(source=source, contact=contact)


def run_record(outcome: runs.Outcome) -> SyncRun:
    return SyncRun.objects.get(pk=outcome.run.pk)


def assert_nothing_archived(org, expected_active: int) -> None:
    assert Contact.objects.filter(organization=org, status="archived").count() == 0
    assert Contact.objects.filter(organization=org, status="active").count() == expected_active


# -- Active Directory: the first sync ------------------------------------------------------------

def test_syncing_the_samba_domain_creates_the_expected_contacts_per_location(org, samba_domain):
    source = ad_source(org, samba_domain)

    outcome = sync(source)

    counts = succeeded(outcome)
    assert changed(counts) == {"created": len(AD_ACTIVE), "skipped": len(IN_SCOPE) - len(AD_ACTIVE)}
    assert len(AD_ACTIVE) == 32  # 36 people in the two OUs, 3 disabled and 1 expired
    contacts = contacts_by_identification(org)
    assert set(contacts) == {p.employee_id for p in AD_ACTIVE}  # nobody else: not Elsewhere,
    # not the disabled or expired accounts, not the contact or the computer in the OUs
    for person in AD_ACTIVE:
        contact = contacts[person.employee_id]
        assert (contact.first_name, contact.last_name) == (person.given_name, person.surname)
        assert contact.email == (person.primary_email or "")  # the SMTP: address
        assert sorted(contact.aliases) == sorted(person.aliases)  # the smtp: addresses
        assert contact.sms_phone == e164(person.mobile)
        assert (contact.title, contact.department) == (person.title, person.department)
        assert contact.location.identifier == person.location
        assert contact.status == "active" and contact.source_id == source.pk
    for location in MAPPED:
        assert Contact.objects.filter(location__identifier=location).count() == len(
            [p for p in AD_ACTIVE if p.location == location])
    # The cases that go wrong in real directories, spelled out.
    hbecker = contacts["E1008"]  # mail still has her old name; the primary SMTP address wins
    assert (hbecker.email, hbecker.aliases) == ("hannah.becker@usersync.test",
                                                ["hannah.schmidt@usersync.test"])
    assert contacts["E1001"].sms_phone == "+14153120101"
    assert contacts["E1006"].sms_phone == "+4741234567"
    assert (contacts["E1019"].first_name, contacts["E1019"].last_name) == ("芳", "王")
    assert contacts["E1026"].email == "" and contacts["E1026"].sms_phone == "+14153120126"
    sobrien, smith = contacts["E1003"], contacts["E1004"]
    assert (sobrien.first_name, sobrien.last_name) == ("Seán", "O'Brien")
    assert smith.last_name == "Smith+Jones"
    assert r"CN=O'Brien\, Seán" in directory_object(source, sobrien).dn
    assert r"CN=Smith\+Jones" in directory_object(source, smith).dn
    # Anchors are the objectGUIDs, one contact per directory object.
    assert len({c.anchor for c in contacts.values()}) == len(contacts)
    # The disabled and expired accounts are known to the source, but have no contact.
    skipped = DirectoryObject.objects.filter(source=source, contact__isnull=True)
    assert {normalize_dn(o.dn) for o in skipped} == {
        normalize_dn(samba.person_dn(p)) for p in IN_SCOPE if not p.active}
    assert all("disabled" in o.message for o in skipped)
    # The run records its connection: the server, TLS, success.
    run = run_record(outcome)
    assert run.connection["ok"] is True and run.connection["server"] == samba_domain.ldaps_url
    assert run.connection["tls"].startswith("TLS1.")
    assert run.counts["created"] == 32 and not run.error_code

    again = sync(source)  # the same directory twice: nothing changes

    assert changed(succeeded(again)) == {"skipped": 4}
    assert again.plan.counts["unchanged"] == 32


# -- renamed, moved, left the scope, came back ---------------------------------------------------

def test_a_renamed_or_moved_user_keeps_the_same_contact(org, samba_domain, samba_changes):
    source = ad_source(org, samba_domain)
    succeeded(sync(source))
    people = [data.BY_KEY[k] for k in ("sobrien", "zmuller", "cdubois", "dkim")]
    before = by_key(org, people)

    # sobrien: a new CN (commas and all); zmuller: married, a new CN and surname (modrdn +
    # modify); cdubois: moved from Headquarters to Warehouse; dkim: moved out of every mapped OU.
    renamed = samba_changes.rename(samba.person_dn(people[0]), "CN=" + ldap.dn.escape_dn_chars(
        "O'Brien, Seán (Sales, EMEA)"))
    married = samba_changes.rename(samba.person_dn(people[1]), "CN=Zoë Schmidt")
    samba_changes.modify(married, sn="Schmidt", displayName="Zoë Schmidt")
    moved = samba_changes.move(samba.person_dn(people[2]), WAREHOUSE)
    left = samba_changes.move(samba.person_dn(people[3]), ELSEWHERE)

    outcome = sync(source)

    assert changed(succeeded(outcome)) == {"updated": 2, "archived": 1, "skipped": 4}
    after = by_key(org, people)
    assert {k: c.pk for k, c in after.items()} == {k: c.pk for k, c in before.items()}
    assert Contact.objects.filter(organization=org).count() == 32  # no new contact for anyone
    sobrien, zoe, chloe, daniel = (after[p.key] for p in people)
    assert directory_object(source, sobrien).dn == renamed and sobrien.last_name == "O'Brien"
    assert directory_object(source, zoe).dn == married
    assert (zoe.first_name, zoe.last_name) == ("Zoë", "Schmidt")
    assert chloe.location.identifier == "warehouse" and chloe.status == "active"
    assert directory_object(source, chloe).dn == moved
    assert daniel.status == "archived" and "no longer in the directory scope" in (
        daniel.archived_reason)
    updates = {op.contact_id: {(c.field, c.before, c.after) for c in op.changes}
               for op in outcome.plan.of(runs.Op.UPDATE)}
    assert updates == {zoe.pk: {("last_name", "Müller", "Schmidt")},
                       chloe.pk: {("location", "headquarters", "warehouse")}}

    samba_changes.move(left, HQ)  # back in scope: the same contact comes back

    assert changed(succeeded(sync(source))) == {"reactivated": 1, "skipped": 4}
    daniel = Contact.objects.get(pk=daniel.pk)
    assert daniel.status == "active" and daniel.location.identifier == "headquarters"
    assert Contact.objects.filter(organization=org).count() == 32


# -- disabled accounts ---------------------------------------------------------------------------

def test_disabling_archives_the_contact_and_re_enabling_reactivates_it(org, samba_domain,
                                                                      samba_changes):
    source = ad_source(org, samba_domain)
    succeeded(sync(source))
    person = data.BY_KEY["jkowalska"]
    contact = by_key(org, [person])[person.key]
    dn = samba.person_dn(person)

    samba_changes.disable(dn)
    assert changed(succeeded(sync(source))) == {"archived": 1, "skipped": 4}
    contact.refresh_from_db()
    assert contact.status == "archived" and contact.archived_reason == "disabled in the directory"

    samba_changes.enable(dn)
    assert changed(succeeded(sync(source))) == {"reactivated": 1, "skipped": 4}
    assert Contact.objects.get(pk=contact.pk).status == "active"
    assert Contact.objects.get(anchor=contact.anchor).pk == contact.pk  # the same record

    # An account that expires is disabled too.
    expired = data.BY_KEY["aberg"]
    samba_changes.expire(samba.person_dn(expired), data.EXPIRED_AT)
    assert changed(succeeded(sync(source))) == {"archived": 1, "skipped": 4}
    assert by_key(org, [expired])[expired.key].status == "archived"


def test_with_keep_disabled_a_disabled_user_stays_active(org, samba_domain, samba_changes):
    source = ad_source(org, samba_domain)
    succeeded(sync(source))
    sources.edit_source(source, archive_disabled=False)  # usersync source edit --keep-disabled
    person = data.BY_KEY["lrossi"]
    contact = by_key(org, [person])[person.key]

    samba_changes.disable(samba.person_dn(person))
    outcome = sync(source)

    succeeded(outcome)
    assert not outcome.plan.of(runs.Op.ARCHIVE)
    contact.refresh_from_db()
    assert contact.status == "active" and contact.archived_at is None
    assert Contact.objects.get(anchor=contact.anchor).pk == contact.pk


def test_with_keep_disabled_a_disabled_user_never_seen_is_still_not_created(org, samba_domain):
    source = ad_source(org, samba_domain, archive_disabled=False)

    succeeded(sync(source))

    assert set(contacts_by_identification(org)) == {p.employee_id for p in AD_ACTIVE}


# -- a group of more than 1,500 members ----------------------------------------------------------

def test_a_group_of_more_than_1500_members_imports_all_of_them(org, samba_domain, samba_changes):
    outsider = samba_changes.add_person("bulkoutsider", "Otto", "Outsider", ou=("Bulk",),
                                        employee_id="X0001")
    source = ad_source(org, samba_domain, scopes={"headquarters": HQ, "warehouse": WAREHOUSE,
                                                  "bulk": BULK},
                       groups=[samba.group_dn("All Staff")])

    outcome = sync(source)

    members = data.group_members("All Staff")
    assert len(members) == 1636  # more than AD's 1,500-value range
    active_members = [p for p in members if p.active]
    assert changed(succeeded(outcome)) == {"created": len(active_members),
                                           "skipped": len(members) - len(active_members)}
    contacts = Contact.objects.filter(organization=org)
    assert contacts.count() == len(active_members) == 1632
    assert contacts.filter(location__identifier="bulk").count() == data.BULK_COUNT
    assert set(contacts.values_list("email", flat=True)) == {
        p.primary_email or "" for p in active_members}
    read = {normalize_dn(o.dn) for o in DirectoryObject.objects.filter(source=source)}
    assert read == {normalize_dn(samba.person_dn(p)) for p in members}
    assert normalize_dn(outsider) not in read  # in the Bulk OU, but not a member


# -- a read cut off midway -----------------------------------------------------------------------

def test_a_size_limit_fails_the_run_archives_nothing_then_the_next_run_is_normal(
        org, slapd_server):
    server = slapd_server
    source = ldap_source(org, server, page_size=2)
    assert changed(succeeded(sync(source))) == {"created": len(IN_SCOPE)}
    objects_before = list(DirectoryObject.objects.filter(source=source).values_list(
        "anchor", "present"))

    # The same source, bound as the account whose searches the server cuts at 5 entries.
    sources.edit_source(source, settings={"bind_dn": server.limited_dn},
                        password=server.limited_password)
    outcome = sync(source)

    assert outcome.status == "failed" and outcome.plan is None
    run = run_record(outcome)
    assert run.status == "failed" and run.error_code == "size_limit"
    assert "size limit" in run.error_message and "incomplete" in run.error_message
    assert "size limit" in run.error_hint
    assert run.connection["ok"] is False
    assert run.connection["server"] == source.settings["urls"][0] == server.url_ldap.rstrip("/")
    assert run.connection["reason"] == run.error_message
    assert run.counts == {} and run.plan is None
    assert_nothing_archived(org, len(IN_SCOPE))
    assert list(DirectoryObject.objects.filter(source=source).values_list(
        "anchor", "present")) == objects_before

    sources.edit_source(source, settings={"bind_dn": server.reader_dn},
                        password=server.reader_password)
    after = sync(source)

    assert changed(succeeded(after)) == {}
    assert after.plan.counts["unchanged"] == len(IN_SCOPE)
    assert run_record(after).connection["ok"] is True
    assert_nothing_archived(org, len(IN_SCOPE))


def test_a_server_stopped_mid_read_fails_the_run_archives_nothing_then_the_next_run_is_normal(
        org, samba_domain):
    dc = samba_domain
    source = ad_source(org, dc, page_size=5)
    succeeded(sync(source))
    pages: list[str] = []

    def stop_after_first_page(message: str) -> None:
        if "entries read" in message:
            pages.append(message)
            if len(pages) == 1:
                dc.stop()

    def read():
        return LdapConnector(sources.ldap_settings(source)).read(progress=stop_after_first_page)

    try:
        outcome = sync(source, read)
    finally:
        dc.start()

    # the reader asks for the next page before it uses one (ldap_search.pages): that page may
    # be on its way when the server stops, and arrive; the one after it cannot
    assert len(pages) in (1, 2)
    assert outcome.status == "failed" and outcome.plan is None
    assert outcome.error.code == "connection_lost" and outcome.error.retryable
    run = run_record(outcome)
    assert run.status == "failed" and run.error_code == "connection_lost"
    assert "lost" in run.error_message and f"after {5 * len(pages)} entries" in run.error_message
    assert "incomplete" in run.error_message and "next run" in run.error_hint
    assert run.connection["ok"] is False and run.connection["server"] == dc.ldaps_url
    assert "lost" in run.connection["reason"]
    assert_nothing_archived(org, len(AD_ACTIVE))
    assert not DirectoryObject.objects.filter(source=source, present=False).exists()

    after = sync(source)  # the server is back: a normal run

    assert changed(succeeded(after)) == {"skipped": 4}
    assert after.plan.counts["unchanged"] == len(AD_ACTIVE)
    assert run_record(after).connection["ok"] is True
    assert_nothing_archived(org, len(AD_ACTIVE))


# -- connection problems: the bind, the certificate ---------------------------------------------

def test_a_wrong_password_fails_the_run_with_a_hint_that_names_the_bad_credential(
        org, samba_domain, caplog):
    wrong = "Wrong-" + samba_domain.reader_password
    source = ad_source(org, samba_domain, password=wrong)

    with caplog.at_level(logging.DEBUG):
        outcome = sync(source)
        report = sources.test_connection(source)

    assert outcome.status == "failed"
    run = run_record(outcome)
    assert run.error_code == "bind_wrong_password"
    assert "wrong password for the bind account" in run.error_hint
    assert "data 52e" in run.error_message
    assert run.connection["ok"] is False and run.connection["server"] == samba_domain.ldaps_url
    assert not Contact.objects.exists() and not DirectoryObject.objects.exists()
    assert report["reachable"] is True and report["ssl_status"] == "ok"
    assert report["bind"]["ok"] is False
    assert "wrong password for the bind account" in report["bind"]["hint"]
    recorded = json.dumps([run.error_message, run.error_hint, run.connection, run.notices,
                           report, sources.public_data(source)], default=str)
    for secret in (wrong, samba_domain.reader_password):
        assert secret not in recorded and secret not in caplog.text
        assert secret not in source.secret


@pytest.mark.parametrize("scheme", ["ldaps", "ldap"])
def test_an_untrusted_ca_is_a_tls_error_never_a_fallback_to_cleartext(org, samba_domain, scheme):
    """A CA that did not issue the server's certificate. The source's password is wrong on
    purpose: had a bind reached the DC, the error would be the DC's verdict on the password."""
    dc = samba_domain
    url = dc.ldaps_url if scheme == "ldaps" else dc.ldap_url  # ldap://: StartTLS
    source = ad_source(org, dc, password="Wrong-" + dc.reader_password, urls=[url],
                       ca_pem=trustme.CA().cert_pem.bytes().decode())
    opened: list[str] = []
    initialize = ldap.initialize

    def spy(uri, *args, **kwargs):
        opened.append(uri)
        return initialize(uri, *args, **kwargs)

    with ldap_calls() as calls, pytest.MonkeyPatch.context() as patch:
        patch.setattr(ldap, "initialize", spy)
        outcome = sync(source)

    assert outcome.status == "failed"
    run = run_record(outcome)
    assert run.error_code == "tls_untrusted"  # not bind_wrong_password: the DC never judged it
    assert "is not trusted" in run.error_message and "CA certificate" in run.error_hint
    assert run.connection == {"server": url, "ok": False, "reason": run.error_message,
                              "tls": None, "at": run.connection["at"]}
    assert set(opened) <= {url}  # no other port, no plain ldap:// tried instead
    assert calls["search_ext"] == 0
    if scheme == "ldap":  # StartTLS failed: the bind was never sent over the plain connection
        assert calls["start_tls_s"] == 1 and calls["simple_bind"] == 0
    else:  # no StartTLS to fall back from; libldap, if it got that far, failed its handshake
        assert calls["start_tls_s"] == 0 and calls["simple_bind"] <= 1
    assert not Contact.objects.exists() and not DirectoryObject.objects.exists()
    # With the right CA the same wrong password reaches the DC, which refuses it.
    sources.edit_source(source, settings={"ca_pem": dc.ca_pem})
    assert sync(source).error.code == "bind_wrong_password"


def test_a_certificate_expiring_in_ten_days_is_reported_as_expiring(org, samba_domain):
    source = ad_source(org, samba_domain, scopes={"headquarters": samba.ou_dn(
        ("Headquarters", "Engineering"))})

    with samba_domain.use_certificate(not_after_days=10):
        report = sources.test_connection(source)
        outcome = sync(source)

    assert report["ssl_status"] == "expiring"
    assert report["certificate"]["days_left"] in (9, 10)
    assert report["certificate"]["trusted"] and report["certificate"]["hostname_match"]
    assert report["bind"]["ok"] is True
    assert changed(succeeded(outcome)) == {"created": 4}  # still valid: the sync goes on
    assert sources.test_connection(source)["ssl_status"] == "ok"  # the certificate is back


# -- OpenLDAP ------------------------------------------------------------------------------------

def test_syncing_slapd_over_starttls_creates_the_expected_contacts(org, slapd_server):
    source = ldap_source(org, slapd_server)

    outcome = sync(source)

    assert changed(succeeded(outcome)) == {"created": len(IN_SCOPE)}  # no disabled state here
    contacts = contacts_by_identification(org)
    assert set(contacts) == {p.employee_id for p in IN_SCOPE}
    for person in IN_SCOPE:
        contact = contacts[person.employee_id]
        assert (contact.first_name, contact.last_name) == (person.given_name, person.surname)
        assert contact.email == (person.primary_email or "")
        assert contact.sms_phone == e164(person.mobile)
        assert (contact.title, contact.department) == (person.title, person.department)
        assert contact.location.identifier == person.location
    admin = slapd_server.admin()
    try:
        held = admin.search_s(slapd_server.people_dn, ldap.SCOPE_SUBTREE,
                              "(objectClass=inetOrgPerson)", ["entryUUID", "employeeNumber"])
    finally:
        admin.unbind_s()
    uuids = {values["employeeNumber"][0].decode(): values["entryUUID"][0].decode()
             for _, values in held if "employeeNumber" in values}
    assert {c.identification: c.anchor for c in contacts.values()} == {
        p.employee_id: uuids[p.employee_id] for p in IN_SCOPE}
    run = run_record(outcome)
    assert run.connection["server"] == slapd_server.url_ldap.rstrip("/")
    assert run.connection["tls"].startswith("TLS1.")  # StartTLS, not plain LDAP
    assert [n for n in run.notices if not n.startswith("full read")] == []
