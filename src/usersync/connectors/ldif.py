"""LDIF exports (``ldapsearch``, Microsoft ``ldifde``, slapcat) read into a snapshot.

An LDIF file is a directory read done by someone else, so the same promises hold as for a live
read: only people become records, a file that says its search was cut short is refused (it would
read as "everyone else left"), and one entry with bad bytes is reported on its own instead of
failing the file. Parsing is python-ldap's ``ldif`` module (folded lines, base64 values, comments);
this module adds what real exports need around it.
"""

from __future__ import annotations

import io
import re
from collections import Counter
from datetime import datetime
from typing import Iterable, Sequence

import ldif

from usersync.core.records import Snapshot, SourceRecord

from . import active_directory, openldap
from .base import Reading
from .csvfile import decode_export, printable, undecodable_byte
from .entries import (
    FROM_MARKER,
    TO_MARKER,
    Entry,
    SharedValues,
    build_record,
    decode_value,
    fields_by_attribute,
)
from .errors import ConfigurationError
from .scope import Scope, locations_by_ou, scope_locations, scopes_containing

KINDS = ("auto", "active_directory", "ldap")
#: objectClass values of people, in AD (user) and in the standard schemas.
PERSON_CLASSES = frozenset({"user", "person", "organizationalperson", "inetorgperson"})
#: AD computers are users too (objectClass user, person…); they are never contacts.
NOT_PERSON_CLASSES = frozenset({"computer"})
#: Attributes only Active Directory has.
_AD_SIGNS = frozenset({"objectguid", "samaccountname", "useraccountcontrol"})
#: Lines that ldapsearch writes between entries and that are not entries.
_SEARCH_KEYS = frozenset({"search", "result", "ref"})
_LINE_PREFIX = re.compile(r"^Line (\d+): ")


class _Collector(ldif.LDIFParser):
    """Keeps every entry record; counts the change records and URL values it leaves out."""

    def __init__(self, text: str):
        # No URL schemes: a ``:< file:///etc/shadow`` value must never be fetched.
        super().__init__(io.StringIO(text), process_url_schemes=[])
        self.entries: list[Entry] = []
        self.changes: Counter[str] = Counter()
        self.unfetched = 0

    def handle(self, dn: str, entry: dict[str, list[bytes | None]]) -> None:
        values: dict[str, list[bytes]] = {}
        names: dict[str, str] = {}
        changetype, unfetched = b"add", 0
        for key, raw_values in entry.items():
            name = key.partition(";")[0].strip()
            lower = name.lower()
            if lower == "changetype":
                changetype = raw_values[0] or b"add"
                continue
            names.setdefault(lower, name)
            kept = [raw for raw in raw_values if raw is not None]
            unfetched += len(raw_values) - len(kept)
            if kept:
                values.setdefault(lower, []).extend(kept)
        # ldifde writes every entry as "changetype: add"; other change types are not entries.
        kind = changetype.decode("utf-8", "replace").strip().lower()
        if kind != "add":
            self.changes[kind] += 1
            return
        self.unfetched += unfetched
        self.entries.append(Entry(decode_value(dn.encode("utf-8")), values, names))

def read_ldif(
    data: bytes,
    *,
    now: datetime,
    scopes: Sequence[Scope] = (),
    auto_locations: Iterable[str] | None = None,
    kind: str = "auto",
) -> Reading:
    """Read the people of an LDIF export into a complete full snapshot.

    ``scopes`` limit the read to their bases and give each person the locations of the bases they
    are under; without scopes, ``auto_locations`` (the organization's location identifiers) are
    matched against each person's OU names. ``kind`` chooses the attribute mapping; ``auto`` takes
    Active Directory's when the entries carry objectGUID, sAMAccountName or userAccountControl.
    """
    if kind not in KINDS:
        raise ConfigurationError(f"unknown LDIF kind {kind!r}",
                                 hint="use one of: " + ", ".join(KINDS), code="ldif_unknown_kind")
    text, results = _mute_search_results(decode_export(data))
    _refuse_incomplete(results)
    collector = _parse(text)
    if not collector.entries:
        raise ConfigurationError("the LDIF file holds no entries",
                                 hint="export the users with ldapsearch or ldifde and upload the "
                                 "whole file", code="ldif_empty")
    notices = _collector_notices(collector)
    is_ad = kind == "active_directory" or (kind == "auto" and _looks_like_ad(collector.entries))
    mapping = active_directory.DEFAULT_MAPPING if is_ad else openldap.DEFAULT_MAPPING
    fields_of = fields_by_attribute(mapping)
    known = None if auto_locations is None else tuple(auto_locations)
    records: list[SourceRecord] = []
    shared = SharedValues()
    not_people = out_of_scope = 0
    for entry in collector.entries:
        dn = printable(entry.dn)
        containing = scopes_containing(dn, scopes) if scopes else ()
        if not _is_person(entry):
            not_people += 1
        elif scopes and not containing:
            out_of_scope += 1
        else:
            locations = _locations(dn, scopes, containing, known)
            records.append(build_record(entry, dn, fields_of, is_ad, now, locations, shared))
    if not_people:
        notices.append(f"{_count(not_people, 'non-person entry', 'non-person entries')} "
                       "(groups, computers, containers) ignored")
    if out_of_scope:
        notices.append(f"{_count(out_of_scope, 'person', 'people')} outside the configured "
                       "search bases left out")
    return Reading(Snapshot.full(records, complete=True), mapping, tuple(notices))


def _mute_search_results(text: str) -> tuple[str, list[str]]:
    """Turn ldapsearch's ``search:``/``result:``/``ref:`` records into comments.

    They are not entries (python-ldap would stop at them), but ``result:`` says whether the search
    that made the file finished. Lines are commented out rather than removed, so the parser's line
    numbers still match the file.
    """
    lines = text.split("\n")
    results: list[str] = []
    at_start, muted = True, False
    for number, line in enumerate(lines):
        bare = line.rstrip("\r")
        if not bare:
            at_start, muted = True, False
            continue
        if at_start and not muted and bare[0] not in "# ":
            key = bare.split(":", 1)[0].strip().lower()
            muted = key in _SEARCH_KEYS
            at_start = False
        if muted:
            if bare.lower().startswith("result:"):
                results.append(bare.split(":", 1)[1].strip())
            lines[number] = "#" + line
    return "\n".join(lines), results


def _refuse_incomplete(results: list[str]) -> None:
    """A search that ended on a size or time limit (or any error) listed only some people."""
    for result in results:
        if result.split(" ", 1)[0] != "0":
            raise ConfigurationError(
                f"the LDIF file ends with search result {result!r}: the search that wrote it "
                "stopped early, so the file does not hold every user",
                hint="export again with paged results (ldapsearch -E pr=500/noprompt) and check "
                "that the last result is 0 Success",
                code="ldif_incomplete",
            )


def _parse(text: str) -> _Collector:
    collector = _Collector(text.translate(TO_MARKER) if undecodable_byte(text) else text)
    try:
        collector.parse_entry_records()
    except (ValueError, EOFError) as error:  # ValueError covers bad base64 and bad UTF-8 in a DN
        message = printable(str(error).translate(FROM_MARKER))
        found = _LINE_PREFIX.match(message)
        # Both counts are one ahead: the parser has read the next line to see if it continues.
        line = (int(found.group(1)) if found else collector.line_counter) - 1
        raise ConfigurationError(
            f"the LDIF file is malformed near line {line}: {_LINE_PREFIX.sub('', message)}",
            hint="every entry starts with a dn: line, each line is attribute: value (or "
            "attribute:: base64), a continued line starts with one space, entries are "
            "separated by an empty line",
            code="ldif_malformed",
        ) from None
    return collector


def _collector_notices(collector: _Collector) -> list[str]:
    notices = [f"{_count(count, 'change record', 'change records')} (changetype: {changetype}) "
               "ignored; only entries are read"
               for changetype, count in sorted(collector.changes.items())]
    if collector.unfetched:
        notices.append(f"{_count(collector.unfetched, 'value', 'values')} given by URL (:<) "
                       "not fetched")
    return notices


def _count(number: int, singular: str, plural: str) -> str:
    return f"{number} {singular if number == 1 else plural}"


def _looks_like_ad(entries: list[Entry]) -> bool:
    return any(not _AD_SIGNS.isdisjoint(entry.values) for entry in entries)


def _is_person(entry: Entry) -> bool:
    """People only. An export made with a chosen attribute list may lack objectClass: then an
    entry with a given name or surname is taken as a person."""
    classes = entry.classes()
    if not classes:
        return "givenname" in entry.values or "sn" in entry.values
    return bool(classes & PERSON_CLASSES) and not classes & NOT_PERSON_CLASSES


def _locations(
    dn: str,
    scopes: Sequence[Scope],
    containing: Sequence[Scope],
    known: tuple[str, ...] | None,
) -> tuple[str, ...] | None:
    """The locations of the scopes ``containing`` the DN; ``None`` when no scope names a location
    (a global organization). Without scopes, the known locations its OUs name, if asked for."""
    if scopes:
        if all(scope.location is None for scope in scopes):
            return None
        return scope_locations(containing)
    return None if known is None else locations_by_ou(dn, known)
