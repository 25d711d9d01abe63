"""Running a command as a child process and measuring it: wall time and peak RSS (``wait4``)."""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


class CommandFailed(RuntimeError):
    pass


@dataclass(frozen=True)
class Measured:
    seconds: float
    peak_rss_mb: float
    stdout: str
    stderr: str
    returncode: int


def measure(command: list[str], env: dict[str, str], *, cwd: Path | None = None,
            discard_output: bool = False) -> Measured:
    """Run ``command`` to its end. Its own peak RSS comes from ``wait4`` (``RUSAGE_CHILDREN``
    would give the largest of all children so far, not this one's)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        stdout = subprocess.DEVNULL if discard_output else out
        started = time.perf_counter()
        process = subprocess.Popen(command, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                                   stdout=stdout, stderr=err)
        _pid, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)  # reaped: Popen must not wait
        out.seek(0)
        err.seek(0)
        return Measured(seconds, usage.ru_maxrss / 1024, out.read().decode(errors="replace"),
                        err.read().decode(errors="replace"), process.returncode)


def run(command: list[str], env: dict[str, str], *, cwd: Path | None = None,
        input: str | None = None) -> str:
    """Run a set-up command; its output, or ``CommandFailed`` with what it said."""
    done = subprocess.run(command, env=env, cwd=cwd, input=input, capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        raise CommandFailed(f"{' '.join(command[:4])}… failed ({done.returncode}):\n"
                            f"{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return done.stdout
