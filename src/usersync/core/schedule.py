"""When a source's next scheduled run is due: pure, with the clock passed in.

Three kinds of schedule (seeds 003 and 004):

- ``manual``: never; only "Sync now", the command line, an upload or the API start a run.
- ``every_hours`` (N in 1..24): at minute :01 of every local hour ``h`` with ``h % N == 0``, in the
  organization's time zone. N=1 runs at 0:01, 1:01, 2:01, …; N=24 runs at 0:01 ("if you have LDAP
  scheduled to run every 24 hours then it will run at 12:01am"); N=5 runs at 0:01, 5:01, 10:01,
  15:01 and 20:01 (the count starts again at midnight, so the last gap of a day may be shorter).
  Daylight saving time: a local time that does not exist (spring forward, e.g. 02:01 in Berlin on
  the last Sunday of March) runs at the same instant shifted by the gap (03:01 local), once even if
  another slot falls there; a local time that happens twice (fall back) runs once, the first time.
- ``after_last``: 24 hours after the *start* of the last sync, whatever started it. A forced sync
  ("Sync now") therefore moves the next scheduled one (seed 004: "the next sync will now happen
  24 hours after the forced sync"). The start, not the end, so that a long sync does not push
  the schedule later day after day, and so that the next run is known the moment a run starts.
  A source that never ran is due at once.

``next_run`` returns an aware UTC datetime, or ``None`` for a manual schedule.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MANUAL, EVERY_HOURS, AFTER_LAST = "manual", "every_hours", "after_last"
KINDS = (MANUAL, EVERY_HOURS, AFTER_LAST)
RUN_MINUTE = 1
AFTER_LAST_INTERVAL = timedelta(hours=24)
MIN_HOURS, MAX_HOURS = 1, 24


class ScheduleError(ValueError):
    """The schedule cannot be computed: an unknown kind or time zone, hours out of range."""


def zone(name: str | tzinfo) -> tzinfo:
    """The time zone called ``name`` (an IANA name such as ``Europe/Berlin``)."""
    if isinstance(name, tzinfo):
        return name
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(f"unknown time zone {name!r} (use an IANA name such as "
                            "Europe/Berlin or America/New_York)") from None


def slot_hours(hours: int) -> tuple[int, ...]:
    """The local hours of the day an ``every_hours`` schedule runs at."""
    if not MIN_HOURS <= hours <= MAX_HOURS:
        raise ScheduleError(f"a schedule runs every {MIN_HOURS} to {MAX_HOURS} hours, not {hours}")
    return tuple(h for h in range(24) if h % hours == 0)


def next_run(
    kind: str, hours: int, tz: str | tzinfo, now: datetime, last_run_at: datetime | None
) -> datetime | None:
    """When the next scheduled run of a source is due (aware, UTC), or ``None`` (manual).

    ``every_hours``: the first slot strictly after ``now``. ``after_last``: ``last_run_at`` (the
    start of the last sync) plus 24 hours, which may be at or before ``now`` (due: run it), or
    ``now`` when there was no sync yet."""
    _aware(now, "now")
    if kind == MANUAL:
        return None
    if kind == AFTER_LAST:
        if last_run_at is None:
            return now.astimezone(timezone.utc)
        _aware(last_run_at, "last_run_at")
        # In UTC: adding to a local time would add wall-clock hours (23 or 25 real ones across a
        # daylight saving time change).
        return last_run_at.astimezone(timezone.utc) + AFTER_LAST_INTERVAL
    if kind == EVERY_HOURS:
        return _next_slot(slot_hours(hours), zone(tz), now)
    raise ScheduleError(f"unknown kind of schedule {kind!r} (known: {', '.join(KINDS)})")


def _next_slot(hours: tuple[int, ...], tz: tzinfo, now: datetime) -> datetime:
    """The earliest slot instant after ``now``. Slots are looked for from the local day before
    ``now`` (a shifted spring-forward slot can fall after a later wall-clock time) on."""
    today = now.astimezone(tz).date()
    after = now.astimezone(timezone.utc)
    for offset in range(-1, 3):
        day = today + timedelta(days=offset)
        instants = sorted(_instant(day, h, tz) for h in hours)
        for instant in instants:
            if instant > after:
                return instant
    raise AssertionError("a schedule always has a slot within two days")  # pragma: no cover


def _instant(day: date, hour: int, tz: tzinfo) -> datetime:
    """The UTC instant of local ``day`` at ``hour``:01. ``fold=0`` is PEP 495's choice: the first
    of two repeated times, and a time in a gap read with the offset before it (shifted by the
    gap)."""
    local = datetime(day.year, day.month, day.day, hour, RUN_MINUTE, tzinfo=tz, fold=0)
    return local.astimezone(timezone.utc)


def _aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ScheduleError(f"{name} must be an aware datetime (with a time zone), not {value!r}")
