"""The source setup wizard, walked against the real OpenLDAP server of the test fixtures: kind →
connection (LDAPS, the CA uploaded) → Test connection → scope with its live count → mapping
samples → options → preview → schedule → save; then Sync now, and the contacts are there."""

from __future__ import annotations

import csv
import re

from browsing import VIEWPORT, api, contacts, shoot, sync_now
from playwright.sync_api import expect
from support import directory_data as data

LOCATIONS = {"headquarters": "Headquarters", "warehouse": "Warehouse"}


def _in_scope(department: str | None = None) -> list[data.Person]:
    return [p for p in data.PEOPLE if p.ou[0] in LOCATIONS.values()
            and (department is None or p.department == department)]


def _next(page, step: str) -> None:
    page.get_by_role("button", name="Next", exact=True).click()
    expect(page.get_by_role("heading", level=2)).to_have_text(step)


def test_the_wizard_sets_up_an_ldap_source_that_syncs(page, portal, slapd_server, tmp_path):
    ldap = slapd_server
    page.goto("/orgs/stark/")
    page.get_by_role("link", name="Add a source").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Set up a source")
    steps = page.get_by_role("navigation", name="Setup steps").get_by_role("listitem")
    expect(steps).to_have_text(["1. Kind", "2. Connection", "3. Test connection", "4. Scope",
                                "5. Mapping", "6. Options", "7. Preview", "8. Schedule"])

    # Kind
    page.get_by_label("Name").fill("stark-ldap")
    page.get_by_role("radio", name=re.compile(r"^LDAP\b")).check()
    _next(page, "Connection")

    # Connection, then Test connection
    page.get_by_label("Server URLs").fill(ldap.url_ldaps)
    page.get_by_role("radio", name=re.compile(r"^LDAPS")).check()
    page.get_by_label("CA certificate (PEM)").set_input_files(str(ldap.ca_file))
    page.get_by_label("Base DN").fill(ldap.people_dn)
    page.get_by_label("Bind account").fill(ldap.reader_dn)
    page.get_by_label("Password").fill(ldap.reader_password)
    page.get_by_role("button", name="Test connection").click()
    expect(page.get_by_role("heading", level=2)).to_have_text("Test connection")
    report = page.locator("#connection-report")
    expect(report.get_by_role("status")).to_have_class(re.compile(r"\bgood\b"))
    expect(page.locator("#ssl-status")).to_have_text("ok")
    expect(report).to_contain_text("the certificate is trusted, matches the server's name")
    expect(report.locator("dd", has_text="ok").first).to_be_visible()
    expect(report).to_contain_text(f"127.0.0.1:{ldap.tls_port}")
    expect(report.get_by_role("heading", name="Sample entries")).to_be_visible()
    expect(report.get_by_role("status").locator("strong")).to_have_text(
        re.compile(r"^The connection works: \d{1,3}(,\d{3})* entr(y|ies) in 1 search base$"))
    shoot(page, "wizard-test-connection")
    _next(page, "Scope")

    # Scope: a search base per location, a live count that follows the filter
    for location, ou in LOCATIONS.items():
        page.get_by_label(f"Search bases for {location}").fill(f"ou={ou},{ldap.people_dn}")
    count = page.locator("#count-result .count")
    everyone = len(_in_scope())
    expect(count).to_have_attribute("data-count", str(everyone))
    page.get_by_label("Filter string").fill(
        "(&(objectClass=inetOrgPerson)(departmentNumber=Sales))")
    expect(count).to_have_attribute("data-count", str(len(_in_scope("Sales"))))
    page.get_by_label("Filter string").fill("")
    expect(count).to_have_attribute("data-count", str(everyone))
    expect(page.locator("#count-result")).to_contain_text(f"{everyone} entries match")
    _next(page, "Mapping")

    # Mapping: sample records as they map, following the lines being edited
    samples = page.locator("#sample-records")
    headings = samples.locator("thead th")
    expect(headings).to_contain_text(["First Name", "Last Name", "Email", "Result"])
    emails = {p.primary_email for p in _in_scope()}
    email_column = headings.all_text_contents().index("Email")
    shown = samples.locator(f"tbody td:nth-child({email_column + 1})").all_text_contents()
    assert shown and set(shown) <= emails, shown
    expect(samples.locator("tbody .pill").first).to_have_text("ok")
    mapping = page.get_by_label("Mapping lines")
    lines = mapping.input_value().splitlines()
    mapping.fill("\n".join(line for line in lines if not line.startswith("title=")))
    expect(headings.filter(has_text="Business Title")).to_have_count(0)
    mapping.fill("\n".join(lines))
    expect(headings.filter(has_text="Business Title")).to_have_count(1)
    _next(page, "Options")

    # Options: the defaults (archive missing people, safeguard 20 % / 10 / 500)
    archive = page.get_by_label("Archive contacts that are no longer in the directory")
    expect(archive).to_be_checked()
    expect(page.get_by_label("Block a run that would archive more than (%)")).to_have_value(
        re.compile(r"^20(\.0)?$"))
    expect(page.get_by_label(re.compile(r"but only when that is at least"))).to_have_value("10")
    expect(page.get_by_label(re.compile(r"^Always block a run"))).to_have_value("500")
    _next(page, "Preview")

    # Preview: what a sync would do, nothing written; its CSV export
    creates = page.locator('#preview-counts [data-op="create"]')
    expect(creates).to_have_attribute("data-count", re.compile(r"^\d+$"))
    created = int(creates.get_attribute("data-count"))
    expect(page.locator("#preview-counts .stat").first).to_contain_text(str(everyone))
    assert 0 < created <= everyone
    # the read's kind is a badge, not a notice; people by name, their DN in a tooltip
    expect(page.locator("#read-kind")).to_have_text("Full read")
    expect(page.locator(".notice", has_text="full read")).to_have_count(0)
    jose = page.locator("#preview-table tbody tr", has_text="José Núñez")
    expect(jose.locator(".record")).to_have_attribute("title", re.compile(r"^uid=jnunez,"))
    expect(jose.locator("td").last).to_contain_text("Identification E1001")
    table = page.locator("#preview-table")
    assert table.evaluate("t => t.scrollWidth <= t.parentElement.clientWidth"), "too wide"
    assert page.evaluate("document.documentElement.scrollWidth <= innerWidth")
    shoot(page, "wizard-preview")
    page.set_viewport_size({"width": 800, "height": 800})  # narrow: the table scrolls in its card
    assert page.evaluate("document.documentElement.scrollWidth <= innerWidth")
    page.set_viewport_size(VIEWPORT)
    assert contacts(page, "stark") == []
    with page.expect_download() as download:
        page.get_by_role("link", name="Export User Preview to .csv").click()
    download.value.save_as(tmp_path / "preview.csv")
    with open(tmp_path / "preview.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert {(r["first name"], r["last name"]) for r in rows if r["operation"] == "create"} >= {
        ("José", "Núñez")}
    _next(page, "Schedule")

    # Schedule, then save
    page.get_by_label("Every N hours at minute :01").check()
    page.get_by_role("combobox", name=re.compile(r"^Every")).select_option("6")
    page.get_by_role("button", name="Save source").click()
    expect(page.locator(".messages")).to_contain_text(
        "Created the source 'stark-ldap'. Sync now to read the directory.")
    expect(page.get_by_role("heading", level=1)).to_contain_text("stark-ldap")
    expect(page.locator("#source-settings")).to_contain_text(ldap.url_ldaps.rstrip("/"))
    assert ldap.reader_password not in page.content()

    # Sync now: the contacts appear, in their locations
    run_id, status = sync_now(page, "stark", "stark-ldap")
    assert status == "succeeded"
    run = api(page, f"/organizations/stark/runs/{run_id}")
    assert run["counts"]["created"] == created, run
    synced = contacts(page, "stark", status="active")
    assert len(synced) == created
    by_name = {(c["first_name"], c["last_name"]): c for c in synced}
    assert by_name[("José", "Núñez")]["location"] == "headquarters"
    assert {c["location"] for c in synced} == set(LOCATIONS)

    page.goto("/orgs/stark/")
    page.locator("#sources").get_by_role("link", name="stark-ldap", exact=True).click()
    status = page.get_by_role("region", name="Status")
    expect(status.locator("dd").first).to_have_text(re.compile(r"^ok"))  # the SSL status
    expect(status).to_contain_text("every 6 hours at :01")
    expect(page.locator("#run-history tbody tr").first).to_contain_text("succeeded")
    shoot(page, "source")
    page.goto("/")
    stark = page.get_by_role("row").filter(has=page.get_by_role("link", name="Stark Industries"))
    expect(stark.locator("td").nth(2)).to_have_text("LDAP")
    expect(stark.locator("td").nth(3)).to_have_text(str(created))
    expect(stark.locator("td").nth(5)).to_have_text("ok")
