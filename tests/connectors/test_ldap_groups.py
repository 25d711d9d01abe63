"""Nested group membership walked on OpenLDAP (groupOfNames / groupOfUniqueNames), cycle-safe."""

import pytest

from usersync.connectors.errors import ConfigurationError
from usersync.connectors.ldap_groups import walk_members
from usersync.connectors.scope import normalize_dn


def person(name: str) -> str:
    return f"uid={name},ou=people,dc=example,dc=org"


def group(name: str) -> str:
    return f"cn={name},ou=groups,dc=example,dc=org"


class Directory:
    """Groups by DN; every read is recorded."""

    def __init__(self, groups: dict[str, dict[str, list[str]]]):
        self.groups = {normalize_dn(dn): values for dn, values in groups.items()}
        self.reads: list[str] = []

    def read(self, dn: str):
        self.reads.append(dn)
        values = self.groups.get(normalize_dn(dn))
        if values is None:
            return None
        return {key: [v.encode() for v in found] for key, found in values.items()}


def normalized(*dns: str) -> frozenset[str]:
    return frozenset(normalize_dn(dn) for dn in dns)


def test_members_of_nested_groups_are_included():
    directory = Directory({
        group("staff"): {"objectClass": ["groupOfNames"],
                         "member": [person("ada"), group("engineering")]},
        group("engineering"): {"objectClass": ["groupOfNames"],
                               "member": [person("bob"), group("platform")]},
        group("platform"): {"objectClass": ["groupOfUniqueNames"],
                            "uniqueMember": [person("cy") + "#'0101'B"]},
    })
    assert walk_members([group("staff")], directory.read) == normalized(
        person("ada"), person("bob"), person("cy"))


def test_a_cycle_ends_the_walk():
    directory = Directory({
        group("a"): {"objectClass": ["groupOfNames"], "member": [group("b"), person("ada")]},
        group("b"): {"objectClass": ["groupOfNames"], "member": [group("a"), person("bob")]},
    })
    assert walk_members([group("a")], directory.read) == normalized(person("ada"), person("bob"))
    assert directory.reads.count(group("a")) == 1 and directory.reads.count(group("b")) == 1


def test_a_group_that_contains_itself_is_harmless():
    directory = Directory({group("a"): {"objectClass": ["groupOfNames"],
                                        "member": [group("a"), person("ada")]}})
    assert walk_members([group("a")], directory.read) == normalized(person("ada"))


def test_known_people_are_not_read_again():
    people = [person(f"u{n}") for n in range(1600)]
    directory = Directory({group("big"): {"objectClass": ["groupOfNames"], "member": people}})
    found = walk_members([group("big")], directory.read, known_people=normalized(*people))
    assert len(found) == 1600
    assert directory.reads == [group("big")]


def test_dns_are_compared_normalized():
    directory = Directory({
        group("staff"): {"objectClass": ["groupOfNames"],
                         "member": ["UID=Ada,OU=People,DC=Example,DC=Org",
                                    "CN=Engineering, OU=Groups, DC=example, DC=org"]},
        group("engineering"): {"objectClass": ["groupOfNames"], "member": [person("bob")]},
    })
    found = walk_members(["CN=Staff,OU=Groups,DC=EXAMPLE,DC=ORG"], directory.read,
                         known_people=normalized(person("ada")))
    assert found == normalized(person("ada"), person("bob"))


def test_members_of_several_groups_are_united():
    directory = Directory({
        group("a"): {"objectClass": ["groupOfNames"], "member": [person("ada")]},
        group("b"): {"objectClass": ["groupOfNames"], "member": [person("ada"), person("bob")]},
    })
    assert walk_members([group("a"), group("b")], directory.read) == normalized(
        person("ada"), person("bob"))


def test_values_that_are_not_dns_are_skipped():
    directory = Directory({group("a"): {"objectClass": ["groupOfNames"],
                                        "member": ["not a dn", "", person("ada")]}})
    assert walk_members([group("a")], directory.read) == normalized(person("ada"))


def test_escaped_dns_survive():
    odd = r"cn=O'Brien\, Seán+uid=ob,ou=people,dc=example,dc=org"
    directory = Directory({group("a"): {"objectClass": ["groupOfNames"], "member": [odd]}})
    assert walk_members([group("a")], directory.read) == normalized(odd)


@pytest.mark.parametrize("configured, code", [(group("missing"), "no_such_group"),
                                              ("Sales team", "invalid_dn")])
def test_a_configured_group_must_exist(configured, code):
    with pytest.raises(ConfigurationError) as caught:
        walk_members([configured], Directory({}).read)
    assert caught.value.code == code
