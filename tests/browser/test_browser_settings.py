"""An organization's settings in the browser: the admin changes who gets the notification emails
and when; a mistyped address is named and nothing is lost; the API reads back what was saved."""

from __future__ import annotations

import re

from browsing import api, shoot
from playwright.sync_api import expect


def test_an_admin_changes_the_notification_addresses(page):
    page.goto("/orgs/umbrella/")
    page.get_by_role("link", name="Settings").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Settings")
    addresses = page.get_by_label("Notification addresses")
    addresses.fill("it@umbrella.example, security@umbrella\nhr@umbrella.example")
    page.get_by_label("Only failed or blocked runs").check()
    page.get_by_role("button", name="Save settings").click()

    expect(page.get_by_role("alert")).to_have_text(
        "'security@umbrella' is not a valid email address")
    expect(addresses).to_have_value("it@umbrella.example, security@umbrella\nhr@umbrella.example")
    assert api(page, "/organizations/umbrella")["notification_emails"] == []

    addresses.fill("it@umbrella.example, Security@Umbrella.example\nhr@umbrella.example")
    page.get_by_label("Time zone").fill("Europe/Amsterdam")
    page.get_by_role("button", name="Save settings").click()
    expect(page.locator(".messages")).to_have_text("Saved the settings of Umbrella Corporation.")
    expect(addresses).to_have_value(
        "it@umbrella.example\nsecurity@umbrella.example\nhr@umbrella.example")
    expect(page.get_by_label("Only failed or blocked runs")).to_be_checked()
    shoot(page, "organization-settings")
    saved = api(page, "/organizations/umbrella")
    assert saved["notification_emails"] == ["it@umbrella.example", "security@umbrella.example",
                                            "hr@umbrella.example"]
    assert saved["time_zone"] == "Europe/Amsterdam"
    expect(page.get_by_label("Contact limit")).to_have_value(re.compile(r"^$"))  # operator's
