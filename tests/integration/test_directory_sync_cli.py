"""Issue 3 as an admin meets it: ``usersync`` processes with a home of their own, against the
session's Samba AD DC. Each process costs seconds (Django starts every time), so one test walks
the whole path, and the read-only commands at the end run side by side.

What it proves: the bind password (the right one and a wrong one) cannot be found in any file
under ``USERSYNC_HOME`` (the SQLite database with its -wal/-shm files, the key files, anything a
command writes there), in any command's output or in the logs (debug level, on stderr).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


from support import directory_data as data
from support import samba

HQ, WAREHOUSE = samba.ou_dn(("Headquarters",)), samba.ou_dn(("Warehouse",))
ACTIVE = [p for location in ("headquarters", "warehouse") for p in data.people_in(location)
          if p.active]


class Cli:
    """``python -m usersync`` in a fresh home; every output is kept, to look for secrets in it."""

    def __init__(self, tmp_path: Path):
        self.home = tmp_path / "home"
        self.cwd = tmp_path / "work"
        self.cwd.mkdir()
        self.env = {k: v for k, v in os.environ.items()
                    if k not in ("DATABASE_URL", "USERSYNC_ENCRYPTION_KEYS",
                                 "DJANGO_SETTINGS_MODULE")}
        self.env.update(USERSYNC_HOME=str(self.home), USERSYNC_LOG_LEVEL="DEBUG")
        self.outputs: list[str] = []

    def start(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "usersync", *args], env=self.env,
                                cwd=self.cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                stdin=subprocess.DEVNULL, text=True)

    def finish(self, process: subprocess.Popen, expect: int = 0) -> str:
        stdout, stderr = process.communicate(timeout=120)
        self.outputs += [stdout, stderr]
        assert process.returncode == expect, (process.args, stdout, stderr)
        return stdout

    def __call__(self, *args: str, expect: int = 0) -> str:
        return self.finish(self.start(*args), expect)

    def json(self, *args: str, expect: int = 0):
        return json.loads(self(*args, "--json", expect=expect))

    def together(self, *commands: tuple[str, ...]) -> list:
        """Read-only commands at the same time; their JSON outputs, in order."""
        started = [self.start(*command, "--json") for command in commands]
        return [json.loads(self.finish(process)) for process in started]

    def file(self, name: str, text: str) -> str:
        path = self.cwd / name
        path.write_text(text, encoding="utf-8")
        return str(path)


def test_the_bind_password_is_never_in_the_home_files_the_logs_or_any_output(tmp_path,
                                                                             samba_domain):
    dc = samba_domain
    cli = Cli(tmp_path)
    right, wrong = dc.reader_password, "Wrong-" + dc.reader_password[::-1]
    cli("org", "create", "--slug", "acme", "--name", "Acme",
        "--locations", "headquarters,warehouse")

    # Added with a wrong password first: the errors are where a password would leak.
    cli.json("source", "add", "--org", "acme", "--name", "corp-ad", "--kind", "active_directory",
             "--url", dc.ldaps_url, "--bind-dn", dc.reader_upn,
             "--password-file", cli.file("wrong.txt", wrong + "\n"),
             "--ca-file", str(dc.ca_file),
             "--scope", f"headquarters={HQ}", "--scope", f"warehouse={WAREHOUSE}")
    report = cli.json("source", "test", "--org", "acme", "--source", "corp-ad", expect=1)
    failed = cli.json("sync", "--org", "acme", "--source", "corp-ad", expect=1)

    assert report["reachable"] is True and report["ssl_status"] == "ok"
    assert report["bind"]["ok"] is False
    assert "wrong password for the bind account" in report["bind"]["hint"]
    assert failed["status"] == "failed" and failed["error"]["code"] == "bind_wrong_password"
    assert "wrong password for the bind account" in failed["error"]["hint"]

    cli("source", "edit", "--org", "acme", "--name", "corp-ad",
        "--password-file", cli.file("right.txt", right + "\n"))
    synced = cli.json("sync", "--org", "acme", "--source", "corp-ad")
    shown, listed, history, contacts = cli.together(
        ("source", "show", "--org", "acme", "--name", "corp-ad"),
        ("source", "list", "--org", "acme"),
        ("runs", "--org", "acme"),
        ("contacts", "--org", "acme"))

    assert synced["status"] == "succeeded" and synced["counts"]["created"] == len(ACTIVE) == 32
    assert shown["password_set"] is True and "secret" not in shown
    (row,) = listed
    assert (row["name"], row["managed_active"], row["last_run"], row["last_status"]) == (
        "corp-ad", 32, synced["run"], "succeeded")
    assert row["last_connection"]["ok"] is True
    assert row["last_connection"]["server"] == dc.ldaps_url
    assert [(r["run"], r["status"]) for r in history] == [(synced["run"], "succeeded"),
                                                         (failed["run"], "failed")]
    assert "wrong password for the bind account" in history[1]["hint"]
    by_email = {c["email"]: c for c in contacts}
    assert {c["identification"] for c in contacts} == {p.employee_id for p in ACTIVE}
    hbecker = by_email["hannah.becker@usersync.test"]
    assert (hbecker["location"], hbecker["status"], hbecker["aliases"]) == (
        "headquarters", "active", ["hannah.schmidt@usersync.test"])
    assert all(isinstance(c["id"], int) and c["anchor"] for c in contacts)

    files = [path for path in cli.home.rglob("*") if path.is_file()]
    assert any(path.name.endswith(".sqlite3") for path in files)
    contents = {path: path.read_bytes() for path in files}
    for secret in (right, wrong):
        for encoded in {secret.encode("utf-8"), secret.encode("utf-16-le")}:
            leaked = [path.name for path, content in contents.items() if encoded in content]
            assert not leaked, f"a bind password is in {leaked}"
        assert not [output for output in cli.outputs if secret in output]
