"""A read's own logic on a fake directory: records merged across bases, locations, AD anchors and
account state, OpenLDAP groups, what is requested, progress. The real servers are the evidence that
the connector works (tests/integration/test_ldap_connector.py); this pins the logic down."""

import uuid
from datetime import UTC, datetime

import ldap
import pytest
from ldap.controls import SimplePagedResultsControl

from usersync.connectors import active_directory, ldap_read, openldap
from usersync.connectors.base import ConnectionInfo
from usersync.connectors.errors import ConfigurationError, ConnectionFailed
from usersync.connectors.ldap import LdapConnector, LdapSettings
from usersync.connectors.ldap_search import Session
from usersync.connectors.scope import Scope, normalize_dn, within

NOW = datetime(2025, 6, 1, tzinfo=UTC)
ACME = "DC=acme,DC=example"
HQ = f"OU=Headquarters,{ACME}"
WAREHOUSE = f"OU=Warehouse,{ACME}"
PASSWORD = "never-shown-1"
UUID = "6f1e1e1c-94a3-4b8e-9d1b-2f3c4d5e6f70"


class FakeDirectory:
    """Entries by DN; answers subtree searches a page at a time (ignoring the filter, which the
    server evaluates) and base searches, and records every request."""

    def __init__(self, entries: dict[str, dict[str, list[bytes]]]):
        self.entries = entries
        self.searches: list[tuple] = []
        self.cursors: dict[bytes, list] = {}

    def search_ext(self, base, scope, filterstr, attrlist, serverctrls=None, timeout=-1):
        self.searches.append((base, scope, filterstr, attrlist))
        return len(self.searches)

    def result3(self, msgid, timeout=-1):
        base, scope, filterstr, attrlist = self.searches[msgid - 1]
        if scope == ldap.SCOPE_BASE:
            found = [(dn, values) for dn, values in self.entries.items()
                     if normalize_dn(dn) == normalize_dn(base)]
            if not found:
                raise ldap.NO_SUCH_OBJECT({"result": 32})
            dn, values = found[0]
            classes = {v.lower() for v in values.get("objectClass", [])}
            if "groupOfNames" in filterstr and not classes & {b"groupofnames"}:
                return ldap.RES_SEARCH_RESULT, [], msgid, []
            return ldap.RES_SEARCH_RESULT, [(dn, values)], msgid, []
        matching = [(dn, values) for dn, values in self.entries.items() if within(dn, base)
                    and b"group" not in b" ".join(values.get("objectClass", [])).lower()]
        return ldap.RES_SEARCH_RESULT, matching, msgid, [
            SimplePagedResultsControl(True, size=0, cookie=b"")]

    def unbind_ext_s(self):
        pass


def guid(n: int) -> uuid.UUID:
    return uuid.UUID(int=n * 0x1000100010001 + 0x1234_5678_9ABC_DEF0_0000_0000_0000_0000)


def ad_user(n: int, ou: str, uac: int = 512, **extra) -> tuple[str, dict]:
    values = {"objectGUID": [guid(n).bytes_le], "givenName": [f"Zoë{n}".encode()],
              "sn": ["Ångström".encode()], "userAccountControl": [str(uac).encode()],
              "proxyAddresses": [f"SMTP:user{n}@acme.example".encode(),
                                 f"smtp:u{n}@old.example".encode()]}
    values.update({k: [v.encode()] for k, v in extra.items()})
    return f"CN=User {n},{ou}", values


@pytest.fixture
def fake(monkeypatch):
    holder = {}

    def open_session(settings, now):
        holder["settings"] = settings
        return Session(holder["directory"], settings.urls[0], "TLS1.3 AES-256-GCM", 30.0)

    monkeypatch.setattr(ldap_read, "open_session", open_session)

    def use(entries):
        holder["directory"] = FakeDirectory(dict(entries))
        return holder["directory"]

    return use


def ad_settings(*scopes, **overrides) -> LdapSettings:
    values = dict(kind="active_directory", urls=("ldaps://dc1.acme.example",),
                  bind_dn="svc@acme.example", password=PASSWORD,
                  scopes=scopes or (Scope(HQ, "headquarters"),),
                  mapping=active_directory.DEFAULT_MAPPING)
    values.update(overrides)
    return LdapSettings(**values)


def test_ad_records_have_guid_anchors_account_state_and_mapped_values(fake):
    directory = fake([ad_user(1, HQ), ad_user(2, HQ, uac=514)])
    reading = LdapConnector(ad_settings(), now=lambda: NOW).read()
    records = {r.dn: r for r in reading.snapshot.records}
    one, two = records[f"CN=User 1,{HQ}"], records[f"CN=User 2,{HQ}"]
    assert one.anchor == str(guid(1)) and two.anchor == str(guid(2))
    assert not one.disabled and two.disabled
    assert "objectguid" not in one.attributes
    assert reading.mapping.apply(one.attributes)["email"] == "user1@acme.example"
    assert reading.mapping.apply(one.attributes)["aliases"] == ("u1@old.example",)
    assert reading.mapping.apply(one.attributes)["first_name"] == "Zoë1"
    assert reading.snapshot.complete and reading.snapshot.kind == "full"
    assert reading.connection == ConnectionInfo("ldaps://dc1.acme.example", "TLS1.3 AES-256-GCM")
    (search,) = directory.searches
    assert search[2] == active_directory.DEFAULT_FILTER


def test_a_value_people_share_is_held_once_for_all_of_them(fake):
    fake([ad_user(1, HQ, title="Engineer"), ad_user(2, HQ, title="Engineer")])
    one, two = LdapConnector(ad_settings(), now=lambda: NOW).read().snapshot.records
    assert one.attributes["sn"] == ("Ångström",) and one.attributes["sn"] is two.attributes["sn"]
    assert one.attributes["title"] is two.attributes["title"]
    assert (one.attributes["givenname"], two.attributes["givenname"]) == (("Zoë1",), ("Zoë2",))


def test_an_expired_account_is_disabled(fake):
    expired = str(116_444_736_000_000_000 + int(datetime(2025, 1, 1, tzinfo=UTC).timestamp())
                  * 10_000_000)
    fake([ad_user(1, HQ, accountExpires=expired), ad_user(2, HQ, accountExpires="0")])
    reading = LdapConnector(ad_settings(), now=lambda: NOW).read()
    assert {r.anchor: r.disabled for r in reading.snapshot.records} == {
        str(guid(1)): True, str(guid(2)): False}


def test_only_the_needed_attributes_are_requested(fake):
    directory = fake([ad_user(1, HQ)])
    LdapConnector(ad_settings(), now=lambda: NOW).read()
    requested = directory.searches[0][3]
    assert sorted(requested) == sorted([
        "givenName", "sn", "proxyAddresses", "mail", "mobile", "title", "department",
        "employeeID", "objectGUID", "userAccountControl", "accountExpires"])


def test_openldap_requests_the_operational_entryuuid():
    settings = LdapSettings("ldap", ("ldaps://ldap1",), "cn=sync,dc=x", PASSWORD,
                            (Scope("dc=x"),), openldap.DEFAULT_MAPPING)
    assert "entryUUID" in settings.requested_attributes()
    assert "userAccountControl" not in settings.requested_attributes()


def test_a_person_under_two_mapped_bases_gets_both_locations(fake):
    fake([ad_user(1, HQ), ad_user(2, WAREHOUSE)])
    settings = ad_settings(Scope(HQ, "headquarters"), Scope(ACME, "all-staff"),
                           Scope(WAREHOUSE, "warehouse"))
    reading = LdapConnector(settings, now=lambda: NOW).read()
    by_anchor = {r.anchor: r.locations for r in reading.snapshot.records}
    assert by_anchor == {str(guid(1)): ("headquarters", "all-staff"),
                         str(guid(2)): ("all-staff", "warehouse")}
    assert len(reading.snapshot.records) == 2


def test_a_global_organization_gets_no_locations(fake):
    fake([ad_user(1, HQ), ad_user(2, WAREHOUSE)])
    reading = LdapConnector(ad_settings(Scope(HQ), Scope(WAREHOUSE)), now=lambda: NOW).read()
    assert [r.locations for r in reading.snapshot.records] == [None, None]


def test_progress_is_reported_after_each_page(fake):
    fake([ad_user(1, HQ)])
    seen = []
    LdapConnector(ad_settings(), now=lambda: NOW).read(progress=seen.append)
    assert seen[0] == "connected to ldaps://dc1.acme.example (TLS1.3 AES-256-GCM)"
    assert f"1 entries read under {HQ}" in seen
    assert seen[-1] == "read complete: 1 people"


def test_a_failure_mid_read_raises_and_returns_nothing(fake):
    directory = fake([ad_user(1, HQ)])

    def lost(msgid, timeout=-1):
        raise ldap.SERVER_DOWN({"result": -1})

    directory.result3 = lost
    with pytest.raises(ConnectionFailed) as caught:
        LdapConnector(ad_settings(), now=lambda: NOW).read()
    assert caught.value.code == "connection_lost"


def test_openldap_groups_keep_only_their_nested_members(fake):
    people = "ou=people,dc=example,dc=org"
    groups = "ou=groups,dc=example,dc=org"

    def person(name):
        return (f"uid={name},{people}",
                {"objectClass": [b"inetOrgPerson"], "entryUUID": [str(uuid.uuid4()).encode()],
                 "givenName": [name.encode()], "sn": [b"X"]})

    fake([person("ada"), person("bob"), person("cy"), person("dee"),
          (f"cn=staff,{groups}", {"objectClass": [b"groupOfNames"],
                                  "member": [f"uid=ada,{people}".encode(),
                                             f"cn=ops,{groups}".encode()]}),
          (f"cn=ops,{groups}", {"objectClass": [b"groupOfNames"],
                                "member": [f"UID=Bob, {people}".encode(),
                                           f"cn=staff,{groups}".encode()]})])
    settings = LdapSettings("ldap", ("ldaps://ldap1",), "cn=sync,dc=example,dc=org", PASSWORD,
                            (Scope(people, "hq"),), openldap.DEFAULT_MAPPING,
                            groups=(f"cn=staff,{groups}",))
    reading = LdapConnector(settings, now=lambda: NOW).read()
    assert sorted(r.dn for r in reading.snapshot.records) == [f"uid=ada,{people}",
                                                              f"uid=bob,{people}"]
    assert all(r.anchor and not r.anchor.startswith("dn:") for r in reading.snapshot.records)


def test_entries_without_a_stable_id_are_noticed(fake):
    fake([(f"uid=ada,{HQ}", {"givenName": [b"Ada"]})])
    settings = LdapSettings("ldap", ("ldaps://ldap1",), "cn=sync", PASSWORD, (Scope(HQ),),
                            openldap.DEFAULT_MAPPING)
    reading = LdapConnector(settings, now=lambda: NOW).read()
    assert reading.snapshot.records[0].anchor == "dn:" + normalize_dn(f"uid=ada,{HQ}")
    assert any("no entryUUID" in notice for notice in reading.notices)


def test_an_id_that_cannot_be_read_is_noticed_as_none(fake):
    """An entryUUID of blanks anchors nothing: the DN does, as if there were none."""
    fake([(f"uid=ada,{HQ}", {"givenName": [b"Ada"], "entryUUID": [b" "]}),
          (f"uid=bob,{HQ}", {"givenName": [b"Bob"], "entryUUID": [UUID.encode()]})])
    settings = LdapSettings("ldap", ("ldaps://ldap1",), "cn=sync", PASSWORD, (Scope(HQ),),
                            openldap.DEFAULT_MAPPING)
    reading = LdapConnector(settings, now=lambda: NOW).read()
    assert sorted(r.anchor for r in reading.snapshot.records) == sorted(
        ["dn:" + normalize_dn(f"uid=ada,{HQ}"), UUID])
    assert any(notice.startswith("1 entries have no entryUUID") for notice in reading.notices)


@pytest.mark.parametrize(
    "overrides, code",
    [
        (dict(kind="novell"), "unknown_kind"),
        (dict(urls=()), "invalid_url"),
        (dict(urls=("https://dc1",)), "invalid_url"),
        (dict(bind_dn=" "), "missing_bind_dn"),
        (dict(password=""), "missing_password"),
        (dict(scopes=()), "missing_scope"),
        (dict(scopes=(Scope("Headquarters"),)), "invalid_dn"),
        (dict(page_size=0), "invalid_page_size"),
        (dict(page_size=1001), "invalid_page_size"),
        (dict(timeout=0), "invalid_timeout"),
        (dict(ca_pem="not a certificate"), "invalid_ca_bundle"),
        (dict(filter="(objectClass=user"), "invalid_filter"),
        (dict(groups=("Sales",)), "invalid_dn"),
        (dict(exclusions=("nonsense",)), "invalid_exclusion"),
    ],
)
def test_settings_that_cannot_work_are_refused_before_connecting(overrides, code, fake):
    directory = fake([])
    with pytest.raises(ConfigurationError) as caught:
        LdapConnector(ad_settings(**overrides), now=lambda: NOW).read()
    assert caught.value.code == code
    assert directory.searches == []


def test_the_password_is_not_in_the_settings_repr():
    assert PASSWORD not in repr(ad_settings())
    assert "password" not in repr(ad_settings())


def test_lists_are_accepted_for_tuples():
    settings = LdapSettings("ldap", ["ldaps://a"], "cn=x", PASSWORD, [Scope("dc=x")],
                            openldap.DEFAULT_MAPPING, groups=["cn=g,dc=x"])
    assert settings.urls == ("ldaps://a",) and settings.scopes == (Scope("dc=x"),)
    assert settings.groups == ("cn=g,dc=x",)
