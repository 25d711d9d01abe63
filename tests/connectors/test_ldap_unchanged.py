"""Recognizing unchanged entries during a full read (``connectors.ldap_unchanged``): the digest
says what an entry is, whatever holds its values and whichever process computes it; it changes
with anything that decides what the entry becomes; and where it cannot say everything (nested
bases, OpenLDAP groups, AD accounts that expire) nothing is recognized."""

import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime

import pytest

from usersync.connectors import active_directory, openldap
from usersync.connectors.ldap_read import RecordCollector
from usersync.connectors.ldap_settings import LdapSettings
from usersync.connectors.ldap_unchanged import Recognizer, recognizable
from usersync.connectors.scope import Scope
from usersync.core.records import Unchanged

NOW = datetime(2025, 6, 1, tzinfo=UTC)
HQ, WAREHOUSE = "ou=Headquarters,dc=acme,dc=example", "ou=Warehouse,dc=acme,dc=example"
PRINT = "f" * 64  # a settings fingerprint (ldap_incremental.fingerprint)
DN = f"uid=ada,{HQ}"
ADA = {"givenName": [b"Ada"], "sn": [b"Lovelace"], "mail": [b"ada@acme.example"],
       "title": [b"Engineer", b"Analyst"], "entryUUID": [b"6f1c0c51-0000-4000-8000-000000000001"]}


def digest(values=ADA, dn=DN, location="headquarters", fingerprint=PRINT) -> str:
    return Recognizer(fingerprint, {}, is_ad=False).digest(location, dn, values)


def settings(kind="ldap", scopes=(Scope(HQ, "headquarters"),), **more) -> LdapSettings:
    mapping = active_directory.DEFAULT_MAPPING if kind == "active_directory" else (
        openldap.DEFAULT_MAPPING)
    return LdapSettings(kind, ("ldaps://ldap1",), "cn=sync", "secret", scopes, mapping, **more)


def test_the_digest_depends_on_the_values_not_on_the_objects_that_hold_them():
    shared = b"same"
    one = {"cn": [shared], "sn": [shared], "mail": [b"a@x"]}
    copies = {"mail": [bytes(bytearray(b"a@x"))], "sn": [bytes(bytearray(b"same"))],
              "cn": [bytes(bytearray(b"same"))]}  # other objects, another key order
    names = {"".join(["c", "n"]): [b"same"], "".join(["s", "n"]): [b"same"],
             "mail": [b"a@x"]}  # names built at run time: not interned
    dn = "".join(["uid=ada,", HQ])

    assert digest(one) == digest(copies) == digest(names) == digest(names, dn=dn)


def test_the_digest_is_the_same_in_another_process():
    code = ("from usersync.connectors.ldap_unchanged import Recognizer;"
            f"print(Recognizer({PRINT!r}, {{}}, False).digest('headquarters', {DN!r}, {ADA!r}))")
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True, env={**os.environ, "PYTHONHASHSEED": "12345"})

    assert other.stdout.strip() == digest()


@pytest.mark.parametrize("changed", [
    dict(dn=f"uid=ada,{WAREHOUSE}"),
    dict(location="warehouse"),
    dict(location=None),
    dict(fingerprint="e" * 64),
    dict(values={**ADA, "title": [b"Engineer"]}),
    dict(values={**ADA, "title": [b"Analyst", b"Engineer"]}),  # which value comes first
    dict(values={**ADA, "mobile": [b"+16502530000"]}),
    dict(values={k: v for k, v in ADA.items() if k != "title"}),
], ids=["dn", "location", "no location", "fingerprint", "a value", "value order",
        "an attribute more", "an attribute less"])
def test_anything_that_decides_what_an_entry_becomes_changes_its_digest(changed):
    assert digest(**changed) != digest()


def test_known_entries_are_named_and_the_others_built_with_their_digest():
    known_entry = {**ADA, "entryUUID": [b"6f1c0c51-0000-4000-8000-000000000002"]}
    recognizer = Recognizer(PRINT, {}, is_ad=False)
    recognizer.known = {recognizer.digest("headquarters", f"uid=bob,{HQ}", known_entry):
                        ("stored-anchor", 42)}
    collector = RecordCollector(settings(), NOW, recognizer)
    scope = settings().scopes[0]

    built = collector.add(scope, DN, ADA)
    named = collector.add(scope, f"uid=bob,{HQ}", known_entry)

    assert named is None
    assert collector.unchanged == {"stored-anchor": Unchanged(f"uid=bob,{HQ}", 42)}
    assert built.digest == recognizer.digest("headquarters", DN, ADA)
    assert [r.anchor for r in collector.result()] == ["6f1c0c51-0000-4000-8000-000000000001"]


@pytest.mark.parametrize(("scopes", "expected"), [
    ((Scope(HQ, "headquarters"), Scope(WAREHOUSE, "warehouse")), True),
    ((Scope("dc=acme,dc=example", "all"), Scope(HQ, "headquarters")), False),
    ((Scope(HQ, "headquarters"), Scope(f"ou=Engineering,{HQ}", "engineering")), False),
    ((Scope(HQ, "headquarters"), Scope("OU=headquarters, DC=ACME,DC=example", "other")), False),
], ids=["siblings", "outer first", "inner second", "the same base spelled otherwise"])
def test_nested_bases_are_not_recognizable(scopes, expected):
    assert recognizable(settings(scopes=scopes)) is expected
    assert recognizable(settings(scopes=scopes[::-1])) is expected


def test_openldap_groups_are_not_recognizable_and_ad_groups_are():
    group = ("cn=Sales,ou=Groups,dc=acme,dc=example",)

    assert not recognizable(settings(groups=group))
    assert recognizable(settings("active_directory", groups=group))


def ad_entry(expires: bytes | None, name: str = "accountExpires") -> dict[str, list[bytes]]:
    entry = {"givenName": [b"Ada"], "sn": [b"Lovelace"], "mail": [b"ada@acme.example"],
             "objectGUID": [uuid.UUID(int=1).bytes_le], "userAccountControl": [b"512"]}
    return entry if expires is None else {**entry, name: [expires]}


NEVER = str(0x7FFFFFFFFFFFFFFF).encode()
IN_2030 = str(116_444_736_000_000_000 + int(datetime(2030, 1, 1, tzinfo=UTC).timestamp())
              * 10_000_000).encode()


@pytest.mark.parametrize(("entry", "is_ad", "recognized"), [
    (ad_entry(None), True, True),
    (ad_entry(b"0"), True, True),
    (ad_entry(NEVER), True, True),
    (ad_entry(IN_2030), True, False),
    (ad_entry(IN_2030, name="accountexpires"), True, False),  # as a server may spell it
    (ad_entry(b"soon"), True, False),  # not understood: built, and reported as it is
    (ad_entry(IN_2030), False, True),  # OpenLDAP: no such account state
], ids=["no expiry", "0", "never", "2030", "lower case", "garbage", "not AD"])
def test_an_ad_account_with_an_expiry_date_is_never_recognized(entry, is_ad, recognized):
    recognizer = Recognizer(PRINT, {}, is_ad)
    found = recognizer.digest("headquarters", DN, entry)
    recognizer.known = {found: ("anchor", 7)}

    assert (recognizer.unchanged(found, entry) is not None) is recognized
