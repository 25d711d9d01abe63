"""Small builders for core tests: records, contacts, policies, and an in-memory contact store.

Everything here is test scaffolding. ``apply_plan`` is the simplest honest writer of a ``Plan``
into a list of ``ExistingContact`` (creates get new ids, updates apply their changes including the
location, links set source and anchor, archive/reactivate flip ``active``), so tests can run
"sync twice" without a database.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Iterable

from usersync.core.desired import Placement
from usersync.core.mapping import AttributeMapping
from usersync.core.plan import Op, Plan
from usersync.core.planning import Policy, plan
from usersync.core.records import (
    CONTACT_FIELDS,
    ExistingContact,
    Snapshot,
    SourceRecord,
    SourceState,
)
from usersync.core.safeguards import Thresholds

SOURCE = 7
OTHER_SOURCE = 8
REGION = "US"
LOCATIONS = frozenset({"hq", "warehouse"})

#: Every contact field read from the attribute of the same name; aliases keep all their values.
MAPPING = AttributeMapping.from_data(
    [f"{name}={name}" for name in CONTACT_FIELDS] + ["aliases=aliases|all", "location=location"]
)
GLOBAL = Placement(default_region=REGION)
MULTI = Placement(locations=LOCATIONS, multi_location=True, default_region=REGION)
NO_SAFEGUARDS = Thresholds(percent=100.0, minimum=10**9, maximum=10**9)


def fake_hash(value: str) -> str:
    """A deterministic stand-in for the app's keyed PIN hash (never contains the PIN)."""
    return "h:" + hashlib.sha256(value.encode()).hexdigest()[:16]


def record(
    first_name: str = "Ada",
    last_name: str = "Lovelace",
    *,
    anchor: str | None = None,
    line: int | None = None,
    dn: str = "",
    locations: Iterable[str] | None = None,
    disabled: bool = False,
    **attributes: str | Iterable[str],
) -> SourceRecord:
    """A source record; keyword attributes become raw attribute values (a str is one value)."""
    raw = {"first_name": first_name, "last_name": last_name, **attributes}
    values = {
        key: (value,) if isinstance(value, str) else tuple(value) for key, value in raw.items()
    }
    return SourceRecord(
        attributes=values,
        anchor=anchor,
        dn=dn,
        line=line,
        locations=tuple(locations) if locations is not None else None,
        disabled=disabled,
    )


def row(line: int, **kwargs) -> SourceRecord:
    """A CSV row: no anchor of its own, known by its line."""
    return record(line=line, **kwargs)


def contact(
    id: int,
    *,
    location: str | None = None,
    active: bool = True,
    source_id: int | None = None,
    anchor: str | None = None,
    aliases: Iterable[str] = (),
    has_message_rules: bool = True,
    **fields: str,
) -> ExistingContact:
    values = {"first_name": "Ada", "last_name": "Lovelace", **fields}
    return ExistingContact(
        id=id,
        fields=values,
        location=location,
        active=active,
        source_id=source_id,
        anchor=anchor,
        aliases=tuple(aliases),
        has_message_rules=has_message_rules,
    )


def managed(id: int, anchor: str, **kwargs) -> ExistingContact:
    """A contact this test's source manages under ``anchor``."""
    return contact(id, source_id=SOURCE, anchor=anchor, **kwargs)


def policy(**overrides) -> Policy:
    values = dict(source_id=SOURCE, mapping=MAPPING, placement=GLOBAL, hash_secret=fake_hash)
    values.update(overrides)
    return Policy(**values)


def run(
    snapshot: Snapshot | Iterable[SourceRecord],
    existing: Iterable[ExistingContact] = (),
    state: SourceState = SourceState(),
    **policy_overrides,
) -> Plan:
    """Plan a snapshot (a plain list of records is a complete full snapshot)."""
    if not isinstance(snapshot, Snapshot):
        snapshot = Snapshot.full(snapshot)
    return plan(snapshot, list(existing), policy(**policy_overrides), state)


def only(plan_: Plan, *ops: Op):
    """The single operation of the given kinds, failing loudly if there is not exactly one."""
    found = plan_.of(*ops)
    assert len(found) == 1, [o.to_data() for o in plan_.operations]
    return found[0]


def ops(plan_: Plan) -> list[Op]:
    return [o.op for o in plan_.operations]


def apply_plan(plan_: Plan, store: Iterable[ExistingContact], source_id: int = SOURCE):
    """Write ``plan_`` into a copy of ``store`` the way the app's writer does; returns the list."""
    contacts = {c.id: c for c in store}
    next_id = max(contacts, default=0) + 1
    for op in plan_.operations:
        if op.op is Op.CREATE:
            fields = {k: v for k, v in op.fields.items() if k != "aliases"}
            contacts[next_id] = ExistingContact(
                id=next_id,
                fields=fields,
                location=op.location,
                source_id=source_id,
                anchor=op.anchor,
                aliases=tuple(op.fields.get("aliases", ())),
                has_message_rules=bool(op.channels),
            )
            next_id += 1
        elif op.op in (Op.UPDATE, Op.LINK, Op.REACTIVATE):
            old = contacts[op.contact_id]
            fields, location, aliases = dict(old.fields), old.location, old.aliases
            for change in op.changes:
                if change.field == "location":
                    location = change.after or None
                elif change.field == "aliases":
                    aliases = tuple(change.after)
                else:
                    fields[change.field] = change.after
            new = replace(old, fields=fields, location=location, aliases=aliases)
            if op.link:
                new = replace(new, source_id=source_id, anchor=op.anchor)
            if op.op is Op.REACTIVATE:
                new = replace(new, active=True)
            if op.channels:
                new = replace(new, has_message_rules=True)
            contacts[op.contact_id] = new
        elif op.op is Op.ARCHIVE:
            contacts[op.contact_id] = replace(contacts[op.contact_id], active=False)
    return list(contacts.values())


def sync(snapshot, store, state: SourceState = SourceState(), **policy_overrides):
    """Plan and apply (as an approved run: a blocked plan is applied too). Returns (plan, store)."""
    made = run(snapshot, store, state, **policy_overrides)
    return made, apply_plan(made, store)
