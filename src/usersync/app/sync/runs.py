"""A run: read → plan → apply (or block), recorded as a SyncRun.

Every way a sync starts (command line, upload, schedule, agent, SCIM, the portal) comes through
``sync``; approving a blocked run comes through ``approve``. Both write the plan and the contacts in
one transaction with the run's final status.

Every run records its connection attempt in ``SyncRun.connection`` (seed 004's "Status (last
10)"): ``{"server", "ok", "reason", "tls", "at"}`` — the server that answered (``None`` when none
could be reached, or for files), whether the read got through, why not, the TLS protocol and
cipher the connector reported (``None``: not encrypted), and when the attempt started.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable

from django.db import IntegrityError, transaction
from django.utils import timezone

from usersync.app.directory.models import RunStatus, Source, SyncRun, Trigger
from usersync.connectors.base import Reading
from usersync.connectors.errors import SourceError
from usersync.core import planning
from usersync.core.plan import Op, Plan

from . import apply as applying
from . import loading

Progress = Callable[[str], None]
#: The notice of every run of a source whose connection is not encrypted.
INSECURE_NOTICE = "connection is not encrypted (insecure)"


class RunRefused(Exception):
    """The run cannot start or be decided; the message says why and what to do."""


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
    """Read the source, plan, and apply or block. A preview writes nothing at all."""
    run = None if preview else _start(source, trigger)
    try:
        return _sync(source, read, run, progress)
    except Exception as error:  # a bug must not leave the run "running" forever
        if run is not None and not isinstance(error, SourceError):
            _fail(run, SourceError(f"internal error: {type(error).__name__}",
                                   "this is a bug in usersync; the run changed nothing",
                                   code="internal_error"))
        raise


def _sync(source: Source, read, run: SyncRun | None, progress: Progress) -> Outcome:
    progress("reading")
    attempted = timezone.now()
    insecure = bool(source.settings.get("insecure"))
    try:
        reading = read()
    except SourceError as error:
        notices = [INSECURE_NOTICE] if insecure else []
        if run is not None:
            run.notices = notices
            _fail(run, error, attempted)
        return Outcome(RunStatus.FAILED, None, run, notices, error=error)
    if run is not None:
        run.connection = _connected(reading, attempted)
    notices = _notices(reading, insecure)
    progress(f"planning {len(reading.snapshot.records)} records")
    plan = planning.plan(
        reading.snapshot,
        loading.existing_contacts(source.organization_id),
        loading.policy(source, reading.mapping),
        loading.source_state(source),
    )
    if run is None:
        return Outcome("preview", plan, None, notices)
    progress("applying" if not plan.blocked else "blocked")
    with transaction.atomic():
        run.plan, run.counts, run.notices = plan.to_data(), plan.counts, notices
        run.finished_at = timezone.now()
        if plan.blocked:
            run.status, run.blocked_reason = RunStatus.BLOCKED, plan.blocked
            _supersede_blocked(source, run)
        else:
            applying.apply(source, plan, run.finished_at)
            run.status = RunStatus.SUCCEEDED
        run.save()
    return Outcome(run.status, plan, run, notices)


def approve(run: SyncRun, by: str) -> SyncRun:
    """Apply exactly the plan of a blocked run, if nothing newer has been applied since."""
    with transaction.atomic():
        run = SyncRun.objects.select_for_update().select_related("source").get(pk=run.pk)
        _must_be_blocked(run)
        newer = SyncRun.objects.filter(source=run.source, status=RunStatus.SUCCEEDED,
                                       created_at__gt=run.created_at)
        if newer.exists():
            raise RunRefused(f"run {run.pk} is out of date: run {newer.first().pk} was applied "
                             "after it; start a new sync to get a fresh plan")
        now = timezone.now()
        applying.apply(run.source, Plan.from_data(run.plan), now)
        run.status, run.decided_by, run.decided_at = RunStatus.SUCCEEDED, by, now
        run.save()
    return run


def reject(run: SyncRun, by: str) -> SyncRun:
    """Discard a blocked run's plan; nothing is written to contacts."""
    with transaction.atomic():
        run = SyncRun.objects.select_for_update().get(pk=run.pk)
        _must_be_blocked(run)
        run.status, run.decided_by, run.decided_at = RunStatus.REJECTED, by, timezone.now()
        run.save()
    return run


def errors_of(plan: Plan) -> list[dict]:
    """Per-record errors as ``{"line", "field", "message"}`` (line is None for directory records)."""
    return [
        {"line": o.line, "field": o.field, "message": o.reason,
         **({"record": o.dn or o.anchor} if o.line is None else {})}
        for o in plan.of(Op.ERROR)
    ]


def _start(source: Source, trigger: str) -> SyncRun:
    try:
        with transaction.atomic():
            return SyncRun.objects.create(
                organization_id=source.organization_id, source=source, trigger=trigger,
                status=RunStatus.RUNNING, started_at=timezone.now(),
            )
    except IntegrityError:
        raise RunRefused(f"source {source.name!r} already has a run in progress; "
                         "wait for it to finish") from None


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


def _fail(run: SyncRun, error: SourceError, attempted: datetime | None = None) -> None:
    """The run failed. Unless the read got through, that was its connection attempt too."""
    if not run.connection:
        run.connection = {"server": error.server, "ok": False,
                          "reason": error.message, "tls": None,
                          "at": (attempted or timezone.now()).isoformat()}
    run.status = RunStatus.FAILED
    run.error_code, run.error_message, run.error_hint = error.code, error.message, error.hint
    run.finished_at = timezone.now()
    run.save()


def _must_be_blocked(run: SyncRun) -> None:
    if run.status != RunStatus.BLOCKED:
        raise RunRefused(f"run {run.pk} is {run.status}, not blocked; only a blocked run "
                         "can be approved or rejected")


def _supersede_blocked(source: Source, run: SyncRun) -> None:
    """A newer plan replaces older blocked ones: approving a stale plan would undo newer facts."""
    SyncRun.objects.filter(source=source, status=RunStatus.BLOCKED).exclude(pk=run.pk).update(
        status=RunStatus.REJECTED, decided_by=f"superseded by run {run.pk}", decided_at=timezone.now()
    )
