"""The test servers are real and hold what tests/support/directory_data.py says.

These tests check the fixtures, not usersync: TLS and binds behave like the servers in the field,
the directory has the documented shape, and the helpers (certificate swap, stop/start, changes
that are undone) do what they promise.
"""

from __future__ import annotations

import socket
import ssl
from datetime import UTC, datetime, timedelta

import ldap
import pytest
import trustme
from cryptography import x509
from ldap.controls import SimplePagedResultsControl
from support import directory_data as data
from support import samba, slapd

PERSON = "(&(objectCategory=person)(objectClass=user))"


def test_the_definitions_are_consistent():
    data.check()
    assert len(data.NAMED) == 38 and len(data.BULK) == data.BULK_COUNT == 1600
    assert len(data.group_members("All Staff", nested=False)) == 1636


def _dns(results) -> set[str]:
    return {dn.lower() for dn, _ in results if dn}


def _paged(conn, base: str, filterstr: str, page_size: int) -> list:
    control = SimplePagedResultsControl(True, size=page_size, cookie=b"")
    found = []
    while True:
        msgid = conn.search_ext(base, ldap.SCOPE_SUBTREE, filterstr, ["1.1"],
                                serverctrls=[control])
        _, results, _, controls = conn.result3(msgid)
        found += [r for r in results if r[0]]
        (page,) = [c for c in controls if c.controlType == SimplePagedResultsControl.controlType]
        if not page.cookie:
            return found
        control.cookie = page.cookie


# -- Samba AD DC --------------------------------------------------------------------------------

def test_samba_ldaps_verifies_against_our_ca_only(samba_domain):
    conn = samba_domain.admin()
    (_, root), = conn.search_s("", ldap.SCOPE_BASE, "(objectClass=*)",
                               ["defaultNamingContext", "dnsHostName"])
    assert root["defaultNamingContext"] == [samba_domain.base_dn.encode()]
    assert root["dnsHostName"] == [b"dc.usersync.test"]
    assert samba_domain.ca_file.read_text() == samba_domain.ca_pem
    other_ca = samba_domain.folder / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(other_ca)
    with pytest.raises(ldap.SERVER_DOWN):  # the TLS handshake fails: no bind is attempted
        samba_domain.connect(ca_file=other_ca, who=samba_domain.admin_upn,
                             password=samba_domain.admin_password)


def test_samba_starttls_on_the_ldap_port(samba_domain):
    conn = samba_domain.connect(samba_domain.ldap_url, starttls=True, who=samba_domain.reader_upn,
                                password=samba_domain.reader_password)
    assert conn.search_s(samba.ou_dn(("Warehouse",)), ldap.SCOPE_ONELEVEL, PERSON, ["1.1"])


def test_samba_refuses_a_simple_bind_without_tls(samba_domain):
    conn = ldap.initialize(samba_domain.ldap_url)
    conn.set_option(ldap.OPT_NETWORK_TIMEOUT, 5)
    with pytest.raises(ldap.STRONG_AUTH_REQUIRED):
        conn.simple_bind_s(samba_domain.reader_upn, samba_domain.reader_password)


def test_samba_binds_by_dn_or_upn_and_rejects_a_wrong_password(samba_domain):
    samba_domain.connect(who=samba_domain.reader_dn, password=samba_domain.reader_password)
    with pytest.raises(ldap.INVALID_CREDENTIALS) as caught:
        samba_domain.connect(who=samba_domain.reader_upn, password="wrong")
    assert "data 52e" in caught.value.args[0]["info"]


def test_samba_people_per_ou(samba_domain):
    conn = samba_domain.reader()
    for path in data.OUS:
        found = conn.search_s(samba.ou_dn(path), ldap.SCOPE_SUBTREE, PERSON, ["1.1"])
        expected = data.people_in(path)
        assert _dns(found) == {samba.person_dn(p).lower() for p in expected}, path
    counts = {location: len(conn.search_s(samba.ou_dn(ou), ldap.SCOPE_SUBTREE, PERSON, ["1.1"]))
              for location, ou in data.LOCATIONS.items()}
    assert counts == {"headquarters": 21, "warehouse": 15}
    everything = _paged(conn, samba_domain.test_root, PERSON, 1000)
    assert len(everything) == len(data.PEOPLE) == 1638
    # The contact and the computer are there, and the person filter leaves them out.
    assert len(conn.search_s(samba_domain.test_root, ldap.SCOPE_SUBTREE,
                             "(|(objectClass=contact)(objectClass=computer))", ["1.1"])) == 2


def test_samba_accounts_as_described(samba_domain):
    conn = samba_domain.reader()
    attrs = ["userAccountControl", "accountExpires", "proxyAddresses", "mail", "displayName",
             "employeeID", "mobile", "givenName"]
    for person in data.NAMED:
        (_, values), = conn.search_s(samba.person_dn(person), ldap.SCOPE_BASE, "(objectClass=*)",
                                     attrs)
        disabled = int(values["userAccountControl"][0]) & 0x2
        assert bool(disabled) == person.disabled, person.key
        expires = int(values["accountExpires"][0])
        assert (0 < expires < samba.filetime(datetime.now(UTC))) == person.expired, person.key
        assert values["givenName"] == [person.given_name.encode()]
        if person.primary_email:
            assert f"SMTP:{person.primary_email}".encode() in values["proxyAddresses"]
    (_, hbecker), = conn.search_s(samba.person_dn(data.BY_KEY["hbecker"]), ldap.SCOPE_BASE,
                                  "(objectClass=*)", ["mail", "proxyAddresses"])
    assert hbecker["mail"] == [b"hannah.schmidt@usersync.test"]
    assert sorted(hbecker["proxyAddresses"]) == [b"SMTP:hannah.becker@usersync.test",
                                                 b"smtp:hannah.schmidt@usersync.test"]
    # The special CNs, escaped in the DN, plain in the attribute.
    found = conn.search_s(samba_domain.test_root, ldap.SCOPE_SUBTREE, "(cn=Smith+Jones)", ["cn"])
    assert found[0][0].startswith("CN=Smith\\+Jones,OU=Headquarters")


def test_samba_ranges_the_all_staff_members(samba_domain):
    """Samba honours explicit ranges (1,500 values a step, like AD's MaxValRange), but unlike
    Windows it also returns every value when no range is asked for."""
    conn = samba_domain.reader()
    dn = samba.group_dn("All Staff")
    expected = {samba.person_dn(p).lower() for p in data.group_members("All Staff")}

    def values(attribute: str) -> tuple[str, list[bytes]]:
        (_, found), = conn.search_s(dn, ldap.SCOPE_BASE, "(objectClass=*)", [attribute])
        (name, got), = found.items()
        return name, got

    first_name, first = values("member;range=0-*")
    if first_name == "member;range=0-1499":  # what Windows does
        rest_name, rest = values("member;range=1500-*")
    else:
        assert first_name == "member;range=0-*" and len(first) == 1636  # what Samba does,
        assert len(values("member")[1]) == 1636  # with or without a range: it caps nothing
        first_name, first = values("member;range=0-1499")
        rest_name, rest = values("member;range=1500-*")
    assert (first_name, len(first)) == ("member;range=0-1499", 1500)
    assert (rest_name, len(rest)) == ("member;range=1500-*", 136)
    assert {v.decode().lower() for v in first + rest} == expected


def test_samba_nested_groups(samba_domain):
    conn = samba_domain.reader()
    in_chain = f"(memberOf:1.2.840.113556.1.4.1941:={samba.group_dn('Sales')})"
    found = conn.search_s(samba_domain.test_root, ldap.SCOPE_SUBTREE, f"(&{PERSON}{in_chain})",
                          ["1.1"])
    assert _dns(found) == {samba.person_dn(p).lower() for p in data.group_members("Sales")}
    assert len(found) == 10


def test_samba_stops_and_starts_again(samba_domain):
    conn = samba_domain.reader()
    samba_domain.stop()
    try:
        with pytest.raises(ldap.SERVER_DOWN):
            conn.search_s(samba_domain.test_root, ldap.SCOPE_SUBTREE, PERSON, ["1.1"])
    finally:
        samba_domain.start()
    assert samba_domain.reader().search_s(samba.ou_dn(("Warehouse",)), ldap.SCOPE_SUBTREE,
                                          PERSON, ["1.1"])


def test_samba_serves_a_certificate_expiring_in_ten_days(samba_domain):
    def not_after() -> datetime:
        context = ssl.create_default_context(cafile=str(samba_domain.ca_file))
        raw = socket.create_connection((samba_domain.host, 636), timeout=5)
        with context.wrap_socket(raw, server_hostname=samba_domain.host) as tls:
            der = tls.getpeercert(binary_form=True)
        return x509.load_der_x509_certificate(der).not_valid_after_utc

    with samba_domain.use_certificate(not_after_days=10):
        left = not_after() - datetime.now(UTC)
        assert timedelta(days=9) < left <= timedelta(days=10)
        samba_domain.admin()  # still trusted
    assert not_after() - datetime.now(UTC) > timedelta(days=300)


def test_samba_changes_are_undone(samba_domain, samba_changes):
    changes = samba_changes
    dn = changes.add_person("tnew", "Test", "Newcomer", ("Warehouse",),
                            email="test.newcomer@usersync.test")
    moved = changes.move(dn, samba.ou_dn(("Headquarters",)))
    renamed = changes.rename(moved, "CN=Test Renamed")
    changes.disable(renamed)
    jnunez = samba.person_dn(data.BY_KEY["jnunez"])
    changes.modify(jnunez, title="Interim CEO", mobile=None)
    changes.disable(jnunez)
    hq_elsewhere = changes.move(samba.person_dn(data.BY_KEY["ecarter"]),
                                samba.ou_dn(("Headquarters",)))
    changes.add_member("Sales EMEA", renamed)
    conn = samba_domain.admin()
    (_, values), = conn.search_s(jnunez, ldap.SCOPE_BASE, "(objectClass=*)",
                                 ["title", "mobile", "userAccountControl"])
    assert values == {"title": [b"Interim CEO"], "userAccountControl": [b"514"]}
    assert conn.search_s(hq_elsewhere, ldap.SCOPE_BASE)
    changes.undo()  # what the fixture does after the test
    (_, values), = conn.search_s(jnunez, ldap.SCOPE_BASE, "(objectClass=*)",
                                 ["title", "mobile", "userAccountControl"])
    assert values == {"title": [b"Chief Executive Officer"], "mobile": [b"+1 415 312 0101"],
                      "userAccountControl": [b"512"]}
    assert not conn.search_s(samba_domain.test_root, ldap.SCOPE_SUBTREE, "(sAMAccountName=tnew)",
                             ["1.1"])
    assert conn.search_s(samba.person_dn(data.BY_KEY["ecarter"]), ldap.SCOPE_BASE)


# -- OpenLDAP slapd -------------------------------------------------------------------------------

def test_slapd_tls_both_ways_and_plain_binds_allowed(slapd_server):
    assert slapd_server.admin().whoami_s() == f"dn:{slapd_server.admin_dn}"
    conn = slapd_server.connect(slapd_server.url_ldap, starttls=True, who=slapd_server.reader_dn,
                                password=slapd_server.reader_password)
    assert conn.whoami_s() == f"dn:{slapd_server.reader_dn}"
    plain = ldap.initialize(slapd_server.url_ldap)  # OpenLDAP's default: allowed, and insecure
    plain.simple_bind_s(slapd_server.reader_dn, slapd_server.reader_password)
    other_ca = slapd_server.folder / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(other_ca)
    with pytest.raises(ldap.SERVER_DOWN):
        slapd_server.connect(ca_file=other_ca, who=slapd_server.reader_dn,
                             password=slapd_server.reader_password)
    with pytest.raises(ldap.NO_SUCH_OBJECT):  # anonymous: not even the base is visible
        slapd_server.connect().search_s(slapd_server.people_dn, ldap.SCOPE_SUBTREE, "(uid=*)")


def test_slapd_people_per_ou_with_entry_uuids(slapd_server):
    conn = slapd_server.reader()
    for path in data.OUS:
        found = conn.search_s(slapd.ou_dn(path), ldap.SCOPE_SUBTREE, "(objectClass=inetOrgPerson)",
                              ["entryUUID"])
        assert len(found) == len(data.people_in(path)), path
        assert all(len(values["entryUUID"][0]) == 36 for _, values in found)
    everything = conn.search_s(slapd_server.people_dn, ldap.SCOPE_SUBTREE,
                               "(objectClass=inetOrgPerson)", ["1.1"])
    assert len(everything) == 1638
    (_, sobrien), = conn.search_s(slapd.person_dn(data.BY_KEY["sobrien"]), ldap.SCOPE_BASE,
                                  "(objectClass=*)", ["cn", "mail", "departmentNumber"])
    assert sobrien == {"cn": ["O'Brien, Seán".encode()], "mail": [b"sean.obrien@usersync.test"],
                       "departmentNumber": [b"Sales"]}


def test_slapd_groups_nest_and_all_staff_is_large(slapd_server):
    conn = slapd_server.reader()
    (_, staff), = conn.search_s(slapd.group_dn("All Staff"), ldap.SCOPE_BASE, "(objectClass=*)",
                                ["member"])
    assert len(staff["member"]) == 1636
    (_, sales), = conn.search_s(slapd.group_dn("Sales"), ldap.SCOPE_BASE, "(objectClass=*)",
                                ["member"])
    assert slapd.group_dn("Sales EMEA").encode() in sales["member"]


def test_slapd_limited_bind_hits_the_size_limit(slapd_server):
    conn = slapd_server.limited()
    with pytest.raises(ldap.SIZELIMIT_EXCEEDED):
        conn.search_s(slapd_server.people_dn, ldap.SCOPE_SUBTREE, "(objectClass=inetOrgPerson)")
    with pytest.raises(ldap.SIZELIMIT_EXCEEDED):  # paging does not get around it
        _paged(conn, slapd_server.people_dn, "(objectClass=inetOrgPerson)", 2)
    assert len(_paged(slapd_server.reader(), slapd_server.people_dn,
                      "(objectClass=inetOrgPerson)", 500)) == 1638


def test_slapd_stop_start_and_an_expiring_certificate(slapd_server):
    slapd_server.stop()
    with pytest.raises(ldap.SERVER_DOWN):
        slapd_server.admin()
    slapd_server.start()
    with slapd_server.use_certificate(not_after_days=10):
        pem = ssl.get_server_certificate(("127.0.0.1", slapd_server.tls_port))
        left = x509.load_pem_x509_certificate(pem.encode()).not_valid_after_utc - datetime.now(UTC)
        assert timedelta(days=9) < left <= timedelta(days=10)
    assert slapd_server.admin()


def test_slapd_changes_are_undone(slapd_server, slapd_changes):
    dn = slapd_changes.add_person("tnew", "Test", "Newcomer", ("Warehouse",))
    moved = slapd_changes.move(dn, slapd.ou_dn(("Headquarters",)))
    slapd_changes.add_member("Sales", moved)
    slapd_changes.modify(slapd.person_dn(data.BY_KEY["dkim"]), title="VP Sales")
    slapd_changes.delete(slapd_changes.add_person("tgone", "Test", "Gone"))
    conn = slapd_server.admin()
    assert conn.search_s(moved, ldap.SCOPE_BASE)
    slapd_changes.undo()
    assert not conn.search_s(slapd_server.people_dn, ldap.SCOPE_SUBTREE, "(uid=tnew)")
    (_, dkim), = conn.search_s(slapd.person_dn(data.BY_KEY["dkim"]), ldap.SCOPE_BASE,
                               "(objectClass=*)", ["title"])
    assert dkim == {"title": [b"Account Executive"]}
    (_, sales), = conn.search_s(slapd.group_dn("Sales"), ldap.SCOPE_BASE, "(objectClass=*)",
                                ["member"])
    assert len(sales["member"]) == 5
