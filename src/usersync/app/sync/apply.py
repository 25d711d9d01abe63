"""apply(plan): the one writer of synced contacts.

Bulk writes inside the caller's transaction: a crash mid-apply leaves the whole run or none of it.
A plan may be applied long after it was made (an approved blocked run); it writes exactly what it
says, and archives only contacts that are still active and still managed by the source.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction

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

from .loading import MODEL_FIELDS

BATCH = 2000
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


def apply(source: Source, plan: Plan, now: datetime) -> Applied:
    """Write ``plan`` for ``source``; what it changed. Must run inside a transaction."""
    assert transaction.get_connection().in_atomic_block, "apply() needs a transaction"
    locations = dict(source.organization.locations.values_list("identifier", "id"))
    created = _create(source, plan.of(Op.CREATE), locations, now)
    applied = Applied(created=[contact.pk for contact in created.values()])
    _update(source, plan.of(Op.UPDATE, Op.LINK, Op.REACTIVATE), locations, now, applied)
    applied.archived = _archive(source, plan.of(Op.ARCHIVE), now)
    _message_rules(plan, created)
    _directory_objects(source, plan, created, now)
    return applied


def _model_values(fields) -> dict:
    values = {}
    for name, value in fields.items():
        values[MODEL_FIELDS.get(name, name)] = list(value) if isinstance(value, tuple) else value
    return values


def _create(source: Source, operations: list[Operation], locations: dict, now: datetime) -> dict:
    """Create contacts; returns the new contact of each operation, by the operation's position."""
    contacts = [
        Contact(
            organization_id=source.organization_id,
            location_id=locations.get(op.location) if op.location else None,
            source=source,
            anchor=op.anchor,
            created_at=now,
            updated_at=now,
            **_model_values(op.fields),
        )
        for op in operations
    ]
    Contact.objects.bulk_create(contacts, batch_size=BATCH)
    return {id(op): contact for op, contact in zip(operations, contacts)}


def _update(source: Source, operations: list[Operation], locations: dict, now: datetime,
            applied: Applied) -> None:
    ids = [op.contact_id for op in operations]
    contacts = {}
    for start in range(0, len(ids), BATCH):
        contacts.update(Contact.objects.in_bulk(ids[start:start + BATCH]))
    touched = {"updated_at"}
    changed = []
    for op in operations:
        contact = contacts.get(op.contact_id)
        if contact is None:  # deleted by an admin since the plan was made
            continue
        for change in op.changes:
            if change.field == "location":
                contact.location_id = locations.get(change.after) if change.after else None
                touched.add("location")
            else:
                column = MODEL_FIELDS.get(change.field, change.field)
                setattr(contact, column, list(change.after) if isinstance(change.after, tuple)
                        else change.after)
                touched.add(column)
        if op.link:
            contact.source, contact.anchor = source, op.anchor
            touched.update({"source", "anchor"})
        if op.op is Op.REACTIVATE:
            contact.status, contact.archived_at, contact.archived_reason = ContactStatus.ACTIVE, None, ""
            touched.update({"status", "archived_at", "archived_reason"})
        contact.updated_at = now
        changed.append(contact)
        (applied.reactivated if op.op is Op.REACTIVATE else applied.updated).append(contact.pk)
    Contact.objects.bulk_update(changed, sorted(touched), batch_size=BATCH)


def _archive(source: Source, operations: list[Operation], now: datetime) -> list[int]:
    """Archive what is still active and managed by ``source``; the ids archived."""
    by_reason = defaultdict(list)
    for op in operations:
        by_reason[op.reason].append(op.contact_id)
    archived = []
    for reason, ids in by_reason.items():
        for start in range(0, len(ids), BATCH):
            still = Contact.objects.filter(
                id__in=ids[start:start + BATCH], source=source, status=ContactStatus.ACTIVE)
            batch = list(still.values_list("id", flat=True))
            Contact.objects.filter(id__in=batch).update(
                status=ContactStatus.ARCHIVED, archived_at=now, archived_reason=reason[:300],
                updated_at=now)
            archived.extend(batch)
    return archived


def _message_rules(plan: Plan, created: dict) -> None:
    rules = []
    for op in plan.operations:
        if not op.channels:
            continue
        contact_id = created[id(op)].pk if op.op is Op.CREATE else op.contact_id
        rules.extend(MessageRule(contact_id=contact_id, channel=c) for c in op.channels)
    MessageRule.objects.bulk_create(rules, batch_size=BATCH, ignore_conflicts=True)


def _directory_objects(source: Source, plan: Plan, created: dict, now: datetime) -> None:
    """Record what the source knows of each directory object it read (one row per anchor)."""
    rows: dict[str, DirectoryObject] = {}
    for op in plan.operations:
        if not op.anchor or (op.op is Op.ARCHIVE and not op.dn and not op.line):
            continue  # an archive of a contact whose record is gone: no record to describe
        contact_id = created[id(op)].pk if op.op is Op.CREATE else op.contact_id
        row = rows.get(op.anchor)
        if row is None:
            row = rows[op.anchor] = DirectoryObject(
                source=source, anchor=op.anchor, dn=op.dn, attributes=_mapped(op),
                state=_RECORD_STATE[op.op], message=op.reason, contact_id=contact_id,
                ignored=op.op is Op.SKIP and op.reason == "ignored by an admin",
                present=True, last_seen_at=now,
            )
        elif row.contact_id is None and contact_id is not None:
            row.contact_id = contact_id
        if row.ignored:
            row.state = ObjectState.IGNORED
    DirectoryObject.objects.bulk_create(
        list(rows.values()), batch_size=BATCH, update_conflicts=True,
        unique_fields=["source", "anchor"],
        update_fields=["dn", "attributes", "state", "message", "contact", "present", "last_seen_at"],
    )
    if plan.kind is SnapshotKind.FULL and plan.complete:
        stale = DirectoryObject.objects.filter(source=source, present=True).exclude(last_seen_at=now)
        stale.update(present=False)


def _mapped(op: Operation) -> dict:
    """The mapped values worth showing on the Directory users tab (never a secret)."""
    values = dict(op.fields)
    values.pop("pin", None)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}
