"""What changed in OpenLDAP since a cookie: the content synchronization operation (RFC 4533).

A server with the syncprov overlay answers a refreshOnly sync search that carries the cookie of an
earlier one with the entries written since (with their attributes) and the entryUUIDs of the
entries that left the content (deleted, moved out of the base, or no longer matching the filter),
then a new cookie. OpenLDAP's cookie names a point in the server's history (its context CSN), not
a result set, so the cookie saved by a full read is taken first, by a sync search whose filter
matches nothing; the full read itself stays a plain paged search (``ldap_read``), which is much
cheaper than decoding a sync state control on every entry. The sync messages, one per entry or
id, are decoded by ``ldap_sync_info`` (pyasn1 was most of an incremental run's time).

The server can list what left the content only from its session log (``olcSpSessionlog``), which
lives in memory: after a restart, or when more changed than the log holds, it answers with a
*present phase* instead (the ids of everything still there, for the client to compare against its
own copy). usersync keeps no copy of the directory, so it stops there and reads in full. The same
for a server that asks for a full refresh (e-syncRefreshRequired) or cut the answer short.

One search reads every base: slapd tells a search of each entry written anywhere in the database
that it does not find as gone, so a search per base hears of a day's changes once per base. It
starts at the bases' common parent (``ldap_roots``); an entry it returns is a record of every base
that contains it, one under no base is none. Cookies are kept per search root.

The delta names as removed the ids reported gone and every entry written, in or out of scope:
planning archives only the contacts of removed anchors that no record claims, so an entry moved
between bases loses the contact of the base it left, and one moved out of every base loses all.
An entry still under a root comes back from its search; only with several roots are gone ids
looked up in every base (one may move between two of the searches).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

import ldap
import ldap.dn
import ldap.filter
from ldap.syncrepl import SyncDoneControl, SyncRequestControl, SyncStateControl

from .errors import IncompleteRead
from .ldap_errors import result_code, search_error
from .ldap_read import Progress, RecordCollector, read_entries
from .ldap_roots import SearchRoot
from .ldap_search import Attributes, Session
from .ldap_settings import LdapSettings
from .ldap_sync_info import SYNC_RESPONSE_CONTROLS, SyncInfo, decode_sync_info
from .scope import ScopeFinder

SYNC_REQUEST = SyncRequestControl.controlType
#: e-syncRefreshRequired: the server cannot continue from this cookie.
REFRESH_REQUIRED = 4096
#: A filter that no entry matches, for taking a cookie without reading entries: an object class
#: no schema defines. slapd finds no candidate in its objectClass index and answers at once (0.5
#: ms at 100,000 entries), where ``(!(objectClass=*))`` made it test every entry (70 ms); without
#: that index, both are a scan. (An attribute no schema defines was as quick, but 389 Directory
#: Server can be set to refuse a filter naming one: ``nsslapd-verify-filter-schema``.)
NOTHING = "(objectClass=x-usersync-nothing)"
#: entryUUIDs looked up per search when an id gone from one root may be under another.
LOOKUP_BATCH = 200


class FullReadNeeded(Exception):
    """The server cannot tell what changed since the cookie; the message says why."""


@dataclass
class SyncAnswer:
    cookie: str | None = None
    deleted: set[str] = field(default_factory=set)
    written: set[str] = field(default_factory=set)  # the ids of the entries sent


@dataclass(frozen=True, slots=True)
class ContentDelta:
    """People written since the cookies, the entryUUIDs gone or written (their records claim
    what they keep), the new cookie of each search root."""

    collector: RecordCollector
    removed: frozenset[str]
    cookies: dict[str, str]


def offers_content_sync(session: Session) -> bool:
    """Whether the server lists the sync request control (syncprov is configured)."""
    controls = session.fetch("", ["supportedControl"]).get("supportedControl", [])
    return SYNC_REQUEST.encode() in controls


def cookies_now(session: Session, roots: list[SearchRoot]) -> dict[str, str]:
    """A cookie for each search root (``ldap_roots.search_roots``) naming the server's state
    now."""
    cookies = {}
    for root in roots:
        answer = sync_search(session, root.dn, NOTHING, ["1.1"], None, lambda *entry: None)
        if not answer.cookie:
            raise FullReadNeeded(f"{session.server} gave no sync cookie for {root.dn!r}")
        cookies[root.key] = answer.cookie
    return cookies


def read_content_delta(session: Session, settings: LdapSettings, now: datetime,
                       cookies: Mapping[str, str], say: Progress,
                       roots: list[SearchRoot]) -> ContentDelta:
    """The people in scope written since the cookies, one sync search per search root
    (``ldap_roots.search_roots``), and the anchors that may have left the scope. Raises
    ``FullReadNeeded`` when the server cannot tell (or no cookie was saved for a search root),
    a ``SourceError`` when a search fails."""
    for root in roots:
        if root.key not in cookies:
            raise FullReadNeeded(f"no sync cookie was saved for the search root {root.dn!r} "
                                 "(an earlier version kept one per search base)")
    collector = RecordCollector(settings, now)
    attributes = settings.requested_attributes()
    people = settings.search_filter()
    gone: set[str] = set()
    removed: set[str] = set()
    after: dict[str, str] = {}
    for root in roots:
        def add(dn: str, values: Attributes, scopes_of=ScopeFinder(root.scopes)) -> None:
            for scope in scopes_of(dn):
                collector.add(scope, dn, values)
        answer = sync_search(session, root.dn, people, attributes, cookies[root.key], add)
        gone |= answer.deleted
        removed |= answer.deleted | answer.written
        after[root.key] = answer.cookie or cookies[root.key]
    ids = sorted(gone) if len(roots) > 1 else []  # it may have moved between two searches
    for start in range(0, len(ids), LOOKUP_BATCH):
        wanted = "".join(f"(entryUUID={ldap.filter.escape_filter_chars(i)})"
                         for i in ids[start:start + LOOKUP_BATCH])
        read_entries(session, settings, collector, f"(&{people}(|{wanted}))", say)
    say(f"{len(collector.records)} people changed in scope, {len(removed)} entries written or "
        "gone since the last read")
    return ContentDelta(collector, frozenset(removed), after)


def sync_search(session: Session, base: str, filterstr: str, attributes: Iterable[str],
                cookie: str | None, entry: Callable[[str, Attributes], object]) -> SyncAnswer:
    """One refreshOnly sync search: ``entry`` gets each written entry, the answer holds their
    ids, the ids deleted and the new cookie. Raises ``FullReadNeeded`` for a present phase or a
    refresh the server requires."""
    answer = SyncAnswer()
    control = SyncRequestControl(criticality=True, cookie=cookie, mode="refreshOnly")
    connection = session.connection
    try:
        msgid = connection.search_ext(base, ldap.SCOPE_SUBTREE, filterstr, list(attributes),
                                      serverctrls=[control], timeout=session.timeout)
        while True:
            kind, data, _msgid, controls, _name, _value = connection.result4(
                msgid, all=0, timeout=session.timeout, add_ctrls=1, add_intermediates=1,
                resp_ctrl_classes=SYNC_RESPONSE_CONTROLS)
            if kind == ldap.RES_SEARCH_RESULT:
                done = next((c for c in controls if isinstance(c, SyncDoneControl)), None)
                if done is None:
                    raise _broken(session, base, "ended it without the done control")
                if cookie is not None and not done.refreshDeletes:
                    _present_phase(session, None)
                answer.cookie = done.cookie or answer.cookie
                return answer
            if kind == ldap.RES_INTERMEDIATE:
                for _oid, value, _controls in data:
                    _info(session, msgid, decode_sync_info(value), answer)
            elif kind == ldap.RES_SEARCH_ENTRY:
                for dn, values, entry_controls in data:
                    state = next((c for c in entry_controls if isinstance(c, SyncStateControl)),
                                 None)
                    if state is None:
                        raise _broken(session, base, f"sent {dn!r} without its sync state")
                    if state.state == "present":
                        _present_phase(session, msgid)
                    if state.state == "delete":
                        answer.deleted.add(state.entryUUID)
                    else:
                        answer.written.add(state.entryUUID)
                        entry(dn, values)
    except ldap.LDAPError as error:
        if result_code(error) == REFRESH_REQUIRED:
            raise FullReadNeeded(f"{session.server} asked for a full refresh") from None
        if isinstance(error, (ldap.SIZELIMIT_EXCEEDED, ldap.ADMINLIMIT_EXCEEDED)):
            raise FullReadNeeded(f"more changed than {session.server} returns in one "
                                 "search") from None
        if isinstance(error, ldap.UNAVAILABLE_CRITICAL_EXTENSION):
            raise FullReadNeeded(f"{session.server} does not offer content sync on "
                                 f"{base!r}") from None
        raise search_error(error, session.server, base, 0) from None


def _broken(session: Session, base: str, what: str) -> IncompleteRead:
    return IncompleteRead(
        f"{session.server} {what} in the sync search of {base!r}: what changed cannot be "
        "proven complete", hint="the next run will try again", code="content_sync_broken",
        server=session.server)


def _info(session: Session, msgid: int, message: SyncInfo, answer: SyncAnswer) -> None:
    if message.newcookie:
        answer.cookie = message.newcookie
    elif message.refreshPresent is not None:
        _present_phase(session, msgid)
    elif message.syncIdSet is not None:
        if not message.syncIdSet.get("refreshDeletes"):
            _present_phase(session, msgid)
        answer.deleted.update(message.syncIdSet["syncUUIDs"])
        answer.cookie = message.syncIdSet.get("cookie") or answer.cookie
    elif message.refreshDelete is not None:
        answer.cookie = message.refreshDelete.get("cookie") or answer.cookie


def _present_phase(session: Session, msgid: int | None):
    """Stop: the server lists what is still there instead of what left."""
    if msgid is not None:
        session.abandon(msgid)
    raise FullReadNeeded("the server could not list what left the scope since the last read "
                         "(its session log does not reach back that far, e.g. after a restart)")
