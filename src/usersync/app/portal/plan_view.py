"""A plan as the portal's pages show it (a run's changes, the wizard's preview): who each
operation is about, its field changes in an admin's words with secrets masked, and the read's
kind apart from the other notices.

The names and changes are the CSV export's (``usersync.app.sync.export``), so the page and the
file it exports say the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass

from usersync.app.sync.export import field_changes, operation_name
from usersync.connectors.ldap_changes import FULL, INCREMENTAL
from usersync.core.desired import FIELD_LABELS
from usersync.core.plan import Op, Operation

#: Shown in the Person column already: a created contact's other values go in the Changes column.
NAMING_FIELDS = frozenset({"first_name", "last_name", "email"})
#: How the notice that only explains the read's kind starts (``ldap_changes``): its text goes
#: with the read-kind badge, not in a notice of its own.
READ_NOTICES = (f"{FULL}: ", f"{INCREMENTAL}: ")


@dataclass(frozen=True)
class FieldChange:
    field: str
    label: str
    before: str
    after: str


@dataclass(frozen=True)
class Row:
    """One operation of a plan, as a table row shows it."""

    op: Operation
    contact_id: int | None  # the contact it touched, or (once applied) created
    name: str  # the person: mapped name or email, the contact's name, or the record itself
    email: str
    record: str  # where the record was read: its line, DN or anchor ("" when it is the name)
    changes: list[FieldChange]

    @property
    def reason_field(self) -> str:
        """The field an error is about, by its label."""
        field = self.op.field
        return FIELD_LABELS.get(field, field.replace("_", " ")) if field else ""

    @property
    def created(self) -> bool:
        return self.op.op is Op.CREATE

    @property
    def values(self) -> list[FieldChange]:
        """A created contact's values, but those the Person column shows."""
        return [c for c in self.changes if c.field not in NAMING_FIELDS]


def rows(operations, contact_names: dict[int, str] | None = None,
         created: dict[str, int] | None = None) -> list[Row]:
    """The rows of ``operations``; ``contact_names`` names the existing contacts they touch,
    ``created`` gives the ids of the contacts an applied plan created, by anchor."""
    names, created = contact_names or {}, created or {}
    shown = []
    for op in operations:
        record = op.label or op.dn or op.anchor or ""
        name = operation_name(op) or names.get(op.contact_id, "") or record
        contact_id = op.contact_id or (created.get(op.anchor) if op.op is Op.CREATE else None)
        shown.append(Row(op=op, contact_id=contact_id, name=name,
                         email=_text(op.fields.get("email", "")),
                         record="" if record == name else record,
                         changes=[_change(change) for change in field_changes(op)]))
    return shown


def _change(change) -> FieldChange:
    before, after = change.shown()
    return FieldChange(change.field, FIELD_LABELS.get(change.field, change.field.replace("_", " ")),
                       _text(before), _text(after))


def _text(value) -> str:
    return ", ".join(value) if isinstance(value, (list, tuple)) else str(value or "")


def split_notices(notices) -> tuple[str, list[str]]:
    """(why the read was full or incremental, the other notices). The first is kept in the run's
    data and shown with the read's badge; the others are what an admin should read."""
    why, others = "", []
    for notice in notices or ():
        start = next((s for s in READ_NOTICES if notice.startswith(s)), None)
        if start and not why:
            why = notice[len(start):]
        else:
            others.append(notice)
    return why, others
