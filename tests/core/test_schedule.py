"""When scheduled runs are due: :01 every N hours in the organization's time zone, 24 hours after
the last sync, across daylight saving time changes. A fake clock: every ``now`` is given."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from usersync.core.schedule import (
    AFTER_LAST,
    EVERY_HOURS,
    MANUAL,
    ScheduleError,
    next_run,
    slot_hours,
)

UTC = timezone.utc
BERLIN, NEW_YORK = ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York")
ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"]


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def local(text: str, tz: ZoneInfo, fold: int = 0) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=tz, fold=fold)


def runs_from(hours: int, tz: str, now: datetime, count: int) -> list[datetime]:
    """The next ``count`` runs after ``now``, each computed from the previous one."""
    found = []
    for _ in range(count):
        now = next_run(EVERY_HOURS, hours, tz, now, None)
        found.append(now)
    return found


@pytest.mark.parametrize("hours, expected", [
    (1, tuple(range(24))),
    (2, (0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22)),
    (3, (0, 3, 6, 9, 12, 15, 18, 21)),
    (5, (0, 5, 10, 15, 20)),
    (7, (0, 7, 14, 21)),
    (24, (0,)),
])
def test_the_hours_of_the_day_each_interval_runs_at(hours, expected):
    assert slot_hours(hours) == expected


@pytest.mark.parametrize("hours, now, expected", [
    (1, "2025-06-10T10:00:30", "2025-06-10T10:01:00"),
    (1, "2025-06-10T10:01:00", "2025-06-10T11:01:00"),  # strictly after now
    (1, "2025-06-10T23:30:00", "2025-06-11T00:01:00"),
    (2, "2025-06-10T11:30:00", "2025-06-10T12:01:00"),
    (2, "2025-06-10T12:00:59", "2025-06-10T12:01:00"),
    (3, "2025-06-10T13:30:00", "2025-06-10T15:01:00"),
    (5, "2025-06-10T20:30:00", "2025-06-11T00:01:00"),  # the count starts again at midnight
    (5, "2025-06-10T00:02:00", "2025-06-10T05:01:00"),
    (7, "2025-06-10T14:02:00", "2025-06-10T21:01:00"),
    (7, "2025-06-10T21:30:00", "2025-06-11T00:01:00"),
    (24, "2025-06-10T00:00:00", "2025-06-10T00:01:00"),
    (24, "2025-06-10T00:01:00", "2025-06-11T00:01:00"),
    (24, "2025-12-31T23:59:00", "2026-01-01T00:01:00"),
])
def test_every_n_hours_at_minute_one_in_utc(hours, now, expected):
    assert next_run(EVERY_HOURS, hours, "UTC", utc(now), None) == utc(expected)


def test_every_24_hours_runs_at_12_01_am_in_the_organizations_time_zone():
    now = local("2025-06-10T15:00", BERLIN)
    due = next_run(EVERY_HOURS, 24, "Europe/Berlin", now, None)

    assert due == local("2025-06-11T00:01", BERLIN) == utc("2025-06-10T22:01")
    assert due.tzinfo is UTC


def test_the_result_is_utc_and_does_not_depend_on_the_zone_now_is_given_in():
    in_utc = next_run(EVERY_HOURS, 3, "America/New_York", utc("2025-06-10T16:30"), None)
    in_tokyo = next_run(EVERY_HOURS, 3, "America/New_York",
                        utc("2025-06-10T16:30").astimezone(ZoneInfo("Asia/Tokyo")), None)
    assert in_utc == in_tokyo == local("2025-06-10T15:01", NEW_YORK)
    assert in_utc.utcoffset() == timedelta(0)


# -- daylight saving time ---------------------------------------------------------------------

@pytest.mark.parametrize("hours, tz, start, expected", [
    # Berlin springs forward on 2025-03-30 at 02:00 CET → 03:00 CEST: 02:01 does not exist. The
    # 02:01 slot runs at 03:01 CEST (shifted by the gap), once although 03:01 is a slot too.
    (1, "Europe/Berlin", "2025-03-29T22:30",
     ["2025-03-29T23:01", "2025-03-30T00:01", "2025-03-30T01:01", "2025-03-30T02:01"]),
    (2, "Europe/Berlin", "2025-03-29T22:30",
     ["2025-03-29T23:01", "2025-03-30T01:01", "2025-03-30T02:01", "2025-03-30T04:01"]),
    (3, "Europe/Berlin", "2025-03-29T22:30",
     ["2025-03-29T23:01", "2025-03-30T01:01", "2025-03-30T04:01", "2025-03-30T07:01"]),
    # Berlin falls back on 2025-10-26 at 03:00 CEST → 02:00 CET: 02:01 happens twice; it runs
    # the first time only (00:01 UTC), not again at 01:01 UTC.
    (1, "Europe/Berlin", "2025-10-25T22:30",
     ["2025-10-25T23:01", "2025-10-26T00:01", "2025-10-26T02:01", "2025-10-26T03:01"]),
    (2, "Europe/Berlin", "2025-10-25T21:30",
     ["2025-10-25T22:01", "2025-10-26T00:01", "2025-10-26T03:01", "2025-10-26T05:01"]),
    # Every 24 hours stays at 00:01 local: 23 real hours across spring, 25 across fall.
    (24, "Europe/Berlin", "2025-03-28T12:00",
     ["2025-03-28T23:01", "2025-03-29T23:01", "2025-03-30T22:01", "2025-03-31T22:01"]),
    (24, "Europe/Berlin", "2025-10-24T12:00",
     ["2025-10-24T22:01", "2025-10-25T22:01", "2025-10-26T23:01", "2025-10-27T23:01"]),
    # New York springs forward on 2025-03-09 at 02:00 EST → 03:00 EDT.
    (1, "America/New_York", "2025-03-09T05:30",
     ["2025-03-09T06:01", "2025-03-09T07:01", "2025-03-09T08:01"]),
    (5, "America/New_York", "2025-03-09T04:30",
     ["2025-03-09T05:01", "2025-03-09T09:01", "2025-03-09T14:01", "2025-03-09T19:01"]),
    # … and falls back on 2025-11-02 at 02:00 EDT → 01:00 EST: 01:01 runs once, at 05:01 UTC.
    (1, "America/New_York", "2025-11-02T03:30",
     ["2025-11-02T04:01", "2025-11-02T05:01", "2025-11-02T07:01", "2025-11-02T08:01"]),
    (7, "America/New_York", "2025-11-01T19:00",
     ["2025-11-02T01:01", "2025-11-02T04:01", "2025-11-02T12:01", "2025-11-02T19:01"]),
    (24, "America/New_York", "2025-03-08T00:00",
     ["2025-03-08T05:01", "2025-03-09T05:01", "2025-03-10T04:01"]),
    (24, "America/New_York", "2025-11-01T00:00",
     ["2025-11-01T04:01", "2025-11-02T04:01", "2025-11-03T05:01"]),
])
def test_runs_across_daylight_saving_time_changes(hours, tz, start, expected):
    assert runs_from(hours, tz, utc(start), len(expected)) == [utc(e) for e in expected]


def test_a_day_of_hourly_runs_across_each_change_has_one_run_per_distinct_local_hour():
    spring = runs_from(1, "Europe/Berlin", local("2025-03-30T00:00", BERLIN), 23)
    fall = runs_from(1, "Europe/Berlin", local("2025-10-26T00:00", BERLIN), 24)

    assert [r.astimezone(BERLIN).hour for r in spring] == [0, 1, *range(3, 24)]
    assert [r.astimezone(BERLIN).hour for r in fall] == list(range(24))  # 02:01 once, not twice
    assert all(r.astimezone(BERLIN).minute == 1 for r in spring + fall)


@settings(max_examples=300, deadline=None)
@given(
    hours=st.sampled_from([1, 2, 3, 4, 5, 6, 7, 8, 12, 13, 23, 24]),
    tz=st.sampled_from(ZONES),
    now=st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2027, 1, 1),
                     timezones=st.just(UTC)),
)
def test_the_next_run_is_the_first_slot_after_now(hours, tz, now):
    due = next_run(EVERY_HOURS, hours, tz, now, None)

    assert due > now and due - now <= timedelta(hours=25)
    assert is_slot(due, hours, ZoneInfo(tz))
    # Nothing due in between: one microsecond before the run, the same run is next.
    assert next_run(EVERY_HOURS, hours, tz, due - timedelta(microseconds=1), None) == due


def is_slot(instant: datetime, hours: int, tz: ZoneInfo) -> bool:
    """At :01 of a slot hour on the local clock; or a slot that did not exist that night (a
    spring-forward gap), read with the offset before the gap."""
    seen = instant.astimezone(tz)
    if seen.minute == 1 and seen.hour % hours == 0:
        return True
    for hour in slot_hours(hours):
        wall = seen.replace(hour=hour, minute=1, second=0, microsecond=0, fold=0)
        back = wall.astimezone(UTC).astimezone(tz)
        exists = back.replace(tzinfo=None) == wall.replace(tzinfo=None)
        if not exists and wall.astimezone(UTC) == instant:
            return True
    return False


# -- 24 hours after the last sync -------------------------------------------------------------

def test_after_last_is_24_hours_after_the_last_sync_started():
    assert next_run(AFTER_LAST, 24, "UTC", utc("2025-06-10T12:00"), utc("2025-06-10T09:30")) \
        == utc("2025-06-11T09:30")


def test_a_forced_sync_moves_the_next_one():
    scheduled = utc("2025-06-10T09:30")
    before = next_run(AFTER_LAST, 24, "UTC", utc("2025-06-10T12:00"), scheduled)
    forced = utc("2025-06-10T15:45")  # "Force Sync" in the afternoon

    after = next_run(AFTER_LAST, 24, "UTC", forced, forced)

    assert before == utc("2025-06-11T09:30")
    assert after == utc("2025-06-11T15:45")


def test_after_last_counts_24_real_hours_across_a_daylight_saving_change():
    last = local("2025-03-29T12:00", BERLIN)
    due = next_run(AFTER_LAST, 24, "Europe/Berlin", last, last)
    assert due == local("2025-03-30T13:00", BERLIN)  # 24 real hours: 13:00 on the wall clock


def test_after_last_is_due_at_once_when_overdue_or_never_run():
    now = utc("2025-06-10T12:00")
    assert next_run(AFTER_LAST, 24, "UTC", now, utc("2025-06-01T08:00")) == utc("2025-06-02T08:00")
    assert next_run(AFTER_LAST, 24, "UTC", now, None) == now


def test_manual_is_never_due():
    assert next_run(MANUAL, 24, "UTC", utc("2025-06-10T12:00"), None) is None


@pytest.mark.parametrize("kind, hours, tz, now, match", [
    (EVERY_HOURS, 0, "UTC", utc("2025-06-10T12:00"), "every 1 to 24 hours"),
    (EVERY_HOURS, 25, "UTC", utc("2025-06-10T12:00"), "every 1 to 24 hours"),
    (EVERY_HOURS, 1, "Mars/Olympus", utc("2025-06-10T12:00"), "unknown time zone"),
    (EVERY_HOURS, 1, "UTC", datetime(2025, 6, 10, 12), "aware datetime"),
    ("hourly", 1, "UTC", utc("2025-06-10T12:00"), "unknown kind"),
])
def test_bad_input_is_refused_with_a_reason(kind, hours, tz, now, match):
    with pytest.raises(ScheduleError, match=match):
        next_run(kind, hours, tz, now, None)
