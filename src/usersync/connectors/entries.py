"""Directory entries turned into source records: shared by the LDIF importer and the LDAP reader.

An entry is a DN and its raw values (bytes) by attribute name, whether it came out of an LDIF file
or off the wire. Both readers decode, anchor and flag a person the same way here, so a user
imported from an export and the same user read live are the same directory object.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Mapping

from usersync.core.mapping import AttributeMapping
from usersync.core.records import RecordProblem, SourceRecord

from . import active_directory
from .csvfile import printable, undecodable_byte
from .scope import normalize_dn

# python-ldap's LDIF parser encodes plain values to UTF-8, which lone surrogates cannot survive.
# Bytes that are not UTF-8 therefore travel through it as characters of the last private-use block
# (U+10FF80…U+10FFFF, which directory data does not use) and become surrogates again when decoded.
TO_MARKER = {0xDC00 + byte: 0x10FF00 + byte for byte in range(0x80, 0x100)}
FROM_MARKER = {marker: escaped for escaped, marker in TO_MARKER.items()}
#: Anchors tried in order when the entry has no objectGUID: OpenLDAP, then 389 Directory Server.
_UUID_ANCHORS = ("entryuuid", "nsuniqueid")
#: How an anchor that is an entry's DN starts (``anchor_of``).
DN_ANCHOR = "dn:"
_AD_ANCHOR = active_directory.ANCHOR_ATTRIBUTE.lower()


def decode_value(raw: bytes) -> str:
    """A value's text; bytes that are not UTF-8 (or arrived as markers) become surrogates."""
    if b"\xf4\x8f" not in raw:  # no marker (U+10FF80…, F4 8F BE/BF xx in UTF-8)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            pass
    return _rejoined(raw.decode("utf-8", "surrogateescape").translate(FROM_MARKER))


def _rejoined(text: str) -> str:
    """``text`` with undecodable bytes that form a character together decoded after all.

    A tool that folds lines by bytes can split a character over two lines; each half alone is not
    UTF-8, the unfolded value is.
    """
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "surrogateescape")


@dataclass(frozen=True, slots=True)
class Entry:
    dn: str
    #: Values by lower-cased attribute name (options such as ``;binary`` dropped), still bytes.
    values: dict[str, list[bytes]]
    #: Attribute names as the source spells them, for messages.
    names: dict[str, str]

    @classmethod
    def from_attributes(cls, dn: str, attributes: Mapping[str, list[bytes]]) -> Entry:
        """An entry from values by attribute name as a server returns them (any case, options),
        taking over the server's lists of values."""
        values: dict[str, list[bytes]] = {}
        names: dict[str, str] = {}
        for key, raw_values in attributes.items():
            lower, name = _SPELLINGS.get(key) or _spelling(key)
            names[lower] = name
            if lower in values:  # the same attribute with other options (cn;lang-en)
                values[lower] = [*values[lower], *raw_values]
            else:
                values[lower] = raw_values
        return cls(dn, values, names)

    def classes(self) -> frozenset[str]:
        return frozenset(v.decode("utf-8", "replace").strip().lower()
                         for v in self.values.get("objectclass", ()))


#: Attribute names as servers spell them (``givenName``, ``cn;lang-en``): their lower-cased name
#: without options, and their spelling without options; worked out once per spelling, and one
#: string per name, not one per entry (800,000 fewer objects at 100,000 entries).
_SPELLINGS: dict[str, tuple[str, str]] = {}
#: Spellings remembered at most (AD's range retrieval names ``member;range=0-1499`` and so on).
SPELLINGS_REMEMBERED = 10_000


def _spelling(key: str) -> tuple[str, str]:
    name = key.partition(";")[0].strip()
    if len(_SPELLINGS) >= SPELLINGS_REMEMBERED:
        _SPELLINGS.clear()
    found = _SPELLINGS[key] = (sys.intern(name.lower()), sys.intern(name))
    return found


#: An attribute's values are shared while they repeat: once it has had this many distinct values,
#: only if they were repeated as often (first names, titles and departments are; addresses,
#: numbers and ids never are).
SHARING_TRIAL = 1000
_FIRST: dict = {}  # what ``SharedValues`` finds for an attribute it has not seen (never filled)


class SharedValues:
    """One tuple for every entry of a read holding the same single value of an attribute (a
    title, a department, a first name), decoded once. Contacts built from it hold the same
    string too: a first sync of 100,000 people peaked 30 MiB lower (four of each person's values
    repeat). The values of an attribute that do not repeat are not shared: an attribute is left
    out once it had ``SHARING_TRIAL`` distinct values before as many repeats."""

    def __init__(self) -> None:
        #: Each attribute's tuples by raw value; ``None`` for an attribute left out.
        self._tables: dict[str, dict[bytes, tuple[str]] | None] = {}
        self._repeats: dict[str, int] = {}  # counted until the trial is over

    def one(self, name: str, raw: bytes) -> tuple[str]:
        """``(raw decoded as UTF-8,)``; the tuple an earlier entry got for the same value of
        attribute ``name`` if there was one. Raises ``UnicodeDecodeError`` as decoding does."""
        table = self._tables.get(name, _FIRST)
        if table is None:
            return (raw.decode("utf-8"),)
        if table is _FIRST:
            table = self._tables[name] = {}
            self._repeats[name] = 0
        found = table.get(raw)
        if found is not None:
            if len(table) < SHARING_TRIAL:
                self._repeats[name] += 1
            return found
        found = table[raw] = (raw.decode("utf-8"),)
        if len(table) == SHARING_TRIAL and self._repeats[name] < SHARING_TRIAL:
            self._tables[name] = None
        return found


def fields_by_attribute(mapping: AttributeMapping) -> dict[str, tuple[str, ...]]:
    """The contact fields each attribute fills: where a bad value is reported."""
    found: dict[str, list[str]] = defaultdict(list)
    for rule in mapping.rules:
        for source in rule.sources:
            found[source.attribute.lower()].append(rule.field)
    return {attribute: tuple(fields) for attribute, fields in found.items()}


def build_record(
    entry: Entry,
    dn: str,
    fields_of: Mapping[str, tuple[str, ...]],
    is_ad: bool,
    now: datetime,
    locations: tuple[str, ...] | None,
    shared: SharedValues,
    digest: str = "",
) -> SourceRecord:
    """The record of ``entry`` (whose printable DN is ``dn``): text values by lower-cased name
    (a single value through the read's ``shared`` values), its anchor, and on Active Directory
    whether the account is disabled or expired. A value that is not UTF-8 in an attribute the
    mapping reads becomes a problem of the field it fills."""
    attributes: dict[str, tuple[str, ...]] = {}
    problems: list[RecordProblem] = []
    if entry.dn != dn:
        problems.append(RecordProblem("dn", invalid(entry.dn, "the DN")))
    for name, raw_values in entry.values.items():
        if name == _AD_ANCHOR:
            continue  # binary; it is the anchor
        if len(raw_values) == 1 and b"\xf4\x8f" not in raw_values[0]:  # the common case, first
            try:
                attributes[name] = shared.one(name, raw_values[0])
                continue
            except UnicodeDecodeError:
                pass
        texts = []
        for raw in raw_values:
            if b"\xf4\x8f" not in raw:  # the common case, first: plain UTF-8, nothing to check
                try:
                    texts.append(raw.decode("utf-8"))
                    continue
                except UnicodeDecodeError:
                    pass
            text = decode_value(raw)
            if undecodable_byte(text) is not None:
                if name not in fields_of:
                    continue  # a binary attribute (objectSid, jpegPhoto…) the mapping never reads
                label = f'attribute "{entry.names.get(name, name)}"'
                problems.append(RecordProblem(fields_of[name][0], invalid(text, label)))
                text = printable(text)
            texts.append(text)
        if texts:
            attributes[name] = tuple(texts)
    return SourceRecord(
        attributes=attributes,
        anchor=anchor_of(entry, dn),
        dn=dn,
        locations=locations,
        disabled=is_ad and active_directory.is_disabled(attributes, now),
        problems=tuple(problems),
        digest=digest,
    )


def invalid(text: str, where: str) -> str:
    return f"invalid UTF-8 (byte 0x{undecodable_byte(text):02X}) in {where}"


def anchored_by_dn(anchor: str) -> bool:
    """Whether ``anchor`` (``anchor_of``'s) is the entry's DN, which renames change: it had no
    stable id, or none that could be read."""
    return anchor.startswith(DN_ANCHOR)


def anchor_of(entry: Entry, dn: str) -> str:
    """objectGUID (AD), entryUUID (OpenLDAP), nsUniqueId (389 DS), else the normalized DN."""
    for raw in entry.values.get("objectguid", ())[:1]:
        guid = active_directory.guid_from_value(raw)
        if guid is not None:
            return guid
    for name in _UUID_ANCHORS:
        for raw in entry.values.get(name, ())[:1]:
            value = raw.decode("utf-8", "replace").strip().lower()
            if value:
                return value
    return DN_ANCHOR + normalize_dn(dn)
