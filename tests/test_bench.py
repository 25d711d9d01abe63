"""The benchmark (``python -m bench``) still runs end to end: a tiny directory in a real slapd,
every scenario measured on SQLite, and the JSON the issue specifies. No timing is asserted (the
bench checks each run's counts itself and fails when a sync did the wrong work)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import ldap
import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_bench_runs_every_scenario_and_writes_the_json(tmp_path):
    out = tmp_path / "bench.json"
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE", "USERSYNC_HOME")}
    done = subprocess.run([sys.executable, "-m", "bench", "--users", "200", "--db", "sqlite",
                           "--json", str(out)], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    data = json.loads(out.read_text())
    assert set(data) == {"users", "baseline_s", "results"}
    assert data["users"] == 200 and data["baseline_s"] > 0
    assert [(r["db"], r["scenario"]) for r in data["results"]] == [
        ("sqlite", "initial"), ("sqlite", "unchanged"), ("sqlite", "full_after_changes"),
        ("sqlite", "incremental")]
    for result in data["results"]:
        assert set(result) == {"db", "scenario", "seconds", "ratio", "peak_rss_mb",
                               "checkpoint_s"}
        assert result["seconds"] > 0 and result["ratio"] > 0 and result["peak_rss_mb"] > 0, result
        assert result["checkpoint_s"] >= 0, result  # SQLite's, after the run (on a thread)
    assert "ldapsearch (baseline)" in done.stdout


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="one core: nothing to keep apart")
def test_the_bench_keeps_slapd_to_the_machines_last_core_and_slapd_still_answers(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT))
    from bench import directory
    from bench.servers import BenchSlapd

    last = max(os.sched_getaffinity(0))
    with BenchSlapd(directory.people(200)) as server:  # the fewest the bench takes
        assert server.keep_to_one_core() == last
        threads = list(Path(f"/proc/{server._server.process.pid}/task").iterdir())
        assert threads and all(os.sched_getaffinity(int(t.name)) == {last} for t in threads)
        found = server.admin().search_s(directory.BASE_DN, ldap.SCOPE_SUBTREE,
                                          "(objectClass=inetOrgPerson)", ["cn"])
        assert len(found) == 200
