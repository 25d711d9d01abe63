"""The scheduler tick: queue a run of every enabled source whose next run is due.

Every worker ticks every minute, on as many machines as there are; each due source still gets
one run. The tick moves the source's ``next_run_at`` from the value it read to the next one with
a compare-and-set (``UPDATE … WHERE next_run_at = <the value read>``) in the same transaction as
the queued run: of several workers ticking at once exactly one moves it (on PostgreSQL the others
wait for its row lock, then find the value changed and update nothing; SQLite serializes
writers), and only that one queues the run. A source that already has an active run (a long
sync, a person's "Sync now") is not queued twice: the unique index answers "already running",
and the schedule moves on.

A source whose schedule has no ``next_run_at`` yet (new, or its schedule just changed) gets one
here without running; a schedule of 24 hours after the last sync is due at once if it never ran.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from usersync.app.directory.models import ScheduleKind, Source, SyncRun, Trigger

from . import queue, schedules

log = logging.getLogger("usersync.jobs")


def tick(now: datetime | None = None) -> list[SyncRun]:
    """Queue the runs due at ``now``; return those this tick queued."""
    now = now or timezone.now()
    due = (Source.objects.filter(enabled=True).exclude(schedule=ScheduleKind.MANUAL)
           .filter(Q(next_run_at__isnull=True) | Q(next_run_at__lte=now))
           .select_related("organization").order_by("next_run_at", "pk"))
    queued = []
    for source in due:
        try:
            run = _tick(source, now)
        except Exception:  # one broken source never stops the others
            log.exception("scheduling %s failed", source)
            continue
        if run is not None:
            queued.append(run)
    return queued


def _tick(source: Source, now: datetime) -> SyncRun | None:
    seen = source.next_run_at
    with transaction.atomic():
        if seen is None:
            schedules.move(source, None, schedules.next_run_at(source, now))
            return None
        # The run queued now is the last sync that "24 hours after the last" counts from (its
        # worker moves the schedule again when it actually starts).
        if not schedules.move(source, seen, schedules.next_run_at(source, now, last_run_at=now)):
            return None  # another scheduler queued it
        try:
            run = queue.enqueue(source, Trigger.SCHEDULE, now)
        except queue.AlreadyRunning as busy:
            log.info("schedule of %s: %s", source, busy)
            return None
    log.info("schedule of %s: queued run %s", source, run.pk)
    return run
