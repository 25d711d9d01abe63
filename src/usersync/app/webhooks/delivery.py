"""Delivering the outbox: the workers' chore ``deliver_due``.

A worker claims a batch of due events (PostgreSQL: ``FOR UPDATE SKIP LOCKED``, so workers on
several machines never take the same event; SQLite serializes writers) for ``CLAIM_SECONDS``,
POSTs each one, signed (``signing``), and records the attempt. A 2xx answer delivers the event.
Anything else — another status, a redirect, a timeout, a refused or unreachable destination — is
a failed attempt, retried after ``DELAYS`` (1 minute, 5 minutes, 30 minutes, 2 hours, 12 hours);
after the last one the event is failed. Each attempt is logged (``DeliveryAttempt``); delivered
and failed events are deleted ``KEEP_DAYS`` later.

After a failed attempt the webhook is held for ``HOLD_SECONDS``: its other events wait instead of
each failing in turn, so a receiver that is down costs one request a minute, not one per event,
and the events stay pending (their attempts not spent) until it is back.

Delivery is at least once: a worker that stalls past its claim may deliver an event that another
worker delivers too. The ``Usersync-Event-Id`` header is the same on every attempt; receivers
ignore an id they have seen. Events may arrive out of order (a retried one comes after newer ones).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from usersync.app import crypto
from usersync.app.jobs import leases

from . import signing, transport
from .models import DeliveryAttempt, EventStatus, Webhook, WebhookEvent

log = logging.getLogger("usersync.webhooks")

#: Seconds before each retry; one attempt more than delays (6), then the event is failed.
DELAYS = (60, 300, 1800, 7200, 43200)
MAX_ATTEMPTS = len(DELAYS) + 1
HOLD_SECONDS = 60
#: Delivered and failed events stay in the delivery log this long.
KEEP_DAYS = 30
BATCH = 20
#: Long enough for a whole batch of attempts that each wait the full timeout.
CLAIM_SECONDS = 2 * BATCH * transport.TIMEOUT


def deliver_due(now: datetime | None = None) -> int:
    """Deliver a batch of due events, and forget a batch of old ones; how many of each (the
    chore's count)."""
    now = now or timezone.now()
    owner = leases.owner_id("webhooks")
    events = claim(owner, now)
    failing: set[int] = set()
    for event in events:
        if event.webhook_id in failing:  # it just failed: the rest wait for the hold
            release(event, owner)
        elif not deliver(event, owner, now):
            failing.add(event.webhook_id)
    return len(events) + prune(now)


def prune(now: datetime, limit: int = 1000) -> int:
    """Delete up to ``limit`` events (and their log) finished more than ``KEEP_DAYS`` ago."""
    old = list(WebhookEvent.objects.filter(finished_at__lt=now - timedelta(days=KEEP_DAYS))
               .values_list("id", flat=True)[:limit])
    if old:
        WebhookEvent.objects.filter(pk__in=old).delete()
    return len(old)


def _due(now: datetime) -> Q:
    return (Q(status=EventStatus.PENDING, next_attempt_at__lte=now, webhook__enabled=True)
            & (Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
            & (Q(webhook__held_until__isnull=True) | Q(webhook__held_until__lte=now)))


def claim(owner: str, now: datetime, limit: int = BATCH) -> list[WebhookEvent]:
    """Claim up to ``limit`` due events for ``owner``, oldest due first."""
    if not WebhookEvent.objects.filter(_due(now)).exists():  # cheap, takes no write lock
        return []
    with transaction.atomic():
        ids = list(WebhookEvent.objects.select_for_update(skip_locked=True, of=("self",))
                   .filter(_due(now)).order_by("next_attempt_at", "id")
                   .values_list("id", flat=True)[:limit])
        WebhookEvent.objects.filter(pk__in=ids).update(
            claimed_by=owner, claimed_until=now + timedelta(seconds=CLAIM_SECONDS))
    return list(WebhookEvent.objects.filter(pk__in=ids, claimed_by=owner)
                .select_related("webhook").order_by("next_attempt_at", "id"))


def release(event: WebhookEvent, owner: str) -> None:
    WebhookEvent.objects.filter(pk=event.pk, claimed_by=owner).update(
        claimed_by="", claimed_until=None)


def deliver(event: WebhookEvent, owner: str, now: datetime) -> bool:
    """One attempt to deliver ``event`` (claimed by ``owner``), recorded; whether it got a 2xx."""
    body = event.body()
    try:
        secret = crypto.decrypt(event.webhook.secret)
    except (crypto.SecretUnreadable, crypto.EncryptionKeyError) as error:  # never unsigned
        answer = transport.Answer(None, f"not sent: {error.message}; rotate the webhook's "
                                        "secret (and give the new one to the receiver)", "", 0)
    else:
        answer = transport.post(event.webhook.url, body, {
            signing.SIGNATURE_HEADER: signing.signature(secret, int(now.timestamp()), body),
            signing.EVENT_ID_HEADER: str(event.event_id),
            signing.EVENT_TYPE_HEADER: event.type,
        })
    _record(event, owner, now, answer)
    return answer.ok


def _record(event: WebhookEvent, owner: str, now: datetime, answer: transport.Answer) -> None:
    number = event.attempts + 1
    if answer.ok:
        changes = {"status": EventStatus.DELIVERED, "finished_at": now}
    elif number >= MAX_ATTEMPTS:
        changes = {"status": EventStatus.FAILED, "finished_at": now}
    else:
        changes = {"next_attempt_at": now + timedelta(seconds=DELAYS[number - 1])}
    with transaction.atomic():
        mine = WebhookEvent.objects.filter(pk=event.pk, claimed_by=owner).update(
            attempts=number, claimed_by="", claimed_until=None, **changes)
        if not mine:  # stalled past the claim: the worker that took it over records it
            log.warning("webhook event %s: claim lost; attempt %s not recorded", event.pk, number)
            return
        DeliveryAttempt.objects.create(
            event=event, number=number, attempted_at=now, status_code=answer.status_code,
            error=answer.error, duration_ms=answer.duration_ms, response=answer.response)
        held = None if answer.ok else now + timedelta(seconds=HOLD_SECONDS)
        Webhook.objects.filter(pk=event.webhook_id).update(held_until=held)
    if not answer.ok:
        log.info("webhook %s: event %s attempt %s failed: %s", event.webhook_id, event.pk, number,
                 answer.error)
