"""The ``usersync`` command: one entry point for the demo, imports, syncs, approvals and exports.

Exit codes: 0 done (or previewed), 1 the run failed, 2 bad usage or configuration,
3 the run is blocked by a safeguard and waits for ``usersync approve``.
"""

from __future__ import annotations

import os
import sys

EXIT_FAILED, EXIT_USAGE, EXIT_BLOCKED = 1, 2, 3


class CommandError(Exception):
    """Bad usage or configuration the user can fix; the message says how."""


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "usersync.app.settings")
    import django  # noqa: E402 — settings must be chosen before Django loads

    django.setup()
    from . import commands  # the commands import models, which need Django set up

    parser = commands.build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return EXIT_USAGE
    return commands.run(args)


if __name__ == "__main__":
    sys.exit(main())
