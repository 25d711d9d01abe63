"""The sync health of organizations, as the Organizations page shows it (seed 004's columns).

A few grouped queries for the whole page, never one per organization: sources, synced users,
conflicts, and the last ten finished runs of each organization (a window function).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Count, F, Window
from django.db.models.functions import RowNumber

from usersync.app.directory.models import (
    ACTIVE_RUN_STATUSES,
    Contact,
    ContactStatus,
    DirectoryObject,
    ObjectState,
    RunStatus,
    Source,
    SyncRun,
)
from usersync.app.orgs.models import Organization

ATTEMPTS = 10
NO_VALUE = "—"


@dataclass
class Attempt:
    """One of the last connection attempts: a green or red mark with its time and reason."""

    run_id: int
    ok: bool
    at: datetime
    reason: str


@dataclass
class OrganizationHealth:
    org: Organization
    sources: list[Source] = field(default_factory=list)
    synced_users: int = 0
    conflicts: int = 0
    attempts: list[Attempt] = field(default_factory=list)  # oldest first
    ssl_status: str = NO_VALUE
    last_sync: datetime | None = None

    @property
    def enabled(self) -> bool:
        return any(s.enabled for s in self.sources)

    @property
    def directory_type(self) -> str:
        kinds = dict.fromkeys(s.get_kind_display() for s in self.sources)
        return ", ".join(kinds) or NO_VALUE

    @property
    def failures(self) -> int:
        return sum(not a.ok for a in self.attempts)


def ssl_status(connection: dict | None) -> str:
    """seed 004's SSL status from a run's connection record, or "—" when it has none."""
    connection = connection or {}
    if connection.get("ssl_status"):
        return connection["ssl_status"]
    tls = connection.get("tls")
    if isinstance(tls, dict):
        return tls.get("ssl_status") or NO_VALUE
    if not connection.get("server"):
        return NO_VALUE  # a file or a pushed snapshot: no connection
    if tls:
        return "ok"  # read over TLS, and certificates are always verified
    return "not encrypted" if connection.get("ok") else NO_VALUE


def attempt_of(run: SyncRun) -> Attempt:
    connection = run.connection or {}
    ok = connection.get("ok", run.status != RunStatus.FAILED)
    reason = (connection.get("reason") or run.error_message or run.blocked_reason
              or run.get_status_display())
    if run.error_hint and not ok:
        reason = f"{reason} — {run.error_hint}"
    return Attempt(run.pk, bool(ok), run.finished_at or run.created_at, reason)


def organizations_health(organizations) -> list[OrganizationHealth]:
    rows = {org.pk: OrganizationHealth(org) for org in organizations}
    ids = list(rows)
    for source in Source.objects.filter(organization_id__in=ids).order_by("name"):
        rows[source.organization_id].sources.append(source)
    synced = (Contact.objects.filter(organization_id__in=ids, status=ContactStatus.ACTIVE,
                                     source__isnull=False)
              .values("organization_id").annotate(n=Count("id")).order_by())
    for item in synced:
        rows[item["organization_id"]].synced_users = item["n"]
    conflicts = (DirectoryObject.objects.filter(source__organization_id__in=ids,
                                                state=ObjectState.CONFLICT)
                 .values("source__organization_id").annotate(n=Count("id")).order_by())
    for item in conflicts:
        rows[item["source__organization_id"]].conflicts = item["n"]
    for run in last_runs(ids):
        row = rows[run.organization_id]
        if not row.attempts:  # the newest comes first
            row.last_sync = run.finished_at or run.created_at
            row.ssl_status = ssl_status(run.connection)
        row.attempts.insert(0, attempt_of(run))
    return list(rows.values())


def last_runs(organization_ids: list[int]):
    """The last ten finished runs of each organization, newest first, without their plans."""
    ranked = (SyncRun.objects.filter(organization_id__in=organization_ids)
              .exclude(status__in=ACTIVE_RUN_STATUSES)
              .annotate(rank=Window(RowNumber(), partition_by=F("organization_id"),
                                    order_by=[F("created_at").desc(), F("id").desc()]))
              .defer("plan"))
    return ranked.filter(rank__lte=ATTEMPTS).order_by("organization_id", "-created_at", "-id")


SORT_KEYS = {
    "name": lambda h: h.org.name.lower(),
    "enabled": lambda h: h.enabled,
    "type": lambda h: h.directory_type,
    "synced": lambda h: h.synced_users,
    "conflicts": lambda h: h.conflicts,
    "ssl": lambda h: h.ssl_status,
    "last_sync": lambda h: (h.last_sync is not None, h.last_sync or datetime.min),
    "status": lambda h: h.failures,
}


def sorted_health(rows: list[OrganizationHealth], sort: str) -> tuple[list, str]:
    """Rows sorted by ``sort`` (a key of SORT_KEYS, ``-`` for descending); the sort applied."""
    key = sort.lstrip("-")
    if key not in SORT_KEYS:
        sort, key = "name", "name"
    ordered = sorted(rows, key=lambda h: h.org.name.lower())
    ordered.sort(key=SORT_KEYS[key], reverse=sort.startswith("-"))
    return ordered, sort
