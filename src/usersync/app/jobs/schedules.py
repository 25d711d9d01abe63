"""A source's next scheduled run: ``core.schedule`` with the source's settings and history."""

from __future__ import annotations

import logging
from datetime import datetime

from usersync.app.directory.models import ScheduleKind, Source, SyncRun
from usersync.core import schedule

log = logging.getLogger("usersync.jobs")
_UNSET = object()


def last_started(source_id: int) -> datetime | None:
    """When the last sync of the source started (its first attempt: retries are the same sync)."""
    return (SyncRun.objects.filter(source_id=source_id, retry_of__isnull=True,
                                   started_at__isnull=False)
            .order_by("-started_at").values_list("started_at", flat=True).first())


def next_run_at(source: Source, now: datetime, last_run_at=_UNSET) -> datetime | None:
    """When the scheduler should next queue a run of ``source`` (``None``: manual only).
    ``last_run_at`` defaults to the start of its last sync (only ``after_last`` needs it)."""
    if source.schedule == ScheduleKind.AFTER_LAST and last_run_at is _UNSET:
        last_run_at = last_started(source.pk) if source.pk else None
    last = None if last_run_at is _UNSET else last_run_at
    tz = source.organization.time_zone
    try:
        return schedule.next_run(source.schedule, source.schedule_hours, tz, now, last)
    except schedule.ScheduleError as error:
        if "time zone" not in str(error):
            raise
        log.warning("organization %s: %s; scheduling %s in UTC", source.organization.slug, error,
                    source)
        return schedule.next_run(source.schedule, source.schedule_hours, "UTC", now, last)


def time_zone_changed(organization_id: int, now: datetime) -> None:
    """The organization's time zone changed: its sources scheduled at hours of the day get their
    next run at those hours in the new zone. One already due keeps its time: the scheduler
    queues it at its next tick (moved now, it would skip a run)."""
    sources = (Source.objects.filter(organization_id=organization_id,
                                     schedule=ScheduleKind.EVERY_HOURS, next_run_at__gt=now)
               .select_related("organization"))
    for source in sources:
        move(source, source.next_run_at, next_run_at(source, now))


def move(source: Source, seen: datetime | None, upcoming: datetime | None) -> bool:
    """Compare-and-set the source's next run: True when this call moved it from ``seen`` (a
    scheduler that read it at the same moment, or an edit, finds it moved and changes nothing)."""
    match = Source.objects.filter(pk=source.pk)
    if seen is None:
        match = match.filter(next_run_at__isnull=True)
    else:
        match = match.filter(next_run_at=seen)
    return match.update(next_run_at=upcoming) == 1


def run_started(source_id: int, at: datetime) -> None:
    """A sync of the source started at ``at``: a schedule of 24 hours after the last sync now
    counts from it (a forced sync moves the next one). Call it in the transaction that starts
    the run."""
    due = schedule.next_run(schedule.AFTER_LAST, 24, "UTC", at, at)
    Source.objects.filter(pk=source_id, schedule=ScheduleKind.AFTER_LAST).update(next_run_at=due)
