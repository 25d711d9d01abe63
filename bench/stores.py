"""The contact stores a bench run syncs into: an embedded SQLite database in its own
``USERSYNC_HOME``, or a throwaway PostgreSQL cluster (durable: fsync on, as in production).

Each store can be set aside (``snapshot``) and put back (``restore``), so that the full and the
incremental resync after the day of changes both start from the same state.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import psycopg

from .measure import run
from .servers import PostgresCluster


class Store:
    db = ""

    def __init__(self, folder: Path) -> None:
        self.home = folder / f"{self.db}-home"
        self.home.mkdir(parents=True)

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if k not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE")}
        env["USERSYNC_HOME"] = str(self.home)
        return env

    def usersync(self, *args: str, input: str | None = None) -> str:
        return run([sys.executable, "-m", "usersync", *args], self.env(), input=input)

    def start(self) -> Store:
        return self

    def stop(self) -> None:
        pass

    def snapshot(self) -> None:
        raise NotImplementedError

    def restore(self) -> None:
        raise NotImplementedError


class SqliteStore(Store):
    db = "sqlite"

    def snapshot(self) -> None:
        shutil.copytree(self.home, self._saved, dirs_exist_ok=False)

    def restore(self) -> None:
        shutil.rmtree(self.home)
        shutil.copytree(self._saved, self.home)

    @property
    def _saved(self) -> Path:
        return self.home.with_name(self.home.name + "-saved")


class PostgresStore(Store):
    db = "postgresql"

    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        self.cluster = PostgresCluster(durable=True)

    def env(self) -> dict[str, str]:
        return {**super().env(), "DATABASE_URL": self.cluster.url}

    def start(self) -> Store:
        self.cluster.start()
        self.usersync("migrate")
        return self

    def stop(self) -> None:
        self.cluster.stop()

    def _admin(self, *statements: str) -> None:
        url = self.cluster.url.rsplit("/", 1)[0] + "/postgres"
        with psycopg.connect(url, autocommit=True) as connection:
            for statement in statements:
                connection.execute(statement)

    def snapshot(self) -> None:
        self._admin("CREATE DATABASE saved TEMPLATE usersync")

    def restore(self) -> None:
        self._admin("DROP DATABASE usersync", "CREATE DATABASE usersync TEMPLATE saved")


STORES = {"sqlite": SqliteStore, "postgresql": PostgresStore}
