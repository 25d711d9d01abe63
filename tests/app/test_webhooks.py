"""Webhooks end to end on a real database and a real HTTP receiver (tests/support/
webhook_receiver.py, which checks signatures with the function docs/webhooks.md shows):

- the events a sync, a blocked run, an approval, a failed run and an admin's edit write;
- each event reaches the receiver once, signed, even after a failed delivery and its retry;
- events are written in the transaction of their change: a rolled-back change writes none;
- the retry schedule, and the webhook held while its receiver fails;
- tenants: one organization's events never go to another's webhook.

Time is passed in (``deliver_due(now)``), so backoff is tested without waiting.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from usersync.app import crypto
from usersync.app import sources as source_services
from usersync.app.api.contacts import ContactOut
from usersync.app.directory import contacts as manual
from usersync.app.directory.models import Contact, SyncRun
from usersync.app.jobs import execution, queue
from usersync.app.jobs.worker import Worker
from usersync.app.sync import runs
from usersync.app.webhooks import delivery, services
from usersync.app.webhooks.models import DeliveryAttempt, WebhookEvent
from usersync.core.normalize import FieldError

from support.postgres import free_port
from support.syncing import csv_bytes, import_csv, person
from support.webhook_receiver import Receiver

pytestmark = pytest.mark.django_db
PEOPLE = [person(n, "headquarters" if n % 2 else "warehouse") for n in range(1, 16)]


@pytest.fixture(autouse=True)
def private_allowed(settings):
    settings.USERSYNC_ALLOW_PRIVATE_DESTINATIONS = True  # the receiver is on loopback


@pytest.fixture
def receiver():
    with Receiver() as running:
        yield running


@pytest.fixture
def hook(acme, receiver):
    webhook, secret = services.create_webhook(acme, receiver.url)
    receiver.secret = secret
    return webhook


def deliver_all(now=None) -> int:
    """Run the chore until it claims nothing; how many it claimed in all."""
    total = 0
    while handled := delivery.deliver_due(now):
        total += handled
    return total


def types(events) -> list[str]:
    return [event["type"] for event in events]


def outbox_types(org) -> list[str]:
    return list(WebhookEvent.objects.filter(organization=org).order_by("id")
                .values_list("type", flat=True))


# -- what is announced ---------------------------------------------------------------------------

def test_a_sync_announces_each_contact_then_the_run_signed_and_once(acme, hook, receiver):
    outcome = import_csv(acme, csv_bytes(*PEOPLE[:3]))

    assert deliver_all() == 4
    assert types(receiver.accepted) == ["contact.created"] * 3 + ["sync.succeeded"]
    assert all(seen.signed for seen in receiver.requests)
    ids = [seen.headers["Usersync-Event-Id"] for seen in receiver.requests]
    assert len(set(ids)) == 4 and ids == [event["id"] for event in receiver.accepted]
    first = receiver.accepted[0]
    assert first["organization"] == {"id": acme.pk, "slug": "acme"}
    contact = Contact.objects.get(pk=first["data"]["contact"]["id"])
    assert first["data"]["contact"]["email"] == contact.email == "person1@acme.example"
    assert first["data"]["run_id"] == outcome.run.pk
    run = receiver.accepted[-1]["data"]["run"]
    assert run["id"] == outcome.run.pk and run["counts"]["created"] == 3
    assert run["url"].endswith(f"/orgs/acme/runs/{outcome.run.pk}/")
    assert receiver.requests[0].headers["Usersync-Event-Type"] == "contact.created"
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {"delivered"}
    assert deliver_all() == 0  # nothing is sent twice


def test_the_contact_in_an_event_has_the_fields_of_the_apis_contact(acme, hook, receiver):
    import_csv(acme, csv_bytes(person(1, pin="1234")))
    deliver_all()
    contact = receiver.accepted[0]["data"]["contact"]
    assert set(contact) == set(ContactOut.model_fields)
    assert contact["has_pin"] is True and "pin_hash" not in contact
    assert contact["location"] == "headquarters"


def test_changes_archives_reactivations_blocked_runs_and_approvals(acme, hook, receiver):
    import_csv(acme, csv_bytes(*PEOPLE))
    changed = [person(1, dept="Support"), *PEOPLE[1:]]
    import_csv(acme, csv_bytes(*changed))
    blocked = import_csv(acme, csv_bytes(*changed[:3])).run
    assert blocked.status == "blocked"
    deliver_all()
    assert types(receiver.accepted) == (["contact.created"] * 15 + ["sync.succeeded"]
                                        + ["contact.updated", "sync.succeeded", "sync.blocked"])
    assert receiver.accepted[15 + 1]["data"]["contact"]["department"] == "Support"
    assert "archive" in receiver.accepted[-1]["data"]["run"]["blocked_reason"]

    runs.approve(blocked, by="admin")
    import_csv(acme, csv_bytes(*changed[:4]))
    deliver_all()
    after = receiver.accepted[19:]
    assert types(after) == ["contact.archived"] * 12 + ["sync.succeeded",
                                                        "contact.reactivated", "sync.succeeded"]
    assert after[0]["data"]["contact"]["status"] == "archived"
    assert after[-2]["data"]["contact"]["email"] == "person4@acme.example"


def test_an_admins_edits_are_announced(acme, hook, receiver):
    contact = manual.create_contact(acme, {"first_name": "Ada", "last_name": "Lovelace",
                                           "email": "ada@acme.example", "location": "headquarters"})
    manual.edit_contact(contact, {"title": "Countess"})
    manual.edit_contact(contact, {"status": "archived"})
    manual.edit_contact(contact, {"status": "active"})
    deliver_all()
    assert types(receiver.accepted) == ["contact.created", "contact.updated", "contact.archived",
                                        "contact.reactivated"]
    assert receiver.accepted[1]["data"] == {"contact": receiver.accepted[1]["data"]["contact"],
                                            "run_id": None}
    assert receiver.accepted[1]["data"]["contact"]["title"] == "Countess"
    assert receiver.accepted[2]["data"]["contact"]["status"] == "archived"


def test_a_failed_run_is_announced_once_after_its_last_attempt(acme, hook, receiver, settings):
    settings.RETRY_DELAYS = (0,)  # two attempts, the second at once
    down = source_services.create_source(
        acme, "corp", "ldap", {"urls": [f"ldaps://127.0.0.1:{free_port()}"], "bind_dn": "cn=sync",
                               "scopes": [{"base": "dc=acme", "location": "headquarters"}]},
        "secret-password")
    queue.enqueue(down, "manual")
    execution.execute(queue.claim("w1"))
    assert outbox_types(acme) == []  # attempt 1 failed, attempt 2 is queued: nothing yet
    execution.execute(queue.claim("w1"))

    deliver_all()
    assert types(receiver.accepted) == ["sync.failed"]
    run = receiver.accepted[0]["data"]["run"]
    assert run["attempt"] == 2 and run["status"] == "failed"
    assert run["error"]["code"] and run["error"]["hint"]
    assert SyncRun.objects.filter(source=down, status="failed").count() == 2


# -- written with the change -------------------------------------------------------------------

def test_an_organization_without_webhooks_gets_no_rows(acme, globex, receiver):
    services.create_webhook(globex, receiver.url)
    import_csv(acme, csv_bytes(*PEOPLE[:5]))
    assert not WebhookEvent.objects.exists()


def test_a_rolled_back_edit_writes_no_event(acme, hook):
    contact = manual.create_contact(acme, {"first_name": "Ada", "last_name": "Lovelace",
                                           "email": "ada@acme.example", "location": "headquarters"})
    before = outbox_types(acme)
    with pytest.raises(RuntimeError), transaction.atomic():
        manual.edit_contact(contact, {"title": "Countess"})
        assert outbox_types(acme) == [*before, "contact.updated"]  # written with it…
        raise RuntimeError("the request failed after the edit")
    assert outbox_types(acme) == before == ["contact.created"]  # …and gone with it


def test_a_run_whose_transaction_rolls_back_announces_nothing(acme, hook, receiver, tmp_path):
    """A worker that lost its lease while it read: the fence rolls back the transaction that
    would apply the plan, contacts and events together."""
    path = tmp_path / "people.csv"
    path.write_bytes(csv_bytes(*PEOPLE[:3]))
    source = source_services.create_source(acme, "hr", "csv", {"path": str(path)})
    queue.enqueue(source, "manual")
    run = queue.claim("w1")
    read = execution.configured_read(source)

    def read_and_lose_the_lease():
        SyncRun.objects.filter(pk=run.pk).update(lease_owner="another-worker")
        return read()

    with pytest.raises(runs.RunRefused, match="lost its lease"):
        runs.perform(run, read_and_lose_the_lease)
    assert not Contact.objects.filter(organization=acme).exists()
    assert not WebhookEvent.objects.exists()
    assert deliver_all() == 0 and receiver.requests == []


# -- delivery: retries, holds, refusals --------------------------------------------------------

def test_a_failed_delivery_is_retried_after_the_backoff_and_seen_once(acme, hook, receiver):
    receiver.statuses = [500]
    import_csv(acme, csv_bytes(*PEOPLE[:3]))
    now = timezone.now()

    delivery.deliver_due(now)
    assert [seen.status for seen in receiver.requests] == [500]  # the rest wait: held
    first = WebhookEvent.objects.get(attempts=1)
    assert first.status == "pending" and first.next_attempt_at == now + timedelta(seconds=60)
    assert deliver_all(now + timedelta(seconds=30)) == 0  # not due yet

    receiver.clock = (now + timedelta(seconds=61)).timestamp()
    assert deliver_all(now + timedelta(seconds=61)) == 4
    accepted = [event["id"] for event in receiver.accepted]
    assert len(accepted) == len(set(accepted)) == 4
    assert set(accepted) == {str(e.event_id) for e in WebhookEvent.objects.all()}
    log = list(DeliveryAttempt.objects.filter(event=first).values_list("number", "status_code"))
    assert log == [(1, 500), (2, 200)]
    retried = [seen for seen in receiver.requests if seen.event["id"] == str(first.event_id)]
    assert [s.status for s in retried] == [500, 200] and retried[0].body == retried[1].body
    assert retried[0].headers["Usersync-Signature"] != retried[1].headers["Usersync-Signature"]


def test_retries_follow_the_schedule_then_the_event_fails(acme, hook, receiver):
    receiver.statuses = [503] * 10
    event = services.send_test(hook)
    now = timezone.now()
    for number, delay in enumerate([*delivery.DELAYS, None], start=1):
        receiver.clock = now.timestamp()
        assert delivery.deliver_due(now) == 1
        event.refresh_from_db()
        assert event.attempts == number
        if delay is None:
            break
        assert event.status == "pending" and event.next_attempt_at == now + timedelta(seconds=delay)
        assert delivery.deliver_due(now + timedelta(seconds=delay - 1)) == 0
        now += timedelta(seconds=delay)
    assert event.status == "failed" and event.attempts == delivery.MAX_ATTEMPTS == 6
    attempt = event.log.last()
    assert attempt.status_code == 503 and "answered 503" in attempt.error
    assert '"received": false' in attempt.response
    assert delivery.deliver_due(now + timedelta(days=2)) == 0


def test_a_redirect_is_not_followed(acme, hook, receiver):
    receiver.statuses = [302]
    services.send_test(hook)
    delivery.deliver_due()
    attempt = DeliveryAttempt.objects.get()
    assert attempt.status_code == 302 and "redirects are not followed" in attempt.error
    assert len(receiver.requests) == 1


def test_private_destinations_are_refused_unless_allowed(acme, receiver, settings):
    settings.USERSYNC_ALLOW_PRIVATE_DESTINATIONS = False
    port = receiver.server.server_address[1]
    with pytest.raises(FieldError, match="loopback"):
        services.create_webhook(acme, f"https://127.0.0.1:{port}/")
    with pytest.raises(FieldError, match="https://"):
        services.create_webhook(acme, "http://example.com/")
    webhook, _ = services.create_webhook(acme, f"https://localhost:{port}/hooks")
    services.send_test(webhook)
    delivery.deliver_due()
    attempt = DeliveryAttempt.objects.get()
    assert attempt.status_code is None and "loopback address" in attempt.error
    assert "USERSYNC_ALLOW_PRIVATE_DESTINATIONS=1" in attempt.error
    assert receiver.requests == []


def test_a_receiver_that_is_down_is_a_failed_attempt(acme):
    webhook, _ = services.create_webhook(acme, f"http://127.0.0.1:{free_port()}/")
    services.send_test(webhook)
    delivery.deliver_due()
    attempt = DeliveryAttempt.objects.get()
    assert attempt.status_code is None and "refused the connection" in attempt.error


def test_disabled_webhooks_get_nothing_new_and_keep_what_waits(acme, hook, receiver):
    import_csv(acme, csv_bytes(person(1)))
    services.update_webhook(hook, enabled=False)
    import_csv(acme, csv_bytes(person(1), person(2)))
    assert deliver_all() == 0
    assert outbox_types(acme) == ["contact.created", "sync.succeeded"]
    with pytest.raises(services.WebhookRefused, match="disabled"):
        services.send_test(hook)
    services.update_webhook(hook, enabled=True)
    assert deliver_all() == 2


def test_subscriptions_and_tenants(acme, globex, hook, receiver):
    with Receiver() as other:
        theirs, other.secret = services.create_webhook(globex, other.url)
        services.update_webhook(hook, event_types=["contact.archived", "sync.failed"])
        import_csv(acme, csv_bytes(*PEOPLE[:12]))
        import_csv(acme, csv_bytes(*PEOPLE[:11]))
        import_csv(globex, csv_bytes(person(1, "")))
        deliver_all()
        assert types(receiver.accepted) == ["contact.archived"]
        assert types(other.accepted) == ["contact.created", "sync.succeeded"]
        assert {e["organization"]["slug"] for e in other.accepted} == {"globex"}
        assert theirs.outbox.count() == 2


def test_a_rotated_secret_signs_the_next_deliveries(acme, hook, receiver):
    old = receiver.secret
    receiver.secret = services.rotate_secret(hook)
    assert receiver.secret != old and receiver.secret.startswith("whsec_")
    services.send_test(hook)
    delivery.deliver_due()
    assert receiver.requests[0].signed and receiver.requests[0].status == 200


def test_the_secret_is_stored_encrypted(acme, hook, receiver):
    hook.refresh_from_db()
    assert receiver.secret not in hook.secret
    assert crypto.decrypt(hook.secret) == receiver.secret


def test_the_workers_deliver_between_runs(acme, hook, receiver):
    import_csv(acme, csv_bytes(person(1)))
    Worker(name="test").run(once=True)
    assert types(receiver.accepted) == ["contact.created", "sync.succeeded"]


def test_finished_events_are_forgotten_after_the_keeping_time(acme, hook, receiver):
    services.send_test(hook)
    delivery.deliver_due()
    done = WebhookEvent.objects.get()
    assert done.status == "delivered" and done.log.count() == 1
    waiting = services.send_test(hook)
    later = done.finished_at + timedelta(days=delivery.KEEP_DAYS, seconds=1)
    services.update_webhook(hook, enabled=False)  # so the second stays pending
    assert delivery.deliver_due(later) == 1
    assert list(WebhookEvent.objects.all()) == [waiting] and not DeliveryAttempt.objects.exists()


def test_a_fixed_url_sends_the_waiting_events_at_once(acme, receiver):
    webhook, receiver.secret = services.create_webhook(acme, f"http://127.0.0.1:{free_port()}/")
    services.send_test(webhook)
    now = timezone.now()
    delivery.deliver_due(now)
    assert WebhookEvent.objects.get().next_attempt_at == now + timedelta(seconds=60)
    services.update_webhook(webhook, url=receiver.url)
    assert delivery.deliver_due() == 1
    assert types(receiver.accepted) == ["ping"]


def test_rotating_the_encryption_keys_keeps_webhook_secrets_readable(acme, tmp_path,
                                                                     monkeypatch):
    monkeypatch.setenv("USERSYNC_HOME", str(tmp_path))  # a key file of this test's own
    monkeypatch.delenv(crypto.ENV, raising=False)
    webhook, secret = services.create_webhook(acme, "https://hooks.example.com/")
    keys = crypto.add_key_to_file(crypto.load_keys())
    with transaction.atomic():
        assert services.reencrypt_secrets(keys) == 1
    crypto.keep_only_newest(keys)
    webhook.refresh_from_db()
    assert crypto.decrypt(webhook.secret) == secret
