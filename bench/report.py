"""The bench's results as a table (rich), as the issue's JSON, and against the goals."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

from .scenarios import Outcome, Result

#: The issue's goals at 100,000 users: the largest ratio to the ldapsearch baseline.
RATIO_GOALS = {"initial": 4.0, "unchanged": 3.0, "incremental": 0.5}
RSS_GOAL_MB = 300
SIGNS = {"created": "+", "updated": "~", "archived": "-"}


def ratio(result: Result, outcome: Outcome) -> float | None:
    return None if result.seconds is None else result.seconds / outcome.baseline_s


def to_json(outcome: Outcome) -> dict:
    """``{"users", "baseline_s", "results": [{"db", "scenario", "seconds", "ratio",
    "peak_rss_mb", "checkpoint_s"}]}``; a scenario that is not available has nulls."""
    return {
        "users": outcome.users,
        "baseline_s": round(outcome.baseline_s, 3),
        "results": [
            {"db": r.db, "scenario": r.scenario,
             "seconds": None if r.seconds is None else round(r.seconds, 3),
             "ratio": None if r.seconds is None else round(ratio(r, outcome), 2),
             "peak_rss_mb": None if r.peak_rss_mb is None else round(r.peak_rss_mb, 1),
             "checkpoint_s": None if r.checkpoint_s is None else round(r.checkpoint_s, 3)}
            for r in outcome.results
        ],
    }


def write_json(outcome: Outcome, path: Path) -> None:
    path.write_text(json.dumps(to_json(outcome), indent=2) + "\n")


def table(outcome: Outcome) -> Table:
    n = outcome.users
    grid = Table(title_justify="left", title=f"usersync bench: {n:,} users (slapd loaded in {outcome.load_s:.1f} s)")
    for name in ("db", "scenario", "seconds", "ratio", "entries/s", "peak RSS MB", "cpu s",
                 "checkpoint s", "process s", "counts"):
        grid.add_column(name, justify="left" if name in ("db", "scenario", "counts") else "right")
    grid.add_row("—", "ldapsearch (baseline)", f"{outcome.baseline_s:.2f}", "1.00",
                 f"{n / outcome.baseline_s:,.0f}", "", "", "", "", "")
    for r in outcome.results:
        if r.seconds is None:
            grid.add_row(r.db, r.scenario, "", "", "", "", "", "", "", r.note)
            continue
        counts = " ".join(f"{SIGNS.get(k, k + ' ')}{v}" for k, v in r.counts.items()
                          if k != "unchanged")
        grid.add_row(r.db, r.scenario, f"{r.seconds:.2f}", f"{ratio(r, outcome):.2f}",
                     f"{n / r.seconds:,.0f}", f"{r.peak_rss_mb:.0f}", f"{r.cpu_s:.2f}",
                     f"{r.checkpoint_s or 0:.2f}", f"{r.process_s:.2f}",
                     r.note or counts or "no change")
    return grid


def goals(outcome: Outcome) -> list[str]:
    lines = []
    for r in outcome.results:
        goal = RATIO_GOALS.get(r.scenario)
        if goal is None or r.seconds is None:
            continue
        met = ratio(r, outcome) <= goal
        lines.append(f"{'met' if met else 'NOT met'}: {r.db} {r.scenario} "
                     f"{ratio(r, outcome):.2f}× ≤ {goal}×")
    worst = max((r.peak_rss_mb for r in outcome.results if r.peak_rss_mb), default=0)
    lines.append(f"{'met' if worst <= RSS_GOAL_MB else 'NOT met'}: peak RSS {worst:.0f} MB ≤ "
                 f"{RSS_GOAL_MB} MB")
    return lines


def show(outcome: Outcome, console: Console) -> None:
    console.print(table(outcome))
    console.print("seconds: the sync, timed inside a process that has Django set up (as in a "
                  "worker), until the run is committed; cpu s: the CPU time it used; "
                  "checkpoint s: then, SQLite's checkpoint of the run's pages, on a thread; "
                  "process s: the whole child process, start-up included; ratio: seconds / "
                  "ldapsearch; entries/s: directory size / seconds; counts: +created ~updated "
                  "-archived.")
    if outcome.users == 100_000:
        for line in goals(outcome):
            console.print(line)
