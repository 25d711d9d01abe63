"""The Active Directory / LDAP connector against real servers: a Samba AD DC and OpenLDAP slapd.

These are the evidence that the connector works (tests/connectors/test_ldap_*.py pin down its
logic without a server). The servers and their contents come from tests/support (samba.py,
slapd.py, directory_data.py) through the session fixtures ``samba_domain`` and ``slapd_server``;
what each test expects is computed from directory_data, not repeated here.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import subprocess
import threading
import time
import uuid
from datetime import UTC, datetime

import ldap
import ldap.controls
import ldap.dn
import pytest
import trustme

from support import directory_data as data
from support import slapd
from support.ldap_server import ldap_calls
from support.samba import group_dn, ou_dn, person_dn, which

from usersync.connectors import active_directory, openldap
from usersync.connectors.errors import ConfigurationError, ConnectionFailed, IncompleteRead
from usersync.connectors.ldap import LdapConnector, LdapSettings
from usersync.connectors.ldap_connect import open_session
from usersync.connectors.scope import Scope, normalize_dn

#: The python-ldap C calls a read may make: local options, StartTLS, bind, search (with the paging
#: and range controls: they travel with the search), reading results, unbind. No add, modify,
#: delete, modrdn, compare, extended operation (other than StartTLS), abandon or password change.
READ_ONLY_CALLS = {"set_option", "get_option", "start_tls_s", "simple_bind", "search_ext",
                   "result4", "unbind_ext"}
HQ = ou_dn(("Headquarters",))
ENGINEERING = ou_dn(("Headquarters", "Engineering"))
WAREHOUSE = ou_dn(("Warehouse",))
MAPPED = (Scope(HQ, "headquarters"), Scope(WAREHOUSE, "warehouse"))


def by_dn(records) -> dict:
    return {normalize_dn(record.dn): record for record in records}


def person_record(records, person: data.Person):
    return by_dn(records)[normalize_dn(person_dn(person))]


# -- Active Directory (Samba) ------------------------------------------------------------------

def ad(dc, *scopes: Scope, **overrides) -> LdapSettings:
    values = dict(kind="active_directory", urls=(dc.ldaps_url,), bind_dn=dc.reader_upn,
                  password=dc.reader_password, scopes=scopes or MAPPED,
                  mapping=active_directory.DEFAULT_MAPPING, ca_pem=dc.ca_pem)
    values.update(overrides)
    return LdapSettings(**values)


@pytest.fixture(scope="module")
def dc(samba_domain):
    return samba_domain


@pytest.fixture(scope="module")
def ad_reading(dc):
    return LdapConnector(ad(dc)).read()


def mapped_people(*locations: str) -> list[data.Person]:
    return [p for location in locations for p in data.people_in(location)]


def test_ad_read_returns_every_person_of_the_mapped_ous_and_nobody_else(dc, ad_reading):
    expected = mapped_people("headquarters", "warehouse")
    records = ad_reading.snapshot.records
    assert ad_reading.snapshot.complete
    assert set(by_dn(records)) == {normalize_dn(person_dn(p)) for p in expected}
    assert len(records) == len(expected) == 36
    # Neither the contact in Headquarters nor the computer in Warehouse is a person.
    assert not [r for r in records if "Vendor" in r.dn or "KIOSK" in r.dn]
    for person in expected:
        assert person_record(records, person).locations == (person.location,)
    assert ad_reading.connection.server == dc.ldaps_url
    assert ad_reading.connection.tls.startswith("TLS1.")


def test_ad_anchors_are_the_guids_samba_itself_shows(dc, ad_reading):
    records = ad_reading.snapshot.records
    for key in ("jnunez", "sobrien", "wfang"):
        shown = subprocess.run(
            [which("samba-tool"), "user", "show", key, "-H",
             str(dc.folder / "domain" / "private" / "sam.ldb"), "--attributes=objectGUID"],
            capture_output=True, text=True, check=True).stdout
        guid = shown.split("objectGUID:")[1].split()[0]
        assert person_record(records, data.BY_KEY[key]).anchor == guid
    # Every anchor is the canonical form of the objectGUID the server holds (not its wire bytes).
    admin = dc.admin()
    try:
        held = admin.search_s(dc.test_root, ldap.SCOPE_SUBTREE, "(objectClass=user)",
                              ["objectGUID"])
    finally:
        admin.unbind_s()
    guids = {normalize_dn(dn): values["objectGUID"][0] for dn, values in held if dn}
    for record in records:
        raw = guids[normalize_dn(record.dn)]
        assert record.anchor == str(uuid.UUID(bytes_le=raw)) != str(uuid.UUID(bytes=raw))


def test_accented_names_and_escaped_cns_survive(ad_reading):
    records = ad_reading.snapshot.records
    mapping = ad_reading.mapping
    for key in ("jnunez", "zmuller", "sobrien", "rsmithjones", "tnguyen", "wfang", "ojonsdottir",
                "lwasowski"):
        person = data.BY_KEY[key]
        fields = mapping.apply(person_record(records, person).attributes)
        assert (fields["first_name"], fields["last_name"]) == (person.given_name, person.surname)
    assert r"CN=O'Brien\, Seán" in person_record(records, data.BY_KEY["sobrien"]).dn
    assert r"CN=Smith\+Jones" in person_record(records, data.BY_KEY["rsmithjones"]).dn


def test_disabled_and_expired_accounts_are_flagged(ad_reading):
    records = ad_reading.snapshot.records
    flagged = {p.key for p in mapped_people("headquarters", "warehouse")
               if person_record(records, p).disabled}
    assert flagged == {"bwilliams", "hlindqvist", "pschneider", "asharma"}
    assert flagged == {p.key for p in mapped_people("headquarters", "warehouse") if not p.active}


def test_the_primary_smtp_address_wins_and_aliases_are_kept(ad_reading):
    fields = ad_reading.mapping.apply(
        person_record(ad_reading.snapshot.records, data.BY_KEY["hbecker"]).attributes)
    assert fields["email"] == "hannah.becker@usersync.test"  # mail still has the old name
    assert fields["aliases"] == ("hannah.schmidt@usersync.test",)
    assert fields["sms_phone"] == "+49 151 23456789" and fields["identification"] == "E1008"


def test_only_the_mapped_attributes_leave_the_directory(dc, ad_reading):
    record = person_record(ad_reading.snapshot.records, data.BY_KEY["jnunez"])
    assert set(record.attributes) <= {name.lower() for name in ad(dc).requested_attributes()}
    assert "thumbnailphoto" not in record.attributes and "samaccountname" not in record.attributes


def test_a_user_under_two_mapped_bases_gets_both_locations(dc):
    reading = LdapConnector(ad(dc, Scope(HQ, "headquarters"),
                               Scope(ENGINEERING, "engineering"))).read()
    engineers = data.people_in(("Headquarters", "Engineering"))
    assert len(engineers) == 4
    for person in data.people_in("headquarters"):
        expected = ("headquarters", "engineering") if person in engineers else ("headquarters",)
        assert person_record(reading.snapshot.records, person).locations == expected
    assert len(reading.snapshot.records) == len(data.people_in("headquarters"))


def test_the_domain_root_with_its_continuation_references_is_read_completely(dc):
    settings = ad(dc, Scope(dc.base_dn))
    with open_session(settings, datetime.now(UTC)) as session:
        count = sum(len(page) for page in session.pages(
            dc.base_dn, settings.search_filter(), ["1.1"], 500))
        assert session.references >= 1  # CN=Configuration… etc.: normal, not followed
    reading = LdapConnector(settings).read()
    assert reading.snapshot.complete and len(reading.snapshot.records) == count
    assert count >= len(data.PEOPLE) + 1  # everyone, the reader, Administrator…
    assert all(r.locations is None for r in reading.snapshot.records)  # a global organization


def test_nested_group_members_are_included_and_a_loop_is_harmless(dc):
    everyone = Scope(dc.test_root)
    sales = LdapConnector(ad(dc, everyone, groups=(group_dn("Sales"),))).read()
    assert set(by_dn(sales.snapshot.records)) == {
        normalize_dn(person_dn(p)) for p in data.group_members("Sales")}
    assert len(sales.snapshot.records) == 10  # 4 direct + 3 in Sales EMEA + 3 in Sales Nordics
    cycle = LdapConnector(ad(dc, everyone, groups=(group_dn("Cycle A"),))).read()
    assert {r.dn.split(",")[0] for r in cycle.snapshot.records} == {
        f"CN={p.common_name}" for p in data.group_members("Cycle A")}


def test_the_group_of_more_than_1500_members_imports_all_of_them(dc):
    started = time.monotonic()
    reading = LdapConnector(ad(dc, Scope(dc.test_root),
                               groups=(group_dn("All Staff"),))).read()
    elapsed = time.monotonic() - started
    expected = data.group_members("All Staff")
    assert len(expected) == 1636
    assert set(by_dn(reading.snapshot.records)) == {normalize_dn(person_dn(p)) for p in expected}
    assert elapsed < 30


def test_range_retrieval_on_samba_fetches_every_value(dc):
    """Samba does not cut ``member`` at 1,500 values by itself (AD does), but it answers ranged
    requests like AD: ask for the first 1,000 and let the connector fetch the rest."""
    admin = dc.admin()
    try:
        (_, full), = admin.search_s(group_dn("All Staff"), ldap.SCOPE_BASE, "(objectClass=*)",
                                    ["member"])
    finally:
        admin.unbind_s()
    with open_session(ad(dc), datetime.now(UTC)) as session:
        first = session.fetch(group_dn("All Staff"), ["member;range=0-999"])
        assert list(first) == ["member;range=0-999"] and len(first["member;range=0-999"]) == 1000
        entry = session.entry(group_dn("All Staff"), ["member;range=0-999"])
    assert sorted(entry["member"]) == sorted(full["member"])
    assert len(entry["member"]) == len(data.group_direct_people("All Staff"))


def test_a_custom_filter_and_exclusions_are_applied_by_the_server(dc):
    engineers = LdapConnector(ad(dc, Scope(dc.test_root),
                                 filter="(&(objectClass=user)(department=Engineering))")).read()
    assert {r.dn for r in engineers.snapshot.records} == {
        person_dn(p) for p in data.PEOPLE if p.department == "Engineering"}
    excluded = LdapConnector(ad(dc, exclusions=("title=Chief*", "department=Sales"))).read()
    kept = {normalize_dn(r.dn) for r in excluded.snapshot.records}
    assert kept == {normalize_dn(person_dn(p)) for p in mapped_people("headquarters", "warehouse")
                    if not p.title.startswith("Chief") and p.department != "Sales"}


def test_an_exclusion_value_with_filter_characters_is_escaped(dc):
    # "+" must match literally; ")(" must not end the condition and widen the exclusion.
    reading = LdapConnector(ad(dc, exclusions=("sn=Smith+Jones", "sn=*)(objectClass=*"))).read()
    kept = {normalize_dn(r.dn) for r in reading.snapshot.records}
    assert normalize_dn(person_dn(data.BY_KEY["rsmithjones"])) not in kept
    assert len(kept) == 35


def test_bind_with_a_dn_or_a_upn(dc):
    for who in (dc.reader_dn, dc.reader_upn):
        reading = LdapConnector(ad(dc, Scope(ENGINEERING, "engineering"), bind_dn=who)).read()
        assert len(reading.snapshot.records) == 4


def test_a_wrong_password_names_the_bad_credential(dc):
    wrong = "Not-" + dc.reader_password
    with pytest.raises(ConfigurationError) as caught:
        LdapConnector(ad(dc, password=wrong)).read()
    error = caught.value
    assert error.code == "bind_wrong_password"
    assert "wrong password for the bind account" in error.hint
    assert "data 52e" in error.message and error.server == dc.ldaps_url
    assert wrong not in str(error) and dc.reader_password not in str(error)


@pytest.mark.parametrize("scheme", ["ldap", "ldaps"])
def test_an_untrusted_ca_is_a_tls_error_never_a_cleartext_bind(dc, scheme):
    other_ca = trustme.CA().cert_pem.bytes().decode()
    url = dc.ldap_url if scheme == "ldap" else dc.ldaps_url
    with ldap_calls() as calls, pytest.raises(ConfigurationError) as caught:
        LdapConnector(ad(dc, urls=(url,), ca_pem=other_ca)).read()
    assert caught.value.code == "tls_untrusted"
    assert "CA" in caught.value.hint and caught.value.server == url
    assert "not trusted" in caught.value.message
    if scheme == "ldap":
        assert calls["start_tls_s"] == 1
        assert calls["simple_bind"] == 0  # the password never left over plain LDAP
    assert calls["search_ext"] == 0


def test_a_certificate_that_does_not_name_the_host_is_refused(dc):
    # The DC's address written as one number: it reaches the DC, but it is not a name (nor an
    # address as written) that the certificate carries, so libldap must refuse the connection.
    url = f"ldaps://{int(ipaddress.ip_address(dc.host))}"
    with ldap_calls() as calls, pytest.raises(ConfigurationError) as caught:
        LdapConnector(ad(dc, urls=(url,))).read()
    assert caught.value.code == "tls_untrusted"
    assert "does not name the host" in caught.value.message
    assert calls["search_ext"] == 0
    report = LdapConnector(ad(dc, urls=(url,))).test().to_data()
    assert report["ssl_status"] == "invalid" and report["reachable"] is True
    assert report["certificate"]["trusted"] is True
    assert report["certificate"]["hostname_match"] is False
    assert report["bind"]["ok"] is False


def test_a_search_base_that_does_not_exist(dc):
    gone = ou_dn(("Closed Branch",))
    with pytest.raises(ConfigurationError) as caught:
        LdapConnector(ad(dc, Scope(HQ, "headquarters"), Scope(gone, "closed"))).read()
    assert caught.value.code == "no_such_base"
    assert gone in caught.value.message


def test_plain_ldap_is_refused_by_the_server_with_the_tls_hint(dc):
    with pytest.raises(ConfigurationError) as caught:
        LdapConnector(ad(dc, urls=(dc.ldap_url,), insecure=True)).read()
    assert caught.value.code == "tls_required"
    assert "use ldaps:// or" in caught.value.hint


def test_starttls_on_the_ldap_port_works(dc):
    reading = LdapConnector(ad(dc, Scope(ENGINEERING, "engineering"),
                               urls=(dc.ldap_url,))).read()
    assert reading.connection.server == dc.ldap_url and reading.connection.tls
    assert len(reading.snapshot.records) == 4


def test_failover_from_a_dead_url_to_a_live_one(dc):
    dead = f"ldaps://{dc.host}:6369"
    reading = LdapConnector(ad(dc, Scope(ENGINEERING, "engineering"),
                               urls=(dead, dc.ldaps_url))).read()
    assert reading.connection.server == dc.ldaps_url
    with pytest.raises(ConnectionFailed) as caught:
        LdapConnector(ad(dc, urls=(dead, f"ldap://{dc.host}:3899"))).read()
    assert caught.value.code == "unreachable"
    assert dead in caught.value.message and f"ldap://{dc.host}:3899" in caught.value.message


def test_a_server_stopped_mid_read_fails_the_read_then_a_normal_read_works(dc):
    pages = []

    def stop_after_first_page(message):
        if "entries read" in message:
            pages.append(message)
            if len(pages) == 1:
                dc.stop()

    bulk = Scope(ou_dn(("Bulk",)), "bulk")
    try:
        with pytest.raises((ConnectionFailed, IncompleteRead)) as caught:
            LdapConnector(ad(dc, bulk, page_size=100)).read(progress=stop_after_first_page)
    finally:
        dc.start()
    assert caught.value.code == "connection_lost" and caught.value.retryable
    assert "after 100 entries" in caught.value.message
    assert len(pages) == 1
    reading = LdapConnector(ad(dc, bulk, page_size=100)).read()
    assert reading.snapshot.complete and len(reading.snapshot.records) == data.BULK_COUNT


def test_a_server_that_stops_answering_mid_read_is_a_time_limit(dc):
    with contextlib.ExitStack() as stack:  # thaws the server when the block ends
        frozen = []

        def freeze_after_first_page(message):
            if "entries read" in message and not frozen:
                frozen.append(stack.enter_context(dc.frozen()))

        started = time.monotonic()
        with pytest.raises(IncompleteRead) as caught:
            LdapConnector(ad(dc, Scope(ou_dn(("Bulk",))), page_size=200, timeout=3)).read(
                progress=freeze_after_first_page)
        elapsed = time.monotonic() - started
    assert caught.value.code == "time_limit"
    assert elapsed < 20


def test_a_read_sends_only_bind_search_unbind_and_changes_nothing(dc):
    admin = dc.admin()

    def highest_usn() -> int:
        (_, root), = admin.search_s("", ldap.SCOPE_BASE, "(objectClass=*)",
                                    ["highestCommittedUSN"])
        return int(root["highestCommittedUSN"][0])

    def reader_entry():
        (_, values), = admin.search_s(dc.reader_dn, ldap.SCOPE_BASE, "(objectClass=*)",
                                      ["*", "+"])
        return values

    try:
        before, reader_before = highest_usn(), reader_entry()
        with ldap_calls() as calls:
            reading = LdapConnector(ad(dc, Scope(dc.test_root, None),
                                       groups=(group_dn("Sales"),), urls=(dc.ldap_url,))).read()
        assert reading.snapshot.records
        assert set(calls) <= READ_ONLY_CALLS, calls
        assert calls["simple_bind"] == 1 and calls["start_tls_s"] == 1
        assert calls["unbind_ext"] == 1
        # What a DC writes by itself when an account logs on (lastLogonTimestamp, at most every
        # few days) is the only change allowed; anything else would be a write by the connector.
        changed = admin.search_s(dc.base_dn, ldap.SCOPE_SUBTREE, f"(uSNChanged>={before + 1})",
                                 ["uSNChanged"])
        assert {normalize_dn(dn) for dn, _ in changed if dn} <= {normalize_dn(dc.reader_dn)}
        reader_after = reader_entry()
        differing = {name for name in set(reader_before) | set(reader_after)
                     if reader_before.get(name) != reader_after.get(name)}
        assert differing <= {"lastLogonTimestamp", "uSNChanged", "whenChanged"}, differing
        # A second read: the directory is byte-for-byte unchanged.
        again = highest_usn()
        LdapConnector(ad(dc, Scope(dc.test_root, None))).read()
        assert highest_usn() == again
    finally:
        admin.unbind_s()


def test_the_connection_report_of_a_working_domain(dc):
    started = time.monotonic()
    report = LdapConnector(ad(dc, Scope(HQ, "headquarters"), Scope(WAREHOUSE, "warehouse"),
                              Scope(ou_dn(("Bulk",)), None))).test()
    elapsed = time.monotonic() - started
    data_ = report.to_data()
    json.dumps(data_)
    assert {"reachable", "server", "ssl_status", "certificate", "bind", "bases",
            "samples"} <= set(data_)
    assert data_["reachable"] is True and data_["server"] == dc.ldaps_url
    assert data_["ssl_status"] == "ok"
    certificate = data_["certificate"]
    assert {"subject", "issuer", "not_after", "days_left", "trusted",
            "hostname_match"} <= set(certificate)
    assert certificate["trusted"] and certificate["hostname_match"]
    assert "usersync test CA" in certificate["issuer"] and dc.host in certificate["sans"]
    assert 360 <= certificate["days_left"] <= 365
    assert data_["tls"]["protocol"] in ("TLSv1.2", "TLSv1.3")
    assert data_["bind"] == {"ok": True, "error": None, "hint": None}
    assert data_["bases"] == [
        {"base": HQ, "location": "headquarters", "count": len(data.people_in("headquarters"))},
        {"base": WAREHOUSE, "location": "warehouse", "count": len(data.people_in("warehouse"))},
        {"base": ou_dn(("Bulk",)), "location": None, "count": data.BULK_COUNT},
    ]
    assert len(data_["samples"]) == 5
    assert all({"first_name", "last_name", "email"} <= set(s) for s in data_["samples"])
    assert dc.reader_password not in json.dumps(data_)
    assert elapsed < 10


def test_a_certificate_expiring_in_ten_days_is_expiring(dc):
    with dc.use_certificate(not_after_days=10):
        data_ = LdapConnector(ad(dc, Scope(ENGINEERING, "engineering"))).test().to_data()
        reading = LdapConnector(ad(dc, Scope(ENGINEERING, "engineering"))).read()
    assert data_["ssl_status"] == "expiring"
    assert data_["certificate"]["days_left"] in (9, 10)
    assert data_["bind"]["ok"] is True
    assert len(reading.snapshot.records) == 4  # still valid: the sync goes on


def test_the_connection_report_of_a_wrong_password_and_of_a_dead_server(dc):
    wrong = LdapConnector(ad(dc, password="nope-" + dc.reader_password)).test().to_data()
    assert wrong["reachable"] is True and wrong["server"] == dc.ldaps_url
    assert wrong["bind"]["ok"] is False
    assert "wrong password for the bind account" in wrong["bind"]["hint"]
    assert wrong["ssl_status"] == "ok" and wrong["bases"] == []
    dead = LdapConnector(ad(dc, urls=(f"ldaps://{dc.host}:6369",))).test().to_data()
    assert dead["reachable"] is False and dead["server"] is None
    assert dead["certificate"] is None and dead["bind"]["ok"] is False


# -- OpenLDAP (slapd) ----------------------------------------------------------------------------

OL_MAPPED = (Scope(slapd.ou_dn(("Headquarters",)), "headquarters"),
             Scope(slapd.ou_dn(("Warehouse",)), "warehouse"))


def ol(server, *scopes: Scope, **overrides) -> LdapSettings:
    values = dict(kind="ldap", urls=(server.url_ldap,), bind_dn=server.reader_dn,
                  password=server.reader_password, scopes=scopes or OL_MAPPED,
                  mapping=openldap.DEFAULT_MAPPING, ca_pem=server.ca_pem)
    values.update(overrides)
    return LdapSettings(**values)


def ol_dns(people) -> set[str]:
    return {normalize_dn(slapd.person_dn(p)) for p in people}


@pytest.fixture(scope="module")
def ldap_server(slapd_server):
    return slapd_server


@pytest.fixture(scope="module")
def own_slapd():
    """A slapd of this module's own, for what would disturb the shared one: stopping and freezing
    it, a referral entry, and the monitor database that counts the operations it receives."""
    with slapd.Slapd() as server:
        config = ldap.initialize(server.url_ldapi)
        config.sasl_external_bind_s()  # root over the ldapi socket manages cn=config
        config.add_s("olcDatabase=monitor,cn=config", [
            ("objectClass", [b"olcDatabaseConfig"]), ("olcDatabase", [b"monitor"]),
            ("olcAccess", [f'to * by dn.exact="{server.admin_dn}" read by * none'.encode()])])
        config.unbind_s()
        yield server


@pytest.fixture(scope="module")
def ol_reading(ldap_server):
    return LdapConnector(ol(ldap_server)).read()


def test_openldap_read_over_starttls_returns_the_people_of_the_mapped_ous(ldap_server,
                                                                          ol_reading):
    records = ol_reading.snapshot.records
    expected = mapped_people("headquarters", "warehouse")
    assert ol_reading.snapshot.complete
    assert set(by_dn(records)) == ol_dns(expected)  # the device in Warehouse is not a person
    for person in expected:
        record = by_dn(records)[normalize_dn(slapd.person_dn(person))]
        assert record.locations == (person.location,)
        assert not record.disabled  # OpenLDAP has no account state
    assert ol_reading.connection.server == ldap_server.url_ldap
    assert ol_reading.connection.tls.startswith("TLS1.")


def test_openldap_anchors_are_the_entryuuids(ldap_server, ol_reading):
    admin = ldap_server.admin()
    try:
        held = admin.search_s(ldap_server.people_dn, ldap.SCOPE_SUBTREE,
                              "(objectClass=inetOrgPerson)", ["entryUUID"])
    finally:
        admin.unbind_s()
    uuids = {normalize_dn(dn): values["entryUUID"][0].decode() for dn, values in held}
    for record in ol_reading.snapshot.records:
        assert record.anchor == uuids[normalize_dn(record.dn)]
        assert str(uuid.UUID(record.anchor)) == record.anchor


def test_openldap_names_and_escaped_cns_survive(ol_reading):
    records = by_dn(ol_reading.snapshot.records)
    for key in ("jnunez", "sobrien", "rsmithjones", "tnguyen", "wfang", "lwasowski"):
        person = data.BY_KEY[key]
        fields = ol_reading.mapping.apply(records[normalize_dn(slapd.person_dn(person))].attributes)
        assert (fields["first_name"], fields["last_name"]) == (person.given_name, person.surname)
        assert fields["email"] == person.primary_email
        assert fields["department"] == person.department
    for key, cn in (("sobrien", "O'Brien, Seán"), ("rsmithjones", "Smith+Jones")):
        dn = records[normalize_dn(slapd.person_dn(data.BY_KEY[key]))].dn
        assert ldap.dn.str2dn(dn)[0][0][:2] == ("cn", cn)  # slapd writes \2C; same DN


def test_openldap_nested_groups_are_walked_and_a_loop_ends(ldap_server):
    people = Scope(ldap_server.people_dn)
    sales = LdapConnector(ol(ldap_server, people, groups=(slapd.group_dn("Sales"),))).read()
    assert set(by_dn(sales.snapshot.records)) == ol_dns(data.group_members("Sales"))
    cycle = LdapConnector(ol(ldap_server, people, groups=(slapd.group_dn("Cycle A"),))).read()
    assert set(by_dn(cycle.snapshot.records)) == ol_dns(data.group_members("Cycle A"))


def test_openldap_group_of_more_than_1500_members_imports_all(ldap_server):
    reading = LdapConnector(ol(ldap_server, Scope(ldap_server.people_dn),
                               groups=(slapd.group_dn("All Staff"),))).read()
    assert set(by_dn(reading.snapshot.records)) == ol_dns(data.group_members("All Staff"))
    assert len(reading.snapshot.records) == 1636


def test_a_size_limited_bind_account_fails_the_read(ldap_server):
    limited = ol(ldap_server, bind_dn=ldap_server.limited_dn,
                 password=ldap_server.limited_password, page_size=2)
    with pytest.raises(IncompleteRead) as caught:
        LdapConnector(limited).read()
    assert caught.value.code == "size_limit"
    assert "incomplete" in caught.value.message and caught.value.retryable
    report = LdapConnector(limited).test().to_data()
    assert report["bind"]["ok"] is True
    assert all(base["count"] is None and "size limit" in base["error"]
               for base in report["bases"])


def test_openldap_wrong_password_and_upn(ldap_server):
    with pytest.raises(ConfigurationError) as caught:
        LdapConnector(ol(ldap_server, password="wrong")).read()
    assert caught.value.code == "bind_invalid_credentials"
    assert "wrong password" in caught.value.hint
    with pytest.raises(ConfigurationError) as caught:
        LdapConnector(ol(ldap_server, bind_dn="reader@usersync.test")).read()
    assert caught.value.code == "bind_invalid_dn"
    assert "full DN" in caught.value.hint


def test_openldap_untrusted_ca_never_binds_in_clear(ldap_server):
    with ldap_calls() as calls, pytest.raises(ConfigurationError) as caught:
        LdapConnector(ol(ldap_server, ca_pem=trustme.CA().cert_pem.bytes().decode())).read()
    assert caught.value.code == "tls_untrusted"
    assert calls["start_tls_s"] == 1 and calls["simple_bind"] == 0


def test_openldap_insecure_plain_ldap_is_allowed_only_when_asked_and_flagged(ldap_server):
    reading = LdapConnector(ol(ldap_server, Scope(slapd.ou_dn(("Headquarters", "Engineering"))),
                               insecure=True)).read()
    assert reading.connection.tls is None
    assert any("not encrypted" in notice for notice in reading.notices)
    report = LdapConnector(ol(ldap_server, insecure=True)).test().to_data()
    assert report["ssl_status"] == "not encrypted" and report["insecure"] is True
    assert report["certificate"] is None and report["bind"]["ok"] is True


def test_openldap_missing_base_and_failover(ldap_server):
    with pytest.raises(ConfigurationError) as caught:
        LdapConnector(ol(ldap_server, Scope(slapd.ou_dn(("Closed",)), "closed"))).read()
    assert caught.value.code == "no_such_base"
    dead = f"ldaps://127.0.0.1:{slapd.free_port()}"
    reading = LdapConnector(ol(ldap_server, urls=(dead, ldap_server.url_ldaps))).read()
    assert reading.connection.server == ldap_server.url_ldaps


def test_openldap_exclusions(ldap_server):
    reading = LdapConnector(ol(ldap_server, exclusions=("departmentNumber=Sales",
                                                        "uid=*kiosk*"))).read()
    assert set(by_dn(reading.snapshot.records)) == ol_dns(
        p for p in mapped_people("headquarters", "warehouse") if p.department != "Sales")


def test_openldap_connection_report(ldap_server):
    report = LdapConnector(ol(ldap_server)).test().to_data()
    assert report["reachable"] and report["ssl_status"] == "ok"
    assert report["certificate"]["trusted"] and report["certificate"]["hostname_match"]
    assert report["bases"] == [
        {"base": slapd.ou_dn(("Headquarters",)), "location": "headquarters",
         "count": len(data.people_in("headquarters"))},
        {"base": slapd.ou_dn(("Warehouse",)), "location": "warehouse",
         "count": len(data.people_in("warehouse"))}]
    assert len(report["samples"]) == 5
    with ldap_server.use_certificate(not_after_days=10):
        expiring = LdapConnector(ol(ldap_server)).test().to_data()
    assert expiring["ssl_status"] == "expiring" and expiring["certificate"]["days_left"] in (9, 10)


def test_a_referral_for_the_search_base_fails_the_read(own_slapd):
    branch = slapd.ou_dn(("Branch",))
    admin = own_slapd.admin()
    admin.add_s(branch, [("objectClass", [b"referral", b"extensibleObject"]), ("ou", [b"Branch"]),
                         ("ref", [f"ldap://branch.usersync.test/{branch}".encode()])])
    try:
        with pytest.raises(ConfigurationError) as caught:
            LdapConnector(ol(own_slapd, Scope(branch, "branch"))).read()
        assert caught.value.code == "referral"
        # Under a base that holds the referral it is a continuation reference: read on.
        reading = LdapConnector(ol(own_slapd, Scope(own_slapd.people_dn))).read()
        assert reading.snapshot.complete
        assert len(reading.snapshot.records) == len(data.PEOPLE)
    finally:
        admin.delete_ext_s(branch, serverctrls=[ldap.controls.LDAPControl(
            ldap.CONTROL_MANAGEDSAIT, True, None)])
        admin.unbind_s()


def test_a_group_member_on_another_server_stops_the_read_instead_of_leaving_its_people_out(
        own_slapd):
    """A member the server refers elsewhere may be a group: who is in it cannot be known, and
    leaving its people out of the read would archive them. The read stops, saying which."""
    abroad = slapd.ou_dn(("Abroad",))
    remote_team = f"cn=Remote Team,{abroad}"
    mixed = slapd.group_dn("Mixed")
    someone = slapd.person_dn(data.group_members("Sales")[0])
    admin = own_slapd.admin()
    admin.add_s(abroad, [("objectClass", [b"referral", b"extensibleObject"]),
                         ("ou", [b"Abroad"]),
                         ("ref", [f"ldap://abroad.usersync.test/{abroad}".encode()])])
    admin.add_s(mixed, [("objectClass", [b"groupOfNames"]), ("cn", [b"Mixed"]),
                        ("member", [someone.encode(), remote_team.encode()])])
    try:
        with pytest.raises(ConfigurationError) as caught:
            LdapConnector(ol(own_slapd, Scope(own_slapd.people_dn), groups=(mixed,))).read()
        assert caught.value.code == "member_referral"
        assert remote_team in str(caught.value) and "abroad.usersync.test" in str(caught.value)
        assert "take that member out of the group" in caught.value.hint
        # a member that is not there at all is only a dangling one: the read goes on
        admin.modify_s(mixed, [(ldap.MOD_DELETE, "member", [remote_team.encode()]),
                               (ldap.MOD_ADD, "member", [f"cn=Gone,{slapd.GROUPS_DN}".encode()])])
        reading = LdapConnector(ol(own_slapd, Scope(own_slapd.people_dn), groups=(mixed,))).read()
        assert set(by_dn(reading.snapshot.records)) == {normalize_dn(someone)}
    finally:
        admin.delete_s(mixed)
        admin.delete_ext_s(abroad, serverctrls=[ldap.controls.LDAPControl(
            ldap.CONTROL_MANAGEDSAIT, True, None)])
        admin.unbind_s()


def test_openldap_stopped_mid_read_then_a_normal_read_works(own_slapd):
    bulk = Scope(slapd.ou_dn(("Bulk",)), "bulk")

    def stop_after_first_page(message):
        if "entries read" in message and own_slapd.running:
            own_slapd.stop()

    try:
        with pytest.raises(ConnectionFailed) as caught:
            LdapConnector(ol(own_slapd, bulk, page_size=100)).read(progress=stop_after_first_page)
    finally:
        own_slapd.start()
    # slapd stopping answers a page asked for meanwhile "unavailable" (server_busy), and drops
    # the connection once stopped (connection_lost): which the read meets is a matter of timing;
    # either way the read fails as a whole and says to try again
    assert caught.value.code in {"connection_lost", "server_busy"}
    assert "try again" in caught.value.hint
    reading = LdapConnector(ol(own_slapd, bulk, page_size=100)).read()
    assert len(reading.snapshot.records) == data.BULK_COUNT


def test_openldap_receives_only_starttls_bind_search_unbind_and_is_unchanged(own_slapd):
    admin = own_slapd.admin()

    def operations() -> dict[str, int]:
        found = admin.search_s("cn=Operations,cn=Monitor", ldap.SCOPE_ONELEVEL,
                               "(objectClass=*)", ["monitorOpCompleted"])
        return {dn.split(",")[0][3:]: int(values["monitorOpCompleted"][0])
                for dn, values in found}

    def context_csn() -> list[bytes]:
        (_, values), = admin.search_s(own_slapd.base_dn, ldap.SCOPE_BASE, "(objectClass=*)",
                                      ["contextCSN"])
        return values["contextCSN"]

    try:
        csn, before = context_csn(), operations()
        with ldap_calls() as calls:
            reading = LdapConnector(ol(own_slapd, Scope(own_slapd.people_dn), page_size=300,
                                       groups=(slapd.group_dn("Sales"),))).read()
        after, looks = operations(), 1
        while after["Unbind"] == before["Unbind"] and looks < 500:
            time.sleep(0.01)  # slapd counts an unbind once it has dropped the connection
            after, looks = operations(), looks + 1
        assert set(calls) <= READ_ONLY_CALLS, calls
        pages = calls["search_ext"]
        delta = {name: after[name] - before[name] for name in before}
        # What the server itself counted: one StartTLS, one bind, the searches (ours, and the
        # ones that read the counts before the last), one unbind. Nothing that writes,
        # compares or abandons.
        assert delta == {"Bind": 1, "Unbind": 1, "Search": pages + looks, "Extended": 1,
                         "Compare": 0, "Modify": 0, "Modrdn": 0, "Add": 0, "Delete": 0,
                         "Abandon": 0}
        assert len(reading.snapshot.records) == len(data.group_members("Sales"))
        assert context_csn() == csn  # the directory is unchanged
    finally:
        admin.unbind_s()


def test_openldap_that_stops_answering_is_a_time_limit(own_slapd):
    with contextlib.ExitStack() as stack:  # thaws the server when the block ends
        frozen = []

        def freeze_after_first_page(message):
            if "entries read" in message and not frozen:
                frozen.append(stack.enter_context(own_slapd.frozen()))

        with pytest.raises(IncompleteRead) as caught:
            LdapConnector(ol(own_slapd, Scope(slapd.ou_dn(("Bulk",))), page_size=200,
                             timeout=2)).read(progress=freeze_after_first_page)
    assert caught.value.code == "time_limit"



@pytest.mark.parametrize("scheme", ["ldaps", "ldap"])
def test_a_hung_server_is_failed_over(own_slapd, ldap_server, scheme):
    """A server that accepts connections but never answers (frozen with SIGSTOP) is skipped for
    the next URL: ldaps:// within the connect timeout (the pre-flight handshake; libldap alone
    would wait forever), ldap:// within the operation timeout (libldap times StartTLS out).
    The read runs in a thread: if it hangs, the server is thawed so the test fails, not hangs."""
    hung = own_slapd.url_ldaps if scheme == "ldaps" else own_slapd.url_ldap
    settings = ol(ldap_server, Scope(slapd.ou_dn(("Headquarters", "Engineering"))),
                  urls=(hung, ldap_server.url_ldaps), connect_timeout=1, timeout=2)
    outcome: dict = {}

    def read():
        try:
            outcome["reading"] = LdapConnector(settings).read()
        except Exception as error:  # noqa: BLE001 — reported by the assertions below
            outcome["error"] = error

    started = time.monotonic()
    with own_slapd.frozen():
        worker = threading.Thread(target=read, daemon=True)
        worker.start()
        worker.join(timeout=20)
        hung_for = time.monotonic() - started
    worker.join(timeout=30)  # thawed: a read that hung can finish now
    assert hung_for < 20, "the read hung on the frozen server"
    assert "error" not in outcome, outcome.get("error")
    assert outcome["reading"].connection.server == ldap_server.url_ldaps
    assert len(outcome["reading"].snapshot.records) == 4
