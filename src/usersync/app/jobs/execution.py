"""Executing a claimed run: the source's configured reader, then read → plan → apply."""

from __future__ import annotations

import logging
from typing import Callable

from usersync.app.directory.models import Source, SyncRun
from usersync.app.sync import readers, runs
from usersync.connectors.base import Reading

from . import leases, retries

log = logging.getLogger("usersync.jobs")


def execute(run: SyncRun, progress: runs.Progress | None = None) -> runs.Outcome | None:
    """Run ``run`` (claimed: running under this process's lease) to its end. Connection
    failures queue the next attempt (``retries``). ``None`` when the run is gone (its source
    was removed) or was taken over by another worker."""
    source = Source.objects.select_related("organization").filter(pk=run.source_id).first()
    if source is None:
        log.info("run %s: its source was removed", run.pk)
        return None
    run.source = source
    log.info("run %s of %s: %s, attempt %s, by %s", run.pk, source, run.trigger, run.attempt,
             run.lease_owner)
    stage = progress or (lambda text: log.info("run %s: %s", run.pk, text))
    with leases.Heartbeat(run):
        try:
            outcome = runs.perform(run, configured_read(source), stage, retry=retries.after_failure)
        except runs.RunRefused as refused:  # lost its lease: the new owner finishes it
            log.warning("%s", refused)
            return None
    log.info("run %s: %s", run.pk, outcome.status)
    return outcome


def configured_read(source: Source) -> Callable[[], Reading]:
    """The source's reader, built when the read starts: a source that cannot be read at all
    (no file path, an unsupported kind) fails its run with the hint, like a failed connection."""
    return lambda: readers.configured_reader(source)()
