"""The source setup wizard, step by step, with Django's test client (no directory server: the
walk against a real slapd is tests/integration/test_portal_wizard_directory.py).

What is checked here: each step keeps what was typed in the draft and moves on, or shows the
schema's message next to the field; the password is never in the session in clear; saving creates
or changes the source through the source services; editing is prefilled and a blank password keeps
the stored one; an unreachable server gives a report with a hint, not an error page.
"""

from __future__ import annotations

import re

import html
import io
import socket

import pytest
import trustme
from django.contrib.sessions.models import Session
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from usersync.app import crypto, drafts, sources
from usersync.app.directory.models import Source
from usersync.app.orgs.models import Organization
from usersync.core.plan import Op, Operation, Plan

pytestmark = pytest.mark.django_db

NEW = "/orgs/acme/sources/new/"
HQ = "OU=Headquarters,DC=acme,DC=example"


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def closed_port() -> int:
    """A loopback port nothing listens on (connections are refused at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def text(response) -> str:
    """The page as a person reads it (entities such as &#x27; unescaped)."""
    return html.unescape(response.content.decode())


def post(client, url, step, **data):
    return client.post(url, {"step": step, **data})


def start(client, kind="active_directory", name="corp-ad", url=NEW):
    client.get(url)
    return post(client, url, "kind", kind=kind, name=name)


def connect(client, url=NEW, **overrides):
    data = {"security": "ldaps", "servers": "dc1.acme.example", "base_dn": "DC=acme,DC=example",
            "bind_dn": "usersync@acme.example", "password": "s3cret-bind-pw", "action": "next"}
    data.update(overrides)
    return post(client, url, "connection", **data)


def draft_in(client, key="new") -> dict:
    """The wizard's draft of acme in the client's session."""
    return client.session[f"usersync.wizard.{Organization.objects.get(slug='acme').pk}.{key}"]


def test_the_kind_step_needs_a_unique_name_and_moves_on(acme_admin, acme):
    client = logged_in(acme_admin)
    page = text(client.get(NEW))
    assert 'id="kind-active_directory"' in page and 'id="source-name"' in page
    refused = post(client, NEW, "kind", kind="active_directory", name="")
    assert refused.status_code == 400 and "a source needs a name" in text(refused)
    Source.objects.create(organization=acme, name="taken", kind="csv")
    taken = text(post(client, NEW, "kind", kind="ldap", name="taken"))
    assert "already has a source named" in taken
    moved = post(client, NEW, "kind", kind="ldap", name="corp-ldap")
    assert moved.status_code == 302 and moved["Location"].endswith("?step=connection")
    assert draft_in(client)["kind"] == "ldap" and draft_in(client)["name"] == "corp-ldap"


def test_connection_errors_show_next_to_their_fields_with_the_schemas_words(acme_admin):
    client = logged_in(acme_admin)
    start(client)
    page = text(connect(client, servers="ldap://dc1.acme.example\nhttp://x", bind_dn="not a dn",
                        password=""))
    assert "uses ldap:// but the security is LDAPS" in page
    assert "is not a distinguished name" in page  # source_settings' words for the bind account
    assert "enter the password of the bind account" in page
    assert page.index('id="bind-dn"') < page.index("is not a distinguished name")
    bad_ca = client.post(NEW, {"step": "connection", "security": "ldaps",
                               "servers": "dc1.acme.example", "base_dn": "DC=acme,DC=example",
                               "bind_dn": "usersync@acme.example", "password": "pw",
                               "ca_file": _upload(b"not a certificate")})
    assert "is not a PEM certificate" in text(bad_ca)


def _upload(data: bytes, name: str = "ca.pem"):
    return SimpleUploadedFile(name, data, content_type="application/x-pem-file")


def test_the_password_is_kept_encrypted_in_the_session_and_never_shown(acme_admin):
    client = logged_in(acme_admin)
    start(client)
    ca = trustme.CA().cert_pem.bytes()
    response = client.post(NEW, {"step": "connection", "security": "starttls",
                                 "servers": "dc1.acme.example\nldap://dc2.acme.example:3389",
                                 "base_dn": "DC=acme,DC=example",
                                 "bind_dn": "usersync@acme.example",
                                 "password": "s3cret-bind-pw", "action": "next",
                                 "ca_file": _upload(ca)})
    assert response.status_code == 302 and response["Location"].endswith("?step=scope")
    draft = draft_in(client)
    assert draft["settings"]["urls"] == ["ldap://dc1.acme.example", "ldap://dc2.acme.example:3389"]
    assert draft["settings"]["ca_pem"].startswith("-----BEGIN CERTIFICATE-----")
    assert crypto.decrypt(draft["secret"]) == "s3cret-bind-pw"
    stored = [s.session_data for s in Session.objects.all()]
    assert stored and not any("s3cret-bind-pw" in data for data in stored)
    assert not any("s3cret-bind-pw" in s.get_decoded().__repr__() for s in Session.objects.all())
    page = text(client.get(NEW + "?step=connection"))
    assert "s3cret-bind-pw" not in page and "leave this blank to keep it" in page
    assert "A CA certificate is set" in page


def test_an_unreachable_server_gives_a_report_with_a_hint(acme_admin):
    client = logged_in(acme_admin)
    start(client, kind="ldap", name="corp-ldap")
    moved = connect(client, security="starttls", servers=f"127.0.0.1:{closed_port()}",
                    bind_dn="cn=reader,dc=acme,dc=example", action="test")
    assert moved["Location"].endswith("?step=test")
    page = text(client.get(moved["Location"]))
    assert 'id="connection-report"' in page and "none could be reached" in page
    assert "failed" in page and "Test again" in page
    count = text(post(client, NEW, "scope", bases=HQ, action="count"))
    assert 'role="alert"' in count and "<html" not in count


def test_the_scope_step_maps_bases_to_locations_and_checks_the_filter(acme_admin, acme):
    client = logged_in(acme_admin)
    start(client)
    connect(client)
    page = text(client.get(NEW + "?step=scope"))
    assert 'id="bases-headquarters"' in page and 'id="bases-warehouse"' in page
    assert 'id="live-count"' in page and "(&(objectClass=user)" in page
    bad = post(client, NEW, "scope", **{"bases-headquarters": HQ, "filter": "(cn=a"})
    assert bad.status_code == 400 and "is not valid" in text(bad)
    counted = text(post(client, NEW, "scope", **{"bases-headquarters": HQ, "filter": "(cn=a",
                                                 "action": "count"}))
    assert "is not valid" in counted and "<html" not in counted
    empty = post(client, NEW, "scope", filter="")
    assert "give at least one search base" in text(empty)
    moved = post(client, NEW, "scope", **{
        "bases-headquarters": HQ, "bases-warehouse": "OU=Warehouse,DC=acme,DC=example",
        "filter": "(department=Sales)", "groups": "CN=Staff,OU=Groups,DC=acme,DC=example",
        "exclusions": "title=*Contractor*"})
    assert moved["Location"].endswith("?step=mapping")
    settings = draft_in(client)["settings"]
    assert settings["scopes"] == [{"base": HQ, "location": "headquarters"},
                                  {"base": "OU=Warehouse,DC=acme,DC=example",
                                   "location": "warehouse"}]
    assert settings["filter"] == "(department=Sales)"
    assert settings["exclusions"] == ["title=*Contractor*"]


def test_mapping_options_and_schedule_steps_validate_then_save_the_source(acme_admin, acme):
    client = logged_in(acme_admin)
    start(client)
    connect(client)
    post(client, NEW, "scope", **{"bases-headquarters": HQ})
    bad = post(client, NEW, "mapping", mapping="first_name=givenName\nshoe_size=x")
    assert bad.status_code == 400 and "unknown contact field 'shoe_size'" in text(bad)
    page = text(client.get(NEW + "?step=mapping"))
    assert "email=proxyAddresses|primary_smtp,mail" in page  # the default, until changed
    post(client, NEW, "mapping", mapping="first_name=givenName\nlast_name=sn\nemail=mail")
    bad = post(client, NEW, "options", archive_missing="on", archive_disabled="keep",
               safeguard_percent="150", safeguard_minimum="10", safeguard_maximum="500",
               full_reconcile_hours="24")
    assert bad.status_code == 400 and "less than or equal to 100" in text(bad)
    options = client.get(NEW + "?step=options")
    boxes = re.findall(r'<input type="checkbox" name="new_contact_channels" value="(\w+)"[^>]*>',
                       options.content.decode())
    assert len(boxes) == 3  # email, sms, slack: all checked for a new source
    assert all("checked" in box for box in re.findall(
        r'<input type="checkbox" name="new_contact_channels"[^>]*>', options.content.decode()))
    post(client, NEW, "options", archive_disabled="keep", welcome_email="on",
         new_contact_channels=["email", "sms"],
         safeguard_percent="25", safeguard_minimum="5", safeguard_maximum="100",
         full_reconcile_hours="12")
    assert client.get(NEW + "?step=schedule").status_code == 200
    bad = post(client, NEW, "schedule", schedule="every_hours", schedule_hours="25",
               enabled="on", action="save")
    assert bad.status_code == 400 and not Source.objects.filter(name="corp-ad").exists()
    saved = post(client, NEW, "schedule", schedule="every_hours", schedule_hours="6",
                 enabled="on", action="save")
    source = Source.objects.get(organization=acme, name="corp-ad")
    assert saved["Location"] == f"/orgs/acme/sources/{source.pk}/"
    assert source.settings["urls"] == ["ldaps://dc1.acme.example"]
    assert source.settings["mapping"] == ["first_name=givenName", "last_name=sn", "email=mail"]
    assert (source.archive_missing, source.archive_disabled, source.welcome_email) == (
        False, False, True)
    assert source.new_contact_channels == ["email", "sms"]
    assert (source.safeguard_percent, source.safeguard_minimum, source.safeguard_maximum,
            source.full_reconcile_hours) == (25, 5, 100, 12)
    assert (source.schedule, source.schedule_hours, source.enabled) == ("every_hours", 6, True)
    assert source.next_run_at is not None and source.next_run_at.minute == 1
    assert crypto.decrypt(source.secret) == "s3cret-bind-pw"
    assert "usersync.wizard" not in "".join(client.session.keys())


def test_editing_is_prefilled_and_a_blank_password_keeps_the_stored_one(acme_admin, acme):
    source = sources.create_source(
        acme, "corp-ad", "active_directory",
        {"urls": ["ldaps://dc1.acme.example"], "bind_dn": "usersync@acme.example",
         "scopes": [{"base": HQ, "location": "headquarters"}], "filter": "(title=*)"},
        "old-password", schedule="after_last")
    secret = source.secret
    client = logged_in(acme_admin)
    edit = f"/orgs/acme/sources/{source.pk}/edit/"
    page = text(client.get(edit))
    assert 'value="corp-ad"' in page and "a source keeps its kind" in page
    page = text(client.get(edit + "?step=connection"))
    assert "ldaps://dc1.acme.example" in page and "usersync@acme.example" in page
    assert "old-password" not in page and "leave this blank to keep it" in page
    assert 'checked> LDAPS' in page
    post(client, edit, "kind", name="corp-ad-2")
    connect(client, edit, password="", servers="ldaps://dc2.acme.example")
    page = text(client.get(edit + "?step=scope"))
    assert HQ in page and 'value="(title=*)"' in page
    post(client, edit, "scope", **{"bases-headquarters": HQ, "filter": ""})
    post(client, edit, "schedule", schedule="manual", schedule_hours="24", action="save")
    source.refresh_from_db()
    assert source.name == "corp-ad-2" and source.settings["urls"] == ["ldaps://dc2.acme.example"]
    assert "filter" not in source.settings  # cleared: the kind's default again
    assert source.secret == secret and source.schedule == "manual"


def test_an_upload_source_gets_a_name_and_a_kind_and_its_options(acme_admin, acme):
    client = logged_in(acme_admin)
    start(client, kind="csv", name="hr-export")
    page = text(client.get(NEW + "?step=options"))
    assert "Save source" in page and "Test connection" not in page
    saved = post(client, NEW, "options", archive_missing="on", archive_disabled="archive",
                 safeguard_percent="20", safeguard_minimum="10", safeguard_maximum="500",
                 full_reconcile_hours="24", action="save")
    source = Source.objects.get(organization=acme, name="hr-export")
    assert source.kind == "csv" and saved["Location"].endswith(f"/sources/{source.pk}/")


def test_viewers_cannot_open_the_wizard(acme_viewer, acme):
    client = logged_in(acme_viewer)
    assert client.get(NEW).status_code == 403
    assert post(client, NEW, "kind", kind="csv", name="x").status_code == 403
    assert not Source.objects.exists()


def test_preview_rows_list_every_address_with_its_type_and_escape_formulas():
    plan = Plan(operations=(
        Operation(Op.CREATE, label="uid=jn", fields={
            "first_name": "José", "last_name": "=cmd()", "email": "jose@acme.example",
            "aliases": ("ceo@acme.example",), "pin": "hmac-sha256:x"}),
        Operation(Op.ARCHIVE, contact_id=3, label="Old Person", reason="no longer in scope"),
    ))
    buffer = io.StringIO()
    drafts.write_preview(buffer, plan)
    text = buffer.getvalue()
    lines = text.splitlines()
    assert lines[0].startswith("operation,first name,last name,email address,address type")
    assert "create,José,'=cmd(),jose@acme.example,primary,jose@acme.example" in lines[1]
    assert "create,José,'=cmd(),ceo@acme.example,alias,jose@acme.example" in lines[2]
    assert lines[3].startswith("archive,Old Person")
    assert "hmac" not in text
