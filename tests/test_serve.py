"""``usersync serve``: the portal from a threaded WSGI server, with a worker on SQLite."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request

import pytest

from usersync.cli import CommandError
from usersync.cli.serve import parse_address, start_server

from support.postgres import free_port
from support.syncing import csv_bytes, person


@pytest.mark.parametrize("address, expected", [
    ("127.0.0.1:8000", ("127.0.0.1", 8000)),
    (":8080", ("127.0.0.1", 8080)),
    ("[::1]:9000", ("::1", 9000)),
    ("0.0.0.0:80", ("0.0.0.0", 80)),
])
def test_addresses(address, expected):
    assert parse_address(address) == expected


def test_a_bad_address_says_what_to_give():
    with pytest.raises(CommandError, match="HOST:PORT"):
        parse_address("localhost")


def test_the_server_serves_the_portal_from_threads():
    server = start_server("127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/login/", timeout=10) as response:
            page = response.read().decode()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/static/portal/portal.css",
                                    timeout=10) as response:
            css = response.status
    finally:
        server.shutdown()
        server.server_close()
    assert "password" in page.lower() and css == 200


def test_serve_runs_queued_syncs_with_its_embedded_worker_and_stops_on_sigterm(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["USERSYNC_HOME"] = str(tmp_path / "home")

    def usersync(*args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "usersync", *args], env=env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    people = tmp_path / "people.csv"
    people.write_bytes(csv_bytes(*(person(n, location="") for n in range(1, 11))))
    usersync("org", "create", "--slug", "acme", "--name", "Acme")
    usersync("manage", "shell", "-c", (
        "from usersync.app import sources; from usersync.app.jobs import queue; "
        "from usersync.app.orgs.models import Organization; "
        "s = sources.create_source(Organization.objects.get(slug='acme'), 'hr', 'csv', "
        f"{{'path': {str(people)!r}}}); queue.enqueue(s, 'manual')"))
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "usersync", "serve", "--address",
                               f"127.0.0.1:{port}"], env=env, cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        page = _get_when_up(f"http://127.0.0.1:{port}/login/")
        runs = _wait_for_runs(usersync)
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    assert "password" in page.lower()
    assert [(r["status"], r["trigger"], r["counts"]["created"]) for r in runs] == [
        ("succeeded", "manual", 10)], output
    assert server.returncode == 0, output
    assert "with a worker" in output and "GET /login/" in output


def _get_when_up(url: str) -> str:
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.read().decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _wait_for_runs(usersync) -> list[dict]:
    deadline = time.monotonic() + 60
    while True:
        runs = json.loads(usersync("runs", "--org", "acme", "--json"))
        if runs and runs[0]["status"] not in ("queued", "running"):
            return runs
        assert time.monotonic() < deadline, runs
        time.sleep(0.2)
