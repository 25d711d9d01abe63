"""The contact stores a bench run syncs into: an embedded SQLite database in its own
``USERSYNC_HOME``, or a throwaway PostgreSQL cluster (durable: fsync on, as in production).

Each store can be set aside under a name (``snapshot``) and put back (``restore``), so that every
try of a scenario starts from the same state: the empty store of the first sync, the synced store
of the day of changes.
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

    def snapshot(self, name: str) -> None:
        raise NotImplementedError

    def restore(self, name: str) -> None:
        raise NotImplementedError


class SqliteStore(Store):
    db = "sqlite"

    def snapshot(self, name: str) -> None:
        shutil.copytree(self.home, self._saved(name), dirs_exist_ok=False)

    def restore(self, name: str) -> None:
        shutil.rmtree(self.home)
        shutil.copytree(self._saved(name), self.home)

    def _saved(self, name: str) -> Path:
        return self.home.with_name(f"{self.home.name}-{name}")


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

    def snapshot(self, name: str) -> None:
        self._admin(f"CREATE DATABASE saved_{name} TEMPLATE usersync")

    def restore(self, name: str) -> None:
        self._admin("DROP DATABASE usersync", f"CREATE DATABASE usersync TEMPLATE saved_{name}")


STORES = {"sqlite": SqliteStore, "postgresql": PostgresStore}
