"""A full read of several OpenLDAP bases: one search of their common parent, or one per base.

slapd's mdb backend checks every candidate entry of the database against each search's scope, so
sibling bases are read by one search of their parent (``ldap_roots``) — unless the parent holds
more people outside the bases than in them (here: ``ou=Bulk``'s 1,600 under ``ou=People``), or the
server's size limit stops that search: then each base is searched, as before. Either way the
records are the same: every person of every base, with the locations of each base holding them.
"""

from __future__ import annotations

import pytest
from support import directory_data as data
from support import slapd

from usersync.connectors import openldap
from usersync.connectors.ldap import LdapConnector, LdapSettings
from usersync.connectors.ldap_search import Session
from usersync.connectors.scope import Scope, normalize_dn

HQ = Scope(slapd.ou_dn(("Headquarters",)), "headquarters")
ENGINEERING = Scope(slapd.ou_dn(("Headquarters", "Engineering")), "engineering")
WAREHOUSE = Scope(slapd.ou_dn(("Warehouse",)), "warehouse")
BULK = Scope(slapd.ou_dn(("Bulk",)), "bulk")


def settings(server: slapd.Slapd, *scopes: Scope, **overrides) -> LdapSettings:
    values = dict(kind="ldap", urls=(server.url_ldaps,), bind_dn=server.reader_dn,
                  password=server.reader_password, scopes=scopes,
                  mapping=openldap.DEFAULT_MAPPING, ca_pem=server.ca_pem, page_size=200)
    values.update(overrides)
    return LdapSettings(**values)


@pytest.fixture
def searched(monkeypatch) -> list[str]:
    """The base of every paged search a read makes."""
    bases: list[str] = []
    pages = Session.pages

    def spy(self, base, *args, **kwargs):
        bases.append(base)
        return pages(self, base, *args, **kwargs)
    monkeypatch.setattr(Session, "pages", spy)
    return bases


def read(config: LdapSettings) -> tuple[dict[str, tuple[str, ...]], list[str]]:
    """The locations of each person read, by normalized DN, and what the read said."""
    said: list[str] = []
    reading = LdapConnector(config).read(progress=said.append)
    assert reading.snapshot.complete
    return {normalize_dn(r.dn): r.locations for r in reading.snapshot.records}, said


def expected(*scopes: Scope) -> dict[str, tuple[str, ...]]:
    """Each person under ``scopes``, with the location of every scope holding them."""
    found: dict[str, list[str]] = {}
    for scope in scopes:
        ou = tuple(reversed([rdn.split("=", 1)[1] for rdn in
                             scope.base.removesuffix("," + slapd.PEOPLE_DN).split(",")]))
        for person in data.people_in(ou):
            found.setdefault(normalize_dn(slapd.person_dn(person)), []).append(scope.location)
    return {dn: tuple(locations) for dn, locations in found.items()}


def test_sibling_bases_are_read_by_one_search_of_their_parent(slapd_server, searched):
    people, said = read(settings(slapd_server, BULK, HQ, WAREHOUSE))

    assert searched == [slapd.PEOPLE_DN]
    assert people == expected(BULK, HQ, WAREHOUSE)  # not ou=Elsewhere's two, not the device
    assert len(people) == data.BULK_COUNT + 21 + 15
    assert not any("each base" in message for message in said)


def test_nested_bases_read_from_the_outer_one_give_both_locations(slapd_server, searched):
    people, _said = read(settings(slapd_server, HQ, ENGINEERING))

    assert searched == [HQ.base]
    assert people == expected(HQ, ENGINEERING)
    assert people[normalize_dn(slapd.person_dn(data.BY_KEY["wfang"]))] == (
        "headquarters", "engineering")


def test_a_parent_holding_mostly_other_people_is_left_for_a_search_of_each_base(
        slapd_server, searched):
    people, said = read(settings(slapd_server, HQ, WAREHOUSE))

    assert searched == [slapd.PEOPLE_DN, HQ.base, WAREHOUSE.base]  # gave up on the first
    assert people == expected(HQ, WAREHOUSE)
    assert any("holds more entries outside the search bases than in them: searching each "
               "base instead" in message for message in said)


def test_a_parent_search_stopped_by_the_size_limit_is_left_for_a_search_of_each_base(searched):
    with slapd.Slapd(size_limit=40) as server:  # each base holds fewer, their parent more
        people, said = read(settings(server, HQ, WAREHOUSE))

    assert searched == [slapd.PEOPLE_DN, HQ.base, WAREHOUSE.base]
    assert people == expected(HQ, WAREHOUSE)
    assert any("hit the server's size limit: searching each base instead" in message
               for message in said)


def test_a_single_base_is_searched_from_itself(slapd_server, searched):
    people, _said = read(settings(slapd_server, WAREHOUSE))

    assert searched == [WAREHOUSE.base]
    assert people == expected(WAREHOUSE)
