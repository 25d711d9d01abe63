"""Safeguards: mass changes wait for a person.

A plan is blocked when the directory came back empty while the source manages active contacts,
or when it would archive more than the source's thresholds allow. The verdict is a sentence an
admin can act on, or ``None``.
"""

from __future__ import annotations

from dataclasses import dataclass

from .plan import Op, Plan
from .records import SnapshotKind


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Block when archiving more than ``percent`` of the source's active contacts *and* at least
    ``minimum`` of them, or more than ``maximum`` in any case."""

    percent: float = 20.0
    minimum: int = 10
    maximum: int = 500


def verdict(plan: Plan, thresholds: Thresholds) -> str | None:
    archives = sum(1 for o in plan.operations if o.op is Op.ARCHIVE)
    managed = plan.managed_active
    if plan.kind is SnapshotKind.FULL and plan.read == 0 and managed:
        return (f"the directory returned no users, but this source manages {managed} active "
                "contacts; check the source's scope, then approve the run if everyone really left")
    if not archives:
        return None
    if not plan.complete:  # planning never does this; a plan that does must not apply unseen
        return (f"this run would archive {archives} contacts although the read was not complete; "
                "run it again once the directory can be read in full")
    share = 100.0 * archives / managed if managed else 100.0
    if archives > thresholds.maximum or (share > thresholds.percent and archives >= thresholds.minimum):
        return (f"this run would archive {archives} of {managed} active contacts ({share:.0f}%), "
                f"more than the safeguard allows ({thresholds.percent:g}% and at least "
                f"{thresholds.minimum}, or more than {thresholds.maximum}); review the plan and "
                "approve it if these people really left")
    return None
