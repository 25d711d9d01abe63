"""A directory read that is incremental when it can be: decide, read, and tell what to save.

After connecting, the read learns what the server can tell about changes (the domain controller's
USN and invocationId on AD; whether OpenLDAP offers content sync), decides with the source's saved
state (``ldap_incremental.decide``), and reads either what changed (a delta snapshot: the changed
people and the anchors that left the scope) or everything (a full snapshot). The watermark of the
next read is taken *before* a full read (a change made during the read is read again next time,
never missed) and returned in the reading's ``sync_state``, which the run saves only when it
succeeds. Every run says in a notice which kind of read it was, and why a full one.
"""

from __future__ import annotations

from datetime import datetime

from usersync.core.records import Snapshot

from .base import Reading
from .ldap_connect import open_session
from .ldap_content_sync import (
    FullReadNeeded,
    cookies_now,
    offers_content_sync,
    read_content_delta,
)
from .ldap_incremental import (
    CONTENT_SYNC,
    USN,
    Decision,
    Delta,
    Full,
    Incremental,
    decide,
    fingerprint,
    next_state,
)
from .ldap_read import Progress, RecordCollector, read_people, reading
from .ldap_roots import SearchRoot, search_roots
from .ldap_search import Session
from .ldap_settings import LdapSettings
from .ldap_unchanged import Recognizer, recognizable
from .ldap_usn import changed_group, domain_controller, read_usn_delta

FULL = "full read"
INCREMENTAL = "incremental read"
UNSEEN_DELETIONS = (
    "deleted users are archived at the next full reconcile, not now: the bind account sees no "
    "deleted object in CN=Deleted Objects (grant it List Contents and Read Property there: "
    "dsacls \"CN=Deleted Objects,DC=…\" /takeownership, then /G DOMAIN\\account:LCRP)")


def read_changes(settings: LdapSettings, now: datetime, incremental: Incremental,
                 progress: Progress | None = None) -> Reading:
    """The people in scope, or what changed since the saved state; a ``SourceError`` when a
    search fails (then nothing is saved and nothing archived)."""
    settings.validate()
    say = progress or (lambda message: None)
    digest = fingerprint(settings.kind, settings.scopes, settings.search_filter(),
                         settings.mapping, incremental.context)
    with open_session(settings, now) as session:
        say(f"connected to {session.server} ({session.tls or 'not encrypted'})")
        read = _active_directory if settings.is_ad else _openldap
        collector, snapshot, notices, state = read(session, settings, now, incremental, digest,
                                                   say)
    say(f"read complete: {len(snapshot.records)} people")
    return reading(settings, session, collector, snapshot, notices, state)


def _active_directory(session: Session, settings: LdapSettings, now: datetime,
                      incremental: Incremental, digest: str, say: Progress):
    dc = domain_controller(session)
    decision = _decision(incremental, USN if dc else None, dc.invocation_id if dc else "",
                         digest, now, group_scoped=False)
    if isinstance(decision, Delta) and settings.groups:
        group = changed_group(session, settings, dc, decision.since)
        if group is not None:
            decision = Full(f"the group {group} changed since the last read: membership changes "
                            "are seen only by reading everything")
    if isinstance(decision, Full):
        collector, snapshot, notices = _full(session, settings, now, decision, say,
                                             _recognizer(settings, incremental, digest))
    else:
        delta = read_usn_delta(session, settings, now, dc, decision.since,
                               decision.previous_read, say)
        collector = delta.collector
        snapshot = Snapshot.delta(collector.result(), delta.removed)
        notices = [_incremental_notice(snapshot, f"USN {decision.since} of this domain "
                                                 "controller", incremental)]
        if not delta.sees_deletions:
            notices.append(UNSEEN_DELETIONS)
    state = None if dc is None else next_state(
        incremental.saved, decision, method=USN, server=dc.invocation_id, fingerprint=digest,
        now=now, watermark=dc.usn)
    return collector, snapshot, notices, state


def _openldap(session: Session, settings: LdapSettings, now: datetime,
              incremental: Incremental, digest: str, say: Progress):
    method = CONTENT_SYNC if offers_content_sync(session) else None
    decision = _decision(incremental, method, session.server, digest, now,
                         group_scoped=bool(settings.groups))
    roots = None if method is None else search_roots(session, settings)  # once for the run
    cookies = None
    if isinstance(decision, Delta):
        try:
            delta = read_content_delta(session, settings, now, decision.since, say, roots)
        except FullReadNeeded as why:
            decision = Full(str(why))
        else:
            collector, cookies = delta.collector, delta.cookies
            snapshot = Snapshot.delta(collector.result(), delta.removed)
            notices = [_incremental_notice(snapshot, "the last run's sync cookie", incremental)]
    if isinstance(decision, Full):
        unusable = None
        if method is not None and not settings.groups:
            try:
                cookies = cookies_now(session, roots)  # before the read: nothing is missed
            except FullReadNeeded as why:
                unusable = f"the next run reads everything too: {why}"
        collector, snapshot, notices = _full(session, settings, now, decision, say,
                                             _recognizer(settings, incremental, digest), roots)
        notices += [unusable] if unusable else []
    state = None if cookies is None else next_state(
        incremental.saved, decision, method=CONTENT_SYNC, server=session.server,
        fingerprint=digest, now=now, watermark=cookies)
    return collector, snapshot, notices, state


def _decision(incremental: Incremental, method: str | None, server: str, digest: str,
              now: datetime, group_scoped: bool) -> Decision:
    return decide(incremental.saved, method=method, server=server, fingerprint=digest, now=now,
                  reconcile_every=incremental.reconcile_every,
                  force_full=incremental.force_full, group_scoped=group_scoped)


def _full(session: Session, settings: LdapSettings, now: datetime, decision: Full,
          say: Progress, recognizer: Recognizer | None, roots: list[SearchRoot] | None = None
          ) -> tuple[RecordCollector, Snapshot, list[str]]:
    say(f"{FULL}: {decision.reason}")
    collector = read_people(session, settings, now, say, recognizer, roots)
    snapshot = Snapshot.full(collector.result(), complete=True, unchanged=collector.unchanged)
    return collector, snapshot, [f"{FULL}: {decision.reason}"]


def _recognizer(settings: LdapSettings, incremental: Incremental,
                digest: str) -> Recognizer | None:
    """What recognizes unchanged entries in a full read (``ldap_unchanged``); a full read that
    was asked for (``force_full``) builds and plans every entry again."""
    if not recognizable(settings):
        return None
    known = {} if incremental.force_full else incremental.known()
    return Recognizer(digest, known, settings.is_ad)


def _incremental_notice(snapshot: Snapshot, since: str, incremental: Incremental) -> str:
    hours = incremental.reconcile_every.total_seconds() / 3600
    left = snapshot.removed - {record.anchor for record in snapshot.records}
    return (f"{INCREMENTAL}: {len(snapshot.records)} people changed and {len(left)} left the "
            f"scope since {since}; everything is read again at least every {hours:g} hours "
            "(full reconcile)")
