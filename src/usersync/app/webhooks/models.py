"""Webhooks, the outbox of their events, and the log of every delivery attempt.

An event is one row per webhook that receives it (``WebhookEvent``), written in the transaction
of the change it announces, so it exists exactly when the change does. The row is the delivery's
state too: pending until a worker delivers it (or gives up after the last retry), claimed by one
worker at a time. Each HTTP attempt leaves a ``DeliveryAttempt``: what the portal's delivery log
shows.
"""

from __future__ import annotations

import json
import uuid

from django.db import models
from django.db.models import Q

from usersync.app.orgs.models import Organization


class EventType(models.TextChoices):
    CONTACT_CREATED = "contact.created"
    CONTACT_UPDATED = "contact.updated"
    CONTACT_ARCHIVED = "contact.archived"
    CONTACT_REACTIVATED = "contact.reactivated"
    SYNC_SUCCEEDED = "sync.succeeded"
    SYNC_FAILED = "sync.failed"
    SYNC_BLOCKED = "sync.blocked"
    PING = "ping", "ping (a test event)"


#: What a webhook can subscribe to; ``ping`` is sent only when an admin asks for a test event.
SUBSCRIBABLE = tuple(t for t in EventType.values if t != EventType.PING)


class Webhook(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE,
                                     related_name="webhooks")
    url = models.CharField(max_length=2000)
    events = models.JSONField(default=list, blank=True,
                              help_text="The event types it receives; empty: every event.")
    secret = models.TextField(help_text="Signs the deliveries; encrypted (usersync.app.crypto).")
    enabled = models.BooleanField(default=True)
    held_until = models.DateTimeField(
        null=True, blank=True,
        help_text="After a failed delivery its other events wait until then, so a receiver "
                  "that is down costs one request a minute, not one per event.")
    created_by = models.CharField(max_length=150, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.url

    def receives(self, event_type: str) -> bool:
        return event_type == EventType.PING or not self.events or event_type in self.events


class EventStatus(models.TextChoices):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class WebhookEvent(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE,
                                     related_name="webhook_events")
    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="outbox")
    event_id = models.UUIDField(default=uuid.uuid4,  # random: no index to keep up to date
                                help_text="Sent as Usersync-Event-Id: the same on every retry.")
    type = models.CharField(max_length=40, choices=EventType.choices)
    payload = models.JSONField(help_text="The JSON body, exactly as it is sent.")
    created_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=EventStatus.choices,
                              default=EventStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True,
                                       help_text="When it was delivered, or given up.")
    # The claim of the worker delivering it (usersync.app.webhooks.delivery).
    claimed_by = models.CharField(max_length=100, blank=True, default="")
    claimed_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["next_attempt_at"], condition=Q(status="pending"),
                         name="pending_webhook_events"),
            models.Index(fields=["webhook", "-created_at"]),
            models.Index(fields=["finished_at"]),  # forgetting old events (delivery.prune)
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.event_id} ({self.status})"

    def body(self) -> bytes:
        """The request's body: the payload as compact JSON, the same bytes on every attempt."""
        return json.dumps(self.payload, separators=(",", ":"), ensure_ascii=False).encode()

    @property
    def last_attempt(self) -> DeliveryAttempt | None:
        attempts = list(self.log.all())  # prefetched by the delivery log
        return attempts[-1] if attempts else None

    @property
    def pretty_payload(self) -> str:
        return json.dumps(self.payload, indent=2, ensure_ascii=False)


class DeliveryAttempt(models.Model):
    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="log")
    number = models.PositiveSmallIntegerField()
    attempted_at = models.DateTimeField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True,
                                                   help_text="Empty: no HTTP answer.")
    error = models.CharField(max_length=500, blank=True, default="")
    duration_ms = models.PositiveIntegerField(default=0)
    response = models.CharField(max_length=500, blank=True, default="",
                                help_text="The start of the receiver's answer.")

    class Meta:
        ordering = ["event", "number"]

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.event}: {self.status_code or self.error}"

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300
