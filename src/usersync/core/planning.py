"""plan(snapshot, existing, state, policy) → Plan. Pure: no database, no clock, no network.

The steps: build the desired contacts of every record; reject duplicates within the snapshot;
resolve the contacts the source already links (by anchor, then manual mappings); match the rest by
keys; diff; archive what a complete full snapshot no longer contains; hold creates to the
organization's contact limit; then let the safeguards judge the whole.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Callable, Collection, Iterable, Mapping, Sequence

from .delta import Totals
from .desired import FIELD_LABELS, MATCH_KEYS, Desired, Placement, Rejected, build
from .mapping import AttributeMapping
from .matching import (
    Conflict,
    ContactIndex,
    Decision,
    Linked,
    Matched,
    NEW,
    New,
    decide_by_keys,
    pair_linked,
)
from .plan import Change, Op, Operation, Plan
from .records import ExistingContact, Snapshot, SnapshotKind, SourceRecord, SourceState
from .safeguards import Thresholds, verdict


def _refuse_plain_secret(value: str) -> str:
    raise ValueError("a secret (PIN) must be hashed: give Policy a hash_secret")


#: The message channels, by the contact field that makes a channel usable.
CHANNEL_FIELDS = {"email": "email", "sms": "sms_phone", "slack": "slack"}
CHANNELS = frozenset(CHANNEL_FIELDS)


@dataclass(frozen=True, slots=True)
class Policy:
    """Everything about the source and organization that planning needs, as plain values."""

    source_id: int
    mapping: AttributeMapping
    placement: Placement = field(default_factory=Placement)
    archive_missing: bool = True
    archive_disabled: bool = True
    contact_limit: int | None = None
    thresholds: Thresholds = field(default_factory=Thresholds)
    hash_secret: Callable[[str], str] = field(default=_refuse_plain_secret)
    #: How a new contact is notified (its message rules), among the channels it has a value for.
    channels: frozenset[str] = CHANNELS


#: What each record of a snapshot builds to (``desired.build``), in the snapshot's order.
Built = Sequence[list[Desired] | Rejected]


def build_records(records: Iterable[SourceRecord], policy: Policy) -> Built:
    """Every one of ``records`` (a snapshot's) built into its desired contacts, or rejected:
    what ``delta.needs`` and ``plan`` both start from, so that a record is built once per run."""
    return [build(record, policy.mapping, policy.placement, policy.hash_secret)
            for record in records]


def plan(
    snapshot: Snapshot,
    existing: Iterable[ExistingContact],
    policy: Policy,
    state: SourceState = SourceState(),
    totals: Totals | None = None,
    built: Built | None = None,
) -> Plan:
    """The plan of ``snapshot`` against the ``existing`` contacts: every contact of the
    organization, or — for a delta, or a full snapshot with unchanged records (``narrowed``) —
    those ``delta.needs`` names, with the ``totals`` counted over the whole organization (what
    the safeguards and the contact limit need). ``built``: the snapshot's ``build_records``,
    when the caller has them already."""
    if totals is not None and not snapshot.narrowed:
        raise ValueError("only a delta, or a full snapshot with unchanged records, can be "
                         "planned from part of the contacts: a full snapshot archives every "
                         "managed contact it does not contain")
    if built is None:
        built = build_records(snapshot.records, policy)
    planner = _Planner(snapshot, built, ContactIndex(existing, policy.source_id), policy, state,
                       totals)
    operations = planner.run()
    managed_active = (totals.managed_active if totals is not None
                      else sum(1 for c in planner.index.managed() if c.active))
    result = Plan(
        operations=tuple(operations),
        kind=snapshot.kind,
        complete=snapshot.complete,
        read=snapshot.read,
        managed_active=managed_active,
        unchanged=tuple(snapshot.unchanged),
    )
    return result.with_blocked(verdict(result, policy.thresholds))


class _Planner:
    def __init__(self, snapshot, built: Built, index: ContactIndex, policy: Policy,
                 state: SourceState, totals: Totals | None = None):
        self.snapshot = snapshot
        self.built = built
        self.index = index
        self.policy = policy
        self.state = state
        self.totals = totals
        # an unchanged record keeps its contact (records.Unchanged)
        self.claimed: set[int] = {u.contact_id for u in snapshot.unchanged.values()}
        self.protected: set[int] = set()
        self.operations: list[Operation] = []

    def run(self) -> list[Operation]:
        wanted = self._desired()
        # the label of each anchor present: its first record's (reversed: the first one wins)
        present = {anchor: u.label for anchor, u in self.snapshot.unchanged.items()}
        present.update((want.anchor, want.record.label) for want in reversed(wanted))
        # by ``id`` of the desired contact; none for a new contact (at a first sync, every one)
        decisions = self._linked(wanted)
        # a disabled account is never created, so it takes over no contact by keys
        waiting = [want for want in wanted
                   if id(want) not in decisions and not self._dormant(want.record)]
        self._match_by_keys(waiting, decisions, present)
        del waiting  # not held while the operations are made (100,000 at a first sync)
        for want in wanted:
            self.operations.append(self._operation(want, decisions.get(id(want), NEW)))
        self.operations.extend(self._archives(present))
        return self._within_limit(self.operations)

    def _linked(self, wanted: list[Desired]) -> dict[int, Decision]:
        """The decisions, by ``id`` of the desired contact, of those the source links already:
        by anchor, then by an admin's manual mapping."""
        by_anchor: dict[str, list[Desired]] = defaultdict(list)
        for want in wanted:
            by_anchor[want.anchor].append(want)
        decisions: dict[int, Decision] = {}
        unpaired: list[Desired] = []
        for anchor, wants in by_anchor.items():
            linked = self.index.linked.get(anchor)
            if not linked:  # a new person (at a first sync, every one)
                unpaired.extend(wants)
                continue
            pairs, left, _ = pair_linked(wants, linked, dormant=self._dormant(wants[0].record))
            for want, contact in pairs:
                decisions[id(want)] = Linked(contact, "anchor")
                self.claimed.add(contact.id)
            unpaired.extend(left)
        # Manual mappings only after every link is claimed: a manual mapping never takes the
        # contact a present record is linked to (both would write it).
        for want in unpaired:
            manual = self._manual(want)
            if manual is not None:
                decisions[id(want)] = manual
        return decisions

    def _match_by_keys(self, waiting: list[Desired], decisions: dict, present: dict) -> None:
        """Match by keys until no more contacts are claimed. A record whose keys hit two contacts
        is matched once another record of the snapshot claims one of them, whatever the order of
        the records (else the next run, seeing the claim, would decide otherwise)."""
        while waiting:
            claimed_before = len(self.claimed)
            conflicts = []
            for want in waiting:
                decision = decide_by_keys(want, self.index, self.claimed, present)
                if isinstance(decision, Matched):
                    self.claimed.add(decision.contact.id)
                elif isinstance(decision, Conflict):
                    conflicts.append(want)
                if decision is NEW:  # decided again: a conflict of the last round may be new now
                    decisions.pop(id(want), None)
                else:
                    decisions[id(want)] = decision
            if len(self.claimed) == claimed_before:
                return
            waiting = conflicts

    # -- records → desired contacts -------------------------------------------------------------

    def _desired(self) -> list[Desired]:
        wanted: list[Desired] = []
        first_seen = self._unchanged_keys()
        for record, built in zip(self.snapshot.records, self.built, strict=True):
            # a file row has no anchor of its own: the one built from its keys is what admins ignore
            anchor = record.anchor or (built.anchor if isinstance(built, Rejected)
                                       else built[0].anchor)
            if anchor and anchor in self.state.ignored:
                self.protected.update(c.id for c in self.index.linked.get(anchor, []))
                # with its mapped values: the Directory users tab still shows who was ignored
                want = None if isinstance(built, Rejected) else built[0]
                self.operations.append(_record_op(Op.SKIP, record, want, anchor=anchor,
                                                  reason="ignored by an admin"))
                continue
            if isinstance(built, Rejected):
                self._reject(built)
                continue
            identities = [(want.location, self._identity(want)) for want in built]
            duplicate = _held_before(identities, first_seen)
            if duplicate is not None:
                (key, value), seen = duplicate
                label = "record" if key == "anchor" else FIELD_LABELS[key]
                own_anchor = None if key == "anchor" else built[0].anchor
                self._reject(Rejected(record, "anchor" if key == "anchor" else key,
                                      f"duplicate {label}: {value} is also on {seen}",
                                      own_anchor, ()))
                continue
            held_by = record.label
            for location, identity in identities:
                for name, value in identity:
                    first_seen[(location, name)][value] = held_by
            wanted.extend(built)
        return wanted

    def _unchanged_keys(self) -> defaultdict[tuple[str | None, str], dict[str, str]]:
        """The keys the unchanged records hold, as their contacts have them (unchanged: the same
        values), by location and key, then value: a record of the snapshot with one of them in
        the same location is a duplicate. Only the contacts loaded can share a key with a built
        record (``delta.needs``). (Nested, not one tuple of the three a key: at 100,000 records,
        400,000 tuples were the largest part of planning's peak memory.)"""
        mapped = self.policy.mapping.fields
        held: defaultdict[tuple[str | None, str], dict[str, str]] = defaultdict(dict)
        for unchanged in self.snapshot.unchanged.values():
            contact = self.index.by_id.get(unchanged.contact_id)
            if contact is None:
                continue
            # the keys its record holds: those of the fields the mapping fills (an alias an
            # admin gave the contact is not the record's)
            keys = [(key, contact.fields.get(key)) for key in MATCH_KEYS if key in mapped]
            if "aliases" in mapped:
                keys += [("email", alias) for alias in contact.aliases]
            for key, value in keys:
                if value:
                    held[(contact.location, key)][value] = unchanged.label
        return held

    def _dormant(self, record) -> bool:
        """A disabled account the source archives rather than syncs."""
        return record.disabled and self.policy.archive_disabled

    def _identity(self, want: Desired) -> list[tuple[str, str]]:
        """What must be unique in a location within one snapshot. A dormant account's keys are
        no one's: a leaver's disabled account keeps its address, the new hire reuses it."""
        keys = [] if self._dormant(want.record) else want.keys()
        return [*keys, ("anchor", want.anchor)]

    def _reject(self, rejected: Rejected) -> None:
        """Report the record and keep whatever contact it may be from being archived."""
        if rejected.anchor:
            self.protected.update(c.id for c in self.index.linked.get(rejected.anchor, []))
        self.protected.update(self.index.hits_anywhere(rejected.keys))
        self.operations.append(_record_op(Op.ERROR, rejected.record, anchor=rejected.anchor,
                                          field=rejected.field, reason=rejected.reason))

    def _manual(self, want: Desired) -> Linked | None:
        contact_id = self.state.manual.get(want.anchor)
        contact = self.index.by_id.get(contact_id) if contact_id is not None else None
        if contact is None or contact.id in self.claimed:
            return None
        self.claimed.add(contact.id)
        return Linked(contact, "manual", relink=contact.anchor != want.anchor
                      or contact.source_id != self.index.source_id)

    # -- decisions → operations -----------------------------------------------------------------

    def _operation(self, want: Desired, decision: Decision) -> Operation:
        record = want.record
        if isinstance(decision, Conflict):
            self.protected.update(decision.candidates)
            return _record_op(Op.CONFLICT, record, want, reason=decision.reason,
                              candidates=decision.candidates)
        if isinstance(decision, New):
            if record.disabled:  # whatever the option: keeping a disabled account never creates one
                return _record_op(Op.SKIP, record, want, reason="disabled in the directory; not created")
            return _record_op(Op.CREATE, record, want, channels=_channels(want, self.policy.channels))
        contact = decision.contact
        link = isinstance(decision, Matched) or decision.relink
        if self._dormant(record):
            if link:
                return _record_op(Op.SKIP, record, want, contact_id=contact.id,
                                  reason="disabled in the directory; matching contact left as it is")
            if contact.active and not self.snapshot.complete:  # nothing archives on a partial read
                return _record_op(Op.SKIP, record, want, contact_id=contact.id,
                                  reason="disabled in the directory; archived after a full read")
            if contact.active:
                return _record_op(Op.ARCHIVE, record, want, contact_id=contact.id,
                                  reason="disabled in the directory")
            return _record_op(Op.UNCHANGED, record, want, contact_id=contact.id)
        changes = _diff(contact, want)
        channels = () if contact.has_message_rules else _channels(want, self.policy.channels)
        if not contact.active:
            op = Op.REACTIVATE
        elif changes or channels:
            op = Op.UPDATE
        else:
            op = Op.LINK if link else Op.UNCHANGED
        return _record_op(op, record, want, contact_id=contact.id, changes=changes, link=link,
                          matched_by=decision.by, channels=channels)

    def _archives(self, present: Collection[str]) -> list[Operation]:
        """Contacts this source manages that the snapshot no longer asks for (``present``: the
        anchors the snapshot holds)."""
        snapshot = self.snapshot
        if not (snapshot.complete and self.policy.archive_missing):
            return []
        if snapshot.kind is SnapshotKind.DELTA:
            gone = [c for a in snapshot.removed for c in self.index.linked.get(a, [])]
            reason = "removed from the directory"
        else:
            gone = self.index.managed()
            reason = "no longer in the directory scope"
        archives = []
        kept = self.claimed | self.protected
        for contact in gone:
            if contact.anchor in self.state.ignored:
                continue  # an ignored object's contact is left as it is, present or not
            if contact.active and contact.id not in kept:
                why = reason if contact.anchor not in present else "no longer in this location's scope"
                archives.append(Operation(Op.ARCHIVE, contact_id=contact.id, anchor=contact.anchor,
                                          location=contact.location, label=_contact_label(contact),
                                          reason=why))
        return archives

    def _within_limit(self, operations: list[Operation]) -> list[Operation]:
        """Turn creates and reactivations beyond the contact limit into per-record errors."""
        limit = self.policy.contact_limit
        if limit is None:
            return operations
        active = (self.totals.organization_active if self.totals is not None
                  else sum(1 for c in self.index.by_id.values() if c.active))
        active -= sum(1 for o in operations if o.op is Op.ARCHIVE)
        held = []
        for operation in operations:
            if operation.op in (Op.CREATE, Op.REACTIVATE):
                if active >= limit:
                    operation = Operation(
                        Op.ERROR, contact_id=operation.contact_id, anchor=operation.anchor,
                        location=operation.location, dn=operation.dn, line=operation.line,
                        label=operation.label, field="contact_limit",
                        reason=f"the organization's plan allows {limit} active contacts; "
                               "not added (raise the limit or archive contacts)")
                else:
                    active += 1
            held.append(operation)
        return held


def _held_before(identities: list[tuple[str | None, list[tuple[str, str]]]],
                 first_seen: Mapping[tuple[str | None, str], Mapping[str, str]],
                 ) -> tuple[tuple[str, str], str] | None:
    """The first of a record's keys (by location) that a record before it holds in the same
    location, with that record's label; ``None`` if none is."""
    for location, identity in identities:
        for key in identity:
            held = first_seen.get((location, key[0]))
            if held is not None and key[1] in held:
                return key, held[key[1]]
    return None


def _record_op(op: Op, record, want: Desired | None = None, **kwargs) -> Operation:
    """An operation about a record; it carries the record's mapped values, to show and to keep
    (the desired contact's own: neither changes them once built, and at a first sync of 100,000
    people a copy each was 36 MB)."""
    kwargs.setdefault("anchor", want.anchor if want else record.anchor)
    if want is not None:
        kwargs.setdefault("fields", want.values)
    return Operation(op, location=want.location if want else None, dn=record.dn, line=record.line,
                     label=record.label, digest=record.digest, **kwargs)


def _diff(contact: ExistingContact, want: Desired) -> tuple[Change, ...]:
    changes = [
        Change(name, contact.value(name), value)
        for name, value in want.values.items()
        if contact.value(name) != value
    ]
    if contact.location != want.location:
        changes.append(Change("location", contact.location or "", want.location or ""))
    return tuple(changes)


def _channels(want: Desired, allowed: frozenset[str]) -> tuple[str, ...]:
    found = tuple(channel for channel, name in CHANNEL_FIELDS.items()
                  if channel in allowed and want.values.get(name))
    return _CHANNEL_SETS.setdefault(found, found)  # one tuple per set, not one per contact


_CHANNEL_SETS: dict[tuple[str, ...], tuple[str, ...]] = {}


def _contact_label(contact: ExistingContact) -> str:
    name = f"{contact.fields.get('first_name', '')} {contact.fields.get('last_name', '')}".strip()
    return name or contact.fields.get("email") or f"contact {contact.id}"
