"""A throwaway PostgreSQL cluster from Debian's ``postgresql`` packages, for tests and benchmarks.

    with PostgresCluster() as pg:          # initdb + start + createdb: 1-2 s
        os.environ["DATABASE_URL"] = pg.url
        ...
                                           # stopped and deleted on exit

The cluster lives in a fresh temporary folder, listens only on 127.0.0.1 on a free high port
(plus a Unix socket in that folder), and has one superuser with a password (``scram-sha-256``
over TCP) and one empty database, both named ``usersync``. It never touches the Debian clusters
under ``/etc/postgresql``, and ``stop()`` stops only the server this object started.

PostgreSQL refuses to run as root: as root, ``initdb`` and ``postgres`` run as the ``postgres``
user that the Debian package creates; as anybody else, as that user.

The server is a child process of the thread that calls ``start()``, with a parent-death signal:
if the test process is killed outright (SIGKILL, OOM), the kernel stops the server too, and the
next ``start()`` deletes the folders such dead runs left behind (``servers.new_folder``). Keep
the thread that calls ``start()`` alive as long as the cluster is needed (the main thread).
"""

from __future__ import annotations

import ctypes
import glob
import os
import pwd
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

from support.servers import free_port, new_folder, tail

PREFIX = "usersync-pg-"
_PR_SET_PDEATHSIG = 1


class PostgresError(RuntimeError):
    """The cluster could not be created or started; the message includes the server log."""


def find_bin_dir() -> Path:
    """The newest ``/usr/lib/postgresql/<major>/bin`` (or ``$USERSYNC_PG_BIN``)."""
    if os.environ.get("USERSYNC_PG_BIN"):
        return Path(os.environ["USERSYNC_PG_BIN"])
    found = [Path(p) for p in glob.glob("/usr/lib/postgresql/*/bin") if Path(p, "postgres").exists()]
    if not found:
        raise PostgresError(
            "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/postgres): "
            "run scripts/setup, or set DATABASE_URL to a server of your own."
        )
    return max(found, key=lambda p: int(re.sub(r"\D", "", p.parent.name) or 0))


_prctl = ctypes.CDLL(None, use_errno=True).prctl


def _die_with_parent() -> None:
    """Run in the child after setuid (which clears it): SIGINT (fast shutdown) when we die."""
    _prctl(_PR_SET_PDEATHSIG, int(signal.SIGINT), 0, 0, 0)


class PostgresCluster:
    def __init__(
        self,
        *,
        user: str = "usersync",
        password: str = "usersync",
        database: str = "usersync",
        durable: bool = False,
        settings: dict[str, str] | None = None,
        bin_dir: Path | None = None,
        start_timeout: float = 30.0,
    ) -> None:
        """``durable=False`` turns fsync, synchronous_commit and full_page_writes off (fast, and
        fine for a cluster deleted at the end); a benchmark that measures writes wants True.
        ``settings`` are extra server settings (``{"max_connections": "200"}``)."""
        self.user, self.password, self.database = user, password, database
        self.durable = durable
        self.settings = dict(settings or {})
        self.bin_dir = Path(bin_dir) if bin_dir else find_bin_dir()
        self.start_timeout = start_timeout
        self.host = "127.0.0.1"
        self.port: int | None = None
        self.folder: Path | None = None
        self._process: subprocess.Popen | None = None
        self._account: dict = {}

    # -- what callers use ---------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}:{self.password}@{self.host}:{self.port}/{self.database}"

    @property
    def version(self) -> str:
        return self.bin_dir.parent.name

    @property
    def socket_dir(self) -> Path:
        assert self.folder is not None
        return self.folder

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def __enter__(self) -> PostgresCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> PostgresCluster:
        if self._process is not None:
            raise PostgresError("this cluster is already started")
        self.folder = new_folder(PREFIX, "data/postmaster.pid")
        try:
            self._account = self._server_account()
            self._initdb()
            for attempt in range(5):  # another process may take the free port before we bind it
                self.port = free_port()
                if self._start_server():
                    break
                if attempt == 4:
                    raise PostgresError(f"PostgreSQL would not start:\n{self._log_tail()}")
            self._run_client("createdb", "--owner", self.user, self.database)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the server this object started (fast shutdown) and delete its folder. Idempotent."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGINT)  # fast shutdown: disconnects clients, then exits
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.send_signal(signal.SIGQUIT)  # immediate shutdown
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None

    # -- how ----------------------------------------------------------------------------------

    def _server_account(self) -> dict:
        """Popen arguments that run initdb and postgres as the ``postgres`` user when we are root;
        that user then owns the folder."""
        if os.geteuid() != 0:
            return {}
        try:
            account = pwd.getpwnam("postgres")
        except KeyError:
            raise PostgresError(
                "running as root and there is no 'postgres' user to run PostgreSQL as "
                "(Debian's postgresql package creates it: run scripts/setup)"
            ) from None
        assert self.folder is not None
        os.chown(self.folder, account.pw_uid, account.pw_gid)
        return {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}

    def _env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(HOME=str(self.folder), LC_ALL="C", **extra)
        return env

    def _initdb(self) -> None:
        assert self.folder is not None
        pwfile = self.folder / "password"
        pwfile.write_text(self.password + "\n")
        pwfile.chmod(0o600)
        if self._account:
            os.chown(pwfile, self._account["user"], self._account["group"])
        command = [
            str(self.bin_dir / "initdb"),
            "--pgdata", str(self.folder / "data"),
            "--username", self.user,
            "--pwfile", str(pwfile),
            "--auth-local", "trust",
            "--auth-host", "scram-sha-256",
            "--encoding", "UTF8",
            "--no-locale",
            "--no-sync",
        ]
        done = subprocess.run(
            command, cwd=self.folder, env=self._env(), stdin=subprocess.DEVNULL,
            capture_output=True, text=True, **self._account,
        )
        pwfile.unlink()
        if done.returncode != 0:
            raise PostgresError(f"initdb failed ({done.returncode}):\n{done.stdout}{done.stderr}")

    def _start_server(self) -> bool:
        """Start ``postgres`` on ``self.port``; False if the port was taken in the meantime."""
        assert self.folder is not None
        settings = {
            "listen_addresses": self.host,
            "port": str(self.port),
            "unix_socket_directories": str(self.folder),
            "logging_collector": "off",
            "log_min_messages": "warning",
        }
        if not self.durable:
            settings.update(fsync="off", synchronous_commit="off", full_page_writes="off")
        settings.update(self.settings)
        command = [str(self.bin_dir / "postgres"), "-D", str(self.folder / "data")]
        for name, value in settings.items():
            command += ["-c", f"{name}={value}"]
        log = self.folder / "server.log"
        with open(log, "ab") as out:
            process = subprocess.Popen(
                command, cwd=self.folder, env=self._env(), stdin=subprocess.DEVNULL,
                stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches pytest, which then stops us in order
                preexec_fn=_die_with_parent,
                **self._account,
            )
        self._process = process
        pidfile = self.folder / "data" / "postmaster.pid"
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                self._process = None
                if "could not bind" in self._log_tail() or "already in use" in self._log_tail():
                    log.write_text("")
                    return False
                raise PostgresError(f"PostgreSQL exited ({process.returncode}):\n{self._log_tail()}")
            try:
                lines = pidfile.read_text().splitlines()
            except OSError:
                lines = []
            if len(lines) >= 8 and lines[7].strip() == "ready":  # PM_STATUS line of postmaster.pid
                return True
            time.sleep(0.02)
        raise PostgresError(
            f"PostgreSQL was not ready after {self.start_timeout:.0f} s:\n{self._log_tail()}"
        )

    def _run_client(self, program: str, *args: str) -> None:
        done = subprocess.run(
            [str(self.bin_dir / program), "--host", self.host, "--port", str(self.port),
             "--username", self.user, "--no-password", *args],
            cwd=self.folder, env=self._env(PGPASSWORD=self.password), stdin=subprocess.DEVNULL,
            capture_output=True, text=True,
        )
        if done.returncode != 0:
            raise PostgresError(f"{program} {' '.join(args)} failed:\n{done.stdout}{done.stderr}")

    def _log_tail(self, lines: int = 40) -> str:
        try:
            text = (self.folder / "server.log").read_text(errors="replace")  # type: ignore[operator]
        except OSError:
            return "(no server log)"
        return tail(text, lines)
