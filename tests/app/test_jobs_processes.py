"""The issue's two checks, with real worker processes on PostgreSQL (skipped on SQLite):

- three workers and a scheduler tick enqueueing the same source ten times in five seconds: never
  more than one active run for it, and the result is one run;
- a worker killed with SIGKILL in the middle of applying a large plan: the contacts stay exactly
  as they were, the run is taken over after its lease, and the source then syncs normally.

The workers are ``usersync worker`` subprocesses (tests/support/workers.py) on the test
database, so these tests commit (``transaction=True``). A test slows a worker's apply down with a
hook that exists only in the tests (tests/support/slow_worker.py).
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone

from usersync.app import sources as services
from usersync.app.directory.models import ACTIVE_RUN_STATUSES, Contact, Source, SyncRun
from usersync.app.jobs import execution, queue, reaper, scheduler
from usersync.app.jobs.worker import Worker
from usersync.app.sync import runs

from support.syncing import csv_bytes, person
from support.workers import WorkerProcess, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def location(n: int) -> str:
    return "headquarters" if n % 2 else "warehouse"


def state(org) -> set[tuple]:
    return set(Contact.objects.filter(organization=org).values_list(
        "identification", "email", "department", "status", "location__identifier"))


def active_runs(source) -> int:
    return SyncRun.objects.filter(source=source, status__in=ACTIVE_RUN_STATUSES).count()


class Sampler(threading.Thread):
    """Counts the source's active runs every few milliseconds, from its own connection."""

    def __init__(self, source):
        super().__init__(daemon=True)
        self.source, self.samples, self.done = source, [], threading.Event()

    def run(self) -> None:
        try:
            while not self.done.is_set():
                self.samples.append(active_runs(self.source))
                time.sleep(0.005)
        finally:
            connections.close_all()

    def stop(self) -> list[int]:
        self.done.set()
        self.join()
        return self.samples


def test_three_workers_and_ten_enqueues_in_five_seconds_make_one_run(acme, tmp_path):
    path = tmp_path / "people.csv"
    path.write_bytes(csv_bytes(*(person(n, location(n)) for n in range(1, 301))))
    source = services.create_source(acme, "hr", "csv", {"path": str(path)},
                                    schedule="every_hours", schedule_hours=1)
    # The run takes longer than the five seconds (its apply sleeps), so that every later
    # enqueue meets it active; the workers tick twice a second and hold 3-second leases.
    slow = {"USERSYNC_TEST_APPLY_DELAY": "7", "USERSYNC_LEASE_SECONDS": "3"}
    sampler = Sampler(source)
    sampler.start()
    workers = [WorkerProcess(tmp_path, f"w{i}", "--tick-every", "0.5", "--poll", "0.1", **slow)
               for i in range(3)]
    queued, refused = [], []
    try:
        started = time.monotonic()
        for attempt in range(10):  # at 0, 0.5, … 4.5 seconds
            time.sleep(max(0.0, started + attempt * 0.5 - time.monotonic()))
            Source.objects.filter(pk=source.pk).update(  # due again: every tick wants to queue it
                next_run_at=timezone.now() - timedelta(seconds=1))
            queued += scheduler.tick()
            try:
                queued.append(queue.enqueue(source, "manual"))
            except queue.AlreadyRunning as answer:
                refused.append(answer)
        elapsed = time.monotonic() - started
        wait_for(lambda: active_runs(source) == 0, timeout=120, what="the run to finish")
        exits = [w.terminate() for w in workers]  # SIGTERM: they stop gracefully
    finally:
        samples = sampler.stop()
        for worker in workers:
            worker.stop()
    logs = "\n".join(w.output() for w in workers)

    assert elapsed < 5 and len(samples) > 100
    assert max(samples) == 1, logs  # never more than one active run, and it was seen
    assert exits == [0, 0, 0], logs
    done = list(SyncRun.objects.filter(source=source))
    assert len(done) == 1 and done[0].status == "succeeded", logs
    assert done[0].counts["created"] == 300
    assert done[0].lease_owner.split(":")[0] in {"w0", "w1", "w2"}
    assert len(queued) <= 1 and len(refused) >= 9
    assert all(r.run is None or r.run.pk == done[0].pk for r in refused)
    assert logs.count(": applying") == 1
    assert state(acme) == {(f"E{n:04d}", f"person{n}@acme.example", "Sales", "active", location(n))
                           for n in range(1, 301)}


def test_a_worker_killed_while_applying_changes_nothing_and_the_run_is_taken_over(acme, tmp_path):
    people = 20_000
    path = tmp_path / "people.csv"
    path.write_bytes(csv_bytes(*(person(n, location(n)) for n in range(1, people + 1))))
    source = services.create_source(acme, "hr", "csv", {"path": str(path)},
                                    safeguard_maximum=100_000)
    assert runs.sync(source, execution.configured_read(source), trigger="cli").status == "succeeded"
    before = state(acme)
    # The next run updates every contact and creates a thousand.
    path.write_bytes(csv_bytes(*(person(n, location(n), dept="Finance")
                                 for n in range(1, people + 1001))))
    run = queue.enqueue(source, "manual")
    marker = tmp_path / "in-apply"
    doomed = WorkerProcess(tmp_path, "doomed", "--once", USERSYNC_LEASE_SECONDS="2",
                           USERSYNC_TEST_APPLY_DELAY="600", USERSYNC_TEST_APPLY_MARKER=str(marker))
    try:
        wait_for(marker.exists, timeout=240, what="the worker to be applying")
        time.sleep(3)  # longer than the lease: its heartbeat keeps the run
        assert reaper.reap() == [], doomed.output()
        assert SyncRun.objects.get(pk=run.pk).status == "running"
        doomed.kill()  # SIGKILL, with 20,000 contacts updated and 1,000 created, uncommitted
    finally:
        doomed.stop()
    assert ": applying" in doomed.output()
    assert state(acme) == before

    wait_for(lambda: SyncRun.objects.get(pk=run.pk).lease_expires_at < timezone.now(),
             timeout=10, what="the lease to expire")
    rescuer = WorkerProcess(tmp_path, "rescuer", "--once")
    try:
        assert rescuer.wait(timeout=300) == 0, rescuer.output()
    finally:
        rescuer.stop()

    died = SyncRun.objects.get(pk=run.pk)
    assert (died.status, died.error_code) == ("failed", "worker_lost")
    taken_over = SyncRun.objects.get(retry_of=died)
    assert (taken_over.status, taken_over.attempt) == ("succeeded", 2), rescuer.output()
    assert (taken_over.counts["updated"], taken_over.counts["created"]) == (people, 1000)
    assert state(acme) == {(f"E{n:04d}", f"person{n}@acme.example", "Finance", "active",
                            location(n)) for n in range(1, people + 1001)}

    again = queue.enqueue(source, "manual")
    assert Worker(name="after").run(once=True) == 1
    again.refresh_from_db()
    assert again.status == "succeeded" and again.counts["unchanged"] == people + 1000
    assert active_runs(source) == 0
