"""The emails of runs, received by a real SMTP server (aiosmtpd on loopback, STARTTLS with a trustme
certificate and a login, tests/support/mailserver.py), on a real database (SQLite, and PostgreSQL
with USERSYNC_TEST_DATABASE=postgresql).

The database tests commit for real (``transaction=True``): emails leave on
``transaction.on_commit``, so a test inside one rolled-back transaction would never see them — and
the rolled-back run test proves that none leaves before the commit. Plus unit tests of the SMTP URL and of which runs
email whom.
"""

from __future__ import annotations

import html
import logging
import re

import pytest
from django.db import transaction
from django.utils.text import capfirst

from usersync.app import sources as services
from usersync.app.directory.models import RunStatus, Source, SyncRun
from usersync.app.jobs import execution, queue
from usersync.app.notifications import emails, mail
from usersync.app.notifications.mail import MailError, SmtpServer
from usersync.app.orgs.services import edit_organization
from usersync.app.sync import readers, runs
from usersync.cli import main

from support import mailserver
from support.jobs import unreachable_source
from support.syncing import active, csv_bytes, import_csv, person

tx = pytest.mark.django_db(transaction=True)
ADMINS = ["it@acme.example", "ops@acme.example"]
BASE_URL = "https://sync.example.com"


def configure(settings, server: mailserver.MailServer, **overrides) -> None:
    settings.SMTP_URL = server.url
    settings.SMTP_CA_FILE = str(server.ca_file)
    settings.SMTP_TIMEOUT = 5
    settings.FROM_EMAIL = "Acme Sync <sync@usersync.example>"
    settings.BASE_URL = BASE_URL
    for name, value in overrides.items():
        setattr(settings, name, value)


@pytest.fixture
def mailbox(settings, tmp_path):
    with mailserver.running(tmp_path) as server:
        configure(settings, server)
        yield server


@pytest.fixture
def notified(acme):
    return edit_organization(acme, notification_emails=ADMINS)


def to_admins(server) -> list[mailserver.Received]:
    return [r for r in server.received if r.rcpt_to == ADMINS]


def words(body: str) -> str:
    """The words of a text or HTML body, tags dropped, spaces collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", body)).split())


def run_url(org, run) -> str:
    return f"{BASE_URL}/orgs/{org.slug}/runs/{run.pk}/"


def welcome_source(org, on: bool = True) -> Source:
    source = readers.import_source(org, "csv")
    source.welcome_email = on
    source.save()
    return source


# -- the summary ------------------------------------------------------------------------------

@tx
def test_the_summary_of_an_upload_has_its_counts_errors_by_line_and_a_link(mailbox, notified):
    outcome = import_csv(notified, csv_bytes(
        person(1), person(2), person(3, email="not-an-email"), person(4, last=""), person(5)))

    [summary] = mailbox.received
    assert summary.rcpt_to == ADMINS and summary.encrypted and summary.login == mailserver.USER
    assert summary.mail_from == "sync@usersync.example"
    assert summary.subject == "Acme: csv-import synced — 3 created, 2 errors"
    assert summary.message.get_content_type() == "multipart/alternative"
    for body in (words(summary.text), words(summary.html)):
        assert "3 created 2 errors" in body
        assert "Line 4 · email: Email 'not-an-email' is not a valid email address" in body
        assert "Line 5 · last_name: Last Name is required" in body
        assert run_url(notified, outcome.run) in body


@tx
def test_the_summary_lists_conflicts_and_escapes_html(mailbox, notified):
    import_csv(notified, csv_bytes(person(1, first="<b>Ann</b>"), person(2)))
    Source.objects.create(organization=notified, name="other", kind="csv")
    mailbox.received.clear()

    import_csv(notified, csv_bytes(person(1, first="<b>Ann</b>"), person(2)), source_name="other")

    [summary] = mailbox.received
    assert "2 conflicts" in summary.subject
    assert "Conflicts to look at" in summary.text and "managed by another source" in summary.text
    assert "<b>Ann</b>" in summary.text  # plain text is not escaped…
    assert "&lt;b&gt;Ann&lt;/b&gt;" in summary.html and "<b>Ann</b>" not in summary.html  # …HTML


@tx
def test_a_run_from_the_command_line_notifies_like_any_other(mailbox, notified, settings):
    source = services.create_source(notified, "hr", "csv", {"path": "/nonexistent/people.csv"})
    outcome = runs.sync(source, readers.configured_reader(source), trigger="cli")

    assert outcome.status == "failed"
    [failure] = to_admins(mailbox)
    assert failure.subject.startswith("Acme: hr sync failed: cannot read /nonexistent/people.csv")


# -- notify_on ----------------------------------------------------------------------------------

@tx
@pytest.mark.parametrize("notify_on, expected", [
    ("every_run", ["3 created", "no changes", "failed"]),
    ("changes", ["3 created", "failed"]),
    ("problems", ["failed"]),
])
def test_notify_on_chooses_which_runs_email_the_admins(mailbox, notified, notify_on, expected):
    edit_organization(notified, notify_on=notify_on)
    people = csv_bytes(person(1), person(2), person(3))
    import_csv(notified, people)  # changes something
    import_csv(notified, people)  # changes nothing
    import_csv(notified, b"")  # fails: the file is empty

    subjects = [r.subject for r in to_admins(mailbox)]
    assert len(subjects) == len(expected)
    assert all(word in subject for word, subject in zip(expected, subjects)), subjects


@tx
def test_no_notification_addresses_no_admin_email(mailbox, acme):
    import_csv(acme, csv_bytes(person(1)))
    assert mailbox.received == []


# -- blocked runs -------------------------------------------------------------------------------

@tx
def test_a_blocked_run_emails_what_it_would_archive_and_where_to_approve(mailbox, notified):
    import_csv(notified, csv_bytes(*(person(n) for n in range(1, 14))))
    mailbox.received.clear()

    blocked = import_csv(notified, csv_bytes(person(1)))

    assert blocked.status == "blocked" and active(notified).count() == 13
    [email] = mailbox.received
    assert email.rcpt_to == ADMINS
    assert email.subject == "Acme: csv-import sync is waiting for approval (12 contacts to archive)"
    for body in (email.text, email.html):
        assert capfirst(blocked.run.blocked_reason) in body
        listed = [f"First{n} Last{n}" for n in range(2, 14) if f"First{n} Last{n}" in body]
        assert len(listed) == 10 and "… and 2 more on the run page" in body
        assert run_url(notified, blocked.run) in body
    assert "Review and approve: " + run_url(notified, blocked.run) in email.text

    runs.approve(blocked.run, by="it@acme.example")

    [_, applied] = mailbox.received
    assert applied.subject == "Acme: csv-import synced — 12 archived"
    assert "Applied after approval by it@acme.example" in applied.text


@tx
def test_a_blocked_run_emails_even_when_only_problems_are_wanted(mailbox, notified):
    edit_organization(notified, notify_on="problems")
    import_csv(notified, csv_bytes(*(person(n) for n in range(1, 14))))
    import_csv(notified, csv_bytes(person(1)))
    assert [r.subject for r in mailbox.received] == [
        "Acme: csv-import sync is waiting for approval (12 contacts to archive)"]


# -- failures -----------------------------------------------------------------------------------

@tx
def test_a_failure_emails_its_message_and_hint(mailbox, notified):
    outcome = import_csv(notified, b"")

    [email] = to_admins(mailbox)
    assert email.subject == "Acme: csv-import sync failed: the CSV file is empty"
    for body in (email.text, email.html):
        assert "The CSV file is empty" in body
        assert outcome.error.hint in body and "What to do:" in body
        assert run_url(notified, outcome.run) in body
    assert "(csv_empty)" in email.text


@pytest.fixture
def unreachable(acme):
    return unreachable_source(acme)


@tx
def test_a_failure_that_will_be_retried_waits_for_the_last_attempt(mailbox, notified, unreachable,
                                                                   settings):
    settings.RETRY_DELAYS = (0,)  # two attempts, the second at once
    queue.enqueue(unreachable, "schedule")

    first = execution.execute(queue.claim("w1"))
    assert first.status == "failed" and mailbox.received == []

    last = execution.execute(queue.claim("w1"))
    assert last.status == "failed" and last.run.attempt == 2
    [email] = mailbox.received
    assert email.subject.startswith("Acme: corp sync failed: ")
    assert last.run.error_hint and last.run.error_hint in email.text
    assert "This was attempt 2; the earlier attempts failed too." in email.text
    assert capfirst(last.run.error_message) in email.text


# -- welcome emails -----------------------------------------------------------------------------

@tx
def test_welcome_emails_go_to_each_new_contact_with_an_email_address(mailbox, acme):
    welcome_source(acme)
    import_csv(acme, csv_bytes(person(1), person(2, email="", sms="+1 415 555 0100"),
                               person(3, "warehouse")))

    assert sorted(r.rcpt_to[0] for r in mailbox.received) == [
        "person1@acme.example", "person3@acme.example"]
    [third] = mailbox.to("person3@acme.example")
    assert third.subject == "Welcome to Acme"
    assert "Hello First3," in third.text and "contacts of Acme at Warehouse" in third.text
    assert "person3@acme.example" in third.html

    mailbox.received.clear()
    import_csv(acme, csv_bytes(person(1, dept="Support"),
                               person(2, email="", sms="+1 415 555 0100"),
                               person(3, "warehouse"), person(4)))
    assert [r.rcpt_to for r in mailbox.received] == [["person4@acme.example"]]  # only the new one


@tx
def test_no_welcome_email_when_the_option_is_off(mailbox, acme):
    welcome_source(acme, on=False)
    import_csv(acme, csv_bytes(person(1), person(2)))
    assert mailbox.received == []


@tx
def test_approving_a_blocked_run_welcomes_the_contacts_it_creates(mailbox, acme):
    welcome_source(acme)
    import_csv(acme, csv_bytes(*(person(n) for n in range(1, 14))))
    mailbox.received.clear()

    blocked = import_csv(acme, csv_bytes(person(1), person(99)))
    assert blocked.status == "blocked" and mailbox.received == []
    runs.approve(blocked.run, by="it@acme.example")

    assert [r.rcpt_to for r in mailbox.received] == [["person99@acme.example"]]


@tx
def test_a_refused_welcome_address_does_not_stop_the_others(settings, tmp_path, acme):
    with mailserver.running(tmp_path, refuse={"person2@acme.example"}) as server:
        configure(settings, server)
        welcome_source(acme)
        outcome = import_csv(acme, csv_bytes(person(1), person(2), person(3)))

    assert sorted(r.rcpt_to[0] for r in server.received) == [
        "person1@acme.example", "person3@acme.example"]
    notice = ("the welcome email was not sent to 1 of 3 new contacts (person2@acme.example): "
              "127.0.0.1 refused person2@acme.example (check these addresses)")
    assert notice in outcome.notices
    assert notice in SyncRun.objects.get(pk=outcome.run.pk).notices


@tx
def test_a_server_that_hangs_up_midway_fails_only_the_emails_it_did_not_take(settings, tmp_path,
                                                                             acme):
    with mailserver.running(tmp_path, hang_up={"person2@acme.example"}) as server:
        configure(settings, server)
        welcome_source(acme)
        outcome = import_csv(acme, csv_bytes(person(1), person(2), person(3)))

    assert [r.rcpt_to for r in server.received] == [["person1@acme.example"]]
    [notice] = outcome.notices
    assert notice.startswith("the welcome email was not sent to 2 of 3 new contacts "
                             "(person2@acme.example, person3@acme.example): 127.0.0.1 refused "
                             "person2@acme.example")


# -- never inside the transaction, never failing the run ----------------------------------------

@tx
def test_a_rolled_back_run_sends_nothing(mailbox, notified):
    welcome_source(notified)

    class Abort(Exception):
        pass

    with pytest.raises(Abort), transaction.atomic():
        assert import_csv(notified, csv_bytes(person(1), person(2))).status == "succeeded"
        raise Abort  # e.g. what the caller did next failed

    assert mailbox.received == []
    assert not SyncRun.objects.exists() and not active(notified).exists()

    import_csv(notified, csv_bytes(person(1), person(2)))
    assert len(mailbox.received) == 3  # the summary and two welcomes, once committed


@tx
def test_without_a_mail_server_emails_are_skipped_with_one_log_line(settings, notified, caplog):
    settings.SMTP_URL = ""
    welcome_source(notified)
    with caplog.at_level(logging.INFO, logger="usersync.emails"):
        outcome = import_csv(notified, csv_bytes(person(1), person(2)))

    assert outcome.status == "succeeded" and outcome.notices == []
    assert [r.getMessage() for r in caplog.records if r.name == "usersync.emails"] == [
        f"run {outcome.run.pk}: 1 summary email, 2 welcome emails not sent: no mail server is "
        "configured (set USERSYNC_SMTP_URL; docs/email.md)"]


def _failed_summary(outcome) -> str:
    [notice] = [n for n in outcome.notices if n.startswith("the summary email")]
    assert notice in SyncRun.objects.get(pk=outcome.run.pk).notices  # the run page shows it
    return notice


@tx
def test_a_mail_server_that_hangs_is_noted_on_the_run_which_still_succeeds(settings, tmp_path,
                                                                          notified):
    with mailserver.silent_server() as port:
        settings.SMTP_URL, settings.SMTP_TIMEOUT = f"smtp://127.0.0.1:{port}", 0.3
        outcome = import_csv(notified, csv_bytes(person(1)))

    assert outcome.status == "succeeded" and active(notified).count() == 1
    assert _failed_summary(outcome) == (
        "the summary email to it@acme.example, ops@acme.example was not sent: no answer from "
        f"smtp://127.0.0.1:{port} (STARTTLS) within 0.3 s (check the host and port (a firewall "
        "dropping the connection looks like this), or raise USERSYNC_SMTP_TIMEOUT)")


@tx
def test_an_untrusted_certificate_is_refused(settings, tmp_path, notified):
    with mailserver.running(tmp_path) as server:
        configure(settings, server, SMTP_CA_FILE="")  # the system's CAs do not know the test CA
        outcome = import_csv(notified, csv_bytes(person(1)))

    assert server.received == [] and outcome.status == "succeeded"
    assert "the certificate of 127.0.0.1 is not trusted" in _failed_summary(outcome)


@tx
def test_a_certificate_for_another_host_is_refused(settings, tmp_path, notified):
    with mailserver.running(tmp_path, names=("mail.example.net",)) as server:
        configure(settings, server)
        outcome = import_csv(notified, csv_bytes(person(1)))

    assert server.received == []
    assert "IP address mismatch" in _failed_summary(outcome)


@tx
def test_a_wrong_password_is_reported_and_never_logged(settings, tmp_path, notified, caplog):
    with mailserver.running(tmp_path) as server:
        configure(settings, server, SMTP_URL=server.url.replace("s3cret", "n0t-the-s3cret"))
        with caplog.at_level(logging.DEBUG):
            outcome = import_csv(notified, csv_bytes(person(1)))

    assert server.received == []
    assert "refused the user name or password (535" in _failed_summary(outcome)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "refused the user name or password" in logged and "n0t-the-s3cret" not in logged


@tx
@pytest.mark.parametrize("mode", ["smtps", "plain"])
def test_implicit_tls_and_an_explicitly_plain_relay_work(settings, tmp_path, notified, mode):
    with mailserver.running(tmp_path, mode) as server:
        configure(settings, server)
        import_csv(notified, csv_bytes(person(1)))

    [summary] = server.received
    assert summary.encrypted == (mode == "smtps")
    assert summary.login == (mailserver.USER if mode == "smtps" else None)


@tx
def test_starttls_is_required_unless_turned_off(settings, tmp_path, notified):
    with mailserver.running(tmp_path, "plain") as server:
        configure(settings, server, SMTP_URL=server.url.replace("?starttls=false", ""))
        outcome = import_csv(notified, csv_bytes(person(1)))

    assert server.received == []
    assert "does not offer STARTTLS" in _failed_summary(outcome)


# -- the command line ---------------------------------------------------------------------------

@tx
def test_the_command_line_sets_notify_on_and_its_runs_send_email(mailbox, tmp_path, capsys):
    assert main(["org", "create", "--slug", "initech", "--name", "Initech", "--notify",
                 "it@initech.example", "--notify-on", "problems"]) == 0
    assert main(["org", "edit", "--slug", "initech", "--notify-on", "changes"]) == 0
    assert main(["org", "list", "--json"]) == 0
    assert '"notify_on": "changes"' in capsys.readouterr().out
    people = tmp_path / "people.csv"
    people.write_bytes(csv_bytes(person(1, "all"), person(2, "all")))

    assert main(["import-csv", "--org", "initech", str(people)]) == 0
    assert main(["import-csv", "--org", "initech", str(people)]) == 0  # no change: no email

    [summary] = mailbox.received
    assert summary.rcpt_to == ["it@initech.example"]
    assert summary.subject == "Initech: csv-import synced — 2 created"
    assert f"{BASE_URL}/orgs/initech/runs/" in summary.text


def test_notify_on_takes_only_its_three_values(capsys):
    with pytest.raises(SystemExit) as exit:
        main(["org", "edit", "--slug", "acme", "--notify-on", "always"])
    assert exit.value.code == 2
    assert ("invalid choice: 'always' (choose from 'every-run', 'changes', 'problems')"
            in capsys.readouterr().err)


# -- units: the SMTP URL, which email, the message ----------------------------------------------

@pytest.mark.parametrize("url, expected", [
    ("smtp://user:password@mail.example.com:587?starttls=true",
     SmtpServer("mail.example.com", 587, "starttls", "user", "password")),
    ("smtp://mail.example.com", SmtpServer("mail.example.com", 587, "starttls")),
    ("smtps://u%40acme:p%3Aw%2Fd%40@mail.example.com",
     SmtpServer("mail.example.com", 465, "implicit", "u@acme", "p:w/d@")),
    ("smtp://relay.internal:25?starttls=false", SmtpServer("relay.internal", 25, "none")),
    ("SMTP://Mail.Example.com:2525/", SmtpServer("mail.example.com", 2525, "starttls")),
])
def test_smtp_urls(url, expected):
    assert mail.parse_url(url) == expected


@pytest.mark.parametrize("url, message", [
    ("", "starts with no scheme, not smtp:// or smtps://"),
    ("mail.example.com:587", "not smtp:// or smtps://"),
    ("http://user:s3cret@mail.example.com", "starts with http://, not smtp:// or smtps://"),
    ("smtp://user:s3cret@:587", "names no mail server"),
    ("smtp://user:s3cret@mail.example.com:99999", "not a valid URL: Port out of range"),
    ("smtp://user:s3cret@mail.example.com:port", "not a valid URL"),
    ("smtp://user:s3cret@mail.example.com/inbox", "has a path"),
    ("smtp://user:s3cret@mail.example.com?tls=on", "unknown option 'tls'"),
    ("smtp://user:s3cret@mail.example.com?starttls=maybe", "starttls must be true or false"),
    ("smtps://user:s3cret@mail.example.com?starttls=true", "starttls does not apply"),
    ("smtp://user:s3cret@mail.example.com?starttls=false", "not encrypted"),
])
def test_a_bad_smtp_url_says_what_is_wrong_without_the_password(url, message):
    with pytest.raises(MailError, match="USERSYNC_SMTP_URL") as error:
        mail.parse_url(url)
    assert message in str(error.value) and "s3cret" not in str(error.value)
    assert error.value.hint


def test_the_password_stays_out_of_what_can_be_printed():
    server = mail.parse_url("smtp://user:s3cret@mail.example.com")
    assert "s3cret" not in repr(server) and "s3cret" not in server.display
    assert server.display == "smtp://user@mail.example.com:587 (STARTTLS)"


@pytest.mark.parametrize("sender", ["", "usersync", "a@example.com, b@example.com",
                                    "x@example.com\nBcc: victim@example.com"])
def test_a_bad_from_address_is_a_clear_error(sender):
    with pytest.raises(MailError, match="USERSYNC_FROM_EMAIL is not one valid address"):
        mail.message(sender, ["it@acme.example"], "s", "t", "h")


def test_a_subject_is_one_line_whatever_a_name_holds():
    sent = mail.message("sync@usersync.example", ["it@acme.example"], "Acme\r\nBcc: x@y: hi",
                        "t", "h")
    assert sent["Subject"] == "Acme Bcc: x@y: hi" and sent["Bcc"] is None


@pytest.mark.parametrize("status, every_run, changes, problems", [
    ("failed", "failure", "failure", "failure"),
    ("blocked", "blocked", "blocked", "blocked"),
    ("cancelled", "failure", None, None),
])
def test_which_email_a_run_end_sends(status, every_run, changes, problems):
    for notify_on, expected in (("every_run", every_run), ("changes", changes),
                                ("problems", problems)):
        for changed in (True, False):
            assert emails.admin_email(status, notify_on, changed) == expected


@pytest.mark.parametrize("notify_on, changed, expected", [
    ("every_run", True, "summary"), ("every_run", False, "summary"),
    ("changes", True, "summary"), ("changes", False, None),
    ("problems", True, None), ("problems", False, None),
])
def test_which_succeeded_runs_send_a_summary(notify_on, changed, expected):
    assert emails.admin_email(RunStatus.SUCCEEDED, notify_on, changed) == expected
