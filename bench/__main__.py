"""usersync's benchmark against ldapsearch: ``uv run python -m bench --users 100000``.

Options: ``[--json FILE] [--db sqlite,postgresql] [--keep] [--share-cores]``.

See bench/README.md for what is measured and how.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console

from .measure import CommandFailed
from .report import show, write_json
from .scenarios import run_bench
from .stores import STORES


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=100_000,
                        help="people in the generated directory (default 100000)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the results here")
    parser.add_argument("--db", default="sqlite,postgresql",
                        help="stores to sync into, comma-separated (default sqlite,postgresql)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the directory's and the stores' folders (printed at the end)")
    parser.add_argument("--share-cores", action="store_true",
                        help="let slapd run on any core (by default it runs on the machine's "
                             "last core only, as a directory server on a machine of its own)")
    args = parser.parse_args(argv)
    dbs = [db.strip() for db in args.db.split(",") if db.strip()]
    unknown = [db for db in dbs if db not in STORES]
    if unknown or not dbs:
        parser.error(f"--db: unknown {', '.join(unknown) or 'nothing'} (known: sqlite,postgresql)")
    if args.users < 200:
        parser.error("--users: at least 200 (the day of changes is 1 % + 0.5 % + 0.5 %)")
    console = Console(width=max(140, Console().width))
    try:
        outcome = run_bench(args.users, dbs, args.keep,
                            lambda message: console.print(f"[dim]{message}[/dim]"),
                            share_cores=args.share_cores)
    except CommandFailed as error:
        console.print(f"[red]bench failed:[/red] {error}")
        return 1
    show(outcome, console)
    if args.json:
        write_json(outcome, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
