"""A full read of the people in an Active Directory or LDAP source's scope.

One paged search per search base (on OpenLDAP, one of the bases' common parent: ``ldap_roots``);
a person found under two bases is one record with both bases' locations (merged by anchor).
Entries become records as each page arrives (the raw page is then dropped), through the same code
as LDIF imports (``entries``). The snapshot is marked complete only because every search got to
its last page: any failure on the way raises instead of returning, so the caller has nothing to
archive from (a parent's search given up for one per base starts the read over). The incremental
reads (``ldap_changes``) collect their changed entries with the same pieces (``RecordCollector``,
``read_entries``).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from datetime import datetime

from usersync.core.records import Snapshot, SourceRecord, Unchanged

from .base import ConnectionInfo, Reading
from .entries import Entry, SharedValues, anchored_by_dn, build_record, fields_by_attribute
from .errors import SourceError
from .ldap_connect import open_session
from .ldap_groups import GROUP_FILTER, MEMBER_ATTRIBUTES, walk_members
from .ldap_roots import SearchRoot, search_roots
from .ldap_search import Attributes, Session
from .ldap_settings import LdapSettings
from .ldap_unchanged import Recognizer
from .scope import Scope, ScopeFinder, normalize_dn

Progress = Callable[[str], None]
GROUP_ATTRIBUTES = ("objectClass", *MEMBER_ATTRIBUTES)
#: Entries outside the search bases a root search reads before it may give up for per-base ones.
OUTSIDE_TOLERATED = 1000


class RecordCollector:
    """Records by anchor, with the locations of every base each was found under."""

    def __init__(self, settings: LdapSettings, now: datetime,
                 recognizer: Recognizer | None = None):
        self.is_ad = settings.is_ad
        self.now = now
        self.fields_of = fields_by_attribute(settings.mapping)
        self.shared = SharedValues()
        self.global_organization = all(scope.location is None for scope in settings.scopes)
        self.records: dict[str, SourceRecord] = {}
        #: The locations of each record's bases, in the order found (a tuple: one location, most
        #: often; a dict each was 20 MB of a read of 100,000 people).
        self.locations: dict[str, tuple[str, ...]] = {}
        self._same_locations: dict[tuple[str, ...], tuple[str, ...]] = {}  # one tuple per set
        self.without_uuid = 0
        #: With a ``recognizer`` (full reads): the entries read unchanged, by anchor.
        self.recognizer = recognizer
        self.unchanged: dict[str, Unchanged] = {}

    def add(self, scope: Scope, dn: str, values: Attributes) -> SourceRecord | None:
        """The record of an entry; ``None`` for an entry read unchanged (not built)."""
        digest = ""
        if self.recognizer is not None:
            digest = self.recognizer.digest(scope.location, dn, values)
            known = self.recognizer.unchanged(digest, values)
            if known is not None:
                anchor, contact_id = known
                self.unchanged[anchor] = Unchanged(dn, contact_id)
                return None
        entry = Entry.from_attributes(dn, values)
        record = build_record(entry, dn, self.fields_of, self.is_ad, self.now, None,
                              self.shared, digest)
        anchor = record.anchor or dn
        if anchor not in self.records:
            self.records[anchor] = record
            self.locations[anchor] = ()
            self.without_uuid += anchored_by_dn(anchor)
        if scope.location is not None:
            found = self.locations[anchor]
            if scope.location not in found:
                located = (*found, scope.location)
                self.locations[anchor] = self._same_locations.setdefault(located, located)
        return record

    def people(self) -> dict[str, str]:
        """The normalized DN of each record, by anchor (normalizing costs ~40 µs: done once)."""
        return {anchor: normalize_dn(record.dn) for anchor, record in self.records.items()}

    def keep(self, anchors: Collection[str]) -> int:
        """Keep only the records of ``anchors``; how many were left out."""
        dropped = [anchor for anchor in self.records if anchor not in anchors]
        for anchor in dropped:
            del self.records[anchor]
        return len(dropped)

    def result(self) -> list[SourceRecord]:
        out = []
        for anchor, record in self.records.items():
            locations = None if self.global_organization else self.locations[anchor]
            out.append(record if locations is None else record.placed(locations))
        return out


def group_reader(session: Session) -> Callable[[str], Attributes | None]:
    """Read a group for the walk: its attributes, or ``None`` if the DN is not a group here."""
    return lambda dn: session.entry(dn, GROUP_ATTRIBUTES, GROUP_FILTER)


def read_entries(session: Session, settings: LdapSettings, collector: RecordCollector,
                 filterstr: str, say: Progress) -> None:
    """Every entry matching ``filterstr`` under each search base, into ``collector``."""
    attributes = settings.requested_attributes()
    for scope in settings.scopes:
        count = 0
        for page in session.pages(scope.base, filterstr, attributes, settings.page_size):
            for dn, values in page:
                collector.add(scope, dn, values)
            count += len(page)
            say(f"{count} entries read under {scope.base}")


class WideRoot(Exception):
    """A search root holds more entries outside the search bases than in them."""


def read_roots(session: Session, settings: LdapSettings, collector: RecordCollector,
               roots: Sequence[SearchRoot], filterstr: str, say: Progress) -> None:
    """Every entry matching ``filterstr`` under each of ``roots``, into ``collector`` for each
    scope containing it. Raises ``WideRoot`` as soon as a root proves to hold more entries
    outside the bases than in them (past ``OUTSIDE_TOLERATED``), or the server's size limit
    stops a root's search: searching each base costs less there."""
    attributes = settings.requested_attributes()
    for root in roots:
        scopes_of = ScopeFinder(root.scopes)
        inside = outside = 0
        pages = session.pages(root.dn, filterstr, attributes, settings.page_size)
        try:
            for page in pages:
                for dn, values in page:
                    found = scopes_of(dn)
                    for scope in found:
                        collector.add(scope, dn, values)
                    inside += bool(found)
                    outside += not found
                if outside > max(inside, OUTSIDE_TOLERATED):
                    raise WideRoot(f"{root.dn!r} holds more entries outside the search bases "
                                   "than in them")
                say(f"{inside} entries read under {root.dn}")
        except SourceError as error:
            if error.code != "size_limit":
                raise
            raise WideRoot(f"the search of {root.dn!r} hit the server's size limit") from None
        finally:
            pages.close()  # a search asked for ahead is abandoned


def read_people(session: Session, settings: LdapSettings, now: datetime,
                say: Progress, recognizer: Recognizer | None = None,
                roots: Sequence[SearchRoot] | None = None) -> RecordCollector:
    """Every person in scope (a full read), group membership applied; with a ``recognizer``,
    the entries known unchanged are only named (``ldap_unchanged``). On OpenLDAP, sibling bases
    are read by one search of their parent (``ldap_roots``) unless it holds many others."""
    collector = RecordCollector(settings, now, recognizer)
    if roots is None:  # the caller's, when it has them already (``ldap_roots.search_roots``)
        several = len(settings.scopes) > 1 and not settings.is_ad
        roots = search_roots(session, settings) if several else []
    try:
        if any(len(root.scopes) > 1 for root in roots):
            read_roots(session, settings, collector, roots, settings.search_filter(), say)
        else:
            read_entries(session, settings, collector, settings.search_filter(), say)
    except WideRoot as why:
        say(f"{why}: searching each base instead")
        collector = RecordCollector(settings, now, recognizer)
        read_entries(session, settings, collector, settings.search_filter(), say)
    if settings.groups and not settings.is_ad:
        people = collector.people()
        members = walk_members(settings.groups, group_reader(session),
                               frozenset(people.values()))
        left_out = collector.keep({anchor for anchor, dn in people.items() if dn in members})
        say(f"{left_out} entries left out: not members of the groups")
    return collector


def reading(settings: LdapSettings, session: Session, collector: RecordCollector,
            snapshot: Snapshot, notices: Sequence[str] = (), sync_state=None) -> Reading:
    """The reading of ``snapshot``, with the notices every directory read may deserve."""
    said = list(notices)
    if session.tls is None:
        said.append(f"the connection to {session.server} was not encrypted (insecure setting)")
    if collector.without_uuid:
        said.append(
            f"{collector.without_uuid} entries have no {settings.anchor_attribute}: their DN "
            "identifies them, so renaming or moving one will look like a new person")
    return Reading(snapshot, settings.mapping, tuple(said),
                   ConnectionInfo(server=session.server, tls=session.tls), sync_state)


def read_directory(settings: LdapSettings, now: datetime,
                   progress: Progress | None = None) -> Reading:
    """Read every person in scope into a complete full snapshot, or raise a ``SourceError``."""
    settings.validate()
    say = progress or (lambda message: None)
    with open_session(settings, now) as session:
        say(f"connected to {session.server} ({session.tls or 'not encrypted'})")
        collector = read_people(session, settings, now, say)
    records = collector.result()
    say(f"read complete: {len(records)} people")
    return reading(settings, session, collector, Snapshot.full(records, complete=True))
