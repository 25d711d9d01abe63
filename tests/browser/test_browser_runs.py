"""A run blocked by a safeguard, seen and approved in the portal: 12 of 30 people gone from the
file is more than 20 % of the source's contacts (and at least 10), so the sync waits for a person;
approving applies exactly that plan."""

from __future__ import annotations

import re
from pathlib import Path

from browsing import api, contacts, shoot, sync_now
from playwright.sync_api import expect
from support.syncing import csv_bytes, person


def test_a_blocked_run_shows_what_it_would_archive_and_approving_applies_it(page, portal):
    initech = portal.data["initech"]
    assert len(contacts(page, "initech", status="active")) == 30
    Path(initech["file"]).write_bytes(csv_bytes(*(
        person(n, location="", email=f"person{n}@initech.example") for n in range(1, 19))))

    run_id, status = sync_now(page, "initech", "payroll")
    assert status == "blocked"
    run = api(page, f"/organizations/initech/runs/{run_id}")
    assert len(contacts(page, "initech", status="active")) == 30  # nothing changed yet

    page.goto("/orgs/initech/")  # where the admin finds it again
    recent = page.get_by_role("region", name="Recent runs").get_by_role(
        "row", name=re.compile(f"#{run_id}"))
    expect(recent.locator(".pill")).to_have_text("blocked")
    recent.get_by_role("link", name=f"#{run_id}").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Run #{run_id} blocked")
    decision = page.get_by_role("region", name="This run is waiting for a decision")
    reason = run["blocked_reason"]
    expect(decision.locator(".notice")).to_have_text(reason[:1].upper() + reason[1:])
    assert "12" in run["blocked_reason"]
    would_archive = decision.locator("tbody tr")
    expect(would_archive).to_have_count(12)
    expect(decision).to_contain_text("including archiving the 12 contacts below")
    listed = {re.sub(r"\s*#\d+$", "", t.strip()) for t in
              decision.locator("tbody td:first-child").all_inner_texts()}
    assert listed == {f"First{n} Last{n}" for n in range(19, 31)}
    shoot(page, "blocked-run")

    decision.get_by_role("button", name="Approve and apply").click()
    expect(page.locator(".messages")).to_contain_text(
        f"Run #{run_id} approved: its plan was applied.")
    expect(page.get_by_role("heading", level=1)).not_to_contain_text("blocked")
    expect(page.get_by_role("region", name="This run is waiting for a decision")).to_have_count(0)
    expect(page.locator(".stat", has_text="Decided")).to_contain_text("admin")

    archived = contacts(page, "initech", status="archived")
    assert sorted(c["email"] for c in archived) == sorted(
        f"person{n}@initech.example" for n in range(19, 31))
    assert len(contacts(page, "initech", status="active")) == 18
