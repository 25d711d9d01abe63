"""What every connector returns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from usersync.core.mapping import AttributeMapping
from usersync.core.records import Snapshot


@dataclass(frozen=True, slots=True)
class Reading:
    """One read: the snapshot, the mapping that applies to its records, and notices for the admin
    (things that did not fail the read but deserve a look, such as an unknown CSV column)."""

    snapshot: Snapshot
    mapping: AttributeMapping
    notices: tuple[str, ...] = ()


class Connector(Protocol):
    def read(self) -> Reading: ...
