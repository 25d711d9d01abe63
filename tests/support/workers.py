"""Worker processes for tests: ``usersync worker`` in a subprocess, on the test database.

The subprocesses see only committed data, so tests that use them take ``transactional_db``;
they connect to the database pytest-django created for the session (``test_<name>``), not the
one ``DATABASE_URL`` names.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

from django.db import connection

SLOW_WORKER = Path(__file__).with_name("slow_worker.py")


def session_database_url() -> str:
    """The URL of the database this test session uses (PostgreSQL)."""
    db = connection.settings_dict
    assert connection.vendor == "postgresql", "worker processes need a database server"
    return (f"postgresql://{quote(db['USER'])}:{quote(db['PASSWORD'])}@{db['HOST']}:"
            f"{db['PORT']}/{db['NAME']}")


class WorkerProcess:
    """``usersync worker ARGS`` (through slow_worker.py, so a test may slow its apply down)."""

    def __init__(self, folder: Path, name: str, *args: str, **env: str):
        self.log = folder / f"{name}.log"
        environment = {**os.environ, "DATABASE_URL": session_database_url(), **env}
        environment.pop("USERSYNC_TEST_DATABASE", None)
        self._out = self.log.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, str(SLOW_WORKER), "worker", "--name", name, *args],
            env=environment, stdout=self._out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )

    def output(self) -> str:
        if not self._out.closed:
            self._out.flush()
        return self.log.read_text(errors="replace")

    def wait(self, timeout: float) -> int:
        try:
            return self.process.wait(timeout=timeout)
        finally:
            self._out.close()

    def terminate(self, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.wait(timeout)

    def kill(self) -> None:
        """SIGKILL: no handler runs, no transaction commits, the heartbeats stop."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)
        self._out.close()

    def stop(self) -> None:
        """Make sure the process is gone (at the end of a test, whatever happened)."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)
        if not self._out.closed:
            self._out.close()


def wait_for(condition, timeout: float, interval: float = 0.05, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
