"""Webhooks through the REST API and the portal: the secret shown once, changes, the test event,
the delivery log, removal; clear errors for bad URLs; viewers read but never write.
(Tenant isolation of every endpoint and page is in test_access.py.)"""

from __future__ import annotations

import pytest
from django.test import Client

from usersync.app import crypto
from usersync.app.webhooks import delivery
from usersync.app.webhooks.models import Webhook, WebhookEvent

from callers import error_of, key_api, session_api
from support.webhook_receiver import Receiver

pytestmark = pytest.mark.django_db
HOOKS = "/organizations/acme/webhooks"


@pytest.fixture
def receiver(settings):
    settings.USERSYNC_ALLOW_PRIVATE_DESTINATIONS = True  # the receiver is on loopback
    with Receiver() as running:
        yield running


def test_the_api_manages_webhooks_and_shows_the_secret_once(acme, receiver):
    api = key_api(acme, "admin")
    created = api.post(HOOKS, {"url": receiver.url, "events": ["contact.created"]})
    assert created.status_code == 201, created.content
    body = created.json()
    receiver.secret = body["secret"]
    assert body["secret"].startswith("whsec_") and body["events"] == ["contact.created"]
    stored = Webhook.objects.get(pk=body["id"])
    assert body["secret"] not in stored.secret and crypto.decrypt(stored.secret) == body["secret"]
    listed = api.get(HOOKS).json()
    assert [h["id"] for h in listed] == [body["id"]] and "secret" not in listed[0]
    one = f"{HOOKS}/{body['id']}"
    assert "secret" not in api.get(one).json()

    patched = api.patch(one, {"events": [], "enabled": False}).json()
    assert patched["events"] == [] and patched["enabled"] is False
    refused = api.post(one + "/test")
    assert refused.status_code == 409 and "enable it" in error_of(refused)["message"]
    api.patch(one, {"enabled": True})

    queued = api.post(one + "/test")
    assert queued.status_code == 202 and queued.json()["status"] == "pending"
    delivery.deliver_due()
    log = api.get(one + "/events").json()
    assert log["count"] == 1
    event = log["items"][0]
    assert event["type"] == "ping" and event["status"] == "delivered"
    assert event["next_attempt_at"] is None and event["event_id"] == event["payload"]["id"]
    assert [(a["number"], a["status_code"]) for a in event["log"]] == [(1, 200)]
    assert receiver.requests[0].signed
    assert api.get(one + "/events", status="failed").json()["count"] == 0

    rotated = api.post(one + "/rotate-secret").json()
    assert rotated["secret"] != receiver.secret
    assert api.delete(one).status_code == 204
    assert not Webhook.objects.exists() and not WebhookEvent.objects.exists()
    assert api.get(one).status_code == 404


@pytest.mark.parametrize("url, message", [
    ("ftp://files.example.com/", "not an http:// or https:// URL"),
    ("http://hooks.example.com/", "must start with https://"),
    ("https://10.0.0.5/hooks", "10.0.0.5 is a private address"),
    ("https://169.254.169.254/latest", "link-local"),
    ("https://user:pw@hooks.example.com/", "user name or password"),
    ("https://hooks.example.com/a b", "spaces"),
    ("https://", "names no host"),
])
def test_bad_urls_are_refused_with_what_to_do(acme, url, message):
    response = key_api(acme, "admin").post(HOOKS, {"url": url})
    assert response.status_code == 422
    error = error_of(response)
    assert message in error["message"] and error["errors"][0]["field"] == "url"
    assert not Webhook.objects.exists()


def test_unknown_events_are_refused(acme):
    response = key_api(acme, "admin").post(HOOKS, {"url": "https://hooks.example.com/",
                                                   "events": ["contact.deleted"]})
    assert response.status_code == 422 and not Webhook.objects.exists()


def test_webhooks_need_the_admin_scope(acme):
    api = key_api(acme, "read_contacts")
    assert api.get(HOOKS).status_code == 403
    assert api.post(HOOKS, {"url": "https://hooks.example.com/"}).status_code == 403


# -- the portal ---------------------------------------------------------------------------------

def test_an_admin_adds_tests_and_reads_the_log_in_the_portal(acme, acme_admin, receiver):
    client = Client()
    client.force_login(acme_admin)
    assert 'href="/orgs/acme/webhooks/"' in client.get("/orgs/acme/").content.decode()
    page = client.post("/orgs/acme/webhooks/", {
        "url": receiver.url, "edit_events": "1",
        "events": ["contact.created", "sync.failed"]}).content.decode()
    webhook = Webhook.objects.get()
    receiver.secret = crypto.decrypt(webhook.secret)
    assert receiver.secret in page and "shown only this once" in page
    assert webhook.events == ["contact.created", "sync.failed"]
    assert receiver.secret not in client.get("/orgs/acme/webhooks/").content.decode()

    detail = f"/orgs/acme/webhooks/{webhook.pk}/"
    assert client.post(detail + "test/").status_code == 302
    delivery.deliver_due()
    log = client.get(detail).content.decode()
    assert "ping" in log and "delivered" in log and "HTTP 200" in log
    assert receiver.secret not in log

    client.post(detail, {"enabled": "0", "next": "list"})
    assert not Webhook.objects.get().enabled
    refused = client.post(detail + "test/", follow=True).content.decode()
    assert "No test event was sent" in refused

    new = client.post(detail + "rotate-secret/").content.decode()
    assert crypto.decrypt(Webhook.objects.get().secret) in new
    client.post(detail + "remove/")
    assert not Webhook.objects.exists()


def test_the_portal_says_what_is_wrong_and_keeps_the_url(acme, acme_admin):
    client = Client()
    client.force_login(acme_admin)
    page = client.post("/orgs/acme/webhooks/", {"url": "http://hooks.example.com/x",
                                                "edit_events": "1", "events": ["ping"]},
                       follow=True).content.decode()
    assert "The webhook was not added" in page and "http://hooks.example.com/x" in page
    none = client.post("/orgs/acme/webhooks/", {"url": "https://hooks.example.com/",
                                                "edit_events": "1"}).content.decode()
    assert "choose at least one event" in none
    assert not Webhook.objects.exists()


def test_a_viewer_reads_the_log_but_changes_nothing(acme, acme_viewer):
    webhook = Webhook.objects.create(organization=acme, url="https://hooks.example.com/",
                                     secret=crypto.encrypt("whsec_x"))
    api = session_api(acme_viewer)
    page = api.client.get(f"/orgs/acme/webhooks/{webhook.pk}/").content.decode()
    assert "Delivery log" in page and "Send test event" not in page
    assert api.client.post(f"/orgs/acme/webhooks/{webhook.pk}/test/").status_code == 403
    assert not WebhookEvent.objects.exists()
