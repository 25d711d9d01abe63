"""``usersync worker``: run queued and scheduled syncs, on as many machines as needed."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from contextlib import contextmanager
from typing import Iterator

from usersync.app.jobs.worker import Worker

from . import CommandError


def register(sub) -> None:
    worker = sub.add_parser(
        "worker", help="run queued syncs and the schedules (start one or more per machine)",
        description="Claim queued runs and execute them; every minute, queue the sources whose "
                    "schedule is due and take over runs whose worker died. Several workers, on "
                    "one machine or many, share one PostgreSQL database. SIGTERM or Ctrl-C "
                    "stops claiming and lets the runs in progress finish; a second one stops "
                    "at once (those runs are taken over after their lease).")
    worker.add_argument("--concurrency", type=int, default=1, metavar="N",
                        help="runs at a time in this process (default 1)")
    worker.add_argument("--once", action="store_true",
                        help="queue due schedules, execute what is queued, then exit")
    worker.add_argument("--tick-every", type=float, default=60.0, metavar="SECONDS",
                        help="how often to look for due schedules and dead workers (default 60)")
    worker.add_argument("--poll", type=float, default=1.0, metavar="SECONDS",
                        help="how often to look for queued runs when idle (default 1)")
    worker.add_argument("--name", default="worker", help="names this worker in runs and logs")
    worker.set_defaults(handler=_worker)


def _worker(args) -> int:
    if args.concurrency < 1 or args.tick_every <= 0 or args.poll <= 0:
        raise CommandError("--concurrency, --tick-every and --poll must be positive")
    log_progress()
    worker = Worker(name=args.name, concurrency=args.concurrency, tick_seconds=args.tick_every,
                    poll_seconds=args.poll)
    logging.getLogger("usersync.jobs").info("worker %s started (%d at a time)", args.name,
                                            args.concurrency)
    with stopping(worker.stop, "worker"):
        worker.run(once=args.once)
    return 0


def log_progress() -> None:
    """Runs log what they do (INFO) unless ``USERSYNC_LOG_LEVEL`` says otherwise."""
    if not os.environ.get("USERSYNC_LOG_LEVEL"):
        logging.getLogger("usersync").setLevel(logging.INFO)


@contextmanager
def stopping(stop: threading.Event, what: str) -> Iterator[None]:
    """SIGTERM and SIGINT set ``stop``; a second one exits at once."""
    def handle(signum, frame) -> None:
        if stop.is_set():
            print(f"usersync: {what} stopping now", file=sys.stderr, flush=True)
            raise SystemExit(128 + signum)
        stop.set()
        print(f"usersync: {what} stopping after the runs in progress (again to stop now)",
              file=sys.stderr, flush=True)

    previous = {s: signal.signal(s, handle) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
