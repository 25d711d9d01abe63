"""The one place where a run's end is announced.

``run_finished`` is called for every run that stops running (succeeded, failed, blocked,
cancelled), whoever ran it (a worker, the command line, an upload, the portal), and for a blocked
run once it is approved. It is called *inside* the transaction that records the run's final
status, after the run is saved, so:

- rows written here (the webhook outbox: ``sync.succeeded``, ``sync.failed``, ``sync.blocked``)
  commit with the run, or not at all;
- anything that leaves the process (the summary email, the blocked-run email, the failure email
  with its hint) must be sent with ``transaction.on_commit`` (or by a worker reading the
  outbox), never directly: a rolled-back run must announce nothing, and a slow mail server must
  not hold the database's write lock.

``applied`` says which contacts the run created, updated, reactivated and archived (for a run
that applied a plan; ``None`` otherwise): welcome emails and ``contact.*`` webhook events.

``retry`` is the queued next attempt when a failed run will be retried (a connection failure, or
a worker that died): a failure email can wait for the last attempt.

It logs the run's end and hands it to each kind of announcement: ``emails`` (which emails a run
sends, after the commit) and ``webhooks.events`` (the webhook outbox, in this transaction).
After the commit, the source's runs past their time are forgotten (``history.forget_old_runs``).
"""

from __future__ import annotations

import logging
from functools import partial

from django.db import DatabaseError, transaction
from django.utils import timezone

from usersync.app.directory.models import SyncRun
from usersync.app.sync import history
from usersync.app.sync.apply import Applied
from usersync.app.webhooks import events as webhook_events

from . import emails

log = logging.getLogger("usersync.runs")


def run_finished(run: SyncRun, retry: SyncRun | None = None, applied: Applied | None = None) -> None:
    changed = ", ".join(f"{n} {k}" for k, n in (run.counts or {}).items() if n and k != "unchanged")
    detail = run.error_message or run.blocked_reason or changed or "nothing changed"
    then = f"; retry: run {retry.pk} (attempt {retry.attempt})" if retry is not None else ""
    log.info("run %s of source %s (%s, attempt %s) %s: %s%s", run.pk, run.source_id, run.trigger,
             run.attempt, run.status, detail, then)
    emails.run_finished(run, retry, applied)
    webhook_events.run_finished(run, retry, applied)
    transaction.on_commit(partial(forget_old_runs, run.source_id))


def forget_old_runs(source_id: int) -> None:
    """The source's runs past their time (``history.forget_old_runs``); a failure only delays
    it to the source's next run."""
    try:
        history.forget_old_runs(source_id, timezone.now())
    except DatabaseError as error:
        log.warning("source %s: could not delete its old runs: %s", source_id, error)
