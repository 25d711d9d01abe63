"""Every main page fits a narrow window (800 px): no sideways scrolling of the page itself (a
wide table scrolls inside its card), and the row menus still open in full."""

from __future__ import annotations

import pytest
from browsing import new_context

PAGES = ["/", "/?sort=-conflicts", "/orgs/acme/", "/orgs/acme/settings/", "/orgs/acme/api-keys/",
         "/orgs/acme/webhooks/", "/orgs/hooli/", "/orgs/stark/sources/new/"]


@pytest.mark.parametrize("width", [800, 1280])
def test_pages_fit_the_window(browser, portal, operator_session, width):
    context = new_context(browser, portal, operator_session)
    page = context.new_page()
    page.set_viewport_size({"width": width, "height": 800})
    try:
        runs = page.request.get("/api/v1/organizations/acme/runs").json()["items"]
        sources = page.request.get("/api/v1/organizations/acme/sources").json()
        extra = [f"/orgs/acme/runs/{runs[-1]['id']}/",
                 *(f"/orgs/acme/sources/{s['id']}/{tail}" for s in sources
                   for tail in ("", "directory-users/"))]
        for path in PAGES + extra:
            page.goto(path)
            overflow = page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth")
            assert overflow <= 0, f"{path} is {overflow} px wider than a {width} px window"
    finally:
        context.close()
