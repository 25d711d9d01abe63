"""What every real server of the tests needs, whatever it serves: its programs, a free port, a
temp folder of its own, and a child process that dies with the tests.

A server's folder holds ``owner.pid`` (the test process that made it): when a test session is
killed outright, the next one deletes the folders whose owner and server are both gone
(``new_folder`` sweeps before it creates), and never signals any process.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path


def which(program: str) -> str:
    """A program on PATH or in the sbin folders (root's PATH has them, a user's may not)."""
    found = shutil.which(program, path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin",
                                                         "/sbin"]))
    if found is None:
        raise FileNotFoundError(f"{program} is not installed: run scripts/setup")
    return found


def dies_with_parent(command: list[str]) -> list[str]:
    """``command`` run so that it is killed when the thread that started it ends (the tests were
    killed): util-linux's ``setpriv --pdeathsig``, not a preexec_fn (unsafe with threads). SIGKILL,
    because a server a test had frozen (SIGSTOP) would never act on a SIGTERM."""
    setpriv = shutil.which("setpriv", path=os.pathsep.join([os.environ.get("PATH", ""),
                                                            "/usr/bin"]))
    return [setpriv, "--pdeathsig", "KILL", "--", *command] if setpriv else command


def tail(text: str, lines: int = 40) -> str:
    """The end of a log, for an error message."""
    return "\n".join(text.splitlines()[-lines:])


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on now (another process may take it before the server binds it:
    callers retry)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_leftovers(prefix: str, pidfile: str) -> None:
    """Delete folders ``prefix*`` of servers whose test session died without cleaning up (owner
    and server both gone; ``pidfile`` is the server's, relative to its folder). Never signals
    any process."""
    for folder in Path(tempfile.gettempdir()).glob(prefix + "*"):
        try:
            owner = int((folder / "owner.pid").read_text())
        except (OSError, ValueError):
            continue  # not ours, or still being created
        if _alive(owner):
            continue
        try:
            server = int((folder / pidfile).read_text().split()[0])
        except (OSError, ValueError, IndexError):
            server = None
        if server is None or not _alive(server):
            shutil.rmtree(folder, ignore_errors=True)


def new_folder(prefix: str, pidfile: str) -> Path:
    """A fresh temp folder for one server, marked as ours, after deleting abandoned ones."""
    sweep_leftovers(prefix, pidfile)
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        (folder / "owner.pid").write_text(str(os.getpid()))
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return folder


class ChildProcess:
    """A server run in the foreground as a child of the tests: its own session (Ctrl-C reaches
    pytest only), killed when the starting thread dies, output in a log file."""

    def __init__(self, name: str, log: Path) -> None:
        self.name, self.log = name, log
        self.process: subprocess.Popen | None = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, command: list[str], *, cwd: Path, env: dict[str, str],
              ready: Callable[[], bool], timeout: float) -> None:
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                dies_with_parent(command), cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while not ready():
            if not self.running:
                self.process = None
                raise RuntimeError(f"{self.name} exited:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.name} did not answer after {timeout:.0f} s:\n"
                                   f"{self.log_tail()}")
            time.sleep(0.03)

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGCONT)  # in case a test left it frozen
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    @contextlib.contextmanager
    def frozen(self):
        """Suspended (SIGSTOP) in the block: connections hang, for timeout tests."""
        assert self.process is not None and self.running
        self.process.send_signal(signal.SIGSTOP)
        try:
            yield
        finally:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGCONT)

    def log_tail(self) -> str:
        try:
            return tail(self.log.read_text(errors="replace"))
        except OSError:
            return "(no log)"
