"""Scopes: which search bases hold a DN, and which locations that gives the person."""

import pytest

from usersync.connectors.errors import ConfigurationError
from usersync.connectors.scope import (
    Scope,
    ScopeFinder,
    locations_by_ou,
    locations_for,
    normalize_dn,
    scopes_containing,
    within,
)

HQ = "OU=Headquarters,OU=Acme,DC=acme,DC=example"
WAREHOUSE = "OU=Warehouse,OU=Acme,DC=acme,DC=example"


@pytest.mark.parametrize(
    "one, other",
    [
        ("CN=Ada,OU=Sales,DC=acme,DC=example", "cn=ada,ou=sales,dc=acme,dc=example"),
        ("CN=Ada, OU=Sales , DC=acme,  DC=example", "CN=Ada,OU=Sales,DC=acme,DC=example"),
        ("cn = Ada,ou = Sales", "CN=Ada,OU=Sales"),
        (r"CN=O'Brien\, Seán,OU=HQ", r"cn=o'brien\2C seán,ou=hq"),
        (r"CN=O'Brien\, Seán,OU=HQ", r"CN=O'BRIEN\, SEÁN,OU=HQ"),
        ("cn=a+uid=b,ou=people", "UID=b+CN=a,OU=People"),
    ],
)
def test_spellings_of_the_same_dn_normalize_alike(one, other):
    assert normalize_dn(one) == normalize_dn(other)


@pytest.mark.parametrize(
    "one, other",
    [
        ("CN=Ada,OU=Sales,DC=acme", "CN=Ada,OU=Presales,DC=acme"),
        (r"CN=Smith\, OU=Sales,DC=acme", "CN=Smith,OU=Sales,DC=acme"),
        ("cn=a+uid=b,ou=people", "cn=a,uid=b,ou=people"),
    ],
)
def test_different_dns_stay_different(one, other):
    assert normalize_dn(one) != normalize_dn(other)


@pytest.mark.parametrize(
    "dn, base, expected",
    [
        (f"CN=Ada,{HQ}", HQ, True),
        (f"CN=Ada,OU=Floor 2,{HQ}", HQ, True),
        (HQ, HQ, True),
        (f"cn=ada,{HQ.lower()}", HQ.upper(), True),
        (f"CN=Ada,{HQ}", "ou=headquarters, ou=acme, dc=acme, dc=example", True),
        (f"CN=Ada,{WAREHOUSE}", HQ, False),
        ("CN=Ada,OU=Presales,DC=acme", "OU=Sales,DC=acme", False),
        # An escaped comma is part of the name, not a level of the tree: the text ends like the
        # base, the DN is not under it.
        (r"CN=Smith\, OU=Sales,OU=HQ,DC=acme", "OU=Sales,OU=HQ,DC=acme", False),
        (r"CN=O'Brien\, Seán,OU=HQ,DC=acme", "ou=hq,dc=acme", True),
        ("cn=a+uid=b,ou=people,dc=acme", "OU=People,DC=acme", True),
        ("uid=b+cn=a,ou=people,dc=acme", "cn=a+uid=b,ou=people,dc=acme", True),
        ("OU=Acme,DC=acme,DC=example", HQ, False),
        ("CN=Ada,DC=acme,DC=example", "", True),
    ],
)
def test_within(dn, base, expected):
    assert within(dn, base) is expected


def test_a_dn_that_is_not_a_dn_is_a_configuration_error():
    with pytest.raises(ConfigurationError) as caught:
        within("CN=Ada,OU=Sales", "Sales OU")
    assert caught.value.code == "invalid_dn"
    assert "Sales OU" in caught.value.message


@pytest.mark.parametrize(
    "dn, scopes, expected",
    [
        (f"CN=Ada,{HQ}", [Scope(HQ, "hq"), Scope(WAREHOUSE, "wh")], ("hq",)),
        (f"CN=Ada,{WAREHOUSE}", [Scope(HQ, "hq"), Scope(WAREHOUSE, "wh")], ("wh",)),
        ("CN=Ada,OU=Elsewhere,DC=acme,DC=example", [Scope(HQ, "hq")], ()),
        # Under two mapped bases: available in both locations (seed 001).
        (f"CN=Ada,{HQ}", [Scope("OU=Acme,DC=acme,DC=example", "all-acme"), Scope(HQ, "hq")],
         ("all-acme", "hq")),
        (f"CN=Ada,{HQ}", [Scope(HQ, "hq"), Scope(HQ.lower(), "hq")], ("hq",)),
        (f"CN=Ada,{HQ}", [Scope(HQ, None)], ()),
        (f"CN=Ada,{HQ}", [], ()),
    ],
)
def test_locations_for(dn, scopes, expected):
    assert locations_for(dn, scopes) == expected


@pytest.mark.parametrize(
    "dn, identifiers, expected",
    [
        (f"CN=Ada,{HQ}", {"headquarters", "warehouse"}, ("headquarters",)),
        (f"CN=Ada,{WAREHOUSE}", {"headquarters", "warehouse"}, ("warehouse",)),
        ("CN=Ada,OU=Head Office,DC=acme", {"head-office"}, ("head-office",)),
        ("CN=Ada,OU=Head  Office ,DC=acme", {"head-office"}, ("head-office",)),
        ("CN=Ada,OU=Floor 2,OU=Berlin,OU=Germany,DC=acme", ["germany", "berlin"],
         ("berlin", "germany")),
        # Only OU names count, not the person's own name or the domain.
        ("CN=Berlin,OU=People,DC=berlin", {"berlin"}, ()),
        (f"CN=Ada,{HQ}", {"paris"}, ()),
        (f"CN=Ada,{HQ}", set(), ()),
    ],
)
def test_locations_by_ou(dn, identifiers, expected):
    assert locations_by_ou(dn, identifiers) == expected


def test_the_scope_finder_agrees_with_scopes_containing_for_every_kind_of_entry():
    people = "ou=People,dc=acme,dc=example"
    scopes = [Scope(f"OU=Headquarters, {people.upper()}", "hq"),
              Scope(f"ou=engineering,ou=headquarters,{people}", "eng"),  # inside the first
              Scope(f"ou=Warehouse,{people}", "wh"),
              Scope(f"uid=kiosk,ou=Lobby,{people}", "lobby")]  # a base that is an entry
    entries = [
        f"uid=ada,ou=Headquarters,{people}", f"uid=bob,ou=Headquarters,{people}",
        f"uid=cy,ou=Engineering,ou=Headquarters,{people}", f"uid=dee,ou=Warehouse,{people}",
        f"uid=eve,{people}", f"uid=kiosk,ou=Lobby,{people}", f"uid=fay,ou=Lobby,{people}",
        f"uid=gus,uid=kiosk,ou=Lobby,{people}", f"ou=Warehouse,{people}",
        f"cn=O'Brien\\, Seán,ou=Warehouse,{people}", f"cn=Smith\\+Jones,ou=Elsewhere,{people}",
        f"uid=hal,ou=Elsewhere,{people}", "uid=ivy,dc=other,dc=example",
    ]
    find = ScopeFinder(scopes)
    for dn in entries * 2:  # the second time from what it remembers
        assert find(dn) == scopes_containing(dn, scopes), dn
    assert [s.location for s in find(f"uid=cy,ou=Engineering,ou=Headquarters,{people}")] == [
        "hq", "eng"]
    assert find(f"uid=kiosk,ou=Lobby,{people}") == (scopes[3],)
    assert find(f"uid=fay,ou=Lobby,{people}") == ()
