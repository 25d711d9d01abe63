"""Runs whose worker died: their lease expired without a heartbeat.

Such a run changed no contact: a plan is applied in one transaction with the run's final status,
so a worker that died before the commit left the contacts exactly as they were (the database
rolled its transaction back), and one that died after it left a finished run, not a running one.
The run is failed with the reason, and — when it reads the source's configured connection (a
person's "Sync now", the schedule, the API) and attempts remain — queued again at once as its
next attempt. A run whose data came with it (an upload, an agent's snapshot) or that a command
ran inline cannot be replayed by a worker: it is failed with what to do.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from usersync.app.directory.models import RunStatus, SyncRun, Trigger
from usersync.app.notifications.announce import run_finished

from . import retries

log = logging.getLogger("usersync.jobs")
REQUEUED_TRIGGERS = frozenset({Trigger.MANUAL, Trigger.SCHEDULE, Trigger.API})


def reap(now: datetime | None = None) -> list[SyncRun]:
    """End every running run whose lease expired before ``now``; return them."""
    now = now or timezone.now()
    expired = SyncRun.objects.filter(status=RunStatus.RUNNING, lease_expires_at__lt=now)
    ended = []
    for pk in expired.values_list("pk", flat=True):
        with transaction.atomic():
            # Skip a run whose row is locked: its worker is recording the outcome right now.
            run = expired.select_for_update(skip_locked=True).filter(pk=pk).first()
            if run is not None:
                _end(run, now)
                ended.append(run)
    return ended


def _end(run: SyncRun, now: datetime) -> None:
    again = run.trigger in REQUEUED_TRIGGERS and run.attempt < retries.max_attempts()
    run.status, run.finished_at = RunStatus.FAILED, now
    run.error_code = "worker_lost"
    run.error_message = (f"the worker running it ({run.lease_owner}) stopped: its lease expired "
                         f"at {run.lease_expires_at:%Y-%m-%d %H:%M:%S} UTC; nothing was changed")
    if again:
        run.error_hint = f"it was queued again as attempt {run.attempt + 1}"
    elif run.trigger in REQUEUED_TRIGGERS:
        run.error_hint = f"{run.attempt} attempts failed this way; check the workers' logs"
    elif run.trigger in (Trigger.UPLOAD, Trigger.AGENT, Trigger.SCIM):
        run.error_hint = "send the data again"
    else:
        run.error_hint = "start the sync again"
    run.lease_expires_at = None
    run.save()
    follow = retries.next_attempt(run, now, delay=None) if again else None
    log.warning("run %s: %s; %s", run.pk, run.error_message, run.error_hint)
    run_finished(run, retry=follow)
