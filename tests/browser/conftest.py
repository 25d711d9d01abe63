"""The portal, walked in a real browser: one ``usersync serve`` and one Chromium per session.

Fixtures:

- ``portal`` (session): ``usersync demo --no-serve`` (the newcomer's first command: the ``acme``
  organization synced from the bundled directory, and the ``admin`` login it prints), then the
  organizations of ``portal_data.py``, then ``usersync serve`` (threaded WSGI server and its
  embedded worker) on a free loopback port. Its own ``USERSYNC_HOME`` and SQLite database: never
  the test session's database, so the browser sees exactly what a deployment would.
- ``browser`` (session): headless Chromium — Debian's ``/usr/bin/chromium`` (scripts/setup
  installs it), never a downloaded one. Missing, the tests are skipped; under CI (``CI`` set) that
  is an error.
- ``page`` (function): a fresh browser context logged in as the demo's operator (the login is
  done once through the login form), 1280×800, with the server as its base URL.
- ``slapd_server`` (session): the real OpenLDAP server of tests/support/slapd.py, for the wizard.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
from browsing import TIMEOUT_MS, log_in, new_context
from playwright.sync_api import expect, sync_playwright
from support.slapd import ChildProcess, Slapd, free_port, tail

HERE = Path(__file__).resolve().parent
_server_logs: list[Path] = []  # shown with a failing test's report


def _require(what: str, found: bool, how: str) -> None:
    if found:
        return
    message = f"{what} is not installed: {how}"
    if os.environ.get("CI"):
        pytest.fail(f"{message} — CI must run the browser tests", pytrace=False)
    pytest.skip(message)


@dataclass(frozen=True)
class Portal:
    """The running server and what was prepared in it."""

    url: str
    files: Path  # the CSV files its sources read (tests rewrite them), and the server's log
    password: str  # the demo operator's, as `usersync demo` printed it
    data: dict  # what portal_data.py made: ids, file paths


def _run(command: list[str], env: dict[str, str], cwd: Path) -> str:
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=180,
                          check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command[1:])} failed ({done.returncode}):\n"
                           f"{tail(done.stdout + done.stderr)}")
    return done.stdout


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.fixture(scope="session")
def portal(tmp_path_factory) -> Portal:
    home = tmp_path_factory.mktemp("portal-home")
    files = tmp_path_factory.mktemp("portal-files")
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(USERSYNC_HOME=str(home), DJANGO_SETTINGS_MODULE="usersync.app.settings")
    port = free_port()
    address = f"127.0.0.1:{port}"
    demo = _run([sys.executable, "-m", "usersync", "demo", "--no-serve", "--address", address],
                env, home)
    login = re.search(r"Portal: (\S+)\s+user: admin\s+password: (\S+)", demo)
    assert login, f"usersync demo printed no login:\n{demo}"
    assert login.group(1) == f"http://{address}/"
    data = json.loads(_run([sys.executable, str(HERE / "portal_data.py"), str(files)], env, home))
    server = ChildProcess("usersync serve", files / "serve.log")
    _server_logs.append(server.log)
    url = f"http://{address}"
    server.start([sys.executable, "-m", "usersync", "serve", "--address", address], cwd=home,
                 env=env, ready=lambda: _answers(f"{url}/login/"), timeout=60)
    try:
        yield Portal(url, files, login.group(2), data)
    finally:
        server.stop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.failed and _server_logs and _server_logs[-1].exists():
        report.sections.append(("usersync serve (its last lines)",
                                tail(_server_logs[-1].read_text(errors="replace"), 25)))
    return report


@pytest.fixture(scope="session")
def browser():
    chromium = shutil.which("chromium")
    _require("chromium", chromium is not None,
             "run scripts/setup (Debian package chromium; never `playwright install`)")
    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as playwright:
        args = ["--no-sandbox"] if os.geteuid() == 0 else []
        browser = playwright.chromium.launch(executable_path=chromium, args=args)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="session")
def operator_session(browser, portal):
    """The demo operator's cookies, from one login through the form."""
    context = new_context(browser, portal)
    try:
        page = context.new_page()
        log_in(page, portal.password)
        page.wait_for_url(f"{portal.url}/")
        return context.storage_state()
    finally:
        context.close()


@pytest.fixture
def page(browser, portal, operator_session):
    context = new_context(browser, portal, operator_session)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield page
    finally:
        context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture(scope="session")
def slapd_server():
    found = all(shutil.which(p, path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin"]))
                for p in ("slapd", "slapadd"))
    _require("slapd", found, "run scripts/setup (Debian packages slapd, ldap-utils)")
    server = Slapd()
    try:
        yield server.start()
    finally:
        server.close()
