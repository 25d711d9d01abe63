"""``usersync source list``: an organization's sources (adding directory sources comes with them)."""

from __future__ import annotations

import json

from usersync.app.directory.models import RunStatus

from .orgs import get_org


def register(sub) -> None:
    source = sub.add_parser("source", help="list an organization's sources")
    source_sub = source.add_subparsers(title="source commands", metavar="COMMAND", required=True)
    listing = source_sub.add_parser("list", help="list sources with their last run")
    listing.add_argument("--org", required=True)
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=_list)


def _list(args) -> int:
    org = get_org(args.org)
    rows = []
    for source in org.sources.all():
        last = source.runs.exclude(status__in=[RunStatus.QUEUED]).first()
        rows.append({
            "name": source.name, "kind": source.kind, "enabled": source.enabled,
            "managed_active": source.contacts.filter(status="active").count(),
            "last_run": last.pk if last else None, "last_status": last.status if last else None,
        })
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for r in rows:
        print(f"{r['name']:20} {r['kind']:16} {r['managed_active']:>6} active contacts   "
              f"last run: {r['last_status'] or 'never'}")
    return 0
