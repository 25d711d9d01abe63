"""Steps the browser tests share (a browser context, logging in, Sync now from the source page),
screenshots for the README, and the resulting state read back through the REST API with the
browser's own session."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import expect

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
VIEWPORT = {"width": 1280, "height": 800}
TIMEOUT_MS = 20_000  # for a loaded CI machine; a passing step never waits for it
RUN_WAIT_SECONDS = 60  # a queued run waits for the worker's next look at the queue
RUN_STATUS = re.compile(r"^(succeeded|failed|blocked|rejected|cancelled)$")


def new_context(browser, portal, storage_state=None):
    """A fresh browser context on the portal (its cookies: ``storage_state``), the same size,
    language and time zone every run, so the screenshots only change when the pages do."""
    context = browser.new_context(base_url=portal.url, viewport=VIEWPORT, locale="en-GB",
                                  timezone_id="UTC", accept_downloads=True,
                                  storage_state=storage_state)
    context.set_default_timeout(TIMEOUT_MS)
    return context


def log_in(page, password: str, username: str = "admin") -> None:
    """Through the login form, as a person does."""
    page.goto("/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def shoot(page, name: str) -> Path:
    """Save what the 1280×800 window shows as docs/screenshots/NAME.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), animations="disabled", caret="hide")
    return path


def api(page, path: str, **params) -> dict | list:
    """GET /api/v1{path} as the logged-in user of ``page``."""
    response = page.request.get(f"/api/v1{path}", params=params or None)
    assert response.ok, f"GET /api/v1{path}: {response.status} {response.text()}"
    return response.json()


def contacts(page, org: str, **filters) -> list[dict]:
    return api(page, f"/organizations/{org}/contacts", limit=500, **filters)["items"]


def directory_users(page, org: str, source_id: int, **filters) -> list[dict]:
    return api(page, f"/organizations/{org}/sources/{source_id}/directory-objects", limit=500,
               **filters)["items"]


def open_source(page, org: str, source_name: str) -> None:
    """The organization's page, then the source's page from its Sources table."""
    page.goto(f"/orgs/{org}/")
    page.locator("#sources").get_by_role("link", name=source_name, exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(source_name)


def sync_now(page, org: str, source_name: str) -> tuple[int, str]:
    """Press Sync now on the source's page; wait on the run's page (it refreshes itself while
    the run is queued or running, done by the server's embedded worker) for the run to end.
    The run's id and status."""
    open_source(page, org, source_name)
    page.get_by_role("button", name="Sync now").click()
    message = page.locator(".messages")
    expect(message).to_contain_text(re.compile(rf"{re.escape(source_name)}: sync queued as run #"))
    run_id = int(re.search(r"run #(\d+)", message.inner_text()).group(1))
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"Run #{run_id}")
    status = page.locator("#run-status")
    expect(status).to_have_text(RUN_STATUS, timeout=RUN_WAIT_SECONDS * 1000)
    return run_id, status.inner_text()
