"""``usersync contacts``: an organization's contacts as a table, JSON or CSV (seed 001 columns).

The PIN is a check-in secret: it is never printed or exported.
"""

from __future__ import annotations

import json
import sys

from rich.console import Console
from rich.table import Table

from usersync.app.directory.models import Contact, ContactStatus
from usersync.app.sync.export import write_rows
from usersync.connectors.csvfile import COLUMNS

from .orgs import get_org


def register(sub) -> None:
    contacts = sub.add_parser("contacts", help="list an organization's contacts")
    contacts.add_argument("--org", required=True)
    contacts.add_argument("--status", choices=[s.value for s in ContactStatus])
    form = contacts.add_mutually_exclusive_group()
    form.add_argument("--json", action="store_true")
    form.add_argument("--csv", action="store_true", help="seed 001's CSV columns (no PIN)")
    contacts.set_defaults(handler=_contacts)


def contact_data(contact: Contact) -> dict:
    return {
        "id": contact.pk,
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "email": contact.email,
        "sms_phone": contact.sms_phone,
        "title": contact.title,
        "department": contact.department,
        "image_url": contact.image_url,
        "identification": contact.identification,
        "slack": contact.slack,
        "location": contact.location.identifier if contact.location else None,
        "status": contact.status,
        "archived_reason": contact.archived_reason or None,
        "aliases": list(contact.aliases),
        "source": contact.source.name if contact.source else None,
        "anchor": contact.anchor,
        "created_at": contact.created_at.isoformat(),
        "updated_at": contact.updated_at.isoformat(),
    }


def _contacts(args) -> int:
    org = get_org(args.org)
    found = Contact.objects.filter(organization=org).select_related("location", "source")
    if args.status:
        found = found.filter(status=args.status)
    rows = [contact_data(c) for c in found.iterator(chunk_size=2000)]
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
    elif args.csv:
        exported = [c for c in COLUMNS if c.field != "pin"]
        write_rows(sys.stdout, [c.title for c in exported],
                   ([r[c.field] for c in exported] for r in rows))
    else:
        _table(rows)
    return 0


def _table(rows: list[dict]) -> None:
    table = Table("Name", "Email", "SMS phone", "Department", "Location", "Status")
    for r in rows:
        table.add_row(f"{r['first_name']} {r['last_name']}", r["email"], r["sms_phone"],
                      r["department"], r["location"] or "all", r["status"])
    Console().print(table)
    print(f"{len(rows)} contacts")
