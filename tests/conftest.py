"""The test session's environment: a throwaway ``$USERSYNC_HOME``, and the database.

- ``USERSYNC_HOME`` is a fresh temporary folder for the whole session (deleted at the end), so
  tests never read or write the developer's ``./var`` or an operator's home.
- The database is SQLite (Django's in-memory test database) unless ``USERSYNC_TEST_DATABASE=
  postgresql``: then it is ``$DATABASE_URL`` when set, otherwise a throwaway PostgreSQL cluster
  started for the session (tests/support/postgres.py). Otherwise ``DATABASE_URL`` is ignored, so
  a plain ``pytest`` always means SQLite.
- Tests that touch the database without the ``django_db`` mark (the ``db`` fixture, Django
  ``TestCase`` classes) get the mark, so ``-m django_db`` selects every database test.
- Tests marked ``postgres`` are skipped unless the session runs on PostgreSQL.

Why an environment variable and not a pytest option: Django must be set up before any conftest
below this one imports a model, and the database is part of the settings, which cannot change once
Django has built its connections. This root conftest is imported before every other conftest and
before pytest-django's ``pytest_configure``; it chooses the database, then sets Django up.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile

import django
import pytest

from support.postgres import PostgresCluster, PostgresError

SETTINGS = "usersync.app.settings"
if SETTINGS in sys.modules:
    raise pytest.UsageError(
        f"{SETTINGS} was imported before tests/conftest.py could set USERSYNC_HOME and the "
        "database (DJANGO_SETTINGS_MODULE exported in the shell, or --ds?): unset it."
    )


def _choose_database() -> str:
    """Set DATABASE_URL for the session; return how to describe the database in the header."""
    wanted = os.environ.get("USERSYNC_TEST_DATABASE", "sqlite").lower()
    if wanted in ("sqlite", ""):
        os.environ.pop("DATABASE_URL", None)
        return "SQLite (Django's in-memory test database)"
    if wanted not in ("postgresql", "postgres"):
        raise pytest.UsageError(f"USERSYNC_TEST_DATABASE={wanted!r}: use sqlite or postgresql")
    if os.environ.get("DATABASE_URL"):
        return "PostgreSQL at $DATABASE_URL"
    cluster = PostgresCluster()
    try:
        cluster.start()
    except PostgresError as error:
        raise pytest.UsageError(f"USERSYNC_TEST_DATABASE=postgresql: {error}") from None
    atexit.register(cluster.stop)  # after pytest-django has dropped the test database
    os.environ["DATABASE_URL"] = cluster.url
    return (f"PostgreSQL {cluster.version}, throwaway cluster on {cluster.host}:{cluster.port} "
            f"({cluster.folder})")


_home = tempfile.mkdtemp(prefix="usersync-test-home-")
atexit.register(shutil.rmtree, _home, ignore_errors=True)
os.environ["USERSYNC_HOME"] = _home
os.environ.setdefault("DJANGO_SETTINGS_MODULE", SETTINGS)
DATABASE = _choose_database()
django.setup()

from django.conf import settings  # noqa: E402 — only once Django is set up
from django.db import connection  # noqa: E402
from django.test import TransactionTestCase  # noqa: E402

DATABASE_FIXTURES = {
    "db",
    "transactional_db",
    "django_db_reset_sequences",
    "django_db_serialized_rollback",
    "live_server",
}


def pytest_report_header(config: pytest.Config) -> list[str]:
    db = settings.DATABASES["default"]
    lines = [f"database: {DATABASE}"]
    if db.get("HOST"):
        lines.append(f"database settings: {db['ENGINE']} {db.get('USER')}@{db.get('HOST')}:"
                     f"{db.get('PORT')}/{db.get('NAME')} (the tests use test_{db.get('NAME')})")
    lines.append(f"USERSYNC_HOME: {os.environ.get('USERSYNC_HOME')}")
    return lines


def _uses_database(item: pytest.Item) -> bool:
    if DATABASE_FIXTURES.intersection(getattr(item, "fixturenames", ())):
        return True
    cls = getattr(item, "cls", None)
    return cls is not None and issubclass(cls, TransactionTestCase)


@pytest.hookimpl(tryfirst=True)  # before -m selects on marks
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    on_postgres = connection.vendor == "postgresql"
    skip = pytest.mark.skip(reason="needs PostgreSQL: run with USERSYNC_TEST_DATABASE=postgresql")
    for item in items:
        if item.get_closest_marker("django_db") is None and _uses_database(item):
            item.add_marker(pytest.mark.django_db)
        if item.get_closest_marker("postgres") is not None and not on_postgres:
            item.add_marker(skip)
