"""apply(plan): the one writer of synced contacts.

Bulk writes inside the caller's transaction: a crash mid-apply leaves the whole run or none of it.
A plan may be applied long after it was made (an approved blocked run); it writes exactly what it
says, and archives only contacts that are still active and still managed by the source.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from itertools import chain

from django.db import DatabaseError, connection, transaction
from django.db.models import QuerySet, Value
from django.db.models.functions import Coalesce, Greatest

from usersync.app.directory.models import (
    Contact,
    ContactStatus,
    DirectoryObject,
    MessageRule,
    ObjectState,
    Source,
)
from usersync.core.plan import Op, Operation, Plan
from usersync.core.records import SnapshotKind

from . import bulk
from .loading import MODEL_FIELDS

log = logging.getLogger("usersync.sync")
#: The first key of the PostgreSQL advisory lock an apply holds on its source (``_take_turns``).
APPLY_LOCK = 0x5553  # "US"
#: How many contacts a run changes before the tables' statistics are refreshed after it.
STATISTICS_AFTER = 1000
#: What a read says of a directory object: compared with what is stored, written if different.
_DESCRIBED = ("dn", "attributes", "state", "message", "contact_id", "digest", "synced_at")
_CONTACT, _DIGEST, _SYNCED = (_DESCRIBED.index(name)
                              for name in ("contact_id", "digest", "synced_at"))
#: What a write of a directory object read again changes (``ignored`` is the admin's).
_UPSERTED = (*_DESCRIBED, "present", "last_seen_at")
#: What a full read compares with what is stored, to write only objects that differ.
_COMPARED = (*_DESCRIBED, "present")
#: Its indexed columns, set on SQLite only where they change (``_write_compared``): it rewrites
#: the index entry of every column a statement sets, even to the same value (a day of 1,000
#: changed people: 700 pages of the 5,500 its commit writes).
_INDEXED = tuple(_DESCRIBED.index(name) for name in ("state", "contact_id"))
#: Operations after which the contact is what its record asks for (the object is settled).
_SETTLING = frozenset({Op.CREATE, Op.UPDATE, Op.LINK, Op.REACTIVATE, Op.UNCHANGED})
_RECORD_STATE = {
    Op.CREATE: ObjectState.MAPPED, Op.UPDATE: ObjectState.MAPPED, Op.LINK: ObjectState.MAPPED,
    Op.REACTIVATE: ObjectState.MAPPED, Op.UNCHANGED: ObjectState.MAPPED,
    Op.ARCHIVE: ObjectState.MAPPED, Op.CONFLICT: ObjectState.CONFLICT,
    Op.ERROR: ObjectState.UNMAPPED, Op.SKIP: ObjectState.UNMAPPED,
}


@dataclass
class Applied:
    """The contacts a plan changed, by what happened to them (ids): what notifications announce
    (welcome emails to the created, webhook events for each)."""

    created: list[int] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)
    reactivated: list[int] = field(default_factory=list)
    archived: list[int] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.created) + len(self.updated) + len(self.reactivated) + len(self.archived)


def apply(source: Source, plan: Plan, now: datetime, compared_at: datetime) -> Applied:
    """Write ``plan`` for ``source``; what it changed. Must run inside a transaction.
    ``compared_at``: when the contacts the plan was made from were read, at the earliest (the
    run's start): what a contact became after that, the plan did not see."""
    assert transaction.get_connection().in_atomic_block, "apply() needs a transaction"
    _take_turns(source)
    locations = dict(source.organization.locations.values_list("identifier", "id"))
    created = _create(source, plan.of(Op.CREATE), locations, now)
    applied = Applied(created=list(created.values()))
    _update(source, plan.of(Op.UPDATE, Op.LINK, Op.REACTIVATE), locations, now, applied)
    applied.archived = _archive(source, plan.of(Op.ARCHIVE), now)
    _message_rules(plan, created)
    _directory_objects(source, plan, created, now, compared_at)
    return applied


def _take_turns(source: Source) -> None:
    """One writer per source at a time (a run, an approval of a blocked run): what it reads of
    the source's directory objects stays true until it commits. SQLite's write transactions
    already take turns; on PostgreSQL, a lock of the transaction that leaves the source's row
    free for edits (an admin's, the scheduler's)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [APPLY_LOCK, source.pk])


def refresh_statistics(applied: Applied, organization_id: int, plan: Plan) -> None:
    """After the commit of a run that changed many contacts, and at least a tenth of its
    organization's (a first sync, a large import): the tables' statistics, so that the next
    run's look-ups are planned for what they now hold (at 100,000 contacts on PostgreSQL, the
    next incremental run scanned the table per look-up without them). Not after a day of
    changes: on PostgreSQL the statistics of 100,000 contacts take about a second. The
    organization has at least the contacts the source managed before (``plan.managed_active``:
    runs archive, never delete); only when those are too few to tell are its contacts counted
    (15 ms at 100,000 on PostgreSQL)."""
    if applied.count < STATISTICS_AFTER or applied.count * 10 < plan.managed_active:
        return
    if applied.count * 10 < Contact.objects.filter(organization_id=organization_id).count():
        return
    try:
        bulk.analyze(Contact, DirectoryObject, MessageRule)
    except DatabaseError as error:  # the run is committed: only later look-ups are slower
        log.warning("could not refresh the statistics of the contact tables: %s", error)


def _create(source: Source, operations: list[Operation], locations: dict, now: datetime) -> dict:
    """Create contacts; returns the new contact's id of each operation, by the operation."""
    fields = list(dict.fromkeys(chain.from_iterable(op.fields for op in operations)))
    columns = ["location_id", "anchor", *(MODEL_FIELDS.get(name, name) for name in fields)]
    defaults = {name: Contact._meta.get_field(MODEL_FIELDS.get(name, name)).get_default()
                for name in fields}
    rows = (  # made as they are inserted; a tuple of aliases is written as the JSON array it is
        (locations.get(op.location) if op.location else None, op.anchor,
         *[op.fields.get(name, defaults[name]) for name in fields])
        for op in operations
    )
    ids = bulk.insert(Contact, columns, rows, {
        "organization_id": source.organization_id, "source_id": source.pk,
        "status": ContactStatus.ACTIVE, "created_at": now, "updated_at": now,
    }, returning_ids=True)
    return {id(op): contact_id for op, contact_id in zip(operations, ids)}


def _update(source: Source, operations: list[Operation], locations: dict, now: datetime,
            applied: Applied) -> None:
    """Write each operation's changes (only its changed columns), contacts grouped by the
    columns they change: one statement per group, not one per contact. A contact deleted by an
    admin since the plan was made is not written: when fewer were, which those were is looked
    up (before, every contact was looked up first: 2.5 ms of a day of changes)."""
    groups: dict[tuple[str, ...], list[tuple]] = defaultdict(list)
    for op in operations:
        values = {}
        for change in op.changes:
            if change.field == "location":
                values["location_id"] = locations.get(change.after) if change.after else None
            else:
                values[MODEL_FIELDS.get(change.field, change.field)] = change.after
        if op.link:
            values.update(source_id=source.pk, anchor=op.anchor)
        if op.op is Op.REACTIVATE:
            values.update(status=ContactStatus.ACTIVE, archived_at=None, archived_reason="")
        columns = tuple(sorted(values))
        groups[columns].append((op.contact_id, *(values[c] for c in columns)))
    written = sum(bulk.update(Contact, columns, rows, {"updated_at": now},
                              scope={"organization_id": source.organization_id})
                  for columns, rows in groups.items())
    ids = [op.contact_id for op in operations]
    if written < len(ids):
        present = set(Contact.objects.filter(organization_id=source.organization_id,
                                             id__among=ids).values_list("id", flat=True))
        operations = [op for op in operations if op.contact_id in present]
    for op in operations:
        (applied.reactivated if op.op is Op.REACTIVATE else applied.updated).append(op.contact_id)


def _archive(source: Source, operations: list[Operation], now: datetime) -> list[int]:
    """Archive what is still active and managed by ``source``; the ids archived."""
    by_reason = defaultdict(list)
    for op in operations:
        by_reason[op.reason].append(op.contact_id)
    archived = []
    for reason, ids in by_reason.items():
        still = Contact.objects.order_by().filter(id__among=ids, source=source,
                                                  status=ContactStatus.ACTIVE)
        found = list(still.values_list("id", flat=True))
        Contact.objects.filter(id__among=found).update(
            status=ContactStatus.ARCHIVED, archived_at=now, archived_reason=reason[:300],
            updated_at=now)
        archived.extend(found)
    return archived


def _message_rules(plan: Plan, created: dict) -> None:
    """The message rules of the operations' channels. A contact created now has none yet: its
    rules are inserted as they are (on PostgreSQL straight through ``COPY``, where rules that
    may exist already go through a temporary table: 1 s for a first sync of 100,000 people)."""
    new, existing = [], []
    for op in plan.operations:
        if op.channels:
            if op.op is Op.CREATE:
                new.extend((created[id(op)], channel) for channel in op.channels)
            else:
                existing.extend((op.contact_id, channel) for channel in op.channels)
    columns = ["contact_id", "channel"]
    bulk.insert(MessageRule, columns, new)
    bulk.insert(MessageRule, columns, existing, on_conflict="ON CONFLICT DO NOTHING")


def _directory_objects(source: Source, plan: Plan, created: dict, now: datetime,
                       compared_at: datetime) -> None:
    """Record what the source knows of each directory object it read (one row per anchor).

    An incremental read writes every object it read, seen now. A complete full read writes only
    those that differ from what is stored, notes its time once, on the source
    (``DirectoryObject.seen_at``), and marks every object it did not return (nor read unchanged)
    as no longer present. An object whose contact is now what its record asks for keeps the
    record's digest and when that was true (``synced_at``), for the next full read to recognize
    it unchanged (``records.Unchanged``): a created contact from now; another from when the
    plan's contacts were read (``compared_at``), so that anything written to it since is seen."""
    rows: dict[str, list] = {}  # by anchor: [*_DESCRIBED, ignored]
    for op in plan.operations:
        if not op.anchor or (op.op is Op.ARCHIVE and not op.dn and not op.line):
            continue  # an archive of a contact whose record is gone: no record to describe
        contact_id = created[id(op)] if op.op is Op.CREATE else op.contact_id
        row = rows.get(op.anchor)
        if row is None:
            ignored = op.op is Op.SKIP and op.reason == "ignored by an admin"
            state = ObjectState.IGNORED if ignored else _RECORD_STATE[op.op]
            settled = op.op in _SETTLING and op.digest and contact_id is not None
            rows[op.anchor] = [op.dn, _mapped(op), state, op.reason, contact_id,
                               op.digest if settled else "",
                               (now if op.op is Op.CREATE else compared_at) if settled else None,
                               ignored]
        else:  # a record in several locations: its digest does not say which contacts it has
            row[_DIGEST], row[_SYNCED] = "", None
            if row[_CONTACT] is None and contact_id is not None:
                row[_CONTACT] = contact_id
    full = plan.kind is SnapshotKind.FULL and plan.complete
    objects = DirectoryObject.objects.order_by().filter(source=source)  # looked up, not listed
    first = not objects.exists()  # the source's first apply: nothing to compare, nothing gone
    columns = ["anchor", *_DESCRIBED, "present", "ignored"]
    constants = {"source_id": source.pk, "first_seen_at": now, "last_seen_at": now}
    if first or connection.vendor == "postgresql":
        # PostgreSQL writes a row's index entries by what its values become, whatever columns
        # a statement sets: one upsert of every object read, none looked up first (the 2,000
        # of a day's changes: 9 ms less); a full read leaves those that hold what it says
        # alone. A first apply's objects are all new: inserted as they are (only an apply
        # creates objects, and the source's applies take turns: ``_take_turns``)
        upsert = "" if first else bulk.upsert_clause(
            ["source_id", "anchor"], _UPSERTED, DirectoryObject,
            unless_same=_COMPARED if full else ())
        bulk.insert(DirectoryObject, columns, _object_rows(rows.items()), constants,
                    on_conflict=upsert)
    else:
        _write_compared(objects, rows, columns, constants, full, now)
    if full:  # what is still present was seen now (``DirectoryObject.seen_at``), the rest
        # last when the source's previous full read saw it, unless a later read wrote it
        previous = Source.objects.filter(pk=source.pk).values_list("last_full_read_at",
                                                                   flat=True).get()
        gone = [] if first else _not_read(objects, rows, plan.unchanged)
        left = {"present": False}
        if previous is not None:
            left["last_seen_at"] = Greatest(Coalesce("last_seen_at", Value(previous)),
                                            Value(previous))
        objects.filter(anchor__among=gone).update(**left)
        Source.objects.filter(pk=source.pk).update(last_full_read_at=now)
        source.last_full_read_at = now


def _object_rows(described: Iterable[tuple[str, list]]) -> Iterator[tuple]:
    """The rows of ``columns`` (``_directory_objects``) of objects read, by anchor."""
    count = len(_DESCRIBED)
    return ((anchor, *row[:count], True, row[count]) for anchor, row in described)


def _write_compared(objects: QuerySet, rows: dict[str, list], columns: list[str],
                    constants: dict, full: bool, now: datetime) -> None:
    """SQLite: the objects read, compared with what is stored first. It rewrites the index
    entries of every column a statement sets, even to the same value: the new objects are
    inserted (as a first apply's are), the others written only where they differ, their
    indexed columns only where those change; an incremental read marks the rest seen."""
    found = objects.filter(anchor__among=list(rows)).values_list("anchor", *_COMPARED)
    stored = {anchor: tuple(rest) for anchor, *rest in found}  # (*_DESCRIBED, present)
    new, seen = [], []
    changed: dict[bool, list] = {True: [], False: []}  # by whether an indexed column changes
    described = len(_DESCRIBED)
    for anchor, row in rows.items():
        known = stored.get(anchor)
        if known is None:
            new.append((anchor, row))
        elif known[:described] != tuple(row[:described]) or not known[described]:
            changed[any(known[index] != row[index] for index in _INDEXED)].append((anchor, row))
        else:
            seen.append(anchor)
    bulk.insert(DirectoryObject, columns, _object_rows(new), constants)
    for moved, upserted in changed.items():
        update = [name for index, name in enumerate(_UPSERTED) if moved or index not in _INDEXED]
        bulk.insert(DirectoryObject, columns, _object_rows(upserted), constants,
                    on_conflict=bulk.upsert_clause(["source_id", "anchor"], update,
                                                   DirectoryObject))
    if not full:
        objects.filter(anchor__among=seen).update(last_seen_at=now)


def _not_read(objects: QuerySet, rows: Mapping[str, list], unchanged: Collection[str]) -> list[str]:
    """The anchors of the objects still present that a full read did not return, once what it
    built (``rows``) is written, present. Those it recognized (``unchanged``) were present when
    read, and only an apply marks one gone: when the source's present objects are as many as
    the read returned, none is gone, and their anchors (100,000 at a full resync) need not be
    read to find out. (An approved blocked run of the source, applied between this run's read
    and its apply, could mark one gone and make the counts meet wrongly: an object a full read
    left out then stays present until the next full read; it archives nothing.)"""
    read = len(rows) + sum(1 for anchor in unchanged if anchor not in rows)
    if objects.filter(present=True).count() == read:
        return []
    returned = rows.keys() | set(unchanged)
    return [anchor for anchor in objects.filter(present=True).values_list("anchor", flat=True)
            if anchor not in returned]


def _mapped(op: Operation) -> Mapping:
    """The mapped values worth showing on the Directory users tab (never a secret), as JSON has
    them. Most operations' values are that already: not copied then (100,000 dicts at a first
    sync of 100,000 people)."""
    values = op.fields
    if "pin" not in values and not any(isinstance(v, tuple) for v in values.values()):
        return values
    return {k: list(v) if isinstance(v, tuple) else v for k, v in values.items() if k != "pin"}
