"""What changed in Active Directory since a USN: the delta read of an AD source.

Each domain controller numbers the writes it commits (update sequence numbers, USNs) and stamps
every object it writes with the number in ``uSNChanged``, whether the write came from an LDAP
client or from replication. The rootDSE tells the highest number committed so far; taken *before*
a read, it is the watermark the next read starts after. USNs are local to one DC's database, which
``invocationId`` (on the DC's NTDS Settings object) names: a DC restored from a backup gets a new
one, so watermarks are kept per invocationId (``ldap_incremental``).

A delta read asks each search base for ``(&(filter)(uSNChanged>=N+1))``: only entries written
since, never the unchanged ones. What left the scope is found by a second search from the domain's
root for every user written between N+1 and the watermark H, whatever its place or state, with the
show-deleted control (deleted users are tombstones under CN=Deleted Objects, with their
objectGUID): a user written in that window and not returned by the scoped searches was deleted,
moved out of the search bases, or no longer matches the filter; one returned by them has every
location it still has. Bounding that search by H keeps it exact: an object whose last write is at
or below H has not changed since the scoped searches started (they started after H was read), so
each base it is under returned it. The delta names every user of the window as removed; planning
archives only the contacts that no record of the delta claims.

What a delta cannot see, and what is done about it:

- Group membership is written on the group, not the member. A group-scoped source first asks
  whether any of its groups (or the groups nested in them) was written since N; if one was, the
  run reads in full.
- An account that expires needs no write. The accounts of the scope whose expiry date passed
  since the previous read are read again with the changes.
- Listing tombstones needs a right a read-only account lacks by default (List Contents on
  CN=Deleted Objects); without it deleted users stay until the next full reconcile, and the run
  says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import ldap
import ldap.filter
from ldap.controls import LDAPControl

from . import active_directory
from .errors import IncompleteRead
from .ldap_errors import search_error
from .ldap_filters import IN_CHAIN, group_dn
from .ldap_read import Progress, RecordCollector, read_entries
from .ldap_search import Attributes, Session
from .ldap_settings import LdapSettings

#: LDAP_SERVER_SHOW_DELETED_OID: tombstones are returned by searches.
SHOW_DELETED = LDAPControl("1.2.840.113556.1.4.417", True, None)
#: The well-known GUID of the Deleted Objects container of a naming context.
DELETED_OBJECTS = "18e2ea80684f11d2b9aa00c04f79f805"
_DC_ATTRIBUTES = ("highestCommittedUSN", "dsServiceName", "defaultNamingContext")


@dataclass(frozen=True, slots=True)
class DomainController:
    """The DC a session reads from: its database's id, its highest committed USN (read before
    anything else of this read) and the naming context of its domain."""

    invocation_id: str
    usn: int
    naming_context: str


@dataclass(frozen=True, slots=True)
class UsnDelta:
    """People written since the watermark, and ``removed``: every user written between the
    watermark and the DC's USN, in scope or not. For those still in scope the records are
    complete (each base they are under returned them), so the planner archives only the contacts
    of the locations they left; for the others, every contact."""

    collector: RecordCollector
    removed: frozenset[str]
    sees_deletions: bool


def _text(values: Attributes, name: str) -> str:
    for key, found in values.items():
        if key.lower() == name.lower() and found:
            return found[0].decode("utf-8", "replace").strip()
    return ""


def domain_controller(session: Session) -> DomainController | None:
    """The DC behind ``session``, or ``None`` if its rootDSE does not tell USNs (not AD)."""
    root = session.fetch("", _DC_ATTRIBUTES)
    usn, service, context = (_text(root, name) for name in _DC_ATTRIBUTES)
    if not (usn.isdigit() and service and context):
        return None
    raw = session.fetch(service, ["invocationId"]).get("invocationId", [b""])[0]
    try:
        invocation_id = active_directory.guid_to_str(raw)
    except ValueError:
        return None
    return DomainController(invocation_id, int(usn), context)


def changed_group(session: Session, settings: LdapSettings, dc: DomainController,
                  since: int) -> str | None:
    """The DN of a configured group, or of a group nested in one, written since ``since``."""
    groups = [ldap.filter.escape_filter_chars(group_dn(group)) for group in settings.groups]
    either = "".join(f"(distinguishedName={g})(memberOf:{IN_CHAIN}:={g})" for g in groups)
    filterstr = f"(&(objectClass=group)(uSNChanged>={since + 1})(|{either}))"
    for page in session.pages(dc.naming_context, filterstr, ["1.1"], settings.page_size):
        for dn, _values in page:
            return dn
    return None


def sees_deletions(session: Session, dc: DomainController) -> bool:
    """Whether the bind account sees any tombstone in the domain's CN=Deleted Objects. Any
    account may read the container itself; listing what is in it takes a right a read-only
    account lacks by default, and without it the list is simply empty. (A domain where nothing
    was ever deleted looks the same: nothing to miss there.)"""
    container = f"<WKGUID={DELETED_OBJECTS},{dc.naming_context}>"
    try:
        found = session.connection.search_ext_s(
            container, ldap.SCOPE_ONELEVEL, "(isDeleted=TRUE)", ["1.1"],
            serverctrls=[SHOW_DELETED], timeout=session.timeout, sizelimit=1)
    except ldap.SIZELIMIT_EXCEEDED:
        return True  # more than the one asked for
    except (ldap.NO_SUCH_OBJECT, ldap.INSUFFICIENT_ACCESS):
        return False
    except ldap.LDAPError as error:
        raise search_error(error, session.server, container, 0) from None
    return any(dn for dn, _values in found)


def read_usn_delta(session: Session, settings: LdapSettings, now: datetime,
                   dc: DomainController, since: int, previous_read: datetime | None,
                   say: Progress) -> UsnDelta:
    """The people of the scope written after ``since`` (and those whose account expired since
    ``previous_read``), and the users written between ``since`` and ``dc.usn`` that are no
    longer in scope. Raises like a full read: a failed search is never a short answer."""
    collector = RecordCollector(settings, now)
    people = settings.search_filter()
    read_entries(session, settings, collector, f"(&{people}(uSNChanged>={since + 1}))", say)
    if previous_read is not None:
        window = (f"(accountExpires>={active_directory.datetime_to_filetime(previous_read)})"
                  f"(accountExpires<={active_directory.datetime_to_filetime(now)})")
        read_entries(session, settings, collector, f"(&{people}{window})", say)
    visible = sees_deletions(session, dc)
    written = f"(&(objectClass=user)(uSNChanged>={since + 1})(uSNChanged<={dc.usn}))"
    removed: set[str] = set()
    controls = [SHOW_DELETED] if visible else []
    for page in session.pages(dc.naming_context, written, ["objectGUID"], settings.page_size,
                              controls):
        for dn, values in page:
            raw = values.get("objectGUID", [b""])[0]
            if len(raw) != 16:
                raise IncompleteRead(
                    f"{session.server} returned {dn!r} without its objectGUID: what left the "
                    "scope cannot be told", hint="the next run will try again",
                    code="missing_anchor", server=session.server)
            removed.add(active_directory.guid_to_str(raw))
    say(f"{len(collector.records)} people changed since USN {since}")
    return UsnDelta(collector, frozenset(removed), visible)
