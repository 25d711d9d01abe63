"""Recognizing, during a full read, the entries that are exactly as they were last synced.

Each entry's digest covers everything that decides what it becomes: the settings' fingerprint
(``ldap_incremental.fingerprint``: scopes, filter, mapping, the app's planning context), the
location of the base it was found under, its DN, and its raw values as the server sent them. The
store keeps the digest of every *settled* directory object (its contact was written from that
entry, and nobody changed the contact since) and hands the reader ``known``: those digests, with
the object's anchor and contact. An entry whose digest is known becomes ``records.Unchanged``,
before it is decoded or mapped: a full read of an unchanged directory costs little more than the
search itself. A digest is a 128-bit BLAKE2b: two different entries do not share one.

It is not used where an entry's digest cannot tell everything: when one search base lies inside
another (an entry found under two bases belongs to both locations), when OpenLDAP groups decide
membership (group changes are not in the entry), and for AD accounts with an expiry date (the
clock, not the entry, decides when they stop syncing).
"""

from __future__ import annotations

import hashlib
import marshal
from collections.abc import Mapping

from .active_directory import NEVER_EXPIRES
from .ldap_search import Attributes
from .ldap_settings import LdapSettings
from .scope import within

#: ``known``: anchor and contact id of each settled directory object, by its digest.
Known = Mapping[str, tuple[str, int]]
_NEVER = frozenset(str(value).encode() for value in NEVER_EXPIRES)


def recognizable(settings: LdapSettings) -> bool:
    """Whether an entry's digest says all there is to know about what it becomes."""
    if settings.groups and not settings.is_ad:
        return False
    bases = [scope.base for scope in settings.scopes]
    return not any(i != j and within(inner, outer)
                   for i, inner in enumerate(bases) for j, outer in enumerate(bases))


class Recognizer:
    """Digests of entries (kept on the records built), and which ones are ``known``."""

    def __init__(self, fingerprint: str, known: Known, is_ad: bool):
        #: The digests' common start (a copy of it goes on for each entry).
        self.started = hashlib.blake2b(fingerprint.encode(), digest_size=16)
        self.known = known
        self.is_ad = is_ad

    def digest(self, location: str | None, dn: str, values: Attributes) -> str:
        # marshal: the fastest encoding of str, bytes and lists. Version 2: later versions
        # write back-references that depend on which objects are shared, not on the values.
        # (A new Python could encode differently: then nothing is known once.)
        digest = self.started.copy()
        digest.update(marshal.dumps((location, dn, sorted(values.items())), 2))
        return digest.hexdigest()

    def unchanged(self, digest: str, values: Attributes) -> tuple[str, int] | None:
        """The anchor and contact of a known entry; ``None`` if it must be built."""
        found = self.known.get(digest)
        if found is None or (self.is_ad and _expires(values)):
            return None
        return found


def _expires(values: Attributes) -> bool:
    """Whether an AD account has an expiry date (or a value we do not understand)."""
    for name, raw in values.items():
        if name.lower() == "accountexpires":
            return any(value.strip() not in _NEVER for value in raw)
    return False
