"""A run: read → plan → apply (or block), recorded as a SyncRun.

Every run goes through ``perform``: a run that a worker claimed from the queue
(``usersync.app.jobs``), and a run started inline by ``sync`` (the command line, an upload, the
portal), which creates the run row itself — refused with ``AlreadyRunning`` while the source has an
active run — and holds it under a lease with a heartbeat, like a worker, so that a command killed
half-way leaves no run "running" forever. Approving a blocked run comes through ``approve``. The
plan, the contacts and the run's final status are written in one transaction, after the run's
lease is checked (``leases.fence``), and the run is announced in it (``run_finished``); the plan
is kept with the run (``history``). A run that applied also saves there what the source's next
incremental read starts from (``sync_state``).

Every run records its connection attempt in ``SyncRun.connection`` (seed 004's "Status (last
10)"): ``{"server", "ok", "reason", "tls", "at"}`` — the server that answered (``None`` when none
could be reached, or for files), whether the read got through, why not, the TLS protocol and
cipher the connector reported (``None``: not encrypted), and when the attempt started.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from usersync.app.directory.models import ACTIVE_RUN_STATUSES, RunStatus, Source, SyncRun, Trigger
from usersync.app.jobs import leases
from usersync.app.notifications.announce import run_finished
from usersync.connectors.base import Reading
from usersync.connectors.errors import SourceError
from usersync.core import planning
from usersync.core.plan import Op, Plan

from . import apply as applying
from . import building, history, loading
from .checkpoints import checkpoint_after
from .memory import without_gc_pauses

log = logging.getLogger("usersync.runs")
Progress = Callable[[str], None]
#: Decides whether a failed run is tried again: returns the queued next attempt, or None.
Retry = Callable[[SyncRun, SourceError], "SyncRun | None"]
#: The notice of every run of a source whose connection is not encrypted.
INSECURE_NOTICE = "connection is not encrypted (insecure)"


class RunRefused(Exception):
    """The run cannot start or be decided; the message says why and what to do."""


class AlreadyRunning(RunRefused):
    """The source already has an active (queued or running) run: ``run``, when it could be read.
    At most one run per source is active, enforced by the database (one_active_run_per_source)."""

    def __init__(self, source: Source, run: SyncRun | None, note: str = ""):
        self.source, self.run = source, run
        what = f" (run {run.pk}, {run.status})" if run is not None else ""
        super().__init__(f"source {source.name!r} already has a run in progress{what}; "
                         f"{note or 'wait for it to finish'}")


@dataclass
class Outcome:
    """What a sync or a preview produced: the run (``None`` for a preview) and its plan."""

    status: str
    plan: Plan | None
    run: SyncRun | None = None
    notices: list[str] = field(default_factory=list)
    error: SourceError | None = None


def sync(
    source: Source,
    read: Callable[[], Reading],
    trigger: str = Trigger.MANUAL,
    preview: bool = False,
    progress: Progress = lambda stage: None,
) -> Outcome:
    """Read the source, plan, and apply or block, in this process. A preview writes nothing."""
    if preview:
        with without_gc_pauses():
            return _sync(source, read, None, progress)
    run = _start(source, trigger)
    with leases.Heartbeat(run):
        return perform(run, read, progress)


def perform(
    run: SyncRun,
    read: Callable[[], Reading],
    progress: Progress = lambda stage: None,
    retry: Retry | None = None,
) -> Outcome:
    """Read, plan and apply or block for ``run``, which this process holds (running, leased).
    ``retry`` decides, when the read fails, whether another attempt is queued."""
    try:
        # a read holds every record of the directory at once; SQLite's checkpoint follows the run
        with without_gc_pauses(), checkpoint_after():
            return _sync(run.source, read, run, progress, retry)
    except leases.LeaseLost as error:
        raise RunRefused(str(error)) from None
    except SourceError as error:  # not from the read: the run fails with the error's hint
        _fail(run, error)
        raise
    except Exception as error:  # a bug must not leave the run "running" forever
        _fail(run, SourceError(f"internal error: {type(error).__name__}",
                               "this is a bug in usersync; the run changed nothing",
                               code="internal_error"))
        raise
    except BaseException:  # Ctrl-C, SystemExit: the run stops here, having changed nothing
        try:
            _cancel(run)
        except Exception as error:  # the reaper will end it once its lease expires
            log.warning("run %s: could not record its cancellation: %s", run.pk, error)
        raise


def _sync(source: Source, read, run: SyncRun | None, progress: Progress,
          retry: Retry | None = None) -> Outcome:
    progress("reading")
    attempted = timezone.now()
    insecure = bool(source.settings.get("insecure"))
    try:
        reading = read()
    except SourceError as error:
        notices = [INSECURE_NOTICE] if insecure else []
        if run is not None:
            run.notices = notices
            _fail(run, error, attempted, retry)
        return Outcome(RunStatus.FAILED, None, run, notices, error=error)
    if run is not None:
        run.connection = _connected(reading, attempted)
    notices = _notices(reading, insecure)
    progress(f"planning {len(reading.snapshot.records)} records")
    plan = _plan(source, reading)
    sync_state = reading.sync_state
    del reading  # its records, the most a full read holds, are not needed to apply the plan
    if run is None:
        return Outcome("preview", plan, None, notices)
    progress("applying" if not plan.blocked else "blocked")
    with transaction.atomic():
        run.counts, run.notices = plan.counts, notices
        run.finished_at = timezone.now()
        applied = None
        if plan.blocked:
            run.status, run.blocked_reason = RunStatus.BLOCKED, plan.blocked
            _supersede_blocked(source, run)
        else:
            applied = applying.apply(source, plan, run.finished_at, _compared_at(run))
            run.status = RunStatus.SUCCEEDED
            _save_sync_state(source, sync_state)
        history.store(run, plan)  # after the apply: while the server checks what it wrote
        leases.fence(run)  # last: the run's row stays locked only while this commits
        run.lease_expires_at = None
        run.save()
        run_finished(run, applied=applied)
    if applied is not None:
        applying.refresh_statistics(applied, source.organization_id, plan)
    return Outcome(run.status, plan, run, notices)


def approve(run: SyncRun, by: str) -> SyncRun:
    """Apply exactly the plan of a blocked run, if nothing newer has been applied since."""
    with checkpoint_after():
        return _approve(run, by)


def _approve(run: SyncRun, by: str) -> SyncRun:
    with transaction.atomic():
        run = SyncRun.objects.select_for_update().select_related("source").get(pk=run.pk)
        _must_be_blocked(run)
        newer = SyncRun.objects.filter(source=run.source, status=RunStatus.SUCCEEDED,
                                       created_at__gt=run.created_at).first()
        if newer is not None:
            raise RunRefused(f"run {run.pk} is out of date: run {newer.pk} was applied "
                             "after it; start a new sync to get a fresh plan")
        now, plan = timezone.now(), history.plan_of(run)
        applied = applying.apply(run.source, plan, now, _compared_at(run))
        run.status, run.decided_by, run.decided_at = RunStatus.SUCCEEDED, by, now
        run.save()
        run_finished(run, applied=applied)
    applying.refresh_statistics(applied, run.organization_id, plan)
    return run


def reject(run: SyncRun, by: str) -> SyncRun:
    """Discard a blocked run's plan; nothing is written to contacts."""
    with transaction.atomic():
        run = SyncRun.objects.select_for_update().get(pk=run.pk)
        _must_be_blocked(run)
        run.status, run.decided_by, run.decided_at = RunStatus.REJECTED, by, timezone.now()
        run.save()
    return run


def _compared_at(run: SyncRun) -> datetime:
    """When the run's plan read the contacts, at the earliest: when the run started."""
    return run.started_at or run.created_at


def errors_of(plan: Plan) -> list[dict]:
    """Per-record errors as ``{"line", "field", "message"}`` (line is None for directory records)."""
    return [
        {"line": o.line, "field": o.field, "message": o.reason,
         **({"record": o.dn or o.anchor} if o.line is None else {})}
        for o in plan.of(Op.ERROR)
    ]


def _start(source: Source, trigger: str) -> SyncRun:
    """The run row of an inline run: running at once, leased by this process."""
    run = SyncRun(organization_id=source.organization_id, source=source, trigger=trigger)
    try:
        with transaction.atomic():
            leases.begin(run, leases.owner_id(f"inline-{trigger}"), timezone.now())
            run.save()
            return run
    except IntegrityError:
        active = SyncRun.objects.filter(source=source, status__in=ACTIVE_RUN_STATUSES).first()
        raise AlreadyRunning(source, active) from None


def _notices(reading: Reading, insecure: bool) -> list[str]:
    """The reading's notices, after ours when an insecure source was read without TLS (a source
    set to insecure that was reached over ldaps:// was encrypted: no notice then)."""
    info = reading.connection
    if not insecure or (info is not None and info.tls):
        return list(reading.notices)
    ours = f"{INSECURE_NOTICE}: {info.server}" if info and info.server else INSECURE_NOTICE
    # The connector says the same in its own words: once is enough.
    return [ours, *(n for n in reading.notices if "not encrypted" not in n)]


def _connected(reading: Reading, at: datetime) -> dict:
    info = reading.connection
    return {"server": info.server if info else None, "ok": True, "reason": "",
            "tls": info.tls if info else None, "at": at.isoformat()}


def _fail(run: SyncRun, error: SourceError, attempted: datetime | None = None,
          retry: Retry | None = None) -> None:
    """The run failed. Unless the read got through, that was its connection attempt too.
    ``retry`` may queue the next attempt, in the same transaction."""
    if not run.connection:
        run.connection = {"server": error.server, "ok": False,
                          "reason": error.message, "tls": None,
                          "at": (attempted or timezone.now()).isoformat()}
    run.status = RunStatus.FAILED
    run.error_code, run.error_message, run.error_hint = error.code, error.message, error.hint
    _finish(run, lambda: retry(run, error) if retry is not None else None)


def _cancel(run: SyncRun) -> None:
    run.status = RunStatus.CANCELLED
    run.error_code, run.error_message = "cancelled", "stopped before it finished"
    run.error_hint = "nothing was changed; start the sync again"
    _finish(run)


def _finish(run: SyncRun, then: Callable[[], SyncRun | None] = lambda: None) -> None:
    """Record the run's end unless it was taken over (then log: the new owner records it). A run
    that ends here keeps no plan: what its transaction kept of one was rolled back with it."""
    run.plan, run.counts = None, {}
    run.finished_at, run.lease_expires_at = timezone.now(), None
    try:
        with transaction.atomic():
            leases.fence(run)
            run.save()
            follow = then()
            if follow is not None:
                run.notices = [*run.notices, f"attempt {run.attempt} failed; attempt "
                               f"{follow.attempt} (run {follow.pk}) is queued"
                               + (f" for {follow.not_before:%Y-%m-%d %H:%M:%S} UTC"
                                  if follow.not_before else "")]
                run.save(update_fields=["notices"])
            run_finished(run, retry=follow)
    except leases.LeaseLost as lost:
        log.warning("%s", lost)


def _must_be_blocked(run: SyncRun) -> None:
    if run.status != RunStatus.BLOCKED:
        raise RunRefused(f"run {run.pk} is {run.status}, not blocked; only a blocked run "
                         "can be approved or rejected")


def _plan(source: Source, reading: Reading) -> Plan:
    policy, state = loading.policy(source, reading.mapping), loading.source_state(source)
    snapshot = reading.snapshot
    with loading.asked_aside(source, snapshot) as asking:  # a delta's, while its records build
        built = building.build_records(snapshot.records, policy)
        asked = asking()
    existing = loading.contacts_to_plan(source, snapshot, built, state, asked)
    return planning.plan(snapshot, existing, policy, state, asked.totals if asked else None,
                         built)


def _save_sync_state(source: Source, sync_state: dict | None) -> None:
    """Keep what the next incremental read starts from (the reading's ``sync_state``), with the
    plan it led to: in the run's transaction, and only for a run that applied (a failed or
    blocked run keeps the old state, so the next run reads those changes again; approving a
    blocked run does not move it either: the next run then reads the same changes again and
    finds them applied)."""
    if sync_state is not None:
        Source.objects.filter(pk=source.pk).update(sync_state=sync_state)
        source.sync_state = sync_state


def _supersede_blocked(source: Source, run: SyncRun) -> None:
    """A newer plan replaces older blocked ones: approving a stale plan would undo newer facts."""
    SyncRun.objects.filter(source=source, status=RunStatus.BLOCKED).exclude(pk=run.pk).update(
        status=RunStatus.REJECTED, decided_by=f"superseded by run {run.pk}", decided_at=timezone.now()
    )
