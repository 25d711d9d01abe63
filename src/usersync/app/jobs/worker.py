"""The worker: claims queued runs and executes them; ticks the scheduler and the reaper.

``Worker(concurrency=N)`` runs up to N runs at a time, one per thread (reading a directory waits
on the network and applying waits on the database; for more, start more workers, on this
machine or others, against one PostgreSQL). Between runs, each thread does the due ``chores`` (webhook deliveries,
contact images). One more thread, every ``tick_seconds``, ends runs
whose worker died (``reaper``) and queues due schedules (``scheduler``).

``stop`` (an event: a signal handler sets it) stops claiming; runs in progress finish first.
``run(once=True)`` reaps, ticks, executes what is queued and due, and returns.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from django.db import close_old_connections, connection, connections

from . import chores, execution, leases, queue, reaper, scheduler

log = logging.getLogger("usersync.jobs")


@dataclass
class Worker:
    name: str = "worker"
    concurrency: int = 1
    tick_seconds: float = 60.0
    poll_seconds: float = 1.0
    stop: threading.Event = field(default_factory=threading.Event)
    executed: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def run(self, once: bool = False) -> int:
        """Work until ``stop`` is set (or, ``once``, until nothing is due); the runs executed."""
        if once:
            self.housekeeping()
            if self.concurrency == 1:  # in this thread: what a test or a cron job wants
                self._drain(0, once=True)
                return self.executed
        threads = [threading.Thread(target=self._runner, args=(i, once), daemon=True,
                                    name=f"{self.name}-{i}") for i in range(self.concurrency)]
        if not once:
            threads.append(threading.Thread(target=self._ticker, daemon=True,
                                            name=f"{self.name}-scheduler"))
        for thread in threads:
            thread.start()
        for thread in threads:
            while thread.is_alive():  # short joins: the main thread keeps handling signals
                thread.join(0.5)
        return self.executed

    def housekeeping(self) -> None:
        """End runs whose worker died, then queue due schedules."""
        for step in (reaper.reap, scheduler.tick):
            try:
                step()
            except Exception:
                log.exception("%s failed", step.__qualname__)
                self._refresh(broken=True)

    @staticmethod
    def _refresh(broken: bool = False) -> None:
        """Between jobs, drop this thread's connection if it is too old or ``broken`` (the
        next query reconnects: a restarted database server is survived); never inside a
        transaction (``run(once=True)`` in a caller's transaction, as in tests)."""
        if connection.in_atomic_block:
            return
        if broken:
            connection.close()
        else:
            close_old_connections()

    def _ticker(self) -> None:
        try:
            while True:
                self._refresh()
                self.housekeeping()
                if self.stop.wait(self.tick_seconds):
                    return
        finally:
            connections.close_all()

    def _runner(self, index: int, once: bool) -> None:
        try:
            self._drain(index, once)
        finally:
            connections.close_all()  # this thread's

    def _drain(self, index: int, once: bool) -> None:
        owner = leases.owner_id(self.name, index)
        while not self.stop.is_set():
            self._refresh()
            try:
                run = queue.claim(owner)
            except Exception:
                log.exception("claiming a run failed")
                self._refresh(broken=True)
                run = None
            if run is None:
                if chores.run_due():
                    continue  # more may be due: look again before sleeping
                if once or self.stop.wait(self.poll_seconds):
                    return
                continue
            try:
                execution.execute(run)
            except Exception:  # the run was failed and the error logged with it; go on
                log.exception("run %s failed with an error", run.pk)
            with self._lock:
                self.executed += 1
