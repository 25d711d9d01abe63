"""The plan: the operations one run would make. A preview, a blocked run and a run's history are
all this value; it serializes to plain JSON data and back without loss."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Mapping

from .records import SECRET_FIELDS, FieldValue, SnapshotKind


class Op(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    LINK = "link"
    REACTIVATE = "reactivate"
    ARCHIVE = "archive"
    UNCHANGED = "unchanged"
    CONFLICT = "conflict"
    ERROR = "error"
    SKIP = "skip"


#: Operations that write to the contact store.
WRITES = frozenset({Op.CREATE, Op.UPDATE, Op.LINK, Op.REACTIVATE, Op.ARCHIVE})
#: The count keys of a run summary, by operation.
COUNT_KEYS = {
    Op.CREATE: "created",
    Op.UPDATE: "updated",
    Op.LINK: "linked",
    Op.REACTIVATE: "reactivated",
    Op.ARCHIVE: "archived",
    Op.UNCHANGED: "unchanged",
    Op.CONFLICT: "conflicts",
    Op.ERROR: "errors",
    Op.SKIP: "skipped",
}
MASK = "••••"


@dataclass(frozen=True, slots=True)
class Change:
    field: str
    before: FieldValue
    after: FieldValue

    def shown(self) -> tuple[FieldValue, FieldValue]:
        """Before and after as a person may see them: secrets masked."""
        if self.field in SECRET_FIELDS:
            return (MASK if self.before else "", MASK if self.after else "")
        return (self.before, self.after)


@dataclass(frozen=True, slots=True)
class Operation:
    """One decision about one record or contact.

    ``fields`` is the full desired state of a created contact; ``changes`` the field-by-field diff
    of an updated or reactivated one. ``link`` says the contact becomes managed by the source under
    ``anchor``. ``reason`` explains archives, skips, conflicts and errors; ``field`` names the bad
    field of an error; ``candidates`` the contacts a conflict could not choose between.
    """

    op: Op
    contact_id: int | None = None
    anchor: str | None = None
    location: str | None = None
    dn: str = ""
    line: int | None = None
    label: str = ""
    fields: Mapping[str, FieldValue] = field(default_factory=dict)
    changes: tuple[Change, ...] = ()
    link: bool = False
    matched_by: str | None = None
    channels: tuple[str, ...] = ()
    reason: str = ""
    field: str | None = None
    candidates: tuple[int, ...] = ()
    #: The record's digest (``records.Unchanged``), kept on its directory object when applied.
    digest: str = ""

    def to_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {"op": self.op.value}
        for name in ("contact_id", "anchor", "location", "dn", "line", "label", "matched_by",
                     "reason", "field", "digest"):
            value = getattr(self, name)
            if value not in (None, ""):
                data[name] = value
        if self.fields:
            data["fields"] = {k: _plain(v) for k, v in self.fields.items()}
        if self.changes:
            data["changes"] = [[c.field, _plain(c.before), _plain(c.after)] for c in self.changes]
        if self.link:
            data["link"] = True
        if self.channels:
            data["channels"] = list(self.channels)
        if self.candidates:
            data["candidates"] = list(self.candidates)
        return data

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Operation:
        return cls(
            op=Op(data["op"]),
            contact_id=data.get("contact_id"),
            anchor=data.get("anchor"),
            location=data.get("location"),
            dn=data.get("dn", ""),
            line=data.get("line"),
            label=data.get("label", ""),
            fields={k: _typed(v) for k, v in data.get("fields", {}).items()},
            changes=tuple(Change(f, _typed(b), _typed(a)) for f, b, a in data.get("changes", [])),
            link=data.get("link", False),
            matched_by=data.get("matched_by"),
            channels=tuple(data.get("channels", ())),
            reason=data.get("reason", ""),
            field=data.get("field"),
            candidates=tuple(data.get("candidates", ())),
            digest=data.get("digest", ""),
        )


def _plain(value: FieldValue) -> str | list[str]:
    return list(value) if isinstance(value, tuple) else value


def _typed(value: str | list[str]) -> FieldValue:
    return tuple(value) if isinstance(value, list) else value


@dataclass(frozen=True, slots=True)
class Plan:
    """The operations of one run, the kind of snapshot behind them, and the safeguard verdict.
    """

    operations: tuple[Operation, ...]
    kind: SnapshotKind = SnapshotKind.FULL
    complete: bool = True
    read: int = 0
    blocked: str | None = None
    managed_active: int = 0
    #: The anchors of the records read unchanged (``records.Unchanged``): counted as unchanged,
    #: marked seen when the plan is applied, but without an operation each.
    unchanged: tuple[str, ...] = ()

    @property
    def counts(self) -> dict[str, int]:
        counter = Counter(COUNT_KEYS[o.op] for o in self.operations)
        counter[COUNT_KEYS[Op.UNCHANGED]] += len(self.unchanged)
        return {key: counter.get(key, 0) for key in COUNT_KEYS.values()}

    @property
    def changes_anything(self) -> bool:
        return any(o.op in WRITES for o in self.operations)

    def of(self, *ops: Op) -> list[Operation]:
        return [o for o in self.operations if o.op in ops]

    def with_blocked(self, reason: str | None) -> Plan:
        return replace(self, blocked=reason)

    def to_data(self) -> dict[str, Any]:
        return {**self.header(), "operations": [o.to_data() for o in self.operations]}

    def header(self) -> dict[str, Any]:
        """The plan as data but its operations: what a run keeps with itself (its operations are
        stored one by one, ``usersync.app.sync.history``)."""
        return {
            "kind": self.kind.value,
            "complete": self.complete,
            "read": self.read,
            "blocked": self.blocked,
            "managed_active": self.managed_active,
            "unchanged": list(self.unchanged),
        }

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Plan:
        return cls(
            operations=tuple(Operation.from_data(o) for o in data.get("operations", ())),
            kind=SnapshotKind(data.get("kind", "full")),
            complete=data.get("complete", True),
            read=data.get("read", 0),
            blocked=data.get("blocked"),
            managed_active=data.get("managed_active", 0),
            unchanged=tuple(data.get("unchanged", ())),
        )

