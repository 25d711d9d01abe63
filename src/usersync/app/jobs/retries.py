"""Trying a sync again: each attempt is its own run, linked to the first by ``retry_of``.

A connection failure (``SourceError.retryable``: the server was unreachable, the connection was
lost, the read ended early) is retried after ``settings.RETRY_DELAYS`` (1, 5 and 15 minutes by
default: a few times within the hour). A configuration error (a wrong password or base DN, a bad
certificate) fails at once with its hint: retrying cannot help until an admin changes something.
Every attempt is a run of its own, so the portal's "Status (last 10)" shows each one.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from usersync.app.directory.models import RunStatus, SyncRun
from usersync.connectors.errors import SourceError


def delays() -> tuple[float, ...]:
    return tuple(settings.RETRY_DELAYS)


def max_attempts() -> int:
    return len(delays()) + 1


def after_failure(run: SyncRun, error: SourceError) -> SyncRun | None:
    """The next attempt of a run that failed with ``error``, queued after its delay; ``None``
    when the error is not worth retrying or the attempts are used up. Call it in the
    transaction that records the failure, after the failed run is saved."""
    if not error.retryable or run.attempt >= max_attempts():
        return None
    return next_attempt(run, timezone.now(), delays()[run.attempt - 1])


def next_attempt(run: SyncRun, now: datetime, delay: float | None) -> SyncRun:
    """Queue the attempt after ``run`` (no longer active), not before ``delay`` seconds."""
    return SyncRun.objects.create(
        organization_id=run.organization_id, source_id=run.source_id, trigger=run.trigger,
        status=RunStatus.QUEUED, attempt=run.attempt + 1, retry_of_id=run.retry_of_id or run.pk,
        not_before=now + timedelta(seconds=delay) if delay else None,
    )
