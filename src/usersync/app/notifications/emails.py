"""Which emails the end of a run sends, and sending them once the run is committed.

To the organization's notification addresses, at most one email per run, chosen by what happened
and by ``Organization.notify_on`` (``admin_email``):

    run                               every_run   changes    problems
    failed (its last attempt)         failure     failure    failure
    blocked by a safeguard            blocked     blocked    blocked
    succeeded, changed something      summary     summary    -
    succeeded, changed nothing        summary     -          -
    cancelled (nothing changed)       failure     -          -

A failed run that will be retried sends nothing: its last attempt tells. A blocked run that is
approved later ends again (succeeded) and sends its summary then. And to each contact a run
created, when the source's welcome email is on, a welcome email — never to a contact without an
email address.

``run_finished`` runs in the run's transaction and only registers ``transaction.on_commit``: a
run that is rolled back sends nothing, and no SMTP conversation ever holds the database's write
lock. After the commit the emails are rendered from templates (text and HTML) and sent in the
same thread over one connection, each SMTP step bounded by ``USERSYNC_SMTP_TIMEOUT``. Why not a
background thread or an outbox table: a thread can die with its process (a command that exits)
and could not record its failures in the run; an outbox needs a table and a chore. What it costs
is that whoever ended the run (a worker, a "Sync now" request, a command) waits for the mail
server after the run is saved — bounded by the timeout. A failure to send is logged and added to
the run's notices, where the run page and the command line show it; it never changes the run.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from email.message import EmailMessage
from functools import partial
from pathlib import Path
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.template import Context, Engine
from django.urls import reverse
from django.utils import timezone

from usersync.app.directory.models import Contact, RunStatus, Source, SyncRun
from usersync.app.orgs.models import NotifyOn, Organization
from usersync.app.sync import history
from usersync.app.sync.apply import Applied
from usersync.core.plan import COUNT_KEYS, Op

from . import mail

log = logging.getLogger("usersync.emails")

SUMMARY, BLOCKED, FAILURE, WELCOME = "summary", "blocked", "failure", "welcome"
#: The counts that mean a run changed contacts.
CHANGES = ("created", "updated", "linked", "reactivated", "archived")
#: Errors, conflicts and names listed in one email; the run page lists them all.
SHOWN = 50
SHOWN_NAMES = 10
_BATCH = 2000
_TEMPLATES = Engine(dirs=[str(Path(__file__).parent / "templates")])


@dataclass(frozen=True)
class Letter:
    """One email to write: ``template`` names its .txt and .html under notifications/."""

    template: str
    to: tuple[str, ...]
    subject: str
    context: dict


def run_finished(run: SyncRun, retry: SyncRun | None, applied: Applied | None) -> None:
    """Send the run's emails once its transaction commits (nothing if it rolls back)."""
    if run.status == RunStatus.FAILED and retry is not None:
        return  # the next attempt may succeed: the last one tells
    created = tuple(applied.created) if applied is not None else ()
    transaction.on_commit(partial(send_after_commit, run, created), robust=True)


def admin_email(status: str, notify_on: str, changed: bool) -> str | None:
    """Which email the notification addresses get about a run's (final) end; None: none."""
    if status == RunStatus.BLOCKED:
        return BLOCKED
    if status == RunStatus.FAILED:
        return FAILURE
    every_run = notify_on == NotifyOn.EVERY_RUN
    if status == RunStatus.SUCCEEDED and notify_on != NotifyOn.PROBLEMS:
        return SUMMARY if changed or every_run else None
    return FAILURE if status == RunStatus.CANCELLED and every_run else None


def changed(counts: dict) -> bool:
    return any(counts.get(key) for key in CHANGES)


def send_after_commit(run: SyncRun, created: tuple[int, ...]) -> None:
    try:
        letters = letters_for(run, created)
        if letters:
            deliver(run, letters)
    except Exception:  # an email never fails a run, nor whatever comes after it
        log.exception("run %s: its emails failed", run.pk)


def letters_for(run: SyncRun, created: tuple[int, ...]) -> list[Letter]:
    org = Organization.objects.get(pk=run.organization_id)
    source = Source.objects.filter(pk=run.source_id).first()
    if source is None:
        return []
    letters = []
    what = admin_email(run.status, org.notify_on, changed(run.counts or {}))
    if what and org.notification_emails:
        subject, context = _ABOUT[what](run, org, source)
        letters.append(Letter(what, tuple(org.notification_emails), subject, context))
    if created and source.welcome_email:
        letters.extend(welcome_letters(org, created))
    return letters


def deliver(run: SyncRun, letters: list[Letter]) -> None:
    """Send ``letters`` through the configured server; log and note on the run what failed."""
    if not settings.SMTP_URL:
        # INFO, not a warning: running without email is a choice (the demo makes it)
        log.info("run %s: %s not sent: no mail server is configured (set USERSYNC_SMTP_URL; "
                 "docs/email.md)", run.pk, _describe(letters))
        return
    failed: dict[int, mail.MailError] = {}
    try:
        server = mail.parse_url(settings.SMTP_URL)
        context = mail.tls_context(settings.SMTP_CA_FILE)
    except mail.MailError as error:
        failed = dict.fromkeys(range(len(letters)), error)
    else:
        built = {}
        for index, letter in enumerate(letters):
            try:
                built[index] = _message(letter)
            except mail.MailError as error:
                failed[index] = error
        if built:
            positions = list(built)
            unsent = mail.send(server, list(built.values()), context, settings.SMTP_TIMEOUT)
            failed.update({positions[i]: error for i, error in unsent.items()})
    sent = [letter for index, letter in enumerate(letters) if index not in failed]
    if sent:
        log.info("run %s: sent %s", run.pk, _describe(sent))
    if failed:
        _note_failures(run, letters, failed)


def welcome_letters(org: Organization, created: tuple[int, ...]) -> list[Letter]:
    """A welcome email to each of these new contacts of ``org`` that has an email address."""
    letters = []
    for start in range(0, len(created), _BATCH):
        contacts = (Contact.objects.filter(organization=org, pk__in=created[start:start + _BATCH])
                    .exclude(email="").select_related("location").order_by("pk"))
        letters.extend(Letter(WELCOME, (c.email,), f"Welcome to {org.name}",
                              {"org": org, "contact": c, "location": c.location})
                       for c in contacts)
    return letters


def render(letter: Letter) -> tuple[str, str]:
    """The letter's plain text and HTML (only the HTML is escaped)."""
    name = f"notifications/{letter.template}"
    text = _TEMPLATES.get_template(f"{name}.txt").render(Context(letter.context, autoescape=False))
    html = _TEMPLATES.get_template(f"{name}.html").render(Context(letter.context))
    return text, html


def _message(letter: Letter) -> EmailMessage:
    text, html = render(letter)
    return mail.message(settings.FROM_EMAIL, letter.to, letter.subject, text, html)


def _note_failures(run: SyncRun, letters: list[Letter], failed: dict[int, mail.MailError]) -> None:
    """Log each failure once, and tell the run (its page and the command line show notices)."""
    by_error = Counter((letters[i].template, str(error)) for i, error in failed.items())
    for (template, error), count in by_error.items():
        log.warning("run %s: %s not sent: %s", run.pk, _plural(count, f"{template} email"), error)
    notes = []
    for index, error in sorted(failed.items()):
        letter = letters[index]
        if letter.template != WELCOME:
            notes.append(f"the {letter.template} email to {', '.join(letter.to)} was not sent: "
                         f"{error}")
    welcomes = [i for i, letter in enumerate(letters) if letter.template == WELCOME]
    unsent = [i for i in welcomes if i in failed]
    if unsent:
        notes.append(f"the welcome email was not sent to {len(unsent)} of {len(welcomes)} new "
                     f"contacts ({', '.join(letters[i].to[0] for i in unsent[:SHOWN_NAMES])}"
                     f"{', …' if len(unsent) > SHOWN_NAMES else ''}): {failed[unsent[0]]}")
    run.notices.extend(notes)  # the caller's run (and its outcome) shows them too
    with transaction.atomic():
        row = SyncRun.objects.select_for_update().filter(pk=run.pk).first()
        if row is not None:
            SyncRun.objects.filter(pk=run.pk).update(notices=[*row.notices, *notes])


def _describe(letters: list[Letter]) -> str:
    kinds = Counter(letter.template for letter in letters)
    return ", ".join(_plural(n, f"{kind} email") for kind, n in kinds.items())


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


# -- what each email to the notification addresses says ----------------------------------------

def _common(run: SyncRun, org: Organization, source: Source) -> dict:
    finished = timezone.localtime(run.finished_at or timezone.now(), ZoneInfo(org.time_zone))
    return {
        "org": org, "source": source, "run": run,
        "run_url": settings.BASE_URL + reverse("portal:run", args=[org.slug, run.pk]),
        "finished": f"{finished:%Y-%m-%d %H:%M} ({org.time_zone})",
        "trigger": run.get_trigger_display(), "notices": list(run.notices or ()),
    }


def _summary(run: SyncRun, org: Organization, source: Source) -> tuple[str, dict]:
    counts = run.counts or {}
    shown = [(counts[key], key) for key in COUNT_KEYS.values() if counts.get(key)]
    errors, conflicts = counts.get(COUNT_KEYS[Op.ERROR], 0), counts.get(COUNT_KEYS[Op.CONFLICT], 0)
    line = ", ".join(f"{n} {key}" for n, key in shown if key != "unchanged") or "no changes"
    return f"{org.name}: {source.name} synced — {line}", {
        **_common(run, org, source), "counts": shown, "changed": changed(counts),
        "errors": history.first(run, Op.ERROR, SHOWN), "more_errors": max(0, errors - SHOWN),
        "conflicts": history.first(run, Op.CONFLICT, SHOWN),
        "more_conflicts": max(0, conflicts - SHOWN),
    }


def _blocked(run: SyncRun, org: Organization, source: Source) -> tuple[str, dict]:
    archives = (run.counts or {}).get(COUNT_KEYS[Op.ARCHIVE], 0)
    names = [o.label or o.dn or o.anchor or f"contact {o.contact_id}"
             for o in history.first(run, Op.ARCHIVE, SHOWN_NAMES)]
    return (f"{org.name}: {source.name} sync is waiting for approval "
            f"({_plural(archives, 'contact')} to archive)"), {
        **_common(run, org, source), "reason": run.blocked_reason, "archive_count": archives,
        "names": names, "more_names": max(0, archives - SHOWN_NAMES),
    }



def _failure(run: SyncRun, org: Organization, source: Source) -> tuple[str, dict]:
    cancelled = run.status == RunStatus.CANCELLED
    what = "was cancelled" if cancelled else f"failed: {run.error_message[:100]}"
    return f"{org.name}: {source.name} sync {what}", {
        **_common(run, org, source), "cancelled": cancelled,
        "server": (run.connection or {}).get("server"),
    }


_ABOUT = {SUMMARY: _summary, BLOCKED: _blocked, FAILURE: _failure}
