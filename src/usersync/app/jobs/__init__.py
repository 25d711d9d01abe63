"""Runs as jobs: a ``SyncRun`` row is queued, claimed by a worker, leased with a heartbeat, and
finished; the same row is the history the portal shows (DESIGN.md, "Runs are the jobs").

- ``queue``: ``enqueue`` (at most one active run per source, by a partial unique index) and
  ``claim`` (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite serializes writers).
- ``leases``: a run's lease, the heartbeat that renews it, the fence that stops a worker that
  lost its lease from recording anything.
- ``execution``: a claimed run's read → plan → apply (``usersync.app.sync.runs.perform``).
- ``retries``: connection failures are retried with backoff; each attempt is its own run.
- ``reaper``: runs whose lease expired (a dead worker) are queued again or failed.
- ``schedules`` and ``scheduler``: when a source is due, and the tick that queues due sources
  exactly once however many workers tick.
- ``worker``: the loop ``usersync worker`` and ``usersync serve`` run.

This package imports no submodule here: ``usersync.app.sync.runs`` imports ``leases``, and
``execution`` imports ``runs``.
"""
