"""Matching: which existing contact a desired contact is, decided as a value.

Order (seed 001 and the source's own memory): the source's link to the directory anchor, an
admin's manual mapping, then Identification, Email (with aliases), SMS Phone — always within the
same location. Keys that point to different contacts are a ``Conflict``, never a guess.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Iterable, Mapping

from .desired import Desired
from .records import ExistingContact


@dataclass(frozen=True, slots=True)
class Linked:
    """The contact this source already manages under the record's anchor (or an admin's choice)."""

    contact: ExistingContact
    by: str  # "anchor" or "manual"
    relink: bool = False


@dataclass(frozen=True, slots=True)
class Matched:
    """A contact found by one of the person's keys; the source takes it over."""

    contact: ExistingContact
    by: str  # "identification", "email" or "sms_phone"


@dataclass(frozen=True, slots=True)
class New:
    pass


#: The one ``New`` decision (it says nothing else): not one object per new contact.
NEW = New()


@dataclass(frozen=True, slots=True)
class Conflict:
    candidates: tuple[int, ...]
    reason: str


Decision = Linked | Matched | New | Conflict


class ContactIndex:
    """The organization's contacts, indexed for matching one source's records."""

    def __init__(self, contacts: Iterable[ExistingContact], source_id: int):
        self.source_id = source_id
        self.by_id: dict[int, ExistingContact] = {}
        self.linked: dict[str, list[ExistingContact]] = defaultdict(list)
        self._keys: dict[tuple[str | None, str, str], list[int]] = defaultdict(list)
        self._anywhere: dict[tuple[str, str], list[int]] = defaultdict(list)
        for contact in contacts:
            self.by_id[contact.id] = contact
            if contact.source_id == source_id and contact.anchor:
                self.linked[contact.anchor].append(contact)
            for key, value in _contact_keys(contact):
                self._keys[(contact.location, key, value)].append(contact.id)
                self._anywhere[(key, value)].append(contact.id)

    def managed(self) -> list[ExistingContact]:
        return [c for contacts in self.linked.values() for c in contacts]

    def hits(self, desired: Desired, claimed: set[int]) -> dict[int, str]:
        """Unclaimed contacts that share a key with ``desired``, each with the first key that hit."""
        found: dict[int, str] = {}
        if not self._keys:  # no contact has a key (an organization's first sync)
            return found
        for key, value in desired.keys():
            for contact_id in self._keys.get((desired.location, key, value), ()):
                if contact_id not in claimed:
                    found.setdefault(contact_id, key)
        return found

    def hits_anywhere(self, keys: Iterable[tuple[str, str]]) -> set[int]:
        """Contacts sharing any key in any location (to protect them when a record is rejected)."""
        return {contact_id for key in set(keys) for contact_id in self._anywhere.get(key, ())}


def _contact_keys(contact: ExistingContact) -> list[tuple[str, str]]:
    keys = [(k, contact.fields.get(k) or "") for k in ("identification", "email", "sms_phone")]
    keys += [("email", alias) for alias in contact.aliases]
    return [(k, v) for k, v in keys if v]


def pair_linked(
    desired: list[Desired], linked: list[ExistingContact], dormant: bool = False
) -> tuple[list[tuple[Desired, ExistingContact]], list[Desired], list[ExistingContact]]:
    """Pair one anchor's desired contacts with the contacts linked to it.

    Same location first; then left-overs pair in order, which moves a contact whose directory
    object moved to another mapped scope. Returns the pairs, unpaired desired, unpaired contacts.
    Of twins in one location, a live record takes the active contact (nothing to reactivate) and a
    ``dormant`` (disabled) record the archived one (nothing to archive again).
    """
    pairs = []
    free = sorted(linked, key=lambda c: c.active == dormant)
    waiting = []
    for want in desired:
        same = next((c for c in free if c.location == want.location), None)
        if same is None:
            waiting.append(want)
        else:
            free.remove(same)
            pairs.append((want, same))
    unpaired = []
    for want in waiting:
        if free:
            pairs.append((want, free.pop(0)))
        else:
            unpaired.append(want)
    return pairs, unpaired, free


def decide_by_keys(
    desired: Desired,
    index: ContactIndex,
    claimed: set[int],
    present_anchors: Mapping[str, str],
) -> Decision:
    """Match on Identification, Email, SMS Phone among contacts no other record has claimed.

    ``present_anchors`` maps the anchors in this snapshot to their records' labels: a contact this
    source links to another anchor that is still present belongs to that record.
    """
    hits = index.hits(desired, claimed)
    if not hits:
        return NEW
    if len(hits) > 1:
        keys = sorted(set(hits.values()))
        return Conflict(tuple(sorted(hits)), f"matches {len(hits)} contacts (by {', '.join(keys)})")
    contact_id, key = next(iter(hits.items()))
    contact = index.by_id[contact_id]
    if contact.source_id not in (None, index.source_id):
        return Conflict((contact_id,), f"matches by {key} a contact managed by another source")
    if contact.source_id == index.source_id and contact.anchor in present_anchors:
        other = present_anchors[contact.anchor]
        return Conflict((contact_id,), f"matches by {key} the contact of {other}")
    return Matched(contact, key)
