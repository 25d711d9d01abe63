"""The Directory users tab, as seed 004 walks it: find the organization with conflicts, open its
directory users, map a conflict to an existing contact with the searchable picker, ignore a
duplicate user — then Sync now, and check what the sync did with those decisions."""

from __future__ import annotations

import re

from browsing import api, contacts, directory_users, shoot, sync_now
from playwright.sync_api import expect


def _open_directory_users(page, org_name: str):
    page.goto("/?sort=-conflicts")
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=org_name))
    row.get_by_label(f"Actions for {org_name}").click()
    row.get_by_role("link", name="View directory users").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Directory users")


def side_by_side(left: dict, right: dict) -> bool:
    """Two boxes on one line: ``right`` starts after ``left`` and their heights overlap."""
    return (right["x"] >= left["x"] + left["width"]
            and right["y"] < left["y"] + left["height"]
            and left["y"] < right["y"] + right["height"])


def _decide_menu(page, row):
    """Open the row's Edit menu (the User Sync Details of seed 004)."""
    row.locator("summary", has_text="Edit").click()
    return row.locator(".menu-items")


def _conflicts_of(page, org_name: str) -> str:
    page.goto("/")
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=org_name))
    return row.locator("td").nth(4).inner_text().strip()


def test_a_conflict_is_resolved_by_mapping_the_user_to_a_contact(page, portal):
    globex = portal.data["globex"]
    assert _conflicts_of(page, "Globex Corporation") == "1"
    _open_directory_users(page, "Globex Corporation")
    page.get_by_role("navigation", name="Filter by state").get_by_role(
        "link", name=re.compile("^Conflict")).click()
    expect(page).to_have_url(re.compile(r"state=conflict"))
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(1)
    dana = rows.first
    expect(dana.locator("summary").first).to_contain_text("Dana Scully")
    expect(dana).to_contain_text("matches 2 contacts (by email, identification)")
    dana.locator("details summary").first.click()  # the details: what the directory says
    details = dana.locator("dl")
    expect(details).to_contain_text("G-0007")
    expect(details.locator("dt")).to_have_text(["First Name", "Last Name", "Email", "Department",
                                                "Identification", "Anchor"])  # no empty ones
    labels, values = details.locator("dt"), details.locator("dd")
    for i in range(2):  # a grid: each label beside its value
        label, value = labels.nth(i).bounding_box(), values.nth(i).bounding_box()
        assert side_by_side(label, value), (label, value)

    menu = _decide_menu(page, dana)
    menu.get_by_label("Map to an existing contact").fill("Dana")
    choices = menu.get_by_role("listitem")
    expect(choices).to_have_count(2)
    expect(choices.filter(has_text="Dana Katz")).to_contain_text("dana@globex.example")
    for choice in choices.all():  # each contact on one line: its name, then its email
        name = choice.get_by_role("button").bounding_box()
        email = choice.locator(".muted").bounding_box()
        assert side_by_side(name, email), (name, email)
    shoot(page, "directory-users")
    choices.get_by_role("button", name="Dana Scully").click()

    expect(page.locator(".messages")).to_contain_text(
        re.compile(r"Mapped .+ to Dana Scully; the next sync links them"))
    expect(page).to_have_url(re.compile(r"state=conflict"))  # back where the admin was
    expect(page.locator("tbody")).to_contain_text("No directory users in this state")
    page.get_by_role("link", name=re.compile("^Mapped")).click()
    expect(page.locator("tbody tr", has_text="Dana Scully").locator(".pill").first).to_have_text(
        "mapped")
    (obj,) = [o for o in directory_users(page, "globex", globex["source"])
              if o["anchor"] == "identification:G-0007"]
    assert (obj["state"], obj["manual_contact_id"]) == ("mapped", globex["scully"])
    assert _conflicts_of(page, "Globex Corporation") == "0"

    run_id, status = sync_now(page, "globex", "globex-hr")
    run = api(page, f"/organizations/globex/runs/{run_id}")
    assert status == "succeeded" and run["counts"]["conflicts"] == 0, run
    (scully,) = [c for c in contacts(page, "globex") if c["id"] == globex["scully"]]
    assert (scully["source_id"], scully["email"], scully["status"]) == (
        globex["source"], "dana@globex.example", "active")
    (obj,) = [o for o in directory_users(page, "globex", globex["source"])
              if o["anchor"] == "identification:G-0007"]
    assert (obj["state"], obj["contact_id"]) == ("mapped", globex["scully"])


def test_an_ignored_user_loses_its_mapping_and_the_next_sync_skips_it(page, portal):
    globex = portal.data["globex"]
    email = "person3@globex.example"
    (contact,) = contacts(page, "globex", q=email)
    assert contact["source_id"] == globex["source"]
    _open_directory_users(page, "Globex Corporation")
    page.get_by_label("Search", exact=True).fill(email)
    page.get_by_role("button", name="Search").click()
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("First3 Last3")

    menu = _decide_menu(page, rows.first)
    dialogs: list[str] = []
    page.once("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.accept()))
    menu.get_by_role("button", name="Ignore this user (removes the mapping)").click()
    expect(page.locator(".messages")).to_contain_text("its mapping was removed")
    assert dialogs == ["Ignore this user? Its mapping is removed."]

    page.get_by_role("link", name=re.compile("^Ignored")).click()
    ignored = page.locator("tbody tr", has_text="First3 Last3")
    expect(ignored.locator(".pill").first).to_have_text("ignored")
    expect(ignored.locator("td").nth(2)).to_have_text("—")
    (contact,) = contacts(page, "globex", q=email)
    assert (contact["source_id"], contact["status"]) == (None, "active")

    assert sync_now(page, "globex", "globex-hr")[1] == "succeeded"
    (contact,) = contacts(page, "globex", q=email)
    assert (contact["source_id"], contact["status"]) == (None, "active")  # kept, not relinked
    page.goto(f"/orgs/globex/sources/{globex['source']}/directory-users/?state=ignored")
    ignored = page.locator("tbody tr")
    expect(ignored).to_have_count(1)
    expect(ignored.first).to_contain_text("First3 Last3")  # still says who is ignored
    (obj,) = directory_users(page, "globex", globex["source"], state="ignored")
    assert obj["ignored"] and obj["contact_id"] is None, obj
    assert obj["attributes"].get("email") == email, obj
