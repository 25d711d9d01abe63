"""Webhooks of an organization: list, add (the secret is in the answer, once), change, remove,
rotate the secret, send a test event, and each webhook's events with their delivery attempts.

All of it needs the ``admin`` scope: a webhook decides where people's data is sent.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from django.shortcuts import get_object_or_404
from ninja import Field, Query, Router, Schema
from ninja.errors import HttpError
from ninja.responses import Status

from usersync.app.accounts import access
from usersync.app.webhooks import services
from usersync.app.webhooks.models import SUBSCRIBABLE, EventStatus, Webhook, WebhookEvent

from .schemas import ERRORS, TEXT, Error, Input, OrgRef, PageQuery, object_id, page

router = Router(tags=["webhooks"])
WEBHOOK = "/organizations/{org}/webhooks/{webhook_id}"
Subscribable = Literal[SUBSCRIBABLE]
EVENTS_HELP = "The event types it receives; empty or left out: every event (also ones added later)."


class WebhookOut(Schema):
    id: int
    url: str
    events: list[Subscribable] = Field(..., description=EVENTS_HELP)
    enabled: bool = Field(..., description="A disabled webhook receives no new events; its "
                                           "pending ones wait until it is enabled again.")
    created_by: str
    created_at: datetime


class WebhookWithSecret(WebhookOut):
    secret: str = Field(..., description="Signs every delivery (Usersync-Signature): shown this "
                                         "once, stored encrypted.")


class WebhookIn(Input):
    url: str = Field(..., min_length=1, max_length=2000, pattern=TEXT,
                     description="https:// and a public address.")
    events: list[Subscribable] | None = Field(None, description=EVENTS_HELP)
    enabled: bool = True


class WebhookPatch(Input):
    url: str | None = Field(None, min_length=1, max_length=2000, pattern=TEXT)
    events: list[Subscribable] | None = Field(None, description=EVENTS_HELP)
    enabled: bool | None = None


class AttemptOut(Schema):
    number: int
    attempted_at: datetime
    status_code: int | None = Field(..., description="The receiver's HTTP status; null: none.")
    error: str = Field(..., description="Why the attempt failed; empty when it succeeded.")
    duration_ms: int
    response: str = Field(..., description="The start of the receiver's answer.")


class EventOut(Schema):
    id: int
    event_id: UUID = Field(..., description="The Usersync-Event-Id header: the same on retries.")
    type: str
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    created_at: datetime
    next_attempt_at: datetime | None = Field(..., description="Null unless pending.")
    finished_at: datetime | None
    payload: dict = Field(..., description="The body sent.")
    log: list[AttemptOut]

    @staticmethod
    def resolve_next_attempt_at(event: WebhookEvent) -> datetime | None:
        return event.next_attempt_at if event.status == EventStatus.PENDING else None

    @staticmethod
    def resolve_log(event: WebhookEvent) -> list:
        return list(event.log.all())


class EventPage(Schema):
    count: int
    limit: int
    offset: int
    items: list[EventOut]


class EventQuery(PageQuery):
    status: Literal["pending", "delivered", "failed"] | None = None


def _webhook(request, org: str, webhook_id: int, write: bool = False) -> Webhook:
    organization = access.require_org(request, org, write=write)
    return get_object_or_404(Webhook, organization=organization, pk=webhook_id)


@router.get("/organizations/{org}/webhooks", response={200: list[WebhookOut], ERRORS: Error})
def list_webhooks(request, org: OrgRef):
    return Webhook.objects.filter(organization=access.require_org(request, org))


@router.post("/organizations/{org}/webhooks", response={201: WebhookWithSecret, ERRORS: Error})
def create_webhook(request, org: OrgRef, payload: WebhookIn):
    organization = access.require_org(request, org, write=True)
    webhook, secret = services.create_webhook(organization, payload.url, payload.events,
                                              payload.enabled, created_by=access.actor(request))
    webhook.secret = secret  # the answer's copy; the row keeps it encrypted
    return Status(201, webhook)


@router.get(WEBHOOK, response={200: WebhookOut, ERRORS: Error})
def read_webhook(request, org: OrgRef, webhook_id: int = object_id("The webhook's id.")):
    return _webhook(request, org, webhook_id)


@router.patch(WEBHOOK, response={200: WebhookOut, ERRORS: Error})
def edit_webhook(request, org: OrgRef, payload: WebhookPatch,
                 webhook_id: int = object_id("The webhook's id.")):
    """Fields left out are unchanged."""
    webhook = _webhook(request, org, webhook_id, write=True)
    return services.update_webhook(webhook, payload.url, payload.events, payload.enabled)


@router.delete(WEBHOOK, response={204: None, ERRORS: Error})
def remove_webhook(request, org: OrgRef, webhook_id: int = object_id("The webhook's id.")):
    """Removes the webhook, its pending events and its delivery log."""
    _webhook(request, org, webhook_id, write=True).delete()
    return Status(204, None)


@router.post(WEBHOOK + "/rotate-secret", response={200: WebhookWithSecret, ERRORS: Error})
def rotate_secret(request, org: OrgRef, webhook_id: int = object_id("The webhook's id.")):
    """A new secret signs every delivery from now on, retries included: give it to the
    receiver at once."""
    webhook = _webhook(request, org, webhook_id, write=True)
    secret = services.rotate_secret(webhook)
    webhook.secret = secret
    return webhook


@router.post(WEBHOOK + "/test", response={202: EventOut, ERRORS: Error})
def send_test_event(request, org: OrgRef, webhook_id: int = object_id("The webhook's id.")):
    """Queue a ``ping`` event; a worker delivers it within seconds (see its ``events``)."""
    webhook = _webhook(request, org, webhook_id, write=True)
    try:
        return Status(202, services.send_test(webhook))
    except services.WebhookRefused as refused:
        raise HttpError(409, str(refused)) from None


@router.get(WEBHOOK + "/events", response={200: EventPage, ERRORS: Error})
def list_events(request, org: OrgRef, query: Query[EventQuery],
                webhook_id: int = object_id("The webhook's id.")):
    """The webhook's events, newest first, each with its delivery attempts: the delivery log."""
    webhook = _webhook(request, org, webhook_id)
    events = WebhookEvent.objects.filter(webhook=webhook).prefetch_related("log")
    if query.status:
        events = events.filter(status=query.status)
    return page(events, query)
