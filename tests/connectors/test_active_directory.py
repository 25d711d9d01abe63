"""Active Directory's quirks: objectGUID byte order, account state, proxyAddresses, defaults."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from usersync.connectors import active_directory, openldap
from usersync.connectors.active_directory import (
    filetime_to_datetime,
    guid_from_value,
    guid_to_str,
    is_disabled,
)

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
#: 1970-01-01 as a Windows FILETIME (100-ns intervals since 1601-01-01).
UNIX_EPOCH_FILETIME = 116_444_736_000_000_000


def filetime(moment: datetime) -> str:
    return str(UNIX_EPOCH_FILETIME + int(moment.timestamp()) * 10_000_000)


@pytest.mark.parametrize(
    "raw, expected",
    [
        # The wire bytes of {12345678-9abc-def0-1234-56789abcdef0}: first three fields reversed.
        (bytes.fromhex("78563412bc9af0de123456789abcdef0"), "12345678-9abc-def0-1234-56789abcdef0"),
        (uuid.UUID("6f1e1e1c-94a3-4b8e-9d1b-2f3c4d5e6f70").bytes_le,
         "6f1e1e1c-94a3-4b8e-9d1b-2f3c4d5e6f70"),
        (bytes(16), "00000000-0000-0000-0000-000000000000"),
    ],
)
def test_guid_to_str_reads_the_mixed_endian_layout(raw, expected):
    assert guid_to_str(raw) == expected


def test_guid_to_str_differs_from_a_big_endian_reading():
    raw = bytes.fromhex("78563412bc9af0de123456789abcdef0")
    assert guid_to_str(raw) != str(uuid.UUID(bytes=raw))


@pytest.mark.parametrize("raw", [b"", bytes(15), bytes(17)])
def test_guid_to_str_refuses_other_lengths(raw):
    with pytest.raises(ValueError):
        guid_to_str(raw)


@pytest.mark.parametrize(
    "raw, expected",
    [
        (bytes.fromhex("78563412bc9af0de123456789abcdef0"), "12345678-9abc-def0-1234-56789abcdef0"),
        (b"{12345678-9ABC-DEF0-1234-56789ABCDEF0}", "12345678-9abc-def0-1234-56789abcdef0"),
        (b"12345678-9abc-def0-1234-56789abcdef0", "12345678-9abc-def0-1234-56789abcdef0"),
        (b"not a guid", None),
        (b"\xff\xfe", None),
    ],
)
def test_guid_from_value_takes_binary_or_text(raw, expected):
    assert guid_from_value(raw) == expected


@pytest.mark.parametrize(
    "value, expected",
    [
        (UNIX_EPOCH_FILETIME, datetime(1970, 1, 1, tzinfo=UTC)),
        (0, None),
        (0x7FFFFFFFFFFFFFFF, None),
        (int(filetime(NOW)), NOW),
    ],
)
def test_filetime_to_datetime(value, expected):
    assert filetime_to_datetime(value) == expected


@pytest.mark.parametrize(
    "attributes, expected",
    [
        ({"userAccountControl": ("512",)}, False),  # NORMAL_ACCOUNT
        ({"userAccountControl": ("514",)}, True),  # NORMAL_ACCOUNT | ACCOUNTDISABLE
        ({"userAccountControl": ("66048",)}, False),  # … | DONT_EXPIRE_PASSWORD
        ({"userAccountControl": ("66050",)}, True),
        ({"useraccountcontrol": ("546",)}, True),  # keys in any case
        ({"userAccountControl": ("not a number",)}, False),
        ({}, False),
        ({"userAccountControl": ("512",), "accountExpires": ("0",)}, False),
        ({"userAccountControl": ("512",), "accountExpires": ("9223372036854775807",)}, False),
        ({"userAccountControl": ("512",), "accountExpires": (filetime(NOW - timedelta(days=1)),)},
         True),
        ({"userAccountControl": ("512",), "accountExpires": (filetime(NOW + timedelta(days=1)),)},
         False),
        ({"accountexpires": (filetime(NOW),)}, True),  # expired the moment it is reached
        ({"userAccountControl": ("514",), "accountExpires": ("0",)}, True),
    ],
)
def test_is_disabled(attributes, expected):
    assert is_disabled(attributes, NOW) is expected


def test_is_disabled_takes_a_naive_now_as_utc():
    expires = {"accountExpires": (filetime(NOW),)}
    assert is_disabled(expires, NOW.replace(tzinfo=None) + timedelta(seconds=1))
    assert not is_disabled(expires, NOW.replace(tzinfo=None) - timedelta(seconds=1))


@pytest.mark.parametrize(
    "attributes, email, aliases",
    [
        ({"proxyAddresses": ("smtp:ada.l@acme.example", "SMTP:ada@acme.example",
                             "X500:/o=Acme/cn=ada"), "mail": ("old@acme.example",)},
         "ada@acme.example", ("ada.l@acme.example",)),
        ({"mail": ("ada@acme.example",)}, "ada@acme.example", ()),
        ({"proxyAddresses": ("smtp:ada.l@acme.example",), "mail": ("ada@acme.example",)},
         "ada@acme.example", ("ada.l@acme.example",)),
        ({}, "", ()),
    ],
)
def test_the_primary_smtp_address_wins_over_mail(attributes, email, aliases):
    values = active_directory.DEFAULT_MAPPING.apply(attributes)
    assert values["email"] == email
    assert values["aliases"] == aliases


def test_active_directory_default_mapping():
    values = active_directory.DEFAULT_MAPPING.apply({
        "givenName": ("Ada",), "sn": ("Lovelace",), "mobile": ("+1 415 234 5678",),
        "title": ("Engineer",), "department": ("R&D",), "employeeID": ("E0001",),
    })
    assert values == {
        "first_name": "Ada", "last_name": "Lovelace", "email": "", "aliases": (),
        "sms_phone": "+1 415 234 5678", "title": "Engineer", "department": "R&D",
        "identification": "E0001",
    }
    assert active_directory.ANCHOR_ATTRIBUTE == "objectGUID"
    assert active_directory.DEFAULT_FILTER == "(&(objectCategory=person)(objectClass=user))"


def test_openldap_default_mapping():
    values = openldap.DEFAULT_MAPPING.apply({
        "givenname": ("Ada",), "sn": ("Lovelace",), "mail": ("ada@example.org",),
        "mobile": ("+1 415 234 5678",), "title": ("Engineer",), "departmentNumber": ("42",),
        "employeeNumber": ("1001",),
    })
    assert values == {
        "first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.org",
        "sms_phone": "+1 415 234 5678", "title": "Engineer", "department": "42",
        "identification": "1001",
    }
    assert openldap.ANCHOR_ATTRIBUTE == "entryUUID"
    assert openldap.DEFAULT_FILTER == "(objectClass=inetOrgPerson)"
