"""Runs as jobs on a real database (SQLite, and PostgreSQL with USERSYNC_TEST_DATABASE=postgresql):
the queue, claims, leases, the reaper, retries, the scheduler tick, the worker loop.

Time is passed in where the code takes it (``now=``), so leases and backoff are tested without
waiting. Worker processes against PostgreSQL are in test_jobs_processes.py.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import OperationalError
from django.utils import timezone

from usersync.app import sources as services
from usersync.app.directory.models import ACTIVE_RUN_STATUSES, Contact, Source, SyncRun
from usersync.app.jobs import execution, leases, queue, reaper, retries, scheduler
from usersync.app.jobs.worker import Worker
from usersync.app.orgs.services import edit_organization
from usersync.app.sync import runs
from usersync.cli import main

from support.jobs import locked_by_another_worker, unreachable_source
from support.syncing import active, csv_bytes, import_csv, person

PEOPLE = [person(n, "headquarters" if n % 2 else "warehouse") for n in range(1, 7)]


@pytest.fixture
def hr(acme, tmp_path):
    """A CSV source that reads a file at each run, as a scheduled source does."""
    path = tmp_path / "people.csv"
    path.write_bytes(csv_bytes(*PEOPLE))
    return services.create_source(acme, "hr", "csv", {"path": str(path)})


@pytest.fixture
def unreachable(acme):
    return unreachable_source(acme)


def state(org) -> set[tuple]:
    return set(Contact.objects.filter(organization=org).values_list(
        "identification", "email", "department", "status", "location__identifier"))


def active_runs(source) -> int:
    return SyncRun.objects.filter(source=source, status__in=ACTIVE_RUN_STATUSES).count()


# -- the queue ----------------------------------------------------------------------------------

def test_enqueue_twice_makes_one_run_and_answers_already_running(hr):
    first = queue.enqueue(hr, "manual")

    with pytest.raises(queue.AlreadyRunning, match="already has a run in progress") as refused:
        queue.enqueue(hr, "api")

    assert refused.value.run == first and isinstance(refused.value, runs.RunRefused)
    assert f"run {first.pk}, queued" in str(refused.value)
    assert list(SyncRun.objects.values_list("status", flat=True)) == ["queued"]


def test_an_inline_sync_and_a_queued_run_exclude_each_other(acme, hr):
    queued = queue.enqueue(hr, "manual")
    with pytest.raises(runs.AlreadyRunning) as refused:
        runs.sync(hr, execution.configured_read(hr), trigger="cli")
    assert refused.value.run == queued
    execution.execute(queue.claim("w1"))

    def read_and_meet_a_scheduled_run():
        with pytest.raises(queue.AlreadyRunning, match="running"):
            queue.enqueue(hr, "schedule")
        return execution.configured_read(hr)()

    inline = runs.sync(hr, read_and_meet_a_scheduled_run, trigger="cli")

    assert inline.status == "succeeded" and SyncRun.objects.count() == 2


def test_claim_takes_the_oldest_due_run_and_leases_it(acme, settings):
    settings.LEASE_SECONDS = 30
    sources = [services.create_source(acme, f"s{n}", "csv", {}) for n in range(3)]
    queued = [queue.enqueue(s, "manual") for s in sources]
    now = timezone.now()
    SyncRun.objects.filter(pk=queued[0].pk).update(not_before=now + timedelta(minutes=1))

    claimed = [queue.claim("w1", now), queue.claim("w2", now), queue.claim("w3", now)]

    assert [r.pk if r else None for r in claimed] == [queued[1].pk, queued[2].pk, None]
    run = SyncRun.objects.get(pk=queued[1].pk)
    assert (run.status, run.lease_owner, run.started_at) == ("running", "w1", now)
    assert run.lease_expires_at == now + timedelta(seconds=30)
    assert queue.claim("w3", now + timedelta(minutes=1)).pk == queued[0].pk  # its backoff is over


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_claim_skips_the_run_another_worker_is_claiming_without_waiting(acme):
    queued = [queue.enqueue(services.create_source(acme, f"s{n}", "csv", {}), "manual")
              for n in range(2)]
    with locked_by_another_worker(SyncRun.objects.filter(pk=queued[0].pk)):
        started = time.monotonic()
        claimed = queue.claim("w2")
        waited = time.monotonic() - started

    assert claimed.pk == queued[1].pk and waited < 1


def test_a_claimed_run_executes_to_the_end_and_is_announced(acme, hr, monkeypatch):
    announced = []
    monkeypatch.setattr(runs, "run_finished", lambda run, retry=None, applied=None: announced.append(
        (run.pk, run.status, retry)))
    queued = queue.enqueue(hr, "manual")

    outcome = execution.execute(queue.claim("w1"))

    run = SyncRun.objects.get(pk=queued.pk)
    assert outcome.status == run.status == "succeeded" and run.counts["created"] == 6
    assert run.lease_expires_at is None and run.finished_at is not None
    assert active(acme).count() == 6
    assert announced == [(run.pk, "succeeded", None)]


# -- leases and the reaper ----------------------------------------------------------------------

def test_a_run_whose_worker_died_is_reaped_queued_again_and_then_completes(acme, hr, settings):
    settings.LEASE_SECONDS = 10
    queued = queue.enqueue(hr, "schedule")
    now = timezone.now()
    queue.claim("dead-worker", now)  # … and the worker dies before it applies anything

    assert reaper.reap(now + timedelta(seconds=9)) == []  # the lease still holds
    assert reaper.reap(now + timedelta(seconds=11)) == [queued]

    died = SyncRun.objects.get(pk=queued.pk)
    assert (died.status, died.error_code) == ("failed", "worker_lost")
    assert "dead-worker" in died.error_message and "nothing was changed" in died.error_message
    again = SyncRun.objects.get(status="queued")
    assert (again.attempt, again.retry_of_id, again.trigger) == (2, died.pk, "schedule")
    assert Contact.objects.count() == 0

    outcome = execution.execute(queue.claim("w2"))

    assert outcome.status == "succeeded" and outcome.run.pk == again.pk
    assert active(acme).count() == 6 and active_runs(hr) == 0


def test_a_heartbeat_keeps_the_lease(hr, settings):
    settings.LEASE_SECONDS = 10
    queue.enqueue(hr, "manual")
    now = timezone.now()
    run = queue.claim("w1", now)

    assert leases.renew(run, now + timedelta(seconds=8))
    assert reaper.reap(now + timedelta(seconds=15)) == []
    assert SyncRun.objects.get(pk=run.pk).lease_expires_at == now + timedelta(seconds=18)


def test_inline_runs_of_a_dead_command_are_failed_not_replayed(acme, hr, settings):
    outcome = import_csv(acme, csv_bytes(*PEOPLE))
    SyncRun.objects.filter(pk=outcome.run.pk).update(status="running",
                                                     lease_expires_at=timezone.now())

    reaper.reap(timezone.now() + timedelta(seconds=1))

    run = SyncRun.objects.get(pk=outcome.run.pk)
    assert (run.status, run.error_hint) == ("failed", "send the data again")
    assert active_runs(run.source) == 0


def test_after_the_last_attempt_a_dead_worker_fails_the_run_for_good(hr):
    queue.enqueue(hr, "manual")
    now = timezone.now()
    for attempt in range(1, retries.max_attempts() + 1):
        run = queue.claim(f"w{attempt}", now)
        assert run.attempt == attempt
        now += timedelta(minutes=5)
        reaper.reap(now)

    assert active_runs(hr) == 0
    last = SyncRun.objects.filter(source=hr).order_by("-attempt").first()
    assert last.attempt == 4 and "4 attempts failed" in last.error_hint


def test_a_worker_that_lost_its_lease_records_nothing(acme, hr, settings):
    settings.LEASE_SECONDS = 10
    queue.enqueue(hr, "manual")
    now = timezone.now()
    stalled = queue.claim("stalled", now)
    reaper.reap(now + timedelta(seconds=11))  # taken over while the worker was paused

    with pytest.raises(runs.RunRefused, match="lost its lease"):
        runs.perform(stalled, execution.configured_read(hr))

    assert Contact.objects.count() == 0  # its apply was rolled back
    assert SyncRun.objects.get(pk=stalled.pk).error_code == "worker_lost"  # not overwritten
    assert SyncRun.objects.get(status="queued").attempt == 2


def test_an_inline_run_holds_a_lease_until_it_ends(acme, hr):
    seen = {}

    def read():
        seen.update(SyncRun.objects.filter(source=hr).values("status", "lease_owner",
                                                             "lease_expires_at").get())
        return execution.configured_read(hr)()

    outcome = runs.sync(hr, read, trigger="cli")

    assert seen["status"] == "running" and seen["lease_owner"].startswith("inline-cli:")
    assert seen["lease_expires_at"] > timezone.now()
    assert SyncRun.objects.get(pk=outcome.run.pk).lease_expires_at is None


def test_an_interrupted_inline_run_is_cancelled(acme, hr):
    def interrupted():
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        runs.sync(hr, interrupted, trigger="cli")

    run = SyncRun.objects.get()
    assert (run.status, run.error_code) == ("cancelled", "cancelled") and active_runs(hr) == 0


@pytest.mark.django_db(transaction=True)  # the heartbeat writes from its own thread
def test_the_heartbeat_thread_renews_the_lease_while_the_run_works(acme, hr, settings):
    settings.LEASE_SECONDS = 0.6
    queue.enqueue(hr, "manual")
    run = queue.claim("w1")
    first = run.lease_expires_at

    with leases.Heartbeat(run) as heartbeat:
        time.sleep(0.7)

    assert not heartbeat.lost
    assert SyncRun.objects.get(pk=run.pk).lease_expires_at > first + timedelta(seconds=0.2)


# -- retries ------------------------------------------------------------------------------------

def test_connection_failures_are_retried_with_backoff_and_each_attempt_is_recorded(unreachable):
    queue.enqueue(unreachable, "schedule")
    assert retries.delays() == (60, 300, 900)

    waits = []
    run = queue.claim("w1")
    while run is not None:
        execution.execute(run)
        failed = SyncRun.objects.get(pk=run.pk)
        following = SyncRun.objects.filter(source=unreachable, status="queued").first()
        if following is None:
            break
        waits.append(round((following.not_before - failed.finished_at).total_seconds()))
        assert queue.claim("w1") is None  # not before its backoff
        run = queue.claim("w1", following.not_before)

    attempts = list(SyncRun.objects.filter(source=unreachable).order_by("attempt"))
    assert waits == [60, 300, 900]
    assert [(r.attempt, r.status, r.error_code) for r in attempts] == [
        (n, "failed", "unreachable") for n in (1, 2, 3, 4)]
    assert {r.retry_of_id for r in attempts[1:]} == {attempts[0].pk}
    assert all(r.connection["ok"] is False and "cannot be reached" in r.connection["reason"]
               for r in attempts)
    assert "attempt 2 (run" in attempts[0].notices[-1] and not attempts[3].notices


def test_a_configuration_error_fails_at_once_with_its_hint(acme):
    source = services.create_source(acme, "uploads", "csv", {})  # reads uploads: no file path
    queue.enqueue(source, "schedule")

    outcome = execution.execute(queue.claim("w1"))

    run = SyncRun.objects.get()
    assert outcome.status == run.status == "failed" and active_runs(source) == 0
    assert run.error_code == "no_file" and "upload a file" in run.error_hint


def test_sync_now_during_a_backoff_moves_the_retry_to_now(unreachable):
    queue.enqueue(unreachable, "schedule")
    execution.execute(queue.claim("w1"))
    retry = SyncRun.objects.get(status="queued")

    with pytest.raises(queue.AlreadyRunning, match="retry was waiting and starts now"):
        queue.enqueue(unreachable, "manual")

    assert queue.claim("w1").pk == retry.pk


# -- the scheduler ------------------------------------------------------------------------------

def test_the_tick_queues_a_due_source_once(acme, hr):
    services.edit_source(hr, schedule="every_hours", schedule_hours=1)
    hr.refresh_from_db()
    now = hr.next_run_at + timedelta(seconds=5)
    assert hr.next_run_at.minute == 1 and hr.next_run_at > timezone.now()

    queued = scheduler.tick(now)
    again = scheduler.tick(now)

    assert [r.trigger for r in queued] == ["schedule"] and again == []
    assert Source.objects.get(pk=hr.pk).next_run_at == hr.next_run_at + timedelta(hours=1)


def test_two_schedulers_that_read_the_same_due_source_queue_one_run(acme, hr):
    services.edit_source(hr, schedule="every_hours", schedule_hours=3)
    stale = Source.objects.select_related("organization").get(pk=hr.pk)
    now = stale.next_run_at + timedelta(seconds=5)

    assert scheduler._tick(stale, now) is not None
    assert scheduler._tick(stale, now) is None  # its compare-and-set finds the value moved

    assert SyncRun.objects.count() == 1


def test_a_due_source_with_an_active_run_is_not_queued_twice(acme, hr):
    services.edit_source(hr, schedule="every_hours", schedule_hours=2)
    hr.refresh_from_db()
    running = queue.enqueue(hr, "manual")

    assert scheduler.tick(hr.next_run_at) == []

    assert list(SyncRun.objects.all()) == [running]
    assert Source.objects.get(pk=hr.pk).next_run_at == hr.next_run_at + timedelta(hours=2)


def test_the_tick_skips_manual_and_disabled_sources_and_starts_new_schedules(acme, hr):
    now = timezone.now()
    Source.objects.filter(pk=hr.pk).update(next_run_at=now - timedelta(hours=1))
    assert scheduler.tick(now) == []  # manual

    Source.objects.filter(pk=hr.pk).update(schedule="every_hours", schedule_hours=24,
                                           enabled=False)
    assert scheduler.tick(now) == []  # disabled

    Source.objects.filter(pk=hr.pk).update(enabled=True, next_run_at=None)
    assert scheduler.tick(now) == []  # a new schedule gets its first time, and waits for it
    assert Source.objects.get(pk=hr.pk).next_run_at > now


def test_a_new_time_zone_moves_the_scheduled_runs_to_its_hours_but_keeps_a_due_one(acme, hr):
    services.edit_source(hr, schedule="every_hours", schedule_hours=24)  # at midnight, local
    due = services.create_source(acme, "due", "csv", {"path": "/nonexistent.csv"},
                                 schedule="every_hours", schedule_hours=24)
    overdue = timezone.now() - timedelta(minutes=5)
    Source.objects.filter(pk=due.pk).update(next_run_at=overdue)
    hr.refresh_from_db()
    assert hr.next_run_at.astimezone(ZoneInfo("UTC")).hour == 0

    edit_organization(acme, time_zone="Asia/Tokyo")

    moved = Source.objects.get(pk=hr.pk).next_run_at
    assert moved.astimezone(ZoneInfo("Asia/Tokyo")).hour == 0
    assert timezone.now() < moved <= timezone.now() + timedelta(days=1)
    assert Source.objects.get(pk=due.pk).next_run_at == overdue


def test_after_last_counts_from_the_start_of_any_sync_so_a_forced_one_moves_it(acme, hr):
    services.edit_source(hr, schedule="after_last")
    hr.refresh_from_db()
    assert hr.next_run_at <= timezone.now()  # never ran: due at once

    scheduled = scheduler.tick(timezone.now())[0]
    started = timezone.now()
    execution.execute(queue.claim("w1", started))
    assert Source.objects.get(pk=hr.pk).next_run_at == started + timedelta(hours=24)

    forced = runs.sync(hr, execution.configured_read(hr), trigger="manual")  # "Force Sync"

    assert scheduled.trigger == "schedule"
    assert Source.objects.get(pk=hr.pk).next_run_at == forced.run.started_at + timedelta(hours=24)


def test_a_retry_does_not_move_a_schedule_of_24_hours_after_the_last_sync(unreachable):
    services.edit_source(unreachable, schedule="after_last")
    first = queue.enqueue(unreachable, "schedule")
    execution.execute(queue.claim("w1"))
    moved = Source.objects.get(pk=unreachable.pk).next_run_at

    queue.claim("w1", timezone.now() + timedelta(minutes=2))

    assert moved == SyncRun.objects.get(pk=first.pk).started_at + timedelta(hours=24)
    assert Source.objects.get(pk=unreachable.pk).next_run_at == moved


# -- the worker loop ----------------------------------------------------------------------------

def test_worker_once_runs_due_schedules_and_queued_runs(acme, hr, tmp_path):
    other = services.create_source(acme, "other", "csv", {"path": str(tmp_path / "none.csv")})
    queue.enqueue(other, "manual")
    Source.objects.filter(pk=hr.pk).update(schedule="every_hours", schedule_hours=1,
                                           next_run_at=timezone.now() - timedelta(minutes=1))

    executed = Worker(name="test").run(once=True)

    assert executed == 2
    assert dict(SyncRun.objects.values_list("source__name", "status")) == {
        "hr": "succeeded", "other": "failed"}
    assert active(acme).count() == 6


def test_the_worker_command_runs_once(acme, hr, monkeypatch):
    monkeypatch.setenv("USERSYNC_LOG_LEVEL", "WARNING")  # else it logs at INFO from now on
    queue.enqueue(hr, "api")

    assert main(["worker", "--once"]) == 0
    assert SyncRun.objects.get().status == "succeeded"


def _succeeded_yet() -> bool:
    """Whether a run succeeded, asked while the worker's threads write. On SQLite the tests'
    in-memory database is one shared cache, where a reader is refused at once ("table is locked")
    while another connection's transaction has written the table: not yet, then."""
    try:
        return SyncRun.objects.filter(status="succeeded").exists()
    except OperationalError as error:
        if "locked" not in str(error):
            raise
        return False


@pytest.mark.django_db(transaction=True)
def test_a_worker_with_threads_stops_when_told(acme, hr, settings):
    worker = Worker(name="threads", concurrency=2, poll_seconds=0.05, tick_seconds=0.05)
    thread = threading.Thread(target=worker.run)
    thread.start()
    queue.enqueue(hr, "manual")
    deadline = time.monotonic() + 20
    while not _succeeded_yet() and time.monotonic() < deadline:
        time.sleep(0.05)
    worker.stop.set()
    thread.join(10)

    assert not thread.is_alive() and worker.executed == 1
    assert state(acme) == {(f"E{n:04d}", f"person{n}@acme.example", "Sales", "active",
                            "headquarters" if n % 2 else "warehouse") for n in range(1, 7)}
