"""A run's lease: who runs it, until when, and the heartbeat that keeps it.

A run that starts (claimed from the queue by a worker, or started inline by the command line or
an upload) is ``running`` with a ``lease_owner`` and a ``lease_expires_at`` ``LEASE_SECONDS``
ahead. While the run reads, plans and applies, a ``Heartbeat`` thread renews the lease every
third of that. When the process dies the heartbeats stop, the lease expires, and the reaper
queues the run again or fails it (``reaper``).

A process that stalled longer than its lease (a paused VM, a lost network) may find its run
taken over when it wakes up. The ``fence`` stops it from recording anything then: the
transaction that records a run's outcome (with the contacts of its plan) first checks, with the
run's row locked, that the run is still running under this owner, and rolls back otherwise.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connections
from django.utils import timezone

from usersync.app.directory.models import ACTIVE_RUN_STATUSES, RunStatus, SyncRun

from . import schedules

log = logging.getLogger("usersync.jobs")


class LeaseLost(Exception):
    """The run is no longer this process's to finish: its lease expired and it was taken over."""


def lease_seconds() -> float:
    return float(settings.LEASE_SECONDS)


def owner_id(role: str, index: int | None = None) -> str:
    """A name for a lease holder that no other process, thread or machine shares."""
    host = socket.gethostname()[:40]
    thread = f":{index}" if index is not None else ""
    return f"{role[:20]}:{host}:{os.getpid()}{thread}:{secrets.token_hex(3)}"


def begin(run: SyncRun, owner: str, now: datetime) -> None:
    """Make ``run`` running under ``owner``'s lease (the caller saves it, in its transaction).
    The first attempt of a sync also moves a schedule of 24 hours after the last sync."""
    run.status = RunStatus.RUNNING
    run.lease_owner = owner
    run.started_at = run.heartbeat_at = now
    run.lease_expires_at = now + timedelta(seconds=lease_seconds())
    if run.retry_of_id is None:
        schedules.run_started(run.source_id, now)


BEGUN_FIELDS = ["status", "lease_owner", "started_at", "heartbeat_at", "lease_expires_at"]


def renew(run: SyncRun, now: datetime | None = None) -> bool:
    """Extend the lease of a run this process holds; False when it holds it no more."""
    now = now or timezone.now()
    renewed = SyncRun.objects.filter(pk=run.pk, status=RunStatus.RUNNING,
                                     lease_owner=run.lease_owner).update(
        heartbeat_at=now, lease_expires_at=now + timedelta(seconds=lease_seconds()))
    return renewed == 1


def fence(run: SyncRun) -> None:
    """Inside the transaction that records the run's outcome: raise ``LeaseLost`` unless the run
    is still running under this owner (its row stays locked until the transaction ends)."""
    current = (SyncRun.objects.select_for_update().filter(pk=run.pk)
               .values_list("status", "lease_owner").first())
    if current != (RunStatus.RUNNING, run.lease_owner):
        status = current[0] if current else "deleted"
        raise LeaseLost(f"run {run.pk} lost its lease (it is {status} now: its worker stopped "
                        "responding for longer than the lease, and the run was taken over); "
                        "this attempt changed nothing")


class Heartbeat:
    """Renews a run's lease in a thread while the ``with`` block runs."""

    def __init__(self, run: SyncRun, interval: float | None = None):
        self.run = run
        self.interval = interval if interval is not None else lease_seconds() / 3
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-run-{run.pk}",
                                        daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self) -> None:
        try:
            while not self._stop.wait(self.interval):
                try:
                    if not renew(self.run):
                        if _ended_by_owner(self.run):  # the run ended just before this beat
                            return
                        self.lost = True
                        log.warning("run %s: lost its lease; it will not record its outcome",
                                    self.run.pk)
                        return
                except Exception as error:  # the database is busy or gone: try again later
                    log.warning("run %s: heartbeat failed: %s", self.run.pk, error)
                    connections["default"].close()
        finally:
            connections.close_all()  # this thread's connections


def _ended_by_owner(run: SyncRun) -> bool:
    """Whether ``run`` ended (succeeded, failed, blocked…) in this holder's hands."""
    return (SyncRun.objects.filter(pk=run.pk, lease_owner=run.lease_owner)
            .exclude(status__in=ACTIVE_RUN_STATUSES).exists())
