"""``usersync source add|edit|show|list|test|remove`` and ``usersync rotate-keys`` as an admin
runs them: a real process and a fresh SQLite home per test. No directory server is needed: a
``source test`` of a closed port must say the server is unreachable.

The schedule and option tests at the end call ``usersync.cli.main`` in this process, on the test
database: what they check is the command's parsing and output, not the process.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import sqlite3
import stat
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import trustme
from cryptography.fernet import Fernet

from usersync.app.orgs.services import create_organization
from usersync.cli import CommandError, main
from usersync.cli.scopes import parse_scope

PASSWORD = "pw-" + secrets.token_hex(8) + "-Ünïcode"
HQ = "OU=Headquarters,DC=acme,DC=example"
WAREHOUSE = "OU=Warehouse,DC=acme,DC=example"
PEOPLE_CSV = ("First Name,Last Name,Email,Location Slug\n"
              "Ada,Lovelace,ada@acme.example,headquarters\n"
              "Grace,Hopper,grace@acme.example,warehouse\n")


class Cli:
    """Runs ``usersync`` in a fresh home; keeps every output, to look for the password in it."""

    def __init__(self, tmp_path: Path):
        self.home = tmp_path / "home"
        self.cwd = tmp_path
        self.env = {k: v for k, v in os.environ.items()
                    if k not in ("DATABASE_URL", "USERSYNC_ENCRYPTION_KEYS")}
        self.env["USERSYNC_HOME"] = str(self.home)
        self.outputs: list[str] = []

    def __call__(self, *args: str, expect: int = 0, stdin: str | None = None):
        done = subprocess.run([sys.executable, "-m", "usersync", *args], env=self.env,
                              cwd=self.cwd, capture_output=True, text=True, timeout=120,
                              input=stdin)
        self.outputs.append(done.stdout + done.stderr)
        assert done.returncode == expect, done.stdout + done.stderr
        return done

    def json(self, *args: str, expect: int = 0):
        return json.loads(self(*args, "--json", expect=expect).stdout)

    def file(self, name: str, text: str) -> str:
        path = self.cwd / name
        path.write_text(text, encoding="utf-8")
        return str(path)


@pytest.fixture
def cli(tmp_path):
    return Cli(tmp_path)


@pytest.fixture
def acme(cli):
    cli("org", "create", "--slug", "acme", "--name", "Acme",
        "--locations", "headquarters,warehouse")
    return cli


def add_ad(cli, *extra: str, name: str = "corp-ad", expect: int = 0):
    password_file = cli.file("password.txt", PASSWORD + "\n")
    return cli("source", "add", "--org", "acme", "--name", name, "--kind", "active_directory",
               "--url", "ldaps://dc1.acme.example", "--url", "ldaps://dc2.acme.example:636",
               "--bind-dn", "usersync@acme.example", "--password-file", password_file,
               "--scope", f"headquarters={HQ}", "--scope", f"warehouse={WAREHOUSE}",
               *extra, expect=expect)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# -- --scope: split at the first '=', or the whole value for a global organization -------------

LOCATIONS = ["headquarters", "warehouse"]


@pytest.mark.parametrize("value, multi, expected", [
    (f"headquarters={HQ}", True, {"base": HQ, "location": "headquarters"}),
    (f" Warehouse = {WAREHOUSE} ", True, {"base": WAREHOUSE, "location": "warehouse"}),
    ("warehouse=CN=Users,DC=acme,DC=example", True,
     {"base": "CN=Users,DC=acme,DC=example", "location": "warehouse"}),
    (r"headquarters=OU=Sales\, EMEA,DC=acme", True,
     {"base": r"OU=Sales\, EMEA,DC=acme", "location": "headquarters"}),
    ("paris=OU=Paris,DC=acme", True, {"base": "OU=Paris,DC=acme", "location": "paris"}),
    (HQ, False, {"base": HQ}),
    ("DC=globex,DC=example", False, {"base": "DC=globex,DC=example"}),
    (r"OU=Sales\, EMEA,DC=globex", False, {"base": r"OU=Sales\, EMEA,DC=globex"}),
])
def test_scope_values(value, multi, expected):
    assert parse_scope(value, multi, LOCATIONS) == expected


@pytest.mark.parametrize("value, multi, message", [
    (HQ, True, "names no location: write LOCATION=BASE_DN, e.g. headquarters=OU=Headquarters"),
    ("dc=acme,dc=example", True, "names no location"),
    ("headquarters=", True, "write LOCATION=BASE_DN"),
    ("=OU=HQ,DC=acme", True, "write LOCATION=BASE_DN"),
    ("headquarters", True, "write LOCATION=BASE_DN"),
    (f"headquarters={HQ}", False, "the organization is global"),
])
def test_scope_mistakes(value, multi, message):
    with pytest.raises(CommandError, match=message):
        parse_scope(value, multi, LOCATIONS)


# -- add, show, list, edit, remove --------------------------------------------------------------

def test_add_then_show_and_list_never_the_password(acme):
    done = add_ad(acme, "--ca-file", acme.file("ca.pem", _ca_pem()), "--keep-disabled",
                  "--filter", "(department=*)", "--group", "CN=Staff,OU=Groups,DC=acme,DC=example",
                  "--exclude", "sAMAccountName=svc-*", "--no-archive-missing")

    assert "Added source corp-ad" in done.stdout and "usersync source test" in done.stdout
    shown = acme.json("source", "show", "--org", "acme", "--name", "corp-ad")
    settings = shown["settings"]
    assert shown["kind"] == "active_directory" and shown["password_set"] is True
    assert shown["archive_disabled"] is False and shown["archive_missing"] is False
    assert settings["urls"] == ["ldaps://dc1.acme.example", "ldaps://dc2.acme.example:636"]
    assert settings["bind_dn"] == "usersync@acme.example"
    assert settings["scopes"] == [{"base": HQ, "location": "headquarters"},
                                  {"base": WAREHOUSE, "location": "warehouse"}]
    assert settings["filter"] == "(department=*)"
    assert settings["groups"] == ["CN=Staff,OU=Groups,DC=acme,DC=example"]
    assert settings["exclusions"] == ["sAMAccountName=svc-*"]
    assert settings["ca_pem"].startswith("-----BEGIN CERTIFICATE-----")
    assert "password" not in settings and "secret" not in shown
    listed = acme.json("source", "list", "--org", "acme")
    assert [(s["name"], s["kind"]) for s in listed] == [("corp-ad", "active_directory")]
    acme("source", "show", "--org", "acme", "--name", "corp-ad")
    assert not any(PASSWORD in output for output in acme.outputs)


def test_edit_replaces_what_is_given_and_keeps_the_rest(acme):
    add_ad(acme, "--group", "CN=A,DC=acme,DC=example", "--group", "CN=B,DC=acme,DC=example")

    edited = acme.json("source", "edit", "--org", "acme", "--name", "corp-ad",
                       "--scope", f"warehouse={WAREHOUSE}", "--group", "CN=C,DC=acme,DC=example",
                       "--url", "ldaps://dc9.acme.example", "--keep-disabled", "--rename", "ad")

    assert edited["name"] == "ad" and edited["archive_disabled"] is False
    assert edited["settings"]["scopes"] == [{"base": WAREHOUSE, "location": "warehouse"}]
    assert edited["settings"]["groups"] == ["CN=C,DC=acme,DC=example"]
    assert edited["settings"]["urls"] == ["ldaps://dc9.acme.example"]
    assert edited["settings"]["bind_dn"] == "usersync@acme.example"  # kept

    again = acme.json("source", "edit", "--org", "acme", "--name", "ad", "--no-groups",
                      "--archive-disabled", "--page-size", "1000")
    assert again["settings"]["groups"] == [] and again["archive_disabled"] is True
    assert again["settings"]["page_size"] == 1000
    acme("source", "edit", "--org", "acme", "--name", "ad", "--kind", "ldap", expect=2)


INVALID_OPTIONS = [
    (("--url", "https://dc1.acme.example"), "is not an LDAP server URL"),
    (("--scope", "paris=OU=Paris,DC=acme,DC=example"), "has no location 'paris'"),
    (("--scope", HQ), "names no location"),
    (("--filter", "(department=Sales"), "filter: the search filter '(department=Sales' is not "
                                        "valid"),
    (("--exclude", "svc-*"), "is not attribute=pattern"),
    (("--page-size", "5000"), "page_size: must be at most 1000"),
    (("--bind-dn", "usersync"), "bind_dn: the bind account 'usersync' is not a distinguished name"),
    (("--ca-file", "password.txt"), "ca_pem: the CA file is not a PEM certificate"),
    (("--keep-disabled", "--archive-disabled"), "contradict each other"),
]


def test_invalid_options_are_refused_with_a_clear_message_and_change_nothing(acme):
    add_ad(acme)
    before = acme.json("source", "show", "--org", "acme", "--name", "corp-ad")

    for args, message in INVALID_OPTIONS:
        done = acme("source", "edit", "--org", "acme", "--name", "corp-ad", *args, expect=2)
        assert message in done.stderr, (args, done.stderr)
        assert "Traceback" not in done.stderr

    assert acme.json("source", "show", "--org", "acme", "--name", "corp-ad") == before
    assert not any(PASSWORD in output for output in acme.outputs)


def test_add_refuses_a_missing_or_empty_password_file(acme):
    empty = acme.file("empty.txt", "\n")
    common = ("source", "add", "--org", "acme", "--name", "x", "--kind", "ldap", "--url",
              "ldaps://h", "--bind-dn", "cn=x,dc=y", "--scope", f"headquarters={HQ}")

    assert "--password-file" in acme(*common, expect=2).stderr
    assert "is empty" in acme(*common, "--password-file", empty, expect=2).stderr
    assert "cannot read the password file" in acme(*common, "--password-file", "nope",
                                                   expect=2).stderr
    assert acme.json("source", "list", "--org", "acme") == []


def test_a_global_organization_gives_just_the_base_dn(cli):
    cli("org", "create", "--slug", "globex", "--name", "Globex")
    password = cli.file("pw", PASSWORD)

    cli("source", "add", "--org", "globex", "--name", "ldap", "--kind", "ldap", "--url",
        "ldaps://ldap.globex.example", "--bind-dn", "cn=usersync,dc=globex,dc=example",
        "--password-file", password, "--scope", "ou=people,dc=globex,dc=example")

    shown = cli.json("source", "show", "--org", "globex", "--name", "ldap")
    assert shown["settings"]["scopes"] == [{"base": "ou=people,dc=globex,dc=example"}]
    assert shown["settings"]["mapping"][2] == "email=mail"  # the OpenLDAP default mapping


def test_remove_deletes_the_source_and_its_runs_and_keeps_the_contacts(acme):
    acme("import-csv", "--org", "acme", acme.file("people.csv", PEOPLE_CSV))
    before = acme.json("contacts", "--org", "acme")

    acme("source", "remove", "--org", "acme", "--name", "csv-import", expect=2)  # no --yes
    done = acme("source", "remove", "--org", "acme", "--name", "csv-import", "--yes")

    assert "2 contact(s) kept" in done.stdout
    assert acme.json("source", "list", "--org", "acme") == []
    assert acme.json("runs", "--org", "acme") == []
    after = acme.json("contacts", "--org", "acme")
    assert [c["id"] for c in after] == [c["id"] for c in before]
    assert all(c["source"] is None and c["anchor"] is None and c["status"] == "active"
               for c in after)


# -- the password: never in the database file, never in any output ------------------------------

def test_the_bind_password_is_never_in_the_database_file_nor_any_output(acme):
    other = "second-" + secrets.token_hex(8)
    add_ad(acme)
    acme("source", "edit", "--org", "acme", "--name", "corp-ad", "--password-file", "-",
         stdin=other + "\n")
    acme("source", "edit", "--org", "acme", "--name", "corp-ad",
         "--url", f"ldap://127.0.0.1:{closed_port()}")
    acme.json("source", "show", "--org", "acme", "--name", "corp-ad")
    acme.json("source", "list", "--org", "acme")
    acme("source", "test", "--org", "acme", "--source", "corp-ad", expect=1)
    acme("sync", "--org", "acme", "--source", "corp-ad", "--json", expect=1)
    acme.json("runs", "--org", "acme")
    acme("rotate-keys")

    files = [path for path in acme.home.rglob("*") if path.is_file()]
    assert any(path.name.endswith(".sqlite3") for path in files)
    for secret in (PASSWORD, other):
        for encoded in {secret.encode("utf-8"), secret.encode("utf-16-le")}:
            assert not any(encoded in path.read_bytes() for path in files), secret
        assert not any(secret in output for output in acme.outputs)


def test_the_password_file_loses_one_trailing_newline_only(acme, tmp_path):
    """What was stored is what the file held, minus one newline: checked by decrypting it with
    the key file, as a process of the same home would."""
    add_ad(acme)
    acme("source", "edit", "--org", "acme", "--name", "corp-ad", "--password-file", "-",
         stdin=" spaced \n\n")
    keys = (acme.home / "encryption-keys").read_text().split()
    assert stat.S_IMODE((acme.home / "encryption-keys").stat().st_mode) == 0o600

    token = _stored_secret(acme.home)

    assert Fernet(keys[0]).decrypt(token.encode()).decode() == " spaced \n"


# -- source test ----------------------------------------------------------------------------------

def test_source_test_of_a_closed_port_says_unreachable_with_a_hint(acme):
    add_ad(acme)
    url = f"ldap://127.0.0.1:{closed_port()}"
    acme("source", "edit", "--org", "acme", "--name", "corp-ad", "--url", url)

    report = acme.json("source", "test", "--org", "acme", "--source", "corp-ad", expect=1)
    text = acme("source", "test", "--org", "acme", "--source", "corp-ad", expect=1).stdout

    assert report["reachable"] is False
    assert set(report) >= {"reachable", "server", "ssl_status", "certificate", "bind", "bases",
                           "samples"}
    assert report["bind"]["ok"] is False and report["bind"]["hint"]
    assert "NOT reachable" in text and "What to do:" in text


# -- rotate-keys ----------------------------------------------------------------------------------

def test_rotate_keys_with_a_key_file_then_drop_old(acme):
    add_ad(acme)
    path = acme.home / "encryption-keys"
    first = path.read_text().split()

    rotated = acme.json("rotate-keys")
    keys = path.read_text().split()
    dropped = acme.json("rotate-keys", "--no-new-key", "--drop-old")

    assert rotated["reencrypted"] == 1 and rotated["new_key"] and len(keys) == 2
    assert keys[1:] == first
    assert dropped["dropped"] == 1 and path.read_text().split() == keys[:1]
    assert Fernet(keys[0]).decrypt(_stored_secret(acme.home).encode()).decode() == PASSWORD
    assert not any(key in output for output in acme.outputs for key in keys)


def test_rotate_keys_with_keys_from_the_environment_only_says_what_to_set(acme):
    key = Fernet.generate_key().decode()
    acme.env["USERSYNC_ENCRYPTION_KEYS"] = key
    add_ad(acme)

    done = acme("rotate-keys")

    assert "USERSYNC_ENCRYPTION_KEYS=" in done.stdout and "Nothing was changed" in done.stdout
    assert not (acme.home / "encryption-keys").exists()
    new = done.stdout.split("USERSYNC_ENCRYPTION_KEYS=")[1].split(",")[0]
    assert new != key and Fernet(new)
    acme.env["USERSYNC_ENCRYPTION_KEYS"] = f"{new},{key}"
    assert acme.json("rotate-keys", "--no-new-key")["reencrypted"] == 1
    assert Fernet(new).decrypt(_stored_secret(acme.home).encode()).decode() == PASSWORD
    assert not (acme.home / "encryption-keys").exists()


def _stored_secret(home: Path) -> str:
    with sqlite3.connect(home / "usersync.sqlite3") as db:
        (token,) = db.execute("select secret from directory_source where secret != ''").fetchone()
    return token


def _ca_pem() -> str:
    return trustme.CA().cert_pem.bytes().decode()


# -- schedules and options, in this process (a process per command costs seconds) ---------------

@pytest.fixture
def berlin(db):
    return create_organization("berlin", "Berlin GmbH", ["headquarters"],
                               time_zone="Europe/Berlin")


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def add_ldap(capsys, tmp_path, *extra: str) -> tuple[int, str, str]:
    password = tmp_path / "pw"
    password.write_text(PASSWORD)
    return run_cli(capsys, "source", "add", "--org", "berlin", "--name", "corp", "--kind", "ldap",
                   "--url", f"ldaps://127.0.0.1:{closed_port()}",
                   "--bind-dn", "cn=usersync,dc=berlin,dc=example", "--password-file",
                   str(password), "--scope", "headquarters=ou=people,dc=berlin,dc=example", *extra)


def show(capsys) -> dict:
    code, out, _ = run_cli(capsys, "source", "show", "--org", "berlin", "--name", "corp", "--json")
    assert code == 0
    return json.loads(out)


def test_add_sets_the_schedule_and_options_and_show_gives_the_next_run_locally(
        berlin, capsys, tmp_path):
    code, out, err = add_ldap(capsys, tmp_path, "--schedule", "every-hours", "--every-hours", "6",
                              "--welcome-email", "--full-reconcile-hours", "48")
    assert code == 0, err
    assert "Schedule:   every 6 hours at :01 (0:01, 6:01, 12:01, 18:01)" in out

    shown = show(capsys)
    assert (shown["schedule"], shown["schedule_hours"], shown["welcome_email"],
            shown["full_reconcile_hours"]) == ("every_hours", 6, True, 48)
    _, text, _ = run_cli(capsys, "source", "show", "--org", "berlin", "--name", "corp")
    line = next(x for x in text.splitlines() if x.startswith("next_run"))
    when, zone = line.split(maxsplit=1)[1].rsplit(" ", 2)[0], line.rsplit(" ", 1)[1]
    local = datetime.strptime(when, "%Y-%m-%d %H:%M").replace(tzinfo=ZoneInfo("Europe/Berlin"))
    assert zone == "(Europe/Berlin)" and local.minute == 1 and local.hour % 6 == 0
    assert local.astimezone(UTC) == datetime.fromisoformat(shown["next_run_at"])
    assert "every 6 hours at :01" in text and PASSWORD not in text


def test_every_hours_alone_implies_the_schedule_and_the_switches_turn_off(
        berlin, capsys, tmp_path):
    add_ldap(capsys, tmp_path, "--welcome-email")

    code, _, err = run_cli(capsys, "source", "edit", "--org", "berlin", "--name", "corp",
                           "--every-hours", "3", "--no-welcome-email")

    assert code == 0, err
    shown = show(capsys)
    assert (shown["schedule"], shown["schedule_hours"], shown["welcome_email"]) == (
        "every_hours", 3, False)
    run_cli(capsys, "source", "edit", "--org", "berlin", "--name", "corp",
            "--schedule", "after-last")
    shown = show(capsys)
    assert shown["schedule"] == "after_last" and shown["next_run_at"] is not None
    _, text, _ = run_cli(capsys, "source", "show", "--org", "berlin", "--name", "corp")
    assert "24 hours after the start of the last sync" in text and "due now" in text
    run_cli(capsys, "source", "edit", "--org", "berlin", "--name", "corp", "--schedule", "manual")
    assert show(capsys)["next_run_at"] is None


@pytest.mark.parametrize("args, message", [
    (("--every-hours", "25"), "a schedule runs every 1 to 24 hours, not 25"),
    (("--every-hours", "0"), "a schedule runs every 1 to 24 hours, not 0"),
    (("--schedule", "manual", "--every-hours", "3"), "contradicts --schedule manual"),
    (("--full-reconcile-hours", "0"), "a full reconcile runs every 1 to 720 hours"),
    (("--safeguard-percent", "150"), "a share from 0 to 100, not 150"),
    (("--new-contact-channels", "email,fax"), "channels among email, slack, sms"),
])
def test_options_out_of_range_are_refused_with_their_range(berlin, capsys, tmp_path, args,
                                                           message):
    add_ldap(capsys, tmp_path)
    before = show(capsys)

    code, _, err = run_cli(capsys, "source", "edit", "--org", "berlin", "--name", "corp", *args)

    assert code == 2 and message in err, err
    assert show(capsys) == before


def test_new_contact_channels_are_a_list_or_none(berlin, capsys, tmp_path):
    add_ldap(capsys, tmp_path)
    assert show(capsys)["new_contact_channels"] == ["email", "slack", "sms"]  # the default: all

    run_cli(capsys, "source", "edit", "--org", "berlin", "--name", "corp",
            "--new-contact-channels", "SMS, email")
    assert show(capsys)["new_contact_channels"] == ["email", "sms"]
    run_cli(capsys, "source", "edit", "--org", "berlin", "--name", "corp",
            "--new-contact-channels", "none")
    assert show(capsys)["new_contact_channels"] == []


def test_schedule_names_are_spelled_with_dashes(berlin, capsys, tmp_path):
    with pytest.raises(SystemExit):
        add_ldap(capsys, tmp_path, "--schedule", "every_hours")
    assert "invalid choice: 'every_hours'" in capsys.readouterr().err


def test_runs_json_has_each_runs_connection(berlin, capsys, tmp_path):
    add_ldap(capsys, tmp_path)
    people = tmp_path / "people.csv"
    people.write_text(PEOPLE_CSV.replace("warehouse", "headquarters"))
    assert run_cli(capsys, "import-csv", "--org", "berlin", str(people))[0] == 0
    assert run_cli(capsys, "sync", "--org", "berlin", "--source", "corp")[0] == 1  # unreachable

    code, out, _ = run_cli(capsys, "runs", "--org", "berlin", "--json")

    assert code == 0
    failed, imported = json.loads(out)
    assert failed["connection"]["ok"] is False and failed["connection"]["reason"]
    assert "server" in failed["connection"]
    assert imported["connection"]["ok"] is True and imported["connection"]["server"] is None
