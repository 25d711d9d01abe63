"""A full read of the people in an Active Directory or LDAP source's scope.

One paged search per search base; a person found under two bases is one record with both bases'
locations (merged by anchor). Entries become records as each page arrives (the raw page is then
dropped), through the same code as LDIF imports (``entries``). The snapshot is marked complete
only because every search got to its last page: any failure on the way raises instead of
returning, so the caller has nothing to archive from.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import replace
from datetime import datetime

from usersync.core.records import Snapshot, SourceRecord

from .base import ConnectionInfo, Reading
from .entries import Entry, build_record, fields_by_attribute, has_uuid_anchor
from .ldap_connect import open_session
from .ldap_groups import GROUP_FILTER, MEMBER_ATTRIBUTES, walk_members
from .ldap_search import Attributes, Session
from .ldap_settings import LdapSettings
from .scope import Scope, normalize_dn

Progress = Callable[[str], None]
GROUP_ATTRIBUTES = ("objectClass", *MEMBER_ATTRIBUTES)


class RecordCollector:
    """Records by anchor, with the locations of every base each was found under."""

    def __init__(self, settings: LdapSettings, now: datetime):
        self.is_ad = settings.is_ad
        self.now = now
        self.fields_of = fields_by_attribute(settings.mapping)
        self.global_organization = all(scope.location is None for scope in settings.scopes)
        self.records: dict[str, SourceRecord] = {}
        self.locations: dict[str, dict[str, None]] = {}
        self.without_uuid = 0

    def add(self, scope: Scope, dn: str, values: Attributes) -> SourceRecord:
        entry = Entry.from_attributes(dn, values)
        record = build_record(entry, dn, self.fields_of, self.is_ad, self.now, None)
        anchor = record.anchor or dn
        if anchor not in self.records:
            self.records[anchor] = record
            self.locations[anchor] = {}
            self.without_uuid += not has_uuid_anchor(entry)
        if scope.location is not None:
            self.locations[anchor].setdefault(scope.location, None)
        return record

    def people(self) -> frozenset[str]:
        return frozenset(normalize_dn(record.dn) for record in self.records.values())

    def keep(self, members: Collection[str]) -> int:
        """Keep only the records whose DN is among ``members`` (normalized); how many left."""
        dropped = [anchor for anchor, record in self.records.items()
                   if normalize_dn(record.dn) not in members]
        for anchor in dropped:
            del self.records[anchor]
        return len(dropped)

    def result(self) -> list[SourceRecord]:
        out = []
        for anchor, record in self.records.items():
            locations = None if self.global_organization else tuple(self.locations[anchor])
            out.append(record if locations is None else replace(record, locations=locations))
        return out


def group_reader(session: Session) -> Callable[[str], Attributes | None]:
    """Read a group for the walk: its attributes, or ``None`` if the DN is not a group here."""
    return lambda dn: session.entry(dn, GROUP_ATTRIBUTES, GROUP_FILTER)


def read_directory(settings: LdapSettings, now: datetime,
                   progress: Progress | None = None) -> Reading:
    """Read every person in scope into a complete full snapshot, or raise a ``SourceError``."""
    settings.validate()
    say = progress or (lambda message: None)
    filterstr = settings.search_filter()
    attributes = settings.requested_attributes()
    collector = RecordCollector(settings, now)
    notices: list[str] = []
    with open_session(settings, now) as session:
        say(f"connected to {session.server} ({session.tls or 'not encrypted'})")
        for scope in settings.scopes:
            count = 0
            for page in session.pages(scope.base, filterstr, attributes, settings.page_size):
                for dn, values in page:
                    collector.add(scope, dn, values)
                count += len(page)
                say(f"{count} entries read under {scope.base}")
        if settings.groups and not settings.is_ad:
            members = walk_members(settings.groups, group_reader(session), collector.people())
            left_out = collector.keep(members)
            say(f"{left_out} entries left out: not members of the groups")
        connection = ConnectionInfo(server=session.server, tls=session.tls)
    if session.tls is None:
        notices.append(f"the connection to {session.server} was not encrypted (insecure setting)")
    if collector.without_uuid:
        notices.append(
            f"{collector.without_uuid} entries have no {settings.anchor_attribute}: their DN "
            "identifies them, so renaming or moving one will look like a new person")
    records = collector.result()
    say(f"read complete: {len(records)} people")
    return Reading(Snapshot.full(records, complete=True), settings.mapping, tuple(notices),
                   connection)
