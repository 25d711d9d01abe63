"""The ``usersync`` command as a user runs it: a real process, a fresh SQLite home each test."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import resources

import pytest

DEMO_LDIF = resources.files("usersync.demo") / "directory.ldif"


@pytest.fixture
def usersync(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["USERSYNC_HOME"] = str(tmp_path / "home")

    def run(*args: str, expect: int = 0) -> subprocess.CompletedProcess:
        done = subprocess.run([sys.executable, "-m", "usersync", *args], env=env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == expect, done.stdout + done.stderr
        return done

    return run


def run_json(usersync, *args: str, expect: int = 0):
    return json.loads(usersync(*args, "--json", expect=expect).stdout)


def ldif_entries(text: str) -> list[str]:
    return [block for block in text.strip().split("\n\n") if block.strip()]


def test_demo_brings_up_about_200_active_contacts_in_two_locations(usersync):
    done = usersync("demo", "--no-serve")

    assert "user: admin" in done.stdout and "password:" in done.stdout
    contacts = run_json(usersync, "contacts", "--org", "acme", "--status", "active")
    assert 190 <= len(contacts) <= 230
    assert {c["location"] for c in contacts} == {"headquarters", "warehouse"}
    assert all(c["status"] == "active" for c in contacts)


def test_ldif_preview_writes_nothing_and_a_second_import_changes_nothing(usersync, tmp_path):
    usersync("org", "create", "--slug", "acme", "--name", "Acme",
             "--locations", "headquarters,warehouse")

    preview = run_json(usersync, "import-ldif", "--org", "acme", str(DEMO_LDIF), "--preview")
    assert preview["run"] is None and preview["counts"]["created"] > 190
    assert run_json(usersync, "contacts", "--org", "acme") == []
    assert run_json(usersync, "runs", "--org", "acme") == []

    first = run_json(usersync, "import-ldif", "--org", "acme", str(DEMO_LDIF))
    second = run_json(usersync, "import-ldif", "--org", "acme", str(DEMO_LDIF))

    assert first["status"] == "succeeded" and first["counts"]["created"] == preview["counts"]["created"]
    changes = {k: second["counts"][k] for k in ("created", "updated", "archived", "reactivated")}
    assert changes == {"created": 0, "updated": 0, "archived": 0, "reactivated": 0}
    assert second["counts"]["unchanged"] == first["counts"]["created"]


def test_removing_60_percent_is_blocked_until_approved_and_returning_people_keep_their_ids(
    usersync, tmp_path
):
    usersync("org", "create", "--slug", "acme", "--name", "Acme",
             "--locations", "headquarters,warehouse")
    full = DEMO_LDIF.read_text(encoding="utf-8")
    run_json(usersync, "import-ldif", "--org", "acme", str(DEMO_LDIF))
    before = {c["anchor"]: c["id"] for c in run_json(usersync, "contacts", "--org", "acme")}
    entries = ldif_entries(full)
    kept = [e for i, e in enumerate(entries) if i % 5 in (0, 1)]  # 40% of the entries stay
    smaller = tmp_path / "smaller.ldif"
    smaller.write_text("\n\n".join(kept) + "\n", encoding="utf-8")

    blocked = run_json(usersync, "import-ldif", "--org", "acme", str(smaller), expect=3)

    assert blocked["status"] == "blocked"
    assert "would archive" in blocked["blocked_reason"]
    still = run_json(usersync, "contacts", "--org", "acme", "--status", "active")
    assert len(still) == len(before)
    text = usersync("import-ldif", "--org", "acme", str(smaller), expect=3).stdout
    assert "usersync approve --org acme --run" in text

    runs = run_json(usersync, "runs", "--org", "acme")
    latest = runs[0]
    assert latest["status"] == "blocked" and latest["run"] > blocked["run"]
    assert next(r for r in runs if r["run"] == blocked["run"])["status"] == "rejected"  # superseded
    approved = run_json(usersync, "approve", "--org", "acme", "--run", str(latest["run"]))
    assert approved["status"] == "succeeded"
    archived = run_json(usersync, "contacts", "--org", "acme", "--status", "archived")
    assert len(archived) == approved["counts"]["archived"] > 0.5 * len(before)
    remaining = {c["anchor"] for c in run_json(usersync, "contacts", "--org", "acme", "--status", "active")}
    assert remaining.isdisjoint(c["anchor"] for c in archived)

    back = run_json(usersync, "import-ldif", "--org", "acme", str(DEMO_LDIF))

    assert back["counts"]["reactivated"] == len(archived)
    after = {c["anchor"]: c["id"] for c in run_json(usersync, "contacts", "--org", "acme", "--status", "active")}
    assert after == before


def test_a_csv_with_bad_rows_imports_the_good_ones_and_reports_each_bad_line(usersync, tmp_path):
    usersync("org", "create", "--slug", "acme", "--name", "Acme",
             "--locations", "headquarters,warehouse")
    lines = [
        b"First Name,Last Name,Email,SMS Phone,PIN,Location Slug",
        b"Ada,Lovelace,ada@acme.example,,1234,headquarters",      # line 2: good
        b"Alan,,alan@acme.example,,,headquarters",                 # line 3: no last name
        b"Grace,Hopper,grace@acme.example,,12,warehouse",          # line 4: PIN 12
        b"Jos\xe9,Nunez,jose@acme.example,,,warehouse",            # line 5: invalid UTF-8
        b"Linus,Torvalds,linus@acme.example,,,paris",              # line 6: unknown location
        b"Ada,Byron,ADA@acme.example,,,headquarters",              # line 7: duplicate email
        b"Ken,Thompson,,+14155550123,,warehouse",                   # line 8: good (SMS only)
    ]
    path = tmp_path / "people.csv"
    path.write_bytes(b"\r\n".join(lines) + b"\r\n")

    result = run_json(usersync, "import-csv", "--org", "acme", str(path))

    assert result["status"] == "succeeded"
    assert result["counts"]["created"] == 2 and result["counts"]["errors"] == 5
    by_line = {e["line"]: e for e in result["errors"]}
    assert sorted(by_line) == [3, 4, 5, 6, 7]
    assert by_line[3]["field"] == "last_name"
    assert by_line[4]["field"] == "pin" and "4 to 6 digits" in by_line[4]["message"]
    assert "invalid UTF-8 (byte 0xE9)" in by_line[5]["message"]
    assert "paris" in by_line[6]["message"]
    assert "line 2" in by_line[7]["message"]
    names = {c["first_name"] for c in run_json(usersync, "contacts", "--org", "acme")}
    assert names == {"Ada", "Ken"}


def test_two_organizations_never_see_each_others_contacts(usersync, tmp_path):
    usersync("org", "create", "--slug", "one", "--name", "One")
    usersync("org", "create", "--slug", "two", "--name", "Two")
    (tmp_path / "one.csv").write_text("First Name,Last Name,Email\nAda,One,ada@one.example\n")
    (tmp_path / "two.csv").write_text("First Name,Last Name,Email\nBob,Two,bob@two.example\n")

    run_json(usersync, "import-csv", "--org", "one", str(tmp_path / "one.csv"))
    run_json(usersync, "import-csv", "--org", "two", str(tmp_path / "two.csv"))

    assert [c["email"] for c in run_json(usersync, "contacts", "--org", "one")] == ["ada@one.example"]
    assert [c["email"] for c in run_json(usersync, "contacts", "--org", "two")] == ["bob@two.example"]


def test_contacts_csv_export_uses_the_seed_columns_and_never_the_pin(usersync, tmp_path):
    usersync("org", "create", "--slug", "one", "--name", "One")
    (tmp_path / "one.csv").write_text(
        "First Name,Last Name,Email,PIN,Department\nAda,One,ada@one.example,4821,=cmd|' /C calc'!A0\n")
    run_json(usersync, "import-csv", "--org", "one", str(tmp_path / "one.csv"))

    exported = usersync("contacts", "--org", "one", "--csv").stdout

    header = exported.splitlines()[0]
    assert header.startswith("First Name,Last Name,Email,SMS Phone")
    assert "PIN" not in header and "4821" not in exported
    assert "'=cmd" in exported  # a formula is escaped for spreadsheets
