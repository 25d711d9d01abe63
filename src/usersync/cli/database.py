"""Database commands: ``usersync migrate`` and ``usersync manage`` (Django's own commands)."""

from __future__ import annotations

from django.conf import settings
from django.core.management import call_command, execute_from_command_line
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from . import CommandError


def register(sub) -> None:
    migrate = sub.add_parser("migrate", help="create or upgrade the database tables")
    migrate.set_defaults(handler=lambda args: call_command("migrate", verbosity=1), migrates=True)
    manage = sub.add_parser("manage", help="run a Django management command (e.g. createsuperuser)",
                            add_help=False)
    manage.add_argument("rest", nargs="...")
    manage.set_defaults(handler=lambda args: execute_from_command_line(["usersync manage", *args.rest]),
                        migrates=True)


def pending() -> bool:
    executor = MigrationExecutor(connection)
    return bool(executor.migration_plan(executor.loader.graph.leaf_nodes()))


def ensure_migrated(args) -> None:
    """The embedded SQLite database migrates itself; PostgreSQL waits for ``usersync migrate``,
    so that several workers starting at once never race to change the schema."""
    if getattr(args, "migrates", False) or not pending():
        return
    if connection.vendor == "sqlite":
        call_command("migrate", verbosity=0)
        return
    raise CommandError(f"the database {settings.DATABASES['default'].get('NAME')} needs migrating: "
                      "run `usersync migrate` once, then try again")
