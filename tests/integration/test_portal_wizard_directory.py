"""The source setup wizard walked end to end against the session's real slapd (StartTLS, its own
CA uploaded as PEM): test connection, the live count, sample records as they map, the preview and
its CSV export, save; then Sync now queues a run that a worker executes, and the contacts are
there. What each step should show is computed from ``support.directory_data``.
"""

from __future__ import annotations

import csv
import html
import io

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from support import directory_data as data
from support import slapd

from usersync.app import crypto
from usersync.app.accounts.models import Membership, Role
from usersync.app.directory.models import Contact, Source, SyncRun
from usersync.app.jobs.worker import Worker
from usersync.app.orgs.services import create_organization

pytestmark = pytest.mark.django_db

NEW = "/orgs/acme/sources/new/"
HQ, WAREHOUSE = slapd.ou_dn(("Headquarters",)), slapd.ou_dn(("Warehouse",))
IN_SCOPE = [p for location in ("headquarters", "warehouse") for p in data.people_in(location)]


@pytest.fixture
def admin_client(db):
    org = create_organization("acme", "Acme", ["headquarters", "warehouse"])
    admin = get_user_model().objects.create_user("acme-admin")
    Membership.objects.create(user=admin, organization=org, role=Role.ADMIN)
    client = Client()
    client.force_login(admin)
    return client


def text(response) -> str:
    return html.unescape(response.content.decode())


def step(client, step_name: str, **fields):
    return client.post(NEW, {"step": step_name, **fields})


def test_the_wizard_sets_up_an_ldap_source_that_then_syncs(admin_client, slapd_server):
    client = admin_client
    client.get(NEW)
    assert step(client, "kind", kind="ldap", name="corp-ldap").status_code == 302

    # Connection, then Test connection: TLS verified with the uploaded CA, bind, counts, samples.
    tested = client.post(NEW, {
        "step": "connection", "security": "starttls", "servers": slapd_server.url_ldap,
        "base_dn": slapd_server.people_dn, "bind_dn": slapd_server.reader_dn,
        "password": slapd_server.reader_password, "action": "test",
        "ca_file": SimpleUploadedFile("ca.pem", slapd_server.ca_pem.encode())})
    assert tested.status_code == 302 and tested["Location"].endswith("?step=test")
    report = text(client.get(tested["Location"]))
    assert 'id="ssl-status">ok<' in report and "The connection works" in report
    assert f"<td class=\"num\">{len(data.PEOPLE)}</td>" in report  # everyone under the base DN
    assert "Sample entries" in report and "First Name" in report

    # Scope: a base per location; the live count, and the server's own refusal with a hint.
    bases = {"bases-headquarters": HQ, "bases-warehouse": WAREHOUSE}
    counted = text(step(client, "scope", action="count", **bases))
    assert f'data-count="{len(IN_SCOPE)}"' in counted
    sales = [p for p in IN_SCOPE if p.department == "Sales"]
    counted = text(step(client, "scope", action="count", filter="(departmentNumber=Sales)",
                        **bases))
    assert f'data-count="{len(sales)}"' in counted and len(sales) > 0
    missing = text(step(client, "scope", action="count", **{
        "bases-headquarters": slapd.ou_dn(("Nowhere",))}))
    assert 'role="alert"' in missing and "Nowhere" in missing
    assert step(client, "scope", **bases)["Location"].endswith("?step=mapping")

    # Mapping: sample records as they map, and a record the mapping cannot make a contact of.
    samples = text(step(client, "mapping", action="samples", mapping=""))
    assert 'id="sample-records"' in samples and "not synced" not in samples
    assert any(p.given_name in samples for p in IN_SCOPE)
    broken = text(step(client, "mapping", action="samples",
                       mapping="first_name=givenName\nemail=mail"))
    assert "Last Name is required but not mapped" in broken
    assert step(client, "mapping", mapping="")["Location"].endswith("?step=options")
    step(client, "options", archive_missing="on", archive_disabled="archive",
         safeguard_percent="20", safeguard_minimum="10", safeguard_maximum="500",
         full_reconcile_hours="24")

    # Preview: what a sync would do, nothing written; the CSV has every address.
    preview = text(client.get(NEW + "?step=preview"))
    assert f'data-op="create">{len(IN_SCOPE)}<' in preview and "Export User Preview" in preview
    assert not Contact.objects.exists()
    export = client.get(NEW + "?step=preview&format=csv")
    assert export["Content-Disposition"].endswith('user-preview.csv"')
    rows = list(csv.DictReader(io.StringIO(export.content.decode())))
    primary = {r["email address"] for r in rows if r["address type"] == "primary"}
    assert primary == {p.primary_email for p in IN_SCOPE if p.primary_email}
    assert {r["operation"] for r in rows} == {"create"}

    # Save, then Sync now: a queued run that a worker executes.
    saved = step(client, "schedule", schedule="every_hours", schedule_hours="6", enabled="on",
                 action="save")
    source = Source.objects.get(name="corp-ldap")
    assert saved["Location"] == f"/orgs/acme/sources/{source.pk}/"
    assert source.settings["scopes"] == [{"base": HQ, "location": "headquarters"},
                                         {"base": WAREHOUSE, "location": "warehouse"}]
    assert crypto.decrypt(source.secret) == slapd_server.reader_password
    assert slapd_server.reader_password not in text(client.get(saved["Location"]))
    queued = client.post(f"/orgs/acme/sources/{source.pk}/sync/")
    run = SyncRun.objects.get(source=source)
    assert queued["Location"].endswith(f"/runs/{run.pk}/") and run.status == "queued"
    assert Worker(concurrency=1).run(once=True) == 1
    run.refresh_from_db()
    assert run.status == "succeeded" and run.counts["created"] == len(IN_SCOPE)
    assert Contact.objects.filter(source=source, status="active").count() == len(IN_SCOPE)
    page = text(client.get(f"/orgs/acme/sources/{source.pk}/"))
    assert f"/runs/{run.pk}/" in page and "succeeded" in page and 'class="pill ok">ok<' in page
