"""Logging in, the Organizations page (seed 004), an organization, and a run with its CSV export —
in Chromium, against `usersync serve` after `usersync demo`."""

from __future__ import annotations

import csv
import re

from browsing import api, log_in, new_context, shoot
from playwright.sync_api import expect

SEED_004_COLUMNS = ["Organization", "Enabled", "Directory type", "Synced users", "Conflicts",
                    "SSL status", "Last sync", "Status (last 10)"]


def test_a_newcomer_logs_in_with_the_login_usersync_demo_printed(browser, portal):
    context = new_context(browser, portal)
    page = context.new_page()
    try:
        page.goto("/")
        expect(page).to_have_url(re.compile(r"/login/\?next=/$"))
        log_in(page, portal.password + "x")
        expect(page.get_by_role("alert")).to_have_text("Wrong username or password.")

        log_in(page, portal.password)
        expect(page.get_by_role("heading", level=1)).to_contain_text("Organizations")
        expect(page.locator(".who")).to_contain_text("admin (operator)")
        expect(page.get_by_role("link", name="Acme Corporation")).to_be_visible()

        page.get_by_role("button", name="Log out").click()
        page.goto("/")
        expect(page).to_have_url(re.compile(r"/login/"))
    finally:
        context.close()


def _column(page, heading: str) -> list[str]:
    index = SEED_004_COLUMNS.index(heading) + 1
    return [t.strip() for t in page.locator(f"tbody tr td:nth-child({index})").all_inner_texts()]


def test_organizations_show_their_sync_health_and_sort_by_conflicts(page):
    page.goto("/")
    headings = page.locator("thead th").all_text_contents()
    assert [h.strip(" ▲▼") for h in headings[:8]] == SEED_004_COLUMNS
    acme = page.get_by_role("row").filter(has=page.get_by_role("link", name="Acme Corporation"))
    cells = [c.strip() for c in acme.locator("td").all_inner_texts()]
    assert cells[1:6] == ["✓", "LDIF", "205", "0", "—"], cells
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", cells[6]), cells
    mark = acme.locator(".mark").first
    expect(mark).to_have_attribute("title", re.compile(r"Connection attempt was successful"))
    expect(acme.locator(".marks")).to_have_attribute(
        "aria-label", re.compile(r"^1 recent attempt, 0 failed$"))

    page.get_by_role("link", name="Conflicts").click()
    expect(page).to_have_url(re.compile(r"\?sort=-conflicts$"))
    expect(page.locator("thead a[aria-sort=descending]")).to_have_text(re.compile("^Conflicts"))
    names = _column(page, "Organization")
    conflicts = [int(n) for n in _column(page, "Conflicts")]
    assert names[0].startswith("Hooli") and conflicts[0] == 2, list(zip(names, conflicts))
    assert conflicts == sorted(conflicts, reverse=True)
    shoot(page, "organizations")

    page.get_by_role("link", name=re.compile("^Conflicts")).click()  # again: ascending
    expect(page).to_have_url(re.compile(r"\?sort=conflicts$"))
    assert [int(n) for n in _column(page, "Conflicts")] == sorted(conflicts)


def test_an_organization_shows_locations_sources_and_contacts_by_department(page):
    page.goto("/")
    page.get_by_role("link", name="Acme Corporation").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Acme Corporation")
    locations = page.get_by_role("region", name="Locations")
    expect(locations.get_by_role("row")).to_have_count(3)
    expect(locations.get_by_role("row", name=re.compile(r"headquarters.*123"))).to_be_visible()
    expect(locations.get_by_role("row", name=re.compile(r"warehouse.*82"))).to_be_visible()
    expect(page.locator("#sources")).to_contain_text("demo-directory")
    actions = page.locator("#sources tbody tr").first.locator(".row-actions > *")
    expect(actions).to_have_text(["Sync now", "Directory users", "Edit", "Remove"])
    boxes = [actions.nth(i).bounding_box() for i in range(4)]
    for left, right in zip(boxes, boxes[1:]):  # apart, on one line or wrapped onto the next
        assert (right["x"] - (left["x"] + left["width"]) >= 4
                or right["y"] >= left["y"] + left["height"]), (left, right)
    results = page.locator("#contacts")
    expect(results.locator("p").first).to_have_text(re.compile(r"^205 contacts"))
    departments = results.locator("h3").all_inner_texts()
    assert len(departments) > 2 and all(re.search(r"\(\d+\)$", d) for d in departments)
    shoot(page, "organization")

    page.get_by_label("Location", exact=True).select_option("warehouse")
    expect(results.locator("p").first).to_have_text("82 contacts")
    expect(page).to_have_url(re.compile(r"location=warehouse"))
    assert set(results.locator("tbody td:nth-child(5)").all_inner_texts()) == {"warehouse"}

    page.get_by_label("Location", exact=True).select_option("headquarters")
    expect(results.locator("p").first).to_have_text("123 contacts")
    page.get_by_label("Search", exact=True).fill("Núñez")
    expect(results.locator("p").first).to_have_text("1 contact")
    expect(results.locator("tbody tr")).to_contain_text("José Núñez")

    page.get_by_role("link", name=re.compile("^Unmanaged")).click()
    expect(page.locator("#contacts")).to_contain_text("No contacts match.")


def test_a_run_shows_its_changes_by_operation_and_exports_them_as_csv(page, tmp_path):
    run = next(r for r in api(page, "/organizations/acme/runs")["items"] if r["trigger"] == "cli")
    page.goto("/orgs/acme/")
    recent = page.get_by_role("region", name="Recent runs")
    expect(recent.get_by_role("row", name=re.compile(f"#{run['id']}"))).to_contain_text(
        "Command line")
    recent.get_by_role("link", name=f"#{run['id']}").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Run #{run['id']} succeeded")
    expect(page.locator(".stat", has_text="Records read")).to_contain_text("211")
    expect(page.locator(".stat", has_text="Trigger")).to_contain_text("Command line")
    expect(page.locator("#read-kind")).to_have_text("Full read")
    changes = page.get_by_role("region", name=re.compile("^Changes"))
    tabs = changes.get_by_role("navigation", name="Filter by operation")
    tabs.get_by_role("link", name=re.compile(r"^Created")).click()
    expect(page).to_have_url(re.compile(r"\?op=create$"))
    operations = changes.locator("tbody td:first-child .pill")
    expect(operations.first).to_have_text("create")
    assert set(operations.all_inner_texts()) == {"create"}
    # a created contact: who (name, email, the new contact's id), where, and its values
    jose = changes.locator("tbody tr", has_text="José Núñez")
    expect(jose.locator(".person")).to_contain_text(re.compile(r"José Núñez #\d+"))
    expect(jose.locator(".person")).to_contain_text("jose.nunez@acme.example")
    expect(jose.locator(".record")).to_have_attribute("title", re.compile(r"^CN=José Núñez,"))
    expect(jose.locator("td").nth(2)).to_have_text("headquarters")
    expect(jose.locator(".values")).to_contain_text("Department Marketing")
    shoot(page, "run-detail")

    with page.expect_download() as download:
        changes.get_by_role("link", name="Export CSV").click()
    assert download.value.suggested_filename == f"acme-run-{run['id']}.csv"
    path = tmp_path / "run.csv"
    download.value.save_as(path)
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["operation", "record", "name", "location", "contact", "field",
                             "before", "after", "reason"]
    created = {row["record"] for row in rows if row["operation"] == "create"}
    assert len(created) == run["counts"]["created"] == 205
    jose = {row["field"]: row for row in rows if row["name"] == "José Núñez"}
    assert (jose["email"]["before"], jose["email"]["after"]) == ("", "jose.nunez@acme.example")
    assert jose["last_name"]["after"] == "Núñez" and jose["email"]["location"] == "headquarters"
