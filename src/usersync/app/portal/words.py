"""How the portal says stored values in an admin's words: run triggers, read kinds, counts.
The template filters of ``templatetags/portal_tags.py`` and the views' messages both use these."""

from __future__ import annotations

from usersync.app.directory.models import Trigger

#: What started a run, as the portal names it (the stored values are for machines and the API).
TRIGGER_LABELS = {
    Trigger.MANUAL: "Sync now",
    Trigger.SCHEDULE: "Schedule",
    Trigger.UPLOAD: "Upload",
    Trigger.CLI: "Command line",
    Trigger.API: "API",
    Trigger.AGENT: "Agent",
    Trigger.SCIM: "SCIM",
}
#: A plan's ``kind``, as its badge says it.
READ_KINDS = {"full": "Full read", "delta": "Incremental"}


def trigger_label(value: str) -> str:
    return TRIGGER_LABELS.get(value, str(value).replace("_", " ").capitalize())


def read_kind(value: str) -> str:
    return READ_KINDS.get(value, str(value).capitalize())


def thousands(value) -> str:
    """1638 → "1,638"."""
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return "" if value is None else str(value)


def counted(number: int, singular: str, plural: str | None = None) -> str:
    """"1 run", "2 runs", "1,638 entries" (``plural`` when adding an "s" is wrong)."""
    word = singular if number == 1 else plural or f"{singular}s"
    return f"{thousands(number)} {word}"


def changes_text(counts: dict | None) -> str:
    """A run's counts that are not zero: "created 205, skipped 6"."""
    return ", ".join(f"{key} {thousands(n)}" for key, n in (counts or {}).items() if n)
