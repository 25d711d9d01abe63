"""The portal's Webhooks pages: an organization's webhooks (add, enable or disable, remove) and
each webhook's page (its settings, a test event, a new secret, the delivery log).

The secret is shown once, on the page that answers the request that made it (adding a webhook,
rotating its secret), like an API key's token.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from usersync.app.accounts import access
from usersync.core.normalize import FieldError

from . import services
from .models import SUBSCRIBABLE, EventStatus, Webhook, WebhookEvent

LOG_PAGE = 50


def _webhook(request, slug: str, webhook_id: int, write: bool) -> tuple:
    """The organization and its webhook ``webhook_id``; 404 for another organization's."""
    org = access.require_org(request, slug, write=write)
    return org, get_object_or_404(Webhook, organization=org, pk=webhook_id)


@login_required
def webhooks(request, slug: str):
    org = access.require_org(request, slug, write=request.method == "POST")
    secret = None
    if request.method == "POST":
        try:
            chosen = _chosen_events(request)
            webhook, secret = services.create_webhook(
                org, _text(request, "url"), chosen, created_by=access.actor(request))
        except FieldError as error:
            messages.error(request, f"The webhook was not added: {error.field} {error.message}.")
        else:
            messages.success(request, f"Added the webhook {webhook.url}. Copy its secret now: "
                                      "it is shown only this once.")
    hooks = Webhook.objects.filter(organization=org).annotate(
        pending=Count("outbox", filter=Q(outbox__status=EventStatus.PENDING)),
        failed=Count("outbox", filter=Q(outbox__status=EventStatus.FAILED)))
    return render(request, "webhooks/webhooks.html", {
        "org": org, "webhooks": hooks, "secret": secret, "event_types": SUBSCRIBABLE,
        "writable": access.can_write(request, org), "url": "" if secret else _text(request, "url"),
    })


@login_required
def webhook(request, slug: str, webhook_id: int):
    """The webhook's page; a POST changes what it carries: ``url``, ``events`` (with
    ``edit_events``), ``enabled`` (``1`` or ``0``)."""
    org, hook = _webhook(request, slug, webhook_id, write=request.method == "POST")
    if request.method != "POST":
        return _page(request, org, hook)
    try:
        services.update_webhook(
            hook, url=_text(request, "url") if "url" in request.POST else None,
            event_types=_chosen_events(request) if "edit_events" in request.POST else None,
            enabled=request.POST["enabled"] == "1" if "enabled" in request.POST else None)
    except FieldError as error:
        messages.error(request, f"Not saved: {error.field} {error.message}.")
    else:
        state = "enabled" if hook.enabled else "disabled (its pending events wait)"
        messages.success(request, f"Saved the webhook {hook.url}; it is {state}.")
    if request.POST.get("next") == "list":
        return redirect("portal:webhooks", slug=org.slug)
    return redirect("portal:webhook", slug=org.slug, webhook_id=hook.pk)


@login_required
@require_POST
def send_test(request, slug: str, webhook_id: int):
    org, hook = _webhook(request, slug, webhook_id, write=True)
    try:
        services.send_test(hook)
    except services.WebhookRefused as refused:
        messages.error(request, f"No test event was sent: {refused}.")
    else:
        messages.success(request, "Queued a test event (ping). A worker delivers it within "
                                  "seconds: its result appears in the delivery log below.")
    return redirect("portal:webhook", slug=org.slug, webhook_id=hook.pk)


@login_required
@require_POST
def rotate_secret(request, slug: str, webhook_id: int):
    org, hook = _webhook(request, slug, webhook_id, write=True)
    secret = services.rotate_secret(hook)
    messages.success(request, "The webhook has a new secret, in force from now on. Copy it now: "
                              "it is shown only this once.")
    return _page(request, org, hook, secret)


@login_required
@require_POST
def remove(request, slug: str, webhook_id: int):
    org, hook = _webhook(request, slug, webhook_id, write=True)
    hook.delete()
    messages.success(request, f"Removed the webhook {hook.url} and its delivery log.")
    return redirect("portal:webhooks", slug=org.slug)


def _page(request, org, hook: Webhook, secret: str | None = None):
    status = request.GET.get("status", "")
    status = status if status in EventStatus.values else ""
    events = WebhookEvent.objects.filter(webhook=hook).prefetch_related("log")
    if status:
        events = events.filter(status=status)
    page = Paginator(events, LOG_PAGE).get_page(request.GET.get("page"))
    return render(request, "webhooks/webhook.html", {
        "org": org, "webhook": hook, "secret": secret, "page": page, "status": status,
        "statuses": EventStatus.values, "event_types": SUBSCRIBABLE,
        "writable": access.can_write(request, org),
        "waiting": any(e.status == EventStatus.PENDING for e in page.object_list),
    })


def _text(request, name: str) -> str:
    return request.POST.get(name, "").replace("\x00", "")[:3000]


def _chosen_events(request) -> list[str]:
    """The boxes ticked; none is a mistake (every box ticked means every event)."""
    chosen = request.POST.getlist("events")
    if not chosen:
        raise FieldError("events", "choose at least one event (all of them: every event)")
    return chosen
