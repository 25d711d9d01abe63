"""Events into the outbox, in the transaction of the change they announce.

A run's events are written by ``run_finished`` (called by ``notifications.announce`` inside the
transaction that records the run), an admin's edit's by ``contact_saved`` (inside the edit's
transaction): the events commit with the change or not at all, and a worker delivers them later
(``delivery``). An organization without an enabled webhook pays one small query, whatever the
size of the run.

Each event is one row per enabled webhook that receives its type, holding the exact JSON body:

    {"id": "<uuid>", "type": "contact.updated", "created_at": "…Z",
     "organization": {"id": 1, "slug": "acme"}, "data": {…}}

- ``contact.*``: ``data`` is ``{"contact": {…}, "run_id": 12}``, the contact as it is after the
  change (the fields of the API's contact; ``run_id`` is null for an admin's edit);
- ``sync.*``: ``data`` is ``{"run": {…}}``. A failed run that will be tried again announces
  nothing: ``sync.failed`` comes once, from the attempt after which usersync stops trying;
- ``ping``: a test event an admin asked for.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from usersync.app.directory.models import Contact, ContactStatus, RunStatus, SyncRun
from usersync.app.sync.apply import Applied

from .models import EventType, Webhook, WebhookEvent

BATCH = 2000
RUN_EVENTS = {RunStatus.SUCCEEDED: EventType.SYNC_SUCCEEDED,
              RunStatus.FAILED: EventType.SYNC_FAILED,
              RunStatus.BLOCKED: EventType.SYNC_BLOCKED}
CONTACT_COLUMNS = ("id", "first_name", "last_name", "email", "sms_phone", "title", "department",
                   "image_url", "identification", "slack", "aliases", "status", "archived_at",
                   "archived_reason", "source_id", "created_at", "updated_at")


def run_finished(run: SyncRun, retry: SyncRun | None = None,
                 applied: Applied | None = None) -> None:
    """The events of a run that ended: its contacts' changes, then ``sync.<status>``."""
    hooks = listening(run.organization_id)
    if not hooks:
        return
    now = timezone.now()
    if applied is not None:
        for event_type, ids in ((EventType.CONTACT_CREATED, applied.created),
                                (EventType.CONTACT_UPDATED, applied.updated),
                                (EventType.CONTACT_REACTIVATED, applied.reactivated),
                                (EventType.CONTACT_ARCHIVED, applied.archived)):
            _contact_events(hooks, event_type, ids, now, run.pk)
    event_type = RUN_EVENTS.get(run.status)
    if event_type is not None and retry is None:
        write(hooks, event_type, [{"run": run_data(run, hooks[0].organization.slug)}], now)


def contact_saved(contact: Contact, status_before: str | None) -> None:
    """The event of an admin's edit: created (``status_before`` None), archived, reactivated or
    updated. Call it in the edit's transaction, after the save."""
    hooks = listening(contact.organization_id)
    if not hooks:
        return
    if status_before is None:
        event_type = EventType.CONTACT_CREATED
    elif status_before == contact.status:
        event_type = EventType.CONTACT_UPDATED
    elif contact.status == ContactStatus.ARCHIVED:
        event_type = EventType.CONTACT_ARCHIVED
    else:
        event_type = EventType.CONTACT_REACTIVATED
    _contact_events(hooks, event_type, [contact.pk], timezone.now(), None)


def listening(organization_id: int) -> list[Webhook]:
    return list(Webhook.objects.filter(organization_id=organization_id, enabled=True)
                .select_related("organization"))


def write(hooks: list[Webhook], event_type: str, data_items: Iterable[dict],
          now: datetime) -> list[WebhookEvent]:
    """One event per item of ``data_items`` (its ``data``) and per webhook of ``hooks`` that
    receives ``event_type``."""
    assert transaction.get_connection().in_atomic_block, "events are written with their change"
    receivers = [hook for hook in hooks if hook.receives(event_type)]
    rows = [_row(hook, event_type, data, now) for data in data_items for hook in receivers]
    return WebhookEvent.objects.bulk_create(rows, batch_size=BATCH)


def _contact_events(hooks: list[Webhook], event_type: str, ids: list[int], now: datetime,
                    run_id: int | None) -> None:
    if not ids or not any(hook.receives(event_type) for hook in hooks):
        return
    organization_id = hooks[0].organization_id
    for start in range(0, len(ids), BATCH):
        contacts = contact_data(organization_id, ids[start:start + BATCH])
        write(hooks, event_type, ({"contact": contact, "run_id": run_id} for contact in contacts),
              now)


def _row(hook: Webhook, event_type: str, data: dict, now: datetime) -> WebhookEvent:
    event_id = uuid.uuid4()
    org = hook.organization
    payload = {"id": str(event_id), "type": event_type, "created_at": iso(now),
               "organization": {"id": org.pk, "slug": org.slug}, "data": data}
    return WebhookEvent(organization_id=org.pk, webhook=hook, event_id=event_id,
                        type=event_type, payload=payload, created_at=now, next_attempt_at=now)


def contact_data(organization_id: int, ids: list[int]) -> list[dict]:
    """The contacts ``ids`` of the organization as the API shows them (never the PIN:
    ``has_pin`` only)."""
    rows = (Contact.objects.filter(organization_id=organization_id, pk__in=ids).order_by("pk")
            .values(*CONTACT_COLUMNS, "location__identifier", "pin_hash"))
    contacts = []
    for row in rows:
        row["location"] = row.pop("location__identifier")
        row["has_pin"] = bool(row.pop("pin_hash"))
        for name in ("archived_at", "created_at", "updated_at"):
            row[name] = iso(row[name])
        contacts.append(row)
    return contacts


def run_data(run: SyncRun, slug: str) -> dict:
    error = ({"code": run.error_code, "message": run.error_message, "hint": run.error_hint}
             if run.error_code or run.error_message else None)
    link = reverse("portal:run", kwargs={"slug": slug, "run_id": run.pk})
    return {"id": run.pk, "url": settings.BASE_URL + link,
            "source": {"id": run.source_id, "name": run.source.name, "kind": run.source.kind},
            "trigger": run.trigger, "status": run.status, "attempt": run.attempt,
            "counts": run.counts or {}, "blocked_reason": run.blocked_reason or None,
            "error": error, "started_at": iso(run.started_at), "finished_at": iso(run.finished_at)}


def iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z") if moment else None
