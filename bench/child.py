"""One sync, in a fresh process: ``python -m bench.child --org ORG --source NAME [--full]``.

It does what a worker does with a claimed run — ``runs.sync`` with the reader of a scheduled run
(``readers.configured_reader``) — and prints, as one JSON line, how long the sync took inside the
process (Django already set up: a worker pays that once, not per run), the process's start-up
time, the run's status and counts, the kind of snapshot the reader returned (``full`` or
``delta``), how long the process then waited for the SQLite checkpoint the run left to a thread
(``checkpoint_s``: ``usersync.app.sync.checkpoints``; none on PostgreSQL), and the process's
peak RSS: ``VmHWM`` of ``/proc/self/status``, the high-water mark of this program's own memory.
(``ru_maxrss``, from ``wait4`` or ``getrusage``, would not do: Linux carries the forking parent's
peak over ``exec`` into it, and the bench holds the whole generated directory.)

``--full`` forgets the source's incremental state first (``Source.sync_state``: empty means the
next read is full), so the sync reads everything whatever the source would do on its own.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

STARTED = time.perf_counter()


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.child")
    parser.add_argument("--org", required=True)
    parser.add_argument("--source", required=True)
    parser.add_argument("--full", action="store_true")
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "usersync.app.settings")
    import django

    django.setup()
    from usersync.app.directory.models import Source, Trigger
    from usersync.app.sync import readers, runs

    source = Source.objects.select_related("organization").get(
        organization__slug=args.org, name=args.source)
    if args.full and source.sync_state:
        source.sync_state = {}
        source.save(update_fields=["sync_state"])
    startup = time.perf_counter() - STARTED
    began, cpu = time.perf_counter(), time.process_time()
    outcome = runs.sync(source, readers.configured_reader(source), trigger=Trigger.SCHEDULE)
    seconds, cpu = time.perf_counter() - began, time.process_time() - cpu
    checkpoint_s = waited_for_checkpoints()
    plan = outcome.plan
    print(json.dumps({
        "peak_rss_mb": peak_rss_mb(),
        "seconds": seconds,
        "cpu_s": cpu,
        "checkpoint_s": checkpoint_s,
        "startup_s": startup,
        "status": outcome.status,
        "kind": plan.kind.value if plan is not None else None,
        "read": plan.read if plan is not None else 0,
        "counts": plan.counts if plan is not None else {},
        "blocked": plan.blocked if plan is not None else None,
        "error": outcome.error.message if outcome.error is not None else None,
    }))
    return 0 if outcome.status == "succeeded" else 1


def waited_for_checkpoints() -> float:
    """Seconds until the checkpoints the run left to a thread are done."""
    from usersync.app.sync import checkpoints

    began = time.perf_counter()
    checkpoints.wait()
    return time.perf_counter() - began


def peak_rss_mb() -> float | None:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


if __name__ == "__main__":
    sys.exit(main())
