"""Webhooks in a real browser against ``usersync serve`` (its embedded worker delivers): add one
from the organization's page, see its secret once, send a test event and watch the delivery log
update itself with what happened — here a refusal, since the server allows no private
destinations and the URL names localhost."""

from __future__ import annotations

import re

from browsing import shoot
from playwright.sync_api import expect


def test_add_a_webhook_send_a_test_event_and_read_the_log(page, portal):
    page.goto("/orgs/acme/")
    page.get_by_role("link", name="Webhooks").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Webhooks")
    page.get_by_label("URL").fill("https://localhost:9/usersync")
    page.get_by_role("button", name="Add webhook").click()

    secret = page.get_by_role("region", name="The webhook's secret").locator(".secret")
    expect(secret).to_have_text(re.compile(r"^whsec_[\w-]{43}$"))
    shown = secret.inner_text()
    hooks = page.get_by_role("region", name="Webhooks", exact=True)
    expect(hooks.get_by_role("row", name=re.compile("localhost:9"))).to_contain_text("enabled")

    shoot(page, "webhooks")
    hooks.get_by_role("link", name="https://localhost:9/usersync").click()
    assert shown not in page.content()
    page.get_by_role("button", name="Send test event").click()
    expect(page.locator(".messages")).to_contain_text("Queued a test event")
    row = page.get_by_role("region", name="Delivery log").locator("tbody tr").first
    expect(row).to_contain_text("ping")
    # the worker tries within seconds; the log refreshes itself while an event is pending
    expect(row).to_contain_text("localhost (127.0.0.1) is a loopback address")
    expect(row).to_contain_text("USERSYNC_ALLOW_PRIVATE_DESTINATIONS=1")
    expect(row.locator(".pill")).to_have_text("pending")
    shoot(page, "webhook")

    page.get_by_role("button", name="Disable").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("disabled")
    expect(page.get_by_role("button", name="Send test event")).to_be_disabled()
