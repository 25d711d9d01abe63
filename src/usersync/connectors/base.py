"""What every connector returns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from usersync.core.mapping import AttributeMapping
from usersync.core.records import Snapshot


@dataclass(frozen=True, slots=True)
class ConnectionInfo:
    """The server that answered a read (one of the source's URLs) and the TLS it was read over
    (protocol and cipher, e.g. ``TLS1.3 AES-256-GCM``); ``tls`` is ``None`` for plain LDAP."""

    server: str
    tls: str | None = None


@dataclass(frozen=True, slots=True)
class Reading:
    """One read: the snapshot, the mapping that applies to its records, and notices for the admin
    (things that did not fail the read but deserve a look, such as an unknown CSV column)."""

    snapshot: Snapshot
    mapping: AttributeMapping
    notices: tuple[str, ...] = ()
    #: How a directory was reached (``None`` for files and pushed snapshots).
    connection: ConnectionInfo | None = None
    #: What the next incremental read starts from (``Source.sync_state``), to be saved only if
    #: the run that applies this reading succeeds; ``None``: nothing to save.
    sync_state: dict | None = None


class Connector(Protocol):
    def read(self) -> Reading: ...
