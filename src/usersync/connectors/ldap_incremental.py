"""Whether a directory read can be a delta, and from where: decided as a value, no I/O.

A source remembers, after each successful run, what its next read needs (``Source.sync_state``,
JSON): the method, a fingerprint of everything that decides which entries are read and how they
map, when the last full read was, and the watermarks of the servers it read from:

- Active Directory: the ``highestCommittedUSN`` of each domain controller, keyed by the DC's
  ``invocationId``. USNs are local to one DC's database: another DC's, or the same DC restored
  from a backup (which gets a new invocationId), mean nothing here, so they force a full read.
- OpenLDAP: the content-sync cookie (RFC 4533) of each search root (the common parent of the
  bases, per naming context), valid on the server that gave it.

A read is full when it was asked for, when there is no usable state (first run, another method,
another fingerprint, another server), when the full reconcile is due (``reconcile_every`` after
the last full read: a delta never sees everything, e.g. a person moved out of scope on a server
that cannot report it), or when the server cannot report changes at all.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from usersync.core.mapping import AttributeMapping

from .scope import Scope, normalize_dn

#: Bumped when the saved layout changes: an older state then means one full read.
STATE_VERSION = 1
USN = "usn"
CONTENT_SYNC = "content_sync"
#: How many domain controllers' watermarks a source keeps (failover between a few DCs).
MAX_WATERMARKS = 8


@dataclass(frozen=True, slots=True)
class Incremental:
    """What the app tells the connector about incremental reads: the saved state, how often a
    full reconcile must happen, whether a full read was asked for, and ``context``: the app's own
    settings that change how an unchanged entry is planned (archive options, admin decisions),
    folded into the fingerprint so that changing them brings a full read."""

    saved: Mapping[str, Any] = field(default_factory=dict)
    reconcile_every: timedelta = timedelta(hours=24)
    force_full: bool = False
    context: str = ""
    #: The settled directory objects' digests, for a full read to recognize unchanged entries
    #: (``ldap_unchanged.Known``): asked for only when the read is full (a query of every
    #: directory object of the source, which a delta does not need).
    known: Callable[[], Mapping[str, tuple[str, int]]] = dict


@dataclass(frozen=True, slots=True)
class Full:
    """Read everything; ``reason`` tells the admin why this run was not incremental."""

    reason: str


@dataclass(frozen=True, slots=True)
class Delta:
    """Read what changed since ``since``: a USN (AD) or the cookie of each search root (OpenLDAP)."""

    since: int | Mapping[str, str]
    #: When the previous read started (accounts that expired since then are read again).
    previous_read: datetime | None = None


Decision = Full | Delta


def fingerprint(kind: str, scopes: tuple[Scope, ...], filterstr: str, mapping: AttributeMapping,
                context: str = "") -> str:
    """A digest of what decides which entries a read returns and what they become: the kind,
    the scopes (normalized DNs and their locations), the complete filter (groups and exclusions
    are in it) and the mapping rules. URLs, timeouts and the password are left out: they change
    how a directory is reached, not what is read from it."""
    data = {
        "kind": kind,
        "scopes": [[normalize_dn(s.base), s.location] for s in scopes],
        "filter": filterstr,
        "mapping": list(mapping.to_data()),
        "context": context,
    }
    encoded = json.dumps(data, sort_keys=True, ensure_ascii=False).encode()
    return hashlib.sha256(encoded).hexdigest()


def decide(saved: Mapping[str, Any], *, method: str | None, server: str, fingerprint: str,
           now: datetime, reconcile_every: timedelta, force_full: bool = False,
           group_scoped: bool = False) -> Decision:
    """Full or delta, for a read from ``server`` (the DC's invocationId on AD, the URL that
    answered on OpenLDAP). ``method`` is ``None`` when the server cannot report changes;
    ``group_scoped`` sources on servers where membership is walked here are always read in full
    (a membership change does not change the member entry)."""
    if force_full:
        return Full("a full read was asked for")
    if method is None:
        return Full("the server cannot report what changed (on OpenLDAP, the syncprov overlay "
                    "is not configured): every run reads everything")
    if group_scoped:
        return Full("the source is limited to groups: group membership changes are seen only by "
                    "reading everything")
    if not saved or saved.get("version") != STATE_VERSION or saved.get("method") != method:
        return Full("first read: no earlier run to continue from")
    if saved.get("fingerprint") != fingerprint:
        return Full("the source's scope, filter, groups, exclusions, mapping or options changed "
                    "since the last read")
    full_at = _moment(saved.get("full_at"))
    if full_at is None or full_at > now:
        return Full("first read: no earlier run to continue from")
    if now - full_at >= reconcile_every:
        return Full(f"the periodic full reconcile is due (last full read "
                    f"{full_at:%Y-%m-%d %H:%M} UTC)")
    previous = _moment(saved.get("read_at"))
    if method == USN:
        usn = saved.get("usn", {}).get(server)
        if not isinstance(usn, int):
            return Full(f"another domain controller answered (invocationId {server}): its "
                        "changes are counted apart")
        return Delta(usn, previous)
    if saved.get("server") != server:
        return Full(f"another server answered ({server}): the saved sync cookies are not its")
    return Delta(dict(saved.get("cookies", {})), previous)


def next_state(saved: Mapping[str, Any], decision: Decision, *, method: str, server: str,
               fingerprint: str, now: datetime, watermark: int | Mapping[str, str]) -> dict:
    """The state to save once the run that read with ``decision`` succeeded. ``watermark`` is
    the DC's USN taken before the read (AD) or the cookie of each search root after it (OpenLDAP)."""
    kept_full = saved.get("full_at") if isinstance(decision, Delta) else None
    state: dict[str, Any] = {
        "version": STATE_VERSION, "method": method, "fingerprint": fingerprint,
        "full_at": kept_full or now.isoformat(), "read_at": now.isoformat(), "server": server,
    }
    if method == USN:
        same = (saved.get("fingerprint") == fingerprint and saved.get("method") == USN
                and saved.get("version") == STATE_VERSION)
        others = {k: v for k, v in saved.get("usn", {}).items() if k != server} if same else {}
        kept = list(others.items())[-(MAX_WATERMARKS - 1):]
        state["usn"] = {**dict(kept), server: watermark}
    else:
        state["cookies"] = dict(watermark)  # type: ignore[arg-type]
    return state


def _moment(text: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(text) if isinstance(text, str) else None
    except ValueError:
        return None
