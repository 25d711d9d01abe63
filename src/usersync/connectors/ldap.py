"""The Active Directory and LDAP connector: read the people of a directory, or test a connection.

Only bind, StartTLS, search (with the paged-results, show-deleted and content-sync controls, and
range retrieval), abandon and unbind are ever sent: a directory is never modified. The work is
split by job:

- ``ldap_settings``: the settings (``LdapSettings``) and their validation;
- ``ldap_connect``: TLS per connection (verified, TLS 1.2+, no cleartext fallback), failover, bind;
- ``ldap_search``: paged searches that are complete or raise, range retrieval;
- ``ldap_filters``: the admin's filter checked, groups and exclusions added, values escaped;
- ``ldap_groups``: nested group membership walked on servers without AD's in-chain matching;
- ``ldap_read``: entries → records, merged by anchor across search bases;
- ``ldap_changes``: incremental reads (``ldap_incremental`` decides full or delta; ``ldap_usn``
  reads AD's changes by USN, ``ldap_content_sync`` OpenLDAP's by RFC 4533 content sync);
- ``ldap_report``: the "Test connection" report; ``ldap_errors``: python-ldap errors → ours.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from .base import Reading
from .ldap_changes import read_changes
from .ldap_filters import build_filter, validate_filter
from .ldap_incremental import Incremental
from .ldap_read import Progress, read_directory
from .ldap_report import BaseCount, BindResult, ConnectionReport, connection_test
from .ldap_settings import LdapSettings, utc_now

__all__ = [
    "BaseCount",
    "BindResult",
    "ConnectionReport",
    "Incremental",
    "LdapConnector",
    "LdapSettings",
    "build_filter",
    "validate_filter",
]


class LdapConnector:
    """Reads an Active Directory or LDAP source. ``now`` is the clock that decides whether an
    account has expired (and how many days a certificate has left)."""

    def __init__(self, settings: LdapSettings, now: Callable[[], datetime] = utc_now):
        self.settings = settings
        self.now = now

    def read(self, progress: Progress | None = None,
             incremental: Incremental | None = None) -> Reading:
        """Every person in scope, as a complete full snapshot; a ``SourceError`` otherwise
        (``ConnectionFailed``, ``ConfigurationError`` or ``IncompleteRead``), never a partial
        snapshot. ``progress`` receives a line of text after each page.

        With ``incremental`` (the source's saved state), only what changed since is read when
        the server can tell (a delta snapshot), and the reading carries the state to save."""
        if incremental is None:
            return read_directory(self.settings, self.now(), progress)
        return read_changes(self.settings, self.now(), incremental, progress)

    def test(self, samples: int = 5) -> ConnectionReport:
        """The connection report (never raises for a directory problem: it is in the report)."""
        return connection_test(self.settings, self.now(), samples)
