"""The emails of runs that read a real directory (slapd over StartTLS), received by a real SMTP
server (aiosmtpd, STARTTLS with a trustme certificate and a login).

The database commits for real (``transaction=True``): emails leave after the commit.
"""

from __future__ import annotations

import html

import pytest
from django.utils.text import capfirst

from usersync.app import sources
from usersync.app.orgs.services import create_organization
from usersync.app.sync import readers, runs

from support import directory_data as data
from support import mailserver, slapd

pytestmark = pytest.mark.django_db(transaction=True)

ADMINS = ["it@acme.example"]
IN_SCOPE = [p for location in ("headquarters", "warehouse") for p in data.people_in(location)]


@pytest.fixture
def mailbox(settings, tmp_path):
    with mailserver.running(tmp_path) as server:
        settings.SMTP_URL, settings.SMTP_CA_FILE = server.url, str(server.ca_file)
        settings.FROM_EMAIL, settings.BASE_URL = "sync@usersync.example", "https://sync.example.com"
        yield server


@pytest.fixture
def org(db):
    return create_organization("acme", "Acme", ["headquarters", "warehouse"],
                               notification_emails=ADMINS)


def ldap_source(org, server, password: str, **options):
    return sources.create_source(org, "corp-ldap", "ldap", {
        "urls": [server.url_ldap],  # StartTLS
        "bind_dn": server.reader_dn,
        "scopes": [{"base": slapd.ou_dn(("Headquarters",)), "location": "headquarters"},
                   {"base": slapd.ou_dn(("Warehouse",)), "location": "warehouse"}],
        "ca_pem": server.ca_pem,
    }, password, **options)


def test_a_directory_sync_welcomes_each_new_person_with_an_email_and_sends_the_summary(
        org, slapd_server, mailbox):
    source = ldap_source(org, slapd_server, slapd_server.reader_password, welcome_email=True)
    with_email = {p.primary_email for p in IN_SCOPE if p.primary_email}
    assert 0 < len(with_email) < len(IN_SCOPE)  # some people have no address: no email for them

    outcome = runs.sync(source, readers.configured_reader(source), trigger="manual")

    assert outcome.plan.counts["created"] == len(IN_SCOPE)
    [summary] = mailbox.to(ADMINS[0])
    assert summary.subject == f"Acme: corp-ldap synced — {len(IN_SCOPE)} created"
    welcomes = [r for r in mailbox.received if r is not summary]
    assert sorted(r.rcpt_to[0] for r in welcomes) == sorted(with_email)
    assert all(r.subject == "Welcome to Acme" and r.encrypted for r in welcomes)
    ann = next(p for p in IN_SCOPE if p.primary_email)
    [hers] = mailbox.to(ann.primary_email)
    assert f"Hello {ann.given_name}," in hers.text

    mailbox.received.clear()
    runs.sync(source, readers.configured_reader(source), trigger="manual")
    assert [r.subject for r in mailbox.received] == ["Acme: corp-ldap synced — no changes"]


def test_a_wrong_bind_password_emails_the_failure_with_its_hint_and_never_the_password(
        org, slapd_server, mailbox):
    wrong = "Wrong-" + slapd_server.reader_password
    source = ldap_source(org, slapd_server, wrong, welcome_email=True)

    outcome = runs.sync(source, readers.configured_reader(source), trigger="schedule")

    assert outcome.status == "failed" and outcome.error.hint
    [email] = mailbox.received
    assert email.rcpt_to == ADMINS
    assert email.subject.startswith("Acme: corp-ldap sync failed: ")
    for body in (email.text, html.unescape(email.html)):
        assert capfirst(outcome.error.message) in body and outcome.error.hint in body
        assert wrong not in body
    assert f"({outcome.error.code})" in email.text
