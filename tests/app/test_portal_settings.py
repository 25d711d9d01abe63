"""An organization's settings page: admins change them, viewers read them, operators alone set
the contact limit; bad input is named next to its field and changes nothing."""

from __future__ import annotations

import html

import pytest
from django.test import Client

from usersync.app.orgs.models import Organization

pytestmark = pytest.mark.django_db
URL = "/orgs/acme/settings/"
VALID = {"name": "Acme Inc.", "time_zone": "Europe/Paris", "default_region": "gb",
         "notification_emails": "it@acme.example, Ops@Acme.example\nboss@acme.example",
         "notify_on": "changes"}


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def text(response) -> str:
    return html.unescape(response.content.decode())


def test_an_admin_changes_the_settings_and_the_contact_limit_stays_the_operators(acme_admin,
                                                                                acme):
    acme.contact_limit = 100
    acme.save()
    client = logged_in(acme_admin)
    page = text(client.get(URL))
    assert 'name="notification_emails"' in page and 'name="contact_limit"' not in page
    assert "100 active contacts" in page and "(set by the operator)" in page

    saved = client.post(URL, {**VALID, "contact_limit": "999999"}, follow=True)

    assert "Saved the settings of Acme Inc." in text(saved)
    acme.refresh_from_db()
    assert (acme.name, acme.time_zone, acme.default_region, acme.notify_on, acme.contact_limit) == (
        "Acme Inc.", "Europe/Paris", "GB", "changes", 100)
    assert acme.notification_emails == ["it@acme.example", "ops@acme.example",
                                        "boss@acme.example"]
    assert "it@acme.example\nops@acme.example\nboss@acme.example" in text(saved)


def test_every_bad_value_is_named_next_to_its_field_and_nothing_is_saved(acme_admin, acme):
    before = Organization.objects.filter(pk=acme.pk).values().get()

    response = logged_in(acme_admin).post(URL, {
        **VALID, "time_zone": "Mars/Olympus", "default_region": "XX",
        "notification_emails": "it@acme.example, not-an-address; also@bad"})

    assert response.status_code == 400
    page = text(response)
    assert "'not-an-address' is not a valid email address" in page
    assert "'also@bad' is not a valid email address" in page
    assert "Mars/Olympus" in page  # what was typed is kept to be corrected
    assert Organization.objects.filter(pk=acme.pk).values().get() == before
    region = logged_in(acme_admin).post(URL, {**VALID, "default_region": "XX"})
    assert region.status_code == 400 and "'XX' is not a region code" in text(region)
    zone = logged_in(acme_admin).post(URL, {**VALID, "time_zone": "Mars/Olympus"})
    assert zone.status_code == 400
    assert "'Mars/Olympus' is not a time zone such as Europe/Paris" in text(zone)
    assert Organization.objects.filter(pk=acme.pk).values().get() == before


def test_an_empty_list_of_addresses_notifies_nobody(acme_admin, acme):
    acme.notification_emails = ["it@acme.example"]
    acme.save()
    logged_in(acme_admin).post(URL, {**VALID, "notification_emails": " \n "})
    acme.refresh_from_db()
    assert acme.notification_emails == []


def test_an_operator_sets_the_contact_limit(operator, acme):
    client = logged_in(operator)
    assert 'name="contact_limit"' in text(client.get(URL))
    client.post(URL, {**VALID, "contact_limit": "250"})
    acme.refresh_from_db()
    assert acme.contact_limit == 250
    client.post(URL, {**VALID, "contact_limit": ""})
    acme.refresh_from_db()
    assert acme.contact_limit is None
    negative = client.post(URL, {**VALID, "contact_limit": "-1"})
    assert negative.status_code == 400
    acme.refresh_from_db()
    assert acme.contact_limit is None


def test_viewers_read_the_settings_and_cannot_change_them(acme_viewer, acme):
    acme.notification_emails = ["it@acme.example"]
    acme.save()
    client = logged_in(acme_viewer)
    page = text(client.get(URL))
    assert "it@acme.example" in page and "Every run" in page and "read-only" in page
    assert "<form" not in page.split('id="content"')[1]
    assert client.post(URL, VALID).status_code == 403
    acme.refresh_from_db()
    assert acme.name == "Acme" and acme.notification_emails == ["it@acme.example"]


def test_another_organizations_settings_do_not_exist(acme_admin, globex):
    client = logged_in(acme_admin)
    assert client.get("/orgs/globex/settings/").status_code == 404
    assert client.post("/orgs/globex/settings/", VALID).status_code == 404
    globex.refresh_from_db()
    assert globex.name == "Globex"


def test_the_organization_page_links_its_settings(acme_viewer, acme):
    assert 'href="/orgs/acme/settings/"' in text(logged_in(acme_viewer).get("/orgs/acme/"))


def test_the_page_says_when_no_mail_server_would_send_the_emails(acme_admin, settings):
    settings.SMTP_URL = ""
    assert "USERSYNC_SMTP_URL" in text(logged_in(acme_admin).get(URL))
    settings.SMTP_URL = "smtp://mail.example.com:587"
    assert "USERSYNC_SMTP_URL" not in text(logged_in(acme_admin).get(URL))
