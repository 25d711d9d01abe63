"""A source in the portal: removing it (seed 004's Remove: the sync settings and their history
go, the contacts stay)."""

from __future__ import annotations

import re

from browsing import api, contacts
from playwright.sync_api import expect


def test_removing_a_source_keeps_its_contacts_as_unmanaged(page, portal):
    umbrella = portal.data["umbrella"]
    assert {c["source_id"] for c in contacts(page, "umbrella")} == {umbrella["source"]}
    page.goto("/")
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name="Umbrella Corporation"))
    row.get_by_label("Actions for Umbrella Corporation").click()
    row.get_by_role("link", name="Remove").click()

    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Remove the sync settings “legacy-hr”?")
    expect(page.locator("main")).to_contain_text("1 run and 5 directory user records")
    expect(page.locator("main")).to_contain_text("The 5 contacts it manages are kept")
    page.get_by_role("button", name="Remove sync settings").click()

    expect(page).to_have_url(re.compile(r"/orgs/umbrella/$"))
    expect(page.locator(".messages")).to_contain_text(re.compile(
        r"Removed the sync settings 'legacy-hr' and their history .+ 5 contacts were kept, "
        r"now unmanaged"))
    expect(page.locator("#sources")).not_to_contain_text("legacy-hr")
    kept = contacts(page, "umbrella")
    assert len(kept) == 5 and {(c["status"], c["source_id"]) for c in kept} == {("active", None)}
    assert api(page, "/organizations/umbrella/sources") == []
    assert api(page, "/organizations/umbrella/runs")["count"] == 0

    page.goto("/")
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name="Umbrella Corporation"))
    expect(row.locator("td").nth(1)).to_have_text("not set up")
    expect(row.locator("td").nth(3)).to_have_text("0")
