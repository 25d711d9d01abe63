"""LDIF exports: ldapsearch and ldifde output, people only, anchors, account state, locations."""

import base64
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path

import pytest

from usersync.connectors import active_directory, openldap
from usersync.connectors.errors import ConfigurationError
from usersync.connectors.ldif import read_ldif
from usersync.connectors.scope import Scope
from usersync.core.desired import Placement, Rejected, build
from usersync.core.records import RecordProblem

NOW = datetime(2025, 6, 1, tzinfo=UTC)
GUID = uuid.UUID("6f1e1e1c-94a3-4b8e-9d1b-2f3c4d5e6f70")
GUID_B64 = base64.b64encode(GUID.bytes_le).decode()
ACME = "OU=Acme,DC=acme,DC=example"
HQ = f"OU=Headquarters,{ACME}"
WAREHOUSE = f"OU=Warehouse,{ACME}"
ROOT = Path(__file__).resolve().parents[2]


def ad_user(cn: str, ou: str = HQ, *, extra: str = "", uac: str = "512") -> str:
    first, _, last = cn.partition(" ")
    return (
        f"dn: CN={cn},{ou}\n"
        "objectClass: top\nobjectClass: person\nobjectClass: organizationalPerson\n"
        f"objectClass: user\ncn: {cn}\ngivenName: {first}\nsn: {last}\n"
        f"sAMAccountName: {first.lower()}\nmail: {first.lower()}@acme.example\n"
        f"userAccountControl: {uac}\n" + (f"{extra}\n" if extra else "") + "\n"
    )


def read(text: str | bytes, **options):
    data = text.encode("utf-8") if isinstance(text, str) else text
    return read_ldif(data, now=NOW, **options)


def by_dn(reading) -> dict:
    return {r.dn: r for r in reading.snapshot.records}


LDAPSEARCH = f"""# extended LDIF
#
# LDAPv3
# base <DC=acme,DC=example> with scope subtree
# filter: (objectClass=*)
# requesting: ALL
#

# Ada Lovelace, Headquarters, Acme, acme.example
{ad_user("Ada Lovelace", extra=f"objectGUID:: {GUID_B64}")}
# search reference
ref: ldap://ForestDnsZones.acme.example/DC=ForestDnsZones,DC=acme,DC=example

# search result
search: 2
result: 0 Success

# numResponses: 3
# numEntries: 1
"""

LDIFDE = (
    "\r\n"
    f"dn: CN=Ada Lovelace,{HQ}\r\n"
    "changetype: add\r\n"
    "objectClass: top\r\nobjectClass: person\r\nobjectClass: organizationalPerson\r\n"
    "objectClass: user\r\ncn: Ada Lovelace\r\ngivenName: Ada\r\nsn: Lovelace\r\n"
    "sAMAccountName: ada\r\nuserAccountControl: 512\r\n"
    f"objectGUID:: {GUID_B64}\r\n"
    "proxyAddresses: SMTP:ada@acme.example\r\nproxyAddresses: smtp:ada.lovelace@acme.exa\r\n"
    " mple\r\n"
    "\r\n"
)


@pytest.mark.parametrize("text", [LDAPSEARCH, LDIFDE], ids=["ldapsearch", "ldifde"])
def test_ldapsearch_and_ldifde_exports(text):
    reading = read(text)
    (record,) = reading.snapshot.records
    assert record.dn == f"CN=Ada Lovelace,{HQ}"
    assert record.anchor == str(GUID)
    assert record.attributes["givenname"] == ("Ada",)
    assert "changetype" not in record.attributes and "objectguid" not in record.attributes
    assert reading.mapping == active_directory.DEFAULT_MAPPING
    assert reading.snapshot.complete
    assert reading.notices == ()
    values = reading.mapping.apply(record.attributes)
    assert (values["first_name"], values["last_name"]) == ("Ada", "Lovelace")


def test_folded_lines_are_joined():
    (record,) = read(LDIFDE).snapshot.records
    assert record.attributes["proxyaddresses"] == ("SMTP:ada@acme.example",
                                                   "smtp:ada.lovelace@acme.example")


def test_a_character_folded_across_two_lines_is_joined_whole():
    data = b"dn: cn=jose,dc=acme\nobjectClass: person\nsn: Jos\xc3\n \xa9\n"
    (record,) = read(data).snapshot.records
    assert record.attributes["sn"] == ("José",)
    assert record.problems == ()


def test_base64_values_and_dns():
    dn = f"CN=José Núñez,{HQ}"
    text = (f"dn:: {base64.b64encode(dn.encode()).decode()}\n"
            "objectClass: user\n"
            f"givenName:: {base64.b64encode('José'.encode()).decode()}\n"
            "sn: Núñez\n")
    (record,) = read(text).snapshot.records
    assert record.dn == dn
    assert record.attributes["givenname"] == ("José",)
    assert record.attributes["sn"] == ("Núñez",)


def test_a_search_that_stopped_early_fails_the_file():
    text = LDAPSEARCH.replace("result: 0 Success", "result: 4 Size limit exceeded")
    with pytest.raises(ConfigurationError) as caught:
        read(text)
    assert caught.value.code == "ldif_incomplete"
    assert "Size limit exceeded" in caught.value.message


@pytest.mark.parametrize(
    "text, line",
    [
        ("dn: cn=ada,dc=acme\ncn: ada\nthis line has no colon\n", 3),
        ("version: 1\n\ncn: ada\nsn: x\n", 3),
        ("dn: not a dn\ncn: x\n", 1),
        ("dn: cn=ada,dc=acme\ncn: ada\n\ndn: cn=bob,dc=acme\ncn: bob\nbroken\n", 6),
    ],
)
def test_malformed_ldif_names_the_line(text, line):
    with pytest.raises(ConfigurationError) as caught:
        read(text)
    assert caught.value.code == "ldif_malformed"
    assert f"line {line}:" in caught.value.message


@pytest.mark.parametrize("text", ["", "\n\n", "# nothing but a comment\n", "version: 1\n"])
def test_a_file_without_entries_fails(text):
    with pytest.raises(ConfigurationError) as caught:
        read(text)
    assert caught.value.code == "ldif_empty"


def test_only_people_become_records():
    text = (
        "dn: DC=acme,DC=example\nobjectClass: top\nobjectClass: domainDNS\n\n"
        f"dn: {ACME}\nobjectClass: top\nobjectClass: organizationalUnit\nou: Acme\n\n"
        f"dn: CN=Users,DC=acme,DC=example\nobjectClass: top\nobjectClass: container\n\n"
        f"dn: CN=PC1,{HQ}\nobjectClass: top\nobjectClass: person\nobjectClass: "
        "organizationalPerson\nobjectClass: user\nobjectClass: computer\nsAMAccountName: PC1$\n\n"
        f"dn: CN=Staff,{ACME}\nobjectClass: top\nobjectClass: group\n"
        f"member: CN=Ada Lovelace,{HQ}\n\n"
        + ad_user("Ada Lovelace")
    )
    reading = read(text)
    assert [r.dn for r in reading.snapshot.records] == [f"CN=Ada Lovelace,{HQ}"]
    assert reading.notices == ("5 non-person entries (groups, computers, containers) ignored",)


@pytest.mark.parametrize(
    "classes, person",
    [
        (["top", "person", "organizationalPerson", "inetOrgPerson"], True),
        (["top", "person"], True),
        (["top", "organizationalPerson"], True),
        (["top", "user"], True),
        (["top", "person", "organizationalPerson", "user", "computer"], False),
        (["top", "groupOfNames"], False),
        (["top", "organizationalUnit"], False),
        ([], True),  # an export with a chosen attribute list: givenName/sn decide
    ],
)
def test_person_object_classes(classes, person):
    text = "dn: cn=x,dc=acme\n" + "".join(f"objectClass: {c}\n" for c in classes) + "sn: X\n"
    assert len(read(text).snapshot.records) == (1 if person else 0)


def test_invalid_utf8_fails_only_its_record_and_names_the_attribute():
    data = (
        ad_user("Ada Lovelace").encode()
        + ad_user("Jose Ibanez").replace("sn: Ibanez", "sn: Ib\udce1\udcf1ez").encode(
            "utf-8", "surrogateescape")
        + ad_user("Zoe Muller", extra="thumbnailPhoto: \udcff\udcd8\udcff").encode(
            "utf-8", "surrogateescape")
    )
    records = read(data).snapshot.records
    assert [(r.dn.split(",")[0], r.problems) for r in records] == [
        ("CN=Ada Lovelace", ()),
        ("CN=Jose Ibanez",
         (RecordProblem("last_name", 'invalid UTF-8 (byte 0xE1) in attribute "sn"'),)),
        ("CN=Zoe Muller", ()),  # binary attributes the mapping does not read are dropped
    ]
    assert records[1].attributes["sn"] == ("Ib\ufffd\ufffdez",)
    assert "thumbnailphoto" not in records[2].attributes


@pytest.mark.parametrize(
    "extra, expected",
    [
        (f"objectGUID:: {GUID_B64}\nentryUUID: 11111111-2222-3333-4444-555555555555", str(GUID)),
        ("objectGUID: {6F1E1E1C-94A3-4B8E-9D1B-2F3C4D5E6F70}", str(GUID)),
        ("entryUUID: 11111111-2222-3333-4444-555555555555", "11111111-2222-3333-4444-555555555555"),
        ("nsUniqueId: 0A0B0C0D-11111111-22222222-33333333", "0a0b0c0d-11111111-22222222-33333333"),
        ("", "dn:cn=ada lovelace,ou=people,dc=acme"),
    ],
)
def test_anchors(extra, expected):
    text = ("dn: CN=Ada Lovelace, OU=People,DC=Acme\nobjectClass: inetOrgPerson\n"
            f"givenName: Ada\nsn: Lovelace\n{extra}\n")
    (record,) = read(text).snapshot.records
    assert record.anchor == expected


@pytest.mark.parametrize(
    "extra, disabled",
    [
        ("", False),
        ("accountExpires: 0", False),
        ("accountExpires: 9223372036854775807", False),
        ("accountExpires: 116444736000000000", True),  # 1970
        ("accountExpires: 504911232000000000", False),  # 3201
    ],
)
def test_expired_accounts_are_disabled(extra, disabled):
    (record,) = read(ad_user("Ada Lovelace", extra=extra)).snapshot.records
    assert record.disabled is disabled


@pytest.mark.parametrize("uac, disabled", [("512", False), ("514", True), ("66050", True)])
def test_disabled_accounts(uac, disabled):
    (record,) = read(ad_user("Ada Lovelace", uac=uac)).snapshot.records
    assert record.disabled is disabled


def test_openldap_entries_get_the_openldap_mapping_and_are_never_disabled_by_ad_rules():
    text = ("dn: uid=ada,ou=people,dc=example,dc=org\nobjectClass: inetOrgPerson\n"
            "uid: ada\ngivenName: Ada\nsn: Lovelace\nmail: ada@example.org\n"
            "departmentNumber: 42\nentryUUID: 11111111-2222-3333-4444-555555555555\n")
    reading = read(text)
    assert reading.mapping == openldap.DEFAULT_MAPPING
    assert reading.mapping.apply(reading.snapshot.records[0].attributes)["department"] == "42"
    assert read(text, kind="active_directory").mapping == active_directory.DEFAULT_MAPPING
    assert read(ad_user("Ada Lovelace"), kind="ldap").mapping == openldap.DEFAULT_MAPPING


def test_an_unknown_kind_is_refused():
    with pytest.raises(ConfigurationError):
        read(ad_user("Ada Lovelace"), kind="novell")


def test_ldap_change_records_and_url_values_are_left_out():
    text = (ad_user("Ada Lovelace", extra="jpegPhoto:< file:///etc/passwd")
            + "dn: CN=Bob Babbage,OU=Headquarters,OU=Acme,DC=acme,DC=example\n"
            "changetype: modify\nreplace: mail\nmail: bob@acme.example\n-\n\n"
            "dn: CN=Old Timer,OU=Headquarters,OU=Acme,DC=acme,DC=example\n"
            "changetype: delete\n\n")
    reading = read(text)
    (record,) = reading.snapshot.records
    assert "jpegphoto" not in record.attributes
    assert reading.notices == (
        "1 change record (changetype: delete) ignored; only entries are read",
        "1 change record (changetype: modify) ignored; only entries are read",
        "1 value given by URL (:<) not fetched",
    )


PEOPLE = (ad_user("Ada Lovelace", HQ) + ad_user("Wes Ware", WAREHOUSE)
          + ad_user("Bo Both", f"OU=Night Shift,{WAREHOUSE}")
          + ad_user("Out Side", "CN=Users,DC=acme,DC=example"))


@pytest.mark.parametrize(
    "options, expected, notices",
    [
        ({}, {"Ada": None, "Wes": None, "Bo": None, "Out": None}, ()),
        ({"scopes": [Scope(HQ, "hq"), Scope(WAREHOUSE, "wh")]},
         {"Ada": ("hq",), "Wes": ("wh",), "Bo": ("wh",)},
         ("1 person outside the configured search bases left out",)),
        ({"scopes": [Scope(ACME, "all"), Scope(f"ou=night shift, {WAREHOUSE.lower()}", "night")]},
         {"Ada": ("all",), "Wes": ("all",), "Bo": ("all", "night")},
         ("1 person outside the configured search bases left out",)),
        ({"scopes": [Scope(ACME, None)]}, {"Ada": None, "Wes": None, "Bo": None},
         ("1 person outside the configured search bases left out",)),
        ({"auto_locations": {"headquarters", "warehouse", "night-shift"}},
         {"Ada": ("headquarters",), "Wes": ("warehouse",), "Bo": ("night-shift", "warehouse"),
          "Out": ()}, ()),
    ],
    ids=["no-scopes", "two-bases", "nested-bases", "global", "auto"],
)
def test_scopes_and_locations(options, expected, notices):
    reading = read(PEOPLE, **options)
    got = {r.attributes["givenname"][0]: r.locations for r in reading.snapshot.records}
    assert got == expected
    assert reading.notices == notices


def demo_reading():
    data = files("usersync.demo").joinpath("directory.ldif").read_bytes()
    return read_ldif(data, now=NOW, auto_locations={"headquarters", "warehouse"})


def test_the_demo_directory_becomes_valid_contacts():
    reading = demo_reading()
    records = reading.snapshot.records
    enabled = [r for r in records if not r.disabled]
    assert len(enabled) == 205 and len(records) - len(enabled) == 6
    assert reading.notices == ("6 non-person entries (groups, computers, containers) ignored",)
    hq = sum(r.locations == ("headquarters",) for r in enabled)
    assert (hq, len(enabled) - hq) == (123, 82)
    placement = Placement(frozenset({"headquarters", "warehouse"}), multi_location=True)
    built = [build(r, reading.mapping, placement, lambda pin: pin) for r in records]
    assert [b for b in built if isinstance(b, Rejected)] == []
    names = {(b[0].values["first_name"], b[0].values["last_name"]) for b in built}
    assert {("José", "Núñez"), ("Zoë", "Müller"), ("Seán", "O'Brien")} <= names
    emails = [b[0].values["email"] for b in built]
    assert len(set(emails)) == len(emails)
    assert len({r.anchor for r in records}) == len(records)


def test_the_demo_directory_is_what_its_script_writes(tmp_path):
    output = tmp_path / "directory.ldif"
    subprocess.run([sys.executable, str(ROOT / "scripts/make_demo_directory.py"),
                    "--output", str(output)], check=True, capture_output=True)
    bundled = files("usersync.demo").joinpath("directory.ldif").read_bytes()
    assert output.read_bytes() == bundled
