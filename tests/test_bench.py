"""The benchmark (``python -m bench``) still runs end to end: a tiny directory in a real slapd,
every scenario measured on SQLite, and the JSON the issue specifies. No timing is asserted (the
bench checks each run's counts itself and fails when a sync did the wrong work)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

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
