"""What changed in OpenLDAP since a cookie: the content synchronization operation (RFC 4533).

A server with the syncprov overlay answers a refreshOnly sync search that carries the cookie of an
earlier one with the entries written since (with their attributes) and the entryUUIDs of the
entries that left the content (deleted, moved out of the base, or no longer matching the filter),
then a new cookie. OpenLDAP's cookie names a point in the server's history (its context CSN), not
a result set, so the cookie saved by a full read is taken first, by a sync search whose filter
matches nothing; the full read itself stays a plain paged search, which is much cheaper than
decoding a sync state control on every entry. The sync messages, one per entry or id, are
decoded by ``ldap_sync_info`` (pyasn1 was most of an incremental run's time).

The server can list what left the content only from its session log (``olcSpSessionlog``), which
lives in memory: after a restart, or when more changed than the log holds, it answers with a
*present phase* instead (the ids of everything still there, for the client to compare against its
own copy). usersync keeps no copy of the directory, so it stops there and reads in full. The same
for a server that asks for a full refresh (e-syncRefreshRequired) or cut the answer short.

Ids reported as gone from a base are looked up again in every base: an entry that moved to another
base (even between two of the per-base searches) is still there, and its record then carries every
location it still has. The delta names them all as removed; planning archives only the contacts
that no record of the delta claims (those of the locations the entry left, or all of them).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

import ldap
import ldap.filter
from ldap.syncrepl import SyncDoneControl, SyncRequestControl, SyncStateControl

from .errors import IncompleteRead
from .ldap_errors import result_code, search_error
from .ldap_read import Progress, RecordCollector, read_entries
from .ldap_search import Attributes, Session
from .ldap_settings import LdapSettings
from .ldap_sync_info import SYNC_RESPONSE_CONTROLS, SyncInfo, decode_sync_info

SYNC_REQUEST = SyncRequestControl.controlType
#: e-syncRefreshRequired: the server cannot continue from this cookie.
REFRESH_REQUIRED = 4096
#: A filter that no entry matches (for taking a cookie without reading entries).
NOTHING = "(!(objectClass=*))"
#: entryUUIDs looked up per search when checking that removed entries are really gone.
LOOKUP_BATCH = 200


class FullReadNeeded(Exception):
    """The server cannot tell what changed since the cookie; the message says why."""


@dataclass
class SyncAnswer:
    cookie: str | None = None
    deleted: set[str] = field(default_factory=set)


@dataclass(frozen=True, slots=True)
class ContentDelta:
    """People written since the cookies (or that left a base: read again), the entryUUIDs that
    left a base, the new cookies."""

    collector: RecordCollector
    removed: frozenset[str]
    cookies: dict[str, str]


def offers_content_sync(session: Session) -> bool:
    """Whether the server lists the sync request control (syncprov is configured)."""
    controls = session.fetch("", ["supportedControl"]).get("supportedControl", [])
    return SYNC_REQUEST.encode() in controls


def cookies_now(session: Session, settings: LdapSettings) -> dict[str, str]:
    """A cookie for each search base that names the server's state now."""
    cookies = {}
    for scope in settings.scopes:
        answer = sync_search(session, scope.base, NOTHING, ["1.1"], None, lambda *entry: None)
        if not answer.cookie:
            raise FullReadNeeded(f"{session.server} gave no sync cookie for {scope.base!r}")
        cookies[scope.base] = answer.cookie
    return cookies


def read_content_delta(session: Session, settings: LdapSettings, now: datetime,
                       cookies: Mapping[str, str], say: Progress) -> ContentDelta:
    """The people of each base written since its cookie, and the entries that left the scope.
    Raises ``FullReadNeeded`` when the server cannot tell, a ``SourceError`` when a search
    fails."""
    collector = RecordCollector(settings, now)
    attributes = settings.requested_attributes()
    people = settings.search_filter()
    gone: set[str] = set()
    after: dict[str, str] = {}
    for scope in settings.scopes:
        if scope.base not in cookies:
            raise FullReadNeeded(f"no sync cookie for {scope.base!r}")
        answer = sync_search(session, scope.base, people, attributes, cookies[scope.base],
                             lambda dn, values, scope=scope: collector.add(scope, dn, values))
        gone |= answer.deleted
        after[scope.base] = answer.cookie or cookies[scope.base]
    for batch in _batches(sorted(gone), LOOKUP_BATCH):
        ids = "".join(f"(entryUUID={ldap.filter.escape_filter_chars(i)})" for i in batch)
        read_entries(session, settings, collector, f"(&{people}(|{ids}))", say)
    say(f"{len(collector.records)} people changed, {len(gone)} left a search base")
    return ContentDelta(collector, frozenset(gone), after)


def sync_search(session: Session, base: str, filterstr: str, attributes: Iterable[str],
                cookie: str | None, entry: Callable[[str, Attributes], object]) -> SyncAnswer:
    """One refreshOnly sync search: ``entry`` gets each written entry, the answer holds the ids
    deleted and the new cookie. Raises ``FullReadNeeded`` for a present phase or a refresh the
    server requires."""
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
                    raise IncompleteRead(
                        f"{session.server} ended the sync search of {base!r} without its done "
                        "control: what changed cannot be proven complete",
                        hint="the next run will try again", code="content_sync_broken",
                        server=session.server)
                if cookie is not None and not done.refreshDeletes:
                    _present_phase(connection, None)
                answer.cookie = done.cookie or answer.cookie
                return answer
            if kind == ldap.RES_INTERMEDIATE:
                for _oid, value, _controls in data:
                    _info(connection, msgid, decode_sync_info(value), answer)
            elif kind == ldap.RES_SEARCH_ENTRY:
                for dn, values, entry_controls in data:
                    state = next((c for c in entry_controls if isinstance(c, SyncStateControl)),
                                 None)
                    if state is not None and state.state == "present":
                        _present_phase(connection, msgid)
                    if state is not None and state.state == "delete":
                        answer.deleted.add(state.entryUUID)
                    elif dn is not None:
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


def _info(connection, msgid: int, message: SyncInfo, answer: SyncAnswer) -> None:
    if message.newcookie:
        answer.cookie = message.newcookie
    elif message.refreshPresent is not None:
        _present_phase(connection, msgid)
    elif message.syncIdSet is not None:
        if not message.syncIdSet.get("refreshDeletes"):
            _present_phase(connection, msgid)
        answer.deleted.update(message.syncIdSet["syncUUIDs"])
        answer.cookie = message.syncIdSet.get("cookie") or answer.cookie
    elif message.refreshDelete is not None:
        answer.cookie = message.refreshDelete.get("cookie") or answer.cookie


def _present_phase(connection, msgid: int | None):
    """Stop: the server lists what is still there instead of what left."""
    if msgid is not None:
        try:
            connection.abandon_ext(msgid)
        except ldap.LDAPError:
            pass  # the search ends with the session anyway
    raise FullReadNeeded("the server could not list what left the scope since the last read "
                         "(its session log does not reach back that far, e.g. after a restart)")


def _batches(items: list[str], size: int):
    for start in range(0, len(items), size):
        yield items[start:start + size]
