"""What a read returns (records, snapshots) and what the store already holds (existing contacts)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Mapping

#: The contact fields a source can manage, in the order of seed 001's CSV columns.
CONTACT_FIELDS: tuple[str, ...] = (
    "first_name",
    "last_name",
    "email",
    "sms_phone",
    "title",
    "department",
    "image_url",
    "pin",
    "identification",
    "slack",
)
#: Fields a mapping may fill besides the contact fields.
EXTRA_FIELDS: tuple[str, ...] = ("aliases", "location")
#: Fields whose values are secrets: kept hashed, never shown.
SECRET_FIELDS: frozenset[str] = frozenset({"pin"})

#: A field value: text, or a sorted tuple of texts for multi-valued fields (aliases).
FieldValue = str | tuple[str, ...]


class SnapshotKind(StrEnum):
    FULL = "full"
    DELTA = "delta"


#: The attributes of every record once released (``SourceRecord.release_attributes``): one
#: mapping, not an empty dict each (6 MiB at 100,000).
RELEASED: Mapping[str, tuple[str, ...]] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class RecordProblem:
    """Something wrong with a record found while reading it (e.g. bytes that are not UTF-8)."""

    field: str
    message: str


@dataclass(frozen=True, slots=True)
class SourceRecord:
    """One person as the source returned it, before mapping.

    ``attributes`` holds raw values by attribute name (lower case). ``anchor`` is the directory's
    stable id (objectGUID, entryUUID, Entra id); file rows have none and get one from their keys.
    ``locations`` are the location identifiers of the scopes the record was found in; ``None``
    means the record's own mapped ``location`` decides (CSV) or the organization is global.
    """

    attributes: Mapping[str, tuple[str, ...]]
    anchor: str | None = None
    dn: str = ""
    locations: tuple[str, ...] | None = None
    disabled: bool = False
    line: int | None = None
    problems: tuple[RecordProblem, ...] = ()
    #: What the entry was read as (see ``Unchanged``); kept on its directory object once its
    #: contact is written from it, so that the next full read can recognize it unchanged.
    digest: str = ""

    def placed(self, locations: tuple[str, ...] | None) -> SourceRecord:
        """This record found in ``locations``: ``dataclasses.replace``, at a third of its cost
        (a read of 100,000 people places every record once its scopes are all read)."""
        return SourceRecord(self.attributes, self.anchor, self.dn, locations, self.disabled,
                            self.line, self.problems, self.digest)

    def release_attributes(self) -> None:
        """Forget the raw values, once the record is built (``desired.build``): nothing after
        that reads them. The one change a record allows: a run holds every record of a full
        read until it is applied, and their raw values were a fifth of its memory at 100,000."""
        object.__setattr__(self, "attributes", RELEASED)

    @property
    def label(self) -> str:
        """How a person finds this record again: its line, its DN or its anchor."""
        if self.line is not None:
            return f"line {self.line}"
        return self.dn or self.anchor or "record"


@dataclass(frozen=True, slots=True)
class Unchanged:
    """A record a full read found exactly as it was when its contact was last written from it.

    The reader recognizes it by its ``digest`` (the raw entry, its location and everything that
    decides what it becomes), among the directory objects the store calls *settled*: their
    contact is active, still linked to them and was not written by anyone since. Such a record
    would plan as unchanged, so it is neither decoded, mapped nor planned; it still counts as
    read, keeps its contact (``contact_id``) and holds its keys against the other records
    (``label``: how they name it)."""

    label: str
    contact_id: int


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What one read returned.

    A **full** snapshot claims to hold every record in scope; only a full snapshot whose read was
    ``complete`` may archive what it does not contain. A **delta** snapshot holds changed records
    and the anchors that were ``removed``; it archives only those. A full snapshot's records
    ``unchanged`` since they were last synced (by anchor) are only named, not built.
    """

    records: tuple[SourceRecord, ...]
    complete: bool
    kind: SnapshotKind = SnapshotKind.FULL
    removed: frozenset[str] = frozenset()
    unchanged: Mapping[str, Unchanged] = field(default_factory=dict)

    @classmethod
    def full(cls, records, complete: bool = True, unchanged=None) -> Snapshot:
        return cls(records=tuple(records), complete=complete, kind=SnapshotKind.FULL,
                   unchanged=unchanged or {})

    @property
    def read(self) -> int:
        """How many people the read returned: built records and unchanged ones."""
        return len(self.records) + len(self.unchanged)

    @property
    def narrowed(self) -> bool:
        """Whether planning sees only part of the contacts: a delta, or a full snapshot with
        unchanged records (their contacts are neither loaded nor compared)."""
        return self.kind is SnapshotKind.DELTA or bool(self.unchanged)

    @classmethod
    def delta(cls, records, removed=()) -> Snapshot:
        return cls(
            records=tuple(records), complete=True, kind=SnapshotKind.DELTA, removed=frozenset(removed)
        )


@dataclass(frozen=True, slots=True)
class ExistingContact:
    """A contact of the organization as the store holds it (the PIN only as its hash)."""

    id: int
    fields: Mapping[str, str]
    location: str | None = None
    active: bool = True
    source_id: int | None = None
    anchor: str | None = None
    aliases: tuple[str, ...] = ()
    has_message_rules: bool = True

    def value(self, name: str) -> FieldValue:
        if name == "aliases":
            return tuple(sorted(self.aliases))
        if name == "location":
            return self.location or ""
        return self.fields.get(name) or ""


@dataclass(frozen=True, slots=True)
class SourceState:
    """What admins decided about the source's directory objects."""

    ignored: frozenset[str] = frozenset()
    manual: Mapping[str, int] = field(default_factory=dict)
