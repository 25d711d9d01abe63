"""Delivering webhooks: TLS verified by default (a real https receiver with a test CA), workers
on several database connections never delivering an event twice (PostgreSQL: SKIP LOCKED), and
the documented signature check refusing what it should."""

from __future__ import annotations

import hashlib
import hmac
import ssl
import threading
import time

import pytest
import trustme
from django.db import connections
from django.utils import timezone

from usersync.app.webhooks import delivery, services, signing
from usersync.app.webhooks.models import DeliveryAttempt, WebhookEvent

from support.jobs import locked_by_another_worker
from support.syncing import csv_bytes, import_csv, person
from support.webhook_receiver import Receiver, documented_verify

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def private_allowed(settings):
    settings.USERSYNC_ALLOW_PRIVATE_DESTINATIONS = True  # the receivers are on loopback


@pytest.fixture(scope="module")
def authority():
    return trustme.CA()


@pytest.fixture
def tls_receiver(authority):
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("localhost").configure_cert(context)
    with Receiver(tls=context) as running:
        yield running


def test_an_untrusted_certificate_fails_the_attempt(acme, tls_receiver):
    webhook, tls_receiver.secret = services.create_webhook(acme, tls_receiver.url)
    services.send_test(webhook)
    delivery.deliver_due()
    attempt = DeliveryAttempt.objects.get()
    assert attempt.status_code is None and "TLS certificate is not trusted" in attempt.error
    assert tls_receiver.requests == []


def test_a_trusted_certificate_is_delivered_to(acme, tls_receiver, authority, tmp_path,
                                               monkeypatch):
    bundle = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))  # what the system trust store would hold
    webhook, tls_receiver.secret = services.create_webhook(acme, tls_receiver.url)
    services.send_test(webhook)
    delivery.deliver_due()
    assert [seen.event["type"] for seen in tls_receiver.requests] == ["ping"]
    assert tls_receiver.requests[0].signed
    assert tls_receiver.requests[0].headers["Host"] == tls_receiver.url.split("/")[2]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_claim_skips_events_another_worker_holds(acme):
    webhook, _ = services.create_webhook(acme, "https://hooks.example.com/")
    first, second = (services.send_test(webhook) for _ in range(2))
    with locked_by_another_worker(WebhookEvent.objects.filter(pk=first.pk)):
        claimed = delivery.claim("w2", timezone.now())
    assert [event.pk for event in claimed] == [second.pk]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_workers_on_several_connections_deliver_each_event_once(acme):
    with Receiver() as receiver:
        webhook, receiver.secret = services.create_webhook(acme, receiver.url)
        import_csv(acme, csv_bytes(*(person(n) for n in range(1, 61))))
        errors = []

        def worker():
            try:
                while delivery.deliver_due():
                    pass
            except Exception as error:  # noqa: BLE001 — reported below
                errors.append(error)
            finally:
                connections.close_all()

        threads = [threading.Thread(target=worker) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        ids = [event["id"] for event in receiver.accepted]
        assert len(ids) == len(set(ids)) == 61
        assert set(WebhookEvent.objects.values_list("status", flat=True)) == {"delivered"}


def test_the_documented_check_refuses_what_it_should():
    verify = documented_verify()
    secret, body, now = signing.new_secret(), b'{"type":"ping"}', int(time.time())
    header = signing.signature(secret, now, body)
    assert verify(secret, header, body)
    assert not verify(secret, header, body + b" ")  # a changed body
    assert not verify(signing.new_secret(), header, body)  # another secret
    assert not verify(secret, signing.signature(secret, now - 301, body), body)  # too old
    assert verify(secret, signing.signature(secret, now - 301, body), body, now=now - 300)
    assert not verify(secret, "s=abc", body) and not verify(secret, "garbage", body)
    expected = hmac.new(secret.encode(), f"{now}.".encode() + body, hashlib.sha256).hexdigest()
    assert header == f"t={now},s={expected}"
