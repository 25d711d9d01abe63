"""The queue of runs: ``enqueue`` a run of a source, ``claim`` the oldest due one.

At most one run per source is active (queued or running): the partial unique index
``one_active_run_per_source`` says so, not a check in Python, so two "Sync now" clicks, a
scheduled run and an API call on several machines still make one run. The second is answered
``AlreadyRunning`` (a ``RunRefused``: the portal, the API and the command line already show it).
"""

from __future__ import annotations

from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from usersync.app.directory.models import ACTIVE_RUN_STATUSES, RunStatus, Source, SyncRun, Trigger
from usersync.app.sync.runs import AlreadyRunning, RunRefused

from . import leases

__all__ = ["AlreadyRunning", "claim", "enqueue"]


def enqueue(source: Source, trigger: str, now: datetime | None = None) -> SyncRun:
    """Queue a run of ``source``; raise ``AlreadyRunning`` (with the active run) if it has one.

    A person asking while a retry waits out its backoff (the directory was unreachable a few
    minutes ago) gets that retry moved to now instead: it is the same sync."""
    now = now or timezone.now()
    for _ in range(3):
        try:
            with transaction.atomic():
                return SyncRun.objects.create(organization_id=source.organization_id,
                                              source=source, trigger=trigger,
                                              status=RunStatus.QUEUED)
        except IntegrityError:
            active = SyncRun.objects.filter(source=source, status__in=ACTIVE_RUN_STATUSES).first()
            if active is None:
                continue  # it finished in the meantime: try again
            if (trigger != Trigger.SCHEDULE and active.status == RunStatus.QUEUED
                    and active.not_before is not None and active.not_before > now):
                SyncRun.objects.filter(pk=active.pk, status=RunStatus.QUEUED).update(not_before=now)
                note = "its retry was waiting and starts now"
                raise AlreadyRunning(source, active, note) from None
            raise AlreadyRunning(source, active) from None
    raise RunRefused(f"could not queue a run of source {source.name!r}; try again")


def _due(now: datetime) -> Q:
    return Q(status=RunStatus.QUEUED) & (Q(not_before__isnull=True) | Q(not_before__lte=now))


def claim(owner: str, now: datetime | None = None) -> SyncRun | None:
    """Take the oldest due queued run and lease it to ``owner``; ``None`` when there is none.

    PostgreSQL: ``SELECT … FOR UPDATE SKIP LOCKED``, so workers on several machines each take a
    different run without waiting for each other. SQLite has no row locks and needs none: its
    transactions begin IMMEDIATE (settings), so claims are serialized by the database."""
    now = now or timezone.now()
    if not SyncRun.objects.filter(_due(now)).exists():  # cheap, and takes no write lock
        return None
    with transaction.atomic():
        run = (SyncRun.objects.select_for_update(skip_locked=True).filter(_due(now))
               .order_by("created_at", "id").first())
        if run is None:
            return None
        leases.begin(run, owner, now)
        run.save(update_fields=leases.BEGUN_FIELDS)
    return run
