"""One bench run: the directory in a real slapd, the ldapsearch baseline, then usersync's syncs.

The order: generate and load the directory; run ldapsearch once to warm slapd, then time it
three times (``Baseline``); for each store, set up the organization and the source through the
``usersync`` command, then the initial full sync and an unchanged full resync; make the day of
changes in the directory; for each store, the incremental resync (whatever the source does on
its own after a full sync) and the full resync (the incremental state forgotten); time
ldapsearch three times more. The baseline is the median of the six. Every scenario is timed
``TRIES`` times and its median kept, each try from the same state (the empty store, the synced
one, the day of changes: set aside and put back): one run varies by up to a third on a busy
machine. Every run's counts are checked against what the bench changed, so a fast wrong sync
cannot pass for a fast one.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import ldap

from usersync.connectors.ldap_settings import LdapSettings
from usersync.connectors.scope import Scope

from . import directory
from .measure import CommandFailed, Measured, measure
from .servers import BenchSlapd
from .stores import STORES, Store

ORG, SOURCE = "bench", "directory"
SCENARIOS = ("initial", "unchanged", "full_after_changes", "incremental")
#: Each scenario is timed this many times from the same state, and its median kept.
TRIES = 3
Say = Callable[[str], None]


@dataclass
class Result:
    db: str
    scenario: str
    seconds: float | None = None
    peak_rss_mb: float | None = None
    process_s: float | None = None
    cpu_s: float | None = None
    #: After ``seconds``: the SQLite checkpoint the run left to a thread (``sync.checkpoints``).
    checkpoint_s: float | None = None
    counts: dict = field(default_factory=dict)
    note: str = ""


@dataclass
class Outcome:
    users: int
    baseline_s: float
    load_s: float
    results: list[Result]


def scopes() -> list[Scope]:
    return [Scope(directory.office_dn(i), location)
            for i, (_n, location, _a, _c) in enumerate(directory.OFFICES)]


def baseline_command(server: BenchSlapd, password_file: Path) -> list[str]:
    """ldapsearch as usersync searches: same server, TLS, account, filter, attributes and page
    size; one subtree search over all offices (usersync makes one per office)."""
    settings = LdapSettings(kind="ldap", urls=(server.url_ldaps,), bind_dn=server.reader_dn,
                            password="-", scopes=tuple(scopes()))
    return ["ldapsearch", "-LLL", "-x", "-H", server.url_ldaps, "-D", server.reader_dn,
            "-y", str(password_file), "-b", directory.PEOPLE_DN, "-E", "pr=500/noprompt",
            settings.search_filter(), *settings.requested_attributes()]


def ldap_env(server: BenchSlapd) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LDAP")}
    env.update(LDAPTLS_CACERT=str(server.ca_file), LDAPTLS_REQCERT="demand")
    return env


def set_up(store: Store, server: BenchSlapd, password_file: Path, users: int) -> None:
    store.usersync("org", "create", "--slug", ORG, "--name", "Bench", "--region", "US",
                   "--locations", ",".join(directory.LOCATIONS))
    scope_args = [arg for s in scopes() for arg in ("--scope", f"{s.location}={s.base}")]
    # 0.5 % removed is 500 at 100k: exactly the default absolute safeguard (more than 500
    # blocks). Above that, raise it so the day of changes applies without an approval.
    maximum = max(500, users // 200)
    store.usersync("source", "add", "--org", ORG, "--name", SOURCE, "--kind", "ldap",
                   "--url", server.url_ldaps, "--bind-dn", server.reader_dn,
                   "--password-file", str(password_file), "--ca-file", str(server.ca_file),
                   "--safeguard-maximum", str(maximum), *scope_args)


def sync(store: Store, scenario: str, full: bool) -> tuple[Result, dict]:
    command = [sys.executable, "-m", "bench.child", "--org", ORG, "--source", SOURCE]
    measured: Measured = measure(command + (["--full"] if full else []), store.env(),
                                 cwd=Path(__file__).resolve().parent.parent)
    try:
        report = json.loads(measured.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        raise CommandFailed(f"{scenario} on {store.db} failed:\n{measured.stderr[-3000:]}")
    if report["status"] != "succeeded":
        raise CommandFailed(f"{scenario} on {store.db}: the run {report['status']} "
                            f"({report['error'] or report['blocked']})")
    result = Result(store.db, scenario, report["seconds"],
                    report["peak_rss_mb"] or measured.peak_rss_mb,
                    measured.seconds, report["cpu_s"], report["checkpoint_s"],
                    {k: v for k, v in report["counts"].items() if v})
    return result, report


def check(result: Result, expected: dict[str, int]) -> None:
    changed = {k: v for k, v in result.counts.items() if k != "unchanged"}
    if changed != expected:
        raise CommandFailed(f"{result.scenario} on {result.db}: counts {changed}, expected "
                            f"{expected}: the bench would measure the wrong work")


def apply_changes(server: BenchSlapd, changes: directory.Changes) -> None:
    conn = server.admin()
    try:
        for p in changes.modified:
            conn.modify_s(p.dn, [(ldap.MOD_REPLACE, name, [value.encode()])
                                 for name, value in directory.modification(p)])
        for p in changes.added:
            attrs = directory.attributes(p, None)
            conn.add_s(p.dn, [(k, [v.encode() for v in vs]) for k, vs in attrs.items()])
        for p in changes.removed:
            conn.delete_s(p.dn)
    finally:
        conn.unbind_s()


def run_bench(users: int, dbs: list[str], keep: bool, say: Say,
              share_cores: bool = False) -> Outcome:
    folder = Path(tempfile.mkdtemp(prefix="usersync-bench-"))
    say(f"generating {users:,} people")
    everyone = directory.people(users)
    changes = directory.day_of_changes(everyone)
    results: list[Result] = []
    stores: list[Store] = []
    with BenchSlapd(everyone, keep=keep) as server:
        load_s = server.timings.get("populate", 0.0)
        say(f"slapd loaded by slapadd -q in {load_s:.1f} s ({server.url_ldaps})")
        if not share_cores:
            cpu = server.keep_to_one_core()
            say(f"slapd runs on core {cpu} only (--share-cores: on any)" if cpu is not None
                else "slapd runs on any core (one core, or not allowed to keep it to one)")
        password_file = folder / "reader-password"
        password_file.write_text(server.reader_password)
        password_file.chmod(0o600)
        ldapsearch = Baseline(server, password_file, say)
        ldapsearch.warm_up()
        ldapsearch.time("before the syncs")
        try:
            for db in dbs:
                store = STORES[db](folder)
                stores.append(store)
                store.start()
                set_up(store, server, password_file, users)
                store.snapshot("empty")
                results.append(median(store, "initial", {"created": users}, "empty", say))
                results.append(median(store, "unchanged", {}, None, say))
            say(f"changing the directory: {len(changes.modified)} modified, "
                f"{len(changes.added)} added, {len(changes.removed)} removed")
            apply_changes(server, changes)
            expected = {"updated": len(changes.modified), "created": len(changes.added),
                        "archived": len(changes.removed)}
            for store in stores:
                store.snapshot("synced")
                results.append(median(store, "incremental", expected, "synced", say))
                results.append(median(store, "full_after_changes", expected, "synced", say))
            ldapsearch.time("after them")
        finally:
            for store in stores:
                store.stop()
            if not keep:
                shutil.rmtree(folder, ignore_errors=True)
            else:
                say(f"kept: {folder} and {server.folder}")
    order = {name: i for i, name in enumerate(SCENARIOS)}
    results.sort(key=lambda r: (dbs.index(r.db), order[r.scenario]))
    return Outcome(users, ldapsearch.seconds(), load_s, results)


class Baseline:
    """``ldapsearch`` timed as usersync reads (``baseline_command``): once untimed, so that
    slapd's caches are as warm as for the syncs that follow, then ``TRIES`` times before the
    syncs and ``TRIES`` times after them; the baseline is the median of them all, so that a
    machine whose speed drifts during the bench's minutes weighs on both sides of the ratio."""

    def __init__(self, server: BenchSlapd, password_file: Path, say: Say):
        self.command, self.env = baseline_command(server, password_file), ldap_env(server)
        self.say = say
        self.tries: list[float] = []

    def warm_up(self) -> None:
        self._run()

    def time(self, when: str) -> None:
        tries = [self._run() for _ in range(TRIES)]
        self.tries.extend(tries)
        self.say(f"ldapsearch {when}: {', '.join(f'{t:.2f}' for t in tries)} s")

    def seconds(self) -> float:
        baseline = statistics.median(self.tries)
        self.say(f"ldapsearch baseline: {baseline:.2f} s (median of {len(self.tries)})")
        return baseline

    def _run(self) -> float:
        run = measure(self.command, self.env, discard_output=True)
        if run.returncode != 0:
            raise CommandFailed(f"ldapsearch failed: {run.stderr}")
        return run.seconds


def median(store: Store, scenario: str, expected: dict[str, int], start: str | None,
           say: Say) -> Result:
    """``scenario`` timed ``TRIES`` times, each from the state saved as ``start`` (none: as the
    store is, which the scenario does not change); the try of median time, with the highest
    peak RSS of them all. A try that did the wrong work, or (incremental) read in full, is the
    result."""
    tries = []
    for _ in range(TRIES):
        if start is not None:
            store.restore(start)
        tries.append(incremental(store, expected) if scenario == "incremental"
                     else measured(store, scenario, expected))
    failed = [r for r in tries if r.note]
    if failed:
        say(f"{store.db} {scenario}: {failed[0].note}")
        return failed[0]
    kept = replace(sorted(tries, key=lambda r: r.seconds)[len(tries) // 2],
                   peak_rss_mb=max(r.peak_rss_mb for r in tries))
    say(f"{store.db} {scenario}: {kept.seconds:.2f} s (median of "
        f"{', '.join(f'{r.seconds:.2f}' for r in tries)})")
    return kept


def measured(store: Store, scenario: str, expected: dict[str, int]) -> Result:
    """A full read (the incremental state forgotten) that must do ``expected``."""
    result = sync(store, scenario, full=True)[0]
    check(result, expected)
    return result


def incremental(store: Store, expected: dict[str, int]) -> Result:
    """The resync a source makes on its own after a full one. If it read everything (no
    incremental read for this kind of source yet), the scenario is not available."""
    result, report = sync(store, "incremental", full=False)
    if report["kind"] != "delta":
        return Result(store.db, "incremental", note="not available: the source read in full "
                      f"({result.seconds:.2f} s)")
    try:
        check(result, expected)
    except CommandFailed as wrong:
        result.note = str(wrong)
    return result
