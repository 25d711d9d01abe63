"""The command tree, and the one place that turns errors into messages and exit codes."""

from __future__ import annotations

import argparse
import sys

from django.core.exceptions import ValidationError

from usersync import __version__
from usersync.app.sync.runs import RunRefused
from usersync.connectors.errors import SourceError

from . import (EXIT_FAILED, EXIT_USAGE, CommandError, contacts, database, demo, keys, orgs, runs,
               serve, sources, worker)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="usersync",
        description="Keep an application's contacts in step with directories and exports.",
    )
    parser.add_argument("--version", action="version", version=f"usersync {__version__}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")
    for module in (demo, orgs, sources, runs, contacts, database, keys, worker, serve):
        module.register(sub)
    return parser


def run(args: argparse.Namespace) -> int:
    try:
        database.ensure_migrated(args)
        return args.handler(args) or 0
    except (SourceError, RunRefused, CommandError) as error:
        print(f"usersync: {error}", file=sys.stderr)
        return EXIT_FAILED if isinstance(error, RunRefused) else EXIT_USAGE
    except ValidationError as error:
        print(f"usersync: {'; '.join(error.messages)}", file=sys.stderr)
        return EXIT_USAGE
