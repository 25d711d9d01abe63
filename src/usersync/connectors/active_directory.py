"""Active Directory's quirks, kept in one place: pure functions, no network.

AD stores its stable id (objectGUID) as 16 bytes in Microsoft's mixed byte order, encodes account
state in a bit field (userAccountControl) and expiry as a count of 100-ns intervals since 1601, and
keeps a user's addresses in proxyAddresses where the upper-case ``SMTP:`` prefix marks the primary
one. Both the live LDAP reader and the LDIF importer use these, so they read a user the same way.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Mapping, Sequence

from usersync.core.mapping import AttributeMapping

#: Users, not contacts (objectClass=contact) or computers (which are users too, but not persons).
DEFAULT_FILTER = "(&(objectCategory=person)(objectClass=user))"
#: The attribute that identifies a user for life: it survives renames and moves between OUs.
ANCHOR_ATTRIBUTE = "objectGUID"

DEFAULT_MAPPING = AttributeMapping.from_data(
    [
        "first_name=givenName",
        "last_name=sn",
        # The primary SMTP address is what Exchange delivers to; mail can lag behind a rename.
        "email=proxyAddresses|primary_smtp,mail",
        "aliases=proxyAddresses|smtp_aliases",
        "sms_phone=mobile",
        "title=title",
        "department=department",
        "identification=employeeID",
    ]
)

#: userAccountControl flag of a disabled account.
ACCOUNTDISABLE = 0x2
#: accountExpires values that mean "never expires".
NEVER_EXPIRES = frozenset({0, 0x7FFFFFFFFFFFFFFF})
_FILETIME_EPOCH = datetime(1601, 1, 1, tzinfo=UTC)


def guid_to_str(raw: bytes) -> str:
    """The objectGUID as AD tools show it (``{…}`` without braces, lower case).

    The first three fields are little-endian on the wire, so reading the bytes as a big-endian
    UUID would give a different id than PowerShell's ``Get-ADUser`` and break matching.
    """
    if len(raw) != 16:
        raise ValueError(f"an objectGUID has 16 bytes, not {len(raw)}")
    return str(uuid.UUID(bytes_le=bytes(raw)))


def guid_from_value(raw: bytes) -> str | None:
    """The objectGUID of an exported value: 16 binary bytes (LDAP, ldifde), or the text form some
    tools write instead (``{…}`` included); ``None`` if it is neither."""
    if len(raw) == 16:
        return guid_to_str(raw)
    try:
        return str(uuid.UUID(raw.decode("ascii").strip()))
    except (UnicodeDecodeError, ValueError):
        return None


def filetime_to_datetime(value: int) -> datetime | None:
    """A Windows FILETIME (100-ns intervals since 1601-01-01 UTC), or ``None`` for "never"."""
    if value in NEVER_EXPIRES or value < 0:
        return None
    try:
        return _FILETIME_EPOCH + timedelta(microseconds=value // 10)
    except OverflowError:  # beyond year 9999: as good as never
        return None


def datetime_to_filetime(moment: datetime) -> int:
    """``moment`` as a FILETIME, to compare with accountExpires in a filter (naive: UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _FILETIME_EPOCH) // timedelta(microseconds=1) * 10


def _first_int(attributes: Mapping[str, Sequence[str]], name: str) -> int | None:
    for key, values in attributes.items():
        if key.lower() == name.lower():
            for value in values:
                try:
                    return int(str(value).strip())
                except ValueError:
                    return None
    return None


def is_disabled(attributes: Mapping[str, Sequence[str]], now: datetime) -> bool:
    """Whether AD would refuse this account a logon: disabled, or past its expiry date.

    ``attributes`` maps attribute names (any case) to their text values. ``now`` is passed in so the
    answer is reproducible; a naive ``now`` is taken as UTC. Unreadable values count as "not
    disabled": we never hide a person because of a value we do not understand.
    """
    control = _first_int(attributes, "userAccountControl")
    if control is not None and control & ACCOUNTDISABLE:
        return True
    expires = _first_int(attributes, "accountExpires")
    if expires is None:
        return False
    moment = filetime_to_datetime(expires)
    if moment is None:
        return False
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    return moment <= now
