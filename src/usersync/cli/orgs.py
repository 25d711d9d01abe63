"""``usersync org create|edit|list``."""

from __future__ import annotations

import json

from usersync.app.orgs.models import NotifyOn, Organization
from usersync.app.orgs.services import add_location, create_organization, edit_organization
from usersync.core.normalize import FieldError

from . import CommandError

#: ``--notify-on`` spells Organization.notify_on's values with dashes, like every option.
NOTIFY_ON = {value.replace("_", "-"): value for value in NotifyOn.values}


def register(sub) -> None:
    org = sub.add_parser("org", help="create, change and list organizations")
    org_sub = org.add_subparsers(title="org commands", metavar="COMMAND", required=True)

    create = org_sub.add_parser("create", help="create an organization")
    create.add_argument("--slug", required=True, help="short name used in commands and URLs")
    create.add_argument("--name", required=True)
    _common(create)
    create.set_defaults(handler=_create)

    edit = org_sub.add_parser("edit", help="change an organization")
    edit.add_argument("--slug", required=True)
    edit.add_argument("--name")
    _common(edit)
    edit.set_defaults(handler=_edit)

    listing = org_sub.add_parser("list", help="list organizations")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=_list)


def _common(parser) -> None:
    parser.add_argument("--locations", help="comma-separated location identifiers to add "
                        "(an organization without locations is global)")
    parser.add_argument("--contact-limit", type=int, help="active contacts the plan allows")
    parser.add_argument("--notify", help="comma-separated notification email addresses")
    parser.add_argument("--notify-on", choices=list(NOTIFY_ON),
                        help="which runs email the notification addresses: every-run (default), "
                        "changes (runs that changed something, failed or were blocked), problems "
                        "(failed or blocked runs only)")
    parser.add_argument("--region", help="default phone region, e.g. US, GB, DE")
    parser.add_argument("--time-zone", help="e.g. Europe/Paris")


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def _fields(args) -> dict:
    fields = {}
    if args.contact_limit is not None:
        fields["contact_limit"] = args.contact_limit
    if args.notify is not None:
        fields["notification_emails"] = _split(args.notify)
    if args.notify_on:
        fields["notify_on"] = NOTIFY_ON[args.notify_on]
    if args.region:
        fields["default_region"] = args.region.upper()
    if args.time_zone:
        fields["time_zone"] = args.time_zone
    return fields


def get_org(slug: str) -> Organization:
    org = Organization.objects.filter(slug=slug).first()
    if org is None:
        raise CommandError(f"no organization {slug!r}; list them with `usersync org list`")
    return org


def _create(args) -> int:
    if Organization.objects.filter(slug=args.slug).exists():
        raise CommandError(f"organization {args.slug!r} already exists")
    try:
        org = create_organization(args.slug, args.name, _split(args.locations), **_fields(args))
    except FieldError as error:
        raise CommandError(f"location: {error.message}") from None
    kind = f"locations {', '.join(_split(args.locations))}" if org.multi_location else "global"
    print(f"Created organization {org.slug} ({org.name}, {kind})")
    return 0


def _edit(args) -> int:
    org = get_org(args.slug)
    fields = _fields(args)
    if args.name:
        fields["name"] = args.name
    edit_organization(org, **fields)
    existing = set(org.locations.values_list("identifier", flat=True))
    try:
        for identifier in _split(args.locations):
            if identifier not in existing:
                add_location(org, identifier)
    except FieldError as error:
        raise CommandError(f"location: {error.message}") from None
    print(f"Updated organization {org.slug}")
    return 0


def _list(args) -> int:
    orgs = [
        {"slug": o.slug, "name": o.name, "multi_location": o.multi_location,
         "locations": [location.identifier for location in o.locations.all()],
         "contact_limit": o.contact_limit, "notify": o.notification_emails,
         "notify_on": o.notify_on.replace("_", "-")}
        for o in Organization.objects.prefetch_related("locations")
    ]
    if args.json:
        print(json.dumps(orgs, indent=2))
        return 0
    for o in orgs:
        where = ", ".join(o["locations"]) if o["multi_location"] else "global"
        print(f"{o['slug']:20} {o['name']}  [{where}]")
    return 0
