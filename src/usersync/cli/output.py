"""How commands talk: progress on a terminal, plain lines otherwise, summaries as text or JSON."""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from typing import Iterator

from rich.console import Console

from usersync.app.sync.runs import Outcome, errors_of
from usersync.core.plan import Op

from . import EXIT_BLOCKED, EXIT_FAILED

err = Console(stderr=True, highlight=False)


@contextmanager
def progress(enabled: bool = True) -> Iterator:
    """A status line that follows the run's stages on a terminal; plain lines when piped."""
    if not enabled:
        yield lambda stage: None
    elif sys.stderr.isatty():
        with err.status("starting") as status:
            yield lambda stage: status.update(stage)
    else:
        yield lambda stage: print(f"usersync: {stage}", file=sys.stderr)


def summary_data(outcome: Outcome) -> dict:
    plan = outcome.plan
    data = {
        "run": outcome.run.pk if outcome.run else None,
        "status": outcome.status,
        "counts": plan.counts if plan else {},
        "errors": errors_of(plan) if plan else [],
        "conflicts": [{"line": o.line, "record": o.label, "message": o.reason,
                       "candidates": list(o.candidates)} for o in plan.of(Op.CONFLICT)] if plan else [],
        "notices": outcome.notices,
    }
    if plan and plan.blocked:
        data["blocked_reason"] = plan.blocked
    if outcome.error:
        data["error"] = {"code": outcome.error.code, "message": outcome.error.message,
                         "hint": outcome.error.hint}
    return data


def report(outcome: Outcome, as_json: bool, org_slug: str) -> int:
    """Print the outcome; return the exit code it deserves."""
    data = summary_data(outcome)
    if as_json:
        print(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        _print_text(data, org_slug)
    if outcome.status == "failed":
        return EXIT_FAILED
    if outcome.status == "blocked":
        return EXIT_BLOCKED
    return 0


def _print_text(data: dict, org_slug: str) -> None:
    counts = data["counts"]
    run = f"Run {data['run']}" if data["run"] else "Preview (nothing written)"
    if data.get("error"):
        error = data["error"]
        print(f"{run} failed: {error['message']}")
        if error["hint"]:
            print(f"  What to do: {error['hint']}")
        return
    shown = ", ".join(f"{counts[k]} {k}" for k in ("created", "updated", "linked", "reactivated",
                      "archived", "unchanged", "conflicts", "errors", "skipped") if counts.get(k))
    print(f"{run} {data['status']}: {shown or 'nothing to do'}")
    for notice in data["notices"]:
        print(f"  note: {notice}")
    for error in data["errors"]:
        where = f"line {error['line']}" if error["line"] else error.get("record", "")
        print(f"  error: {where}: {error['message']}")
    for conflict in data["conflicts"]:
        print(f"  conflict: {conflict['record']}: {conflict['message']}")
    if data["status"] == "blocked":
        print(f"\nBLOCKED by a safeguard: {data['blocked_reason']}.")
        print("Nothing was changed. To apply exactly this plan:")
        print(f"  usersync approve --org {org_slug} --run {data['run']}")
        print(f"To discard it:  usersync reject --org {org_slug} --run {data['run']}")
