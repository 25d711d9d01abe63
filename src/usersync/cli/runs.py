"""``usersync import-csv|import-ldif|sync|approve|reject|runs``: starting and deciding runs."""

from __future__ import annotations

import json
from pathlib import Path

from usersync.app.directory.models import Source, SourceKind, SyncRun, Trigger
from usersync.app.sync import readers, runs
from usersync.app.sync.export import write_plan

from . import CommandError, output
from .orgs import get_org


def register(sub) -> None:
    for kind, name in ((SourceKind.CSV, "import-csv"), (SourceKind.LDIF, "import-ldif")):
        command = sub.add_parser(name, help=f"sync an organization from a {kind.upper()} file "
                                 "(a full snapshot: people missing from it are archived)")
        command.add_argument("--org", required=True, help="organization slug")
        command.add_argument("file", type=Path)
        command.add_argument("--source", help=f"the {kind.upper()} source to import into "
                             f"(default: {readers.IMPORT_SOURCE_NAMES[kind]})")
        _run_options(command)
        command.set_defaults(handler=_import, kind=kind)

    sync = sub.add_parser("sync", help="run a configured source now")
    sync.add_argument("--org", required=True)
    sync.add_argument("--source", required=True, help="source name")
    _run_options(sync)
    sync.add_argument("--full", action="store_true",
                      help="read everything now (a full reconcile), even where only what "
                      "changed since the last run could be read")
    sync.set_defaults(handler=_sync)

    for name, verb in (("approve", "apply exactly the plan of"), ("reject", "discard")):
        decide = sub.add_parser(name, help=f"{verb} a run blocked by a safeguard")
        decide.add_argument("--org", required=True)
        decide.add_argument("--run", required=True, type=int)
        decide.add_argument("--json", action="store_true")
        decide.set_defaults(handler=_decide, decision=name)

    listing = sub.add_parser("runs", help="list the recent runs of an organization")
    listing.add_argument("--org", required=True)
    listing.add_argument("--source")
    listing.add_argument("--limit", type=int, default=20)
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=_list)


def _run_options(command) -> None:
    command.add_argument("--preview", action="store_true",
                         help="show what would change and write nothing")
    command.add_argument("--plan-csv", type=Path, metavar="FILE",
                         help="also write the per-record plan as CSV")
    command.add_argument("--json", action="store_true", help="print the run summary as JSON")


def _import(args) -> int:
    org = get_org(args.org)
    try:
        data = args.file.read_bytes()
    except OSError as error:
        raise CommandError(f"cannot read {args.file}: {error.strerror}") from None
    source = readers.import_source(org, args.kind, args.source)
    return _execute(args, source, readers.file_reader(source, data), Trigger.UPLOAD)


def _sync(args) -> int:
    org = get_org(args.org)
    source = Source.objects.filter(organization=org, name=args.source).first()
    if source is None:
        names = ", ".join(org.sources.values_list("name", flat=True)) or "none yet"
        raise CommandError(f"organization {org.slug!r} has no source {args.source!r} "
                           f"(its sources: {names})")
    reader = readers.configured_reader(source, full=args.full)
    return _execute(args, source, reader, Trigger.CLI)


def _execute(args, source: Source, reader, trigger: str) -> int:
    with output.progress(enabled=not args.json) as progress:
        outcome = runs.sync(source, reader, trigger=trigger, preview=args.preview, progress=progress)
    if args.plan_csv and outcome.plan is not None:
        with args.plan_csv.open("w", newline="", encoding="utf-8") as handle:
            write_plan(handle, outcome.plan)
    return output.report(outcome, args.json, source.organization.slug)


def _decide(args) -> int:
    org = get_org(args.org)
    run = SyncRun.objects.filter(organization=org, pk=args.run).first()
    if run is None:
        raise CommandError(f"organization {org.slug!r} has no run {args.run}")
    decide = runs.approve if args.decision == "approve" else runs.reject
    run = decide(run, by="command line")
    result = {"run": run.pk, "status": run.status, "counts": run.counts}
    if args.json:
        print(json.dumps(result, indent=2))
    elif args.decision == "approve":
        print(f"Run {run.pk} approved and applied: " +
              ", ".join(f"{v} {k}" for k, v in run.counts.items() if v))
    else:
        print(f"Run {run.pk} rejected; nothing was changed")
    return 0


def _list(args) -> int:
    org = get_org(args.org)
    found = SyncRun.objects.filter(organization=org).select_related("source").defer("plan")
    if args.source:
        found = found.filter(source__name=args.source)
    rows = [
        {"run": r.pk, "source": r.source.name, "trigger": r.trigger, "status": r.status,
         "created_at": r.created_at.isoformat(), "counts": r.counts,
         "error": r.error_message, "hint": r.error_hint, "blocked_reason": r.blocked_reason,
         "connection": r.connection or None}
        for r in found[: args.limit]
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for r in rows:
        changed = ", ".join(f"{v} {k}" for k, v in r["counts"].items() if v and k != "unchanged")
        print(f"#{r['run']:<5} {r['created_at'][:19]}  {r['source']:15} {r['trigger']:8} "
              f"{r['status']:10} {changed or r['error'] or ''}")
    return 0
