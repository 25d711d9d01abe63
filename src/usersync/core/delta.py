"""What planning a delta needs from the store, so that an incremental run loads only that.

A full snapshot is compared with every contact of the organization. A delta names a few records
and removed anchors; its plan looks at no other contacts than: the source's contacts linked to
those anchors, the contacts an admin mapped by hand, and the organization's contacts that share
an Identification, Email (or alias) or SMS Phone with a record. Only two figures need the whole
organization — the source's active managed contacts (the safeguards' share) and the
organization's active contacts (the contact limit) — and the store counts them (``Totals``).
Planning a delta from those contacts and totals gives the same plan as from all contacts.

A full snapshot with unchanged records (``records.Unchanged``) is planned the same way: its built
records need what a delta's need, and the store adds the source's active contacts that no
unchanged record keeps (the ones a full read may archive).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .desired import Rejected
from .records import Snapshot, SourceState

if TYPE_CHECKING:
    from .planning import Built


@dataclass(frozen=True, slots=True)
class Totals:
    """Counts over the whole organization, for a plan made from only part of its contacts."""

    managed_active: int  # active contacts this source manages (linked to an anchor)
    organization_active: int  # active contacts of the organization, every source and none


@dataclass(frozen=True, slots=True)
class Needs:
    """The contacts a delta's plan can look at: by the source's anchor, by id (manual
    mappings), or by a key value anywhere in the organization (``keys``: key → values, with
    email aliases among the ``email`` values; a contact's aliases count as its emails)."""

    anchors: frozenset[str]
    contact_ids: frozenset[int]
    keys: dict[str, frozenset[str]]


def needs(snapshot: Snapshot, built: Built, state: SourceState) -> Needs | None:
    """What to load to plan ``snapshot``, whose records ``built`` are (``planning.build_records``);
    ``None`` when planning sees every contact (a full snapshot with every record built)."""
    if not snapshot.narrowed:
        return None
    anchors = set(snapshot.removed)
    keys: dict[str, set[str]] = {"identification": set(), "email": set(), "sms_phone": set()}
    for record, result in zip(snapshot.records, built, strict=True):
        if record.anchor:
            anchors.add(record.anchor)
        if isinstance(result, Rejected):
            found, anchor = result.keys, result.anchor
            if anchor:
                anchors.add(anchor)
        else:
            found = [key for want in result for key in want.keys()]
            anchors.update(want.anchor for want in result)
        for key, value in found:
            keys[key].add(value)
    return Needs(anchors=frozenset(anchors), contact_ids=frozenset(state.manual.values()),
                 keys={key: frozenset(values) for key, values in keys.items()})
