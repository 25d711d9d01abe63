"""The real servers of a bench run: the test suite's slapd (loaded with the bench directory by
``slapadd -q``) and its throwaway PostgreSQL cluster, reused from ``tests/support``."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT / "tests") not in sys.path:
    sys.path.insert(0, str(ROOT / "tests"))

from support.postgres import PostgresCluster
from support.slapd import Slapd, ssha

from . import directory

__all__ = ["BenchSlapd", "PostgresCluster"]
#: The test config reserves 1 GiB of map; the bench directory at 100k people and its indexes
#: need less, but a million would not fit: reserve plenty (address space, not memory).
MAX_SIZE = 16 * 1024**3


class BenchSlapd(Slapd):
    """slapd with the bench directory instead of the test suite's people."""

    def __init__(self, people: list[directory.Person], *, keep: bool = False) -> None:
        super().__init__(start_timeout=120.0)
        self.people, self.keep = people, keep
        assert directory.BASE_DN == self.base_dn

    def _config_ldif(self) -> str:
        """The test server's configuration, with room for the directory and a content-sync
        session log that holds a day of changes (else an incremental refresh falls back to the
        present phase, i.e. a full read)."""
        config = super()._config_ldif()
        config = config.replace("olcDbMaxSize: 1073741824", f"olcDbMaxSize: {MAX_SIZE}")
        log = max(10_000, len(self.people) // 10)
        return re.sub(r"olcSpSessionlog: \d+", f"olcSpSessionlog: {log}", config)

    def _data_ldif(self) -> str:
        accounts = [(self.reader_dn, "reader", ssha(self.reader_password)),
                    (self.limited_dn, "limited", ssha(self.limited_password))]
        return directory.directory_ldif(self.people, accounts)

    def keep_to_one_core(self) -> int | None:
        """Run slapd, every thread of it and those it starts later, on the machine's last core
        only, as a directory server runs on a machine of its own; that core, or ``None`` with
        one core or where that is not allowed. Else the scheduler at times runs slapd on the
        core of the sync that woke it (each page asked for), the other core idle: the two then
        take turns, and the sync waits for each page (an unchanged resync 1.22 s, or 1.36 s in
        some tries). ``ldapsearch`` takes as long either way (0.51 s)."""
        cpus = os.sched_getaffinity(0)
        if len(cpus) < 2 or not self.running:
            return None
        cpu = max(cpus)
        for thread in Path(f"/proc/{self._server.process.pid}/task").iterdir():
            try:
                os.sched_setaffinity(int(thread.name), {cpu})
            except ProcessLookupError:
                continue  # a thread that ended meanwhile
            except PermissionError:  # a container that forbids it: slapd stays where it is
                return None
        return cpu

    def close(self) -> None:
        if self.keep:
            self.stop()  # its folder (config, database, log) stays for a look
        else:
            super().close()
