"""Managing an organization's webhooks: add (the secret is returned this once), change, rotate
the secret, send a test event. The portal and the API both come through here.

A webhook URL must be https:// (events carry people's names, emails and phone numbers) to a
public address. Receivers on the operator's own network are allowed when the operator sets
``USERSYNC_ALLOW_PRIVATE_DESTINATIONS=1`` (``net_guard``); plain http:// only then too.
Disabling a webhook pauses it: it receives no new events, and its pending ones wait until it is
enabled again. Enabling it, or giving it a new URL, sends its pending events at once.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from usersync.app import crypto, net_guard
from usersync.app.orgs.models import Organization
from usersync.core.normalize import FieldError

from . import events, signing
from .models import SUBSCRIBABLE, EventStatus, EventType, Webhook, WebhookEvent

MAX_URL = 2000
PING_MESSAGE = ("A test event from usersync: the receiver got it. Check its signature the way "
                "you check every event's.")


class WebhookRefused(Exception):
    """The webhook cannot do this now; the message says why and what to do."""


def create_webhook(org: Organization, url: str, event_types=None, enabled: bool = True,
                   created_by: str = "") -> tuple[Webhook, str]:
    """A new webhook of ``org`` and its secret (the only time the secret leaves usersync)."""
    secret = signing.new_secret()
    webhook = Webhook.objects.create(
        organization=org, url=clean_url(url), events=clean_events(event_types),
        secret=crypto.encrypt(secret), enabled=bool(enabled), created_by=created_by[:150])
    return webhook, secret


def update_webhook(webhook: Webhook, url: str | None = None, event_types=None,
                   enabled: bool | None = None) -> Webhook:
    """Change what is given; the rest stays. A new URL, or enabling the webhook, sends its
    pending events at once: whatever made them fail has likely just been fixed."""
    before = (webhook.url, webhook.enabled)
    if url is not None:
        webhook.url = clean_url(url)
    if event_types is not None:
        webhook.events = clean_events(event_types)
    if enabled is not None:
        webhook.enabled = bool(enabled)
    with transaction.atomic():
        if webhook.enabled and (webhook.url, webhook.enabled) != before:
            webhook.held_until = None
            webhook.outbox.filter(status=EventStatus.PENDING).update(
                next_attempt_at=timezone.now())
        webhook.save(update_fields=["url", "events", "enabled", "held_until"])
    return webhook


def rotate_secret(webhook: Webhook) -> str:
    """A new secret, in force for every delivery from now on (retries included); returned once."""
    secret = signing.new_secret()
    webhook.secret = crypto.encrypt(secret)
    webhook.save(update_fields=["secret"])
    return secret


def send_test(webhook: Webhook) -> WebhookEvent:
    """Queue a ``ping`` for ``webhook``; a worker delivers it within seconds."""
    if not webhook.enabled:
        raise WebhookRefused("the webhook is disabled: enable it to send a test event")
    with transaction.atomic():
        [event] = events.write([webhook], EventType.PING,
                               [{"message": PING_MESSAGE, "webhook_id": webhook.pk}],
                               timezone.now())
    return event


def reencrypt_secrets(keys: crypto.Keys) -> int:
    """Every webhook's secret encrypted again with the newest of ``keys`` (for
    ``usersync rotate-keys``); the number re-encrypted. Call it in the rotation's transaction."""
    count = 0
    for webhook in Webhook.objects.select_for_update():
        webhook.secret = crypto.rotate(webhook.secret, keys)
        webhook.save(update_fields=["secret"])
        count += 1
    return count


def clean_url(url) -> str:
    """``url`` checked for a webhook, in words an admin acts on (``FieldError`` on ``url``)."""
    text = str(url or "").strip()
    if not text:
        raise FieldError("url", "is required")
    if len(text) > MAX_URL:
        raise FieldError("url", f"is longer than {MAX_URL} characters")
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in text):
        raise FieldError("url", "contains spaces or control characters")
    allow_private = settings.USERSYNC_ALLOW_PRIVATE_DESTINATIONS
    try:
        scheme, host, _, _ = net_guard.parse(text)
    except net_guard.DestinationRefused as refused:
        raise FieldError("url", str(refused)) from None
    if scheme != "https" and not allow_private:
        raise FieldError("url", "must start with https:// (events carry people's names and "
                                "addresses); http:// is for receivers on the operator's own "
                                "network, when private destinations are allowed")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return text  # a name: checked, resolved, at each delivery
    problem = net_guard.refusal(str(address))
    if problem:
        raise FieldError("url", f"{host} is {problem}; {net_guard.DestinationRefused.hint}")
    return text


def clean_events(event_types) -> list[str]:
    """The event types a webhook receives, sorted; ``[]`` means every event (also for ``None``,
    an empty list, or every type listed: types added later are then received too)."""
    wanted = sorted({str(t) for t in event_types or ()})
    unknown = [t for t in wanted if t not in SUBSCRIBABLE]
    if unknown:
        raise FieldError("events", f"unknown event {unknown[0]!r}; use {', '.join(SUBSCRIBABLE)}")
    return [] if set(wanted) == set(SUBSCRIBABLE) else wanted
