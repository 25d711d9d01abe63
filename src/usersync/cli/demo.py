"""``usersync demo``: a working usersync in one command.

Creates the SQLite database, the organization ``acme`` with locations ``headquarters`` and
``warehouse``, an LDIF source over the sample directory bundled with the package (about 200
people), syncs it, prints the summary and how to log in, and serves the portal (``usersync serve``,
with its embedded worker: the demo's schedules run too).
"""

from __future__ import annotations

import secrets
from importlib import resources

from django.contrib.auth import get_user_model
from django.db import transaction

from usersync.app.directory.models import Source, SourceKind, Trigger
from usersync.app.orgs.models import Organization
from usersync.app.orgs.services import create_organization
from usersync.app.sync import readers, runs

from . import output, serve

SLUG = "acme"
DOMAIN = "OU=Acme,DC=acme,DC=example"
SCOPES = [
    {"base": f"OU=Headquarters,{DOMAIN}", "location": "headquarters"},
    {"base": f"OU=Warehouse,{DOMAIN}", "location": "warehouse"},
]
SOURCE_NAME = "demo-directory"


def register(sub) -> None:
    demo = sub.add_parser("demo", help="create a demo organization, sync it, and serve the portal")
    demo.add_argument("--no-serve", action="store_true", help="do everything but serving")
    demo.add_argument("--address", default="127.0.0.1:8000", help="where to serve the portal")
    demo.set_defaults(handler=_demo)


def directory_path() -> str:
    return str(resources.files("usersync.demo") / "directory.ldif")


def demo_source() -> Source:
    org = Organization.objects.filter(slug=SLUG).first()
    if org is None:
        org = create_organization(SLUG, "Acme Corporation", ["headquarters", "warehouse"],
                                  notification_emails=["it@acme.example"])
    source = Source.objects.filter(organization=org, name=SOURCE_NAME).first()
    source = source or Source(organization=org, name=SOURCE_NAME)
    source.kind = SourceKind.LDIF
    source.settings = {"path": directory_path(), "scopes": SCOPES}
    source.full_clean()
    source.save()
    return source


def _admin_password() -> str:
    """A fresh password for the demo's ``admin`` operator, printed once."""
    password = secrets.token_urlsafe(12)
    with transaction.atomic():
        user, _ = get_user_model().objects.get_or_create(username="admin")
        user.is_staff = user.is_superuser = True
        user.set_password(password)
        user.save()
    return password


def _demo(args) -> int:
    source = demo_source()
    with output.progress() as progress:
        outcome = runs.sync(source, readers.configured_reader(source), trigger=Trigger.CLI,
                            progress=progress)
    output.report(outcome, as_json=False, org_slug=SLUG)
    active = source.organization.contacts.filter(status="active")
    by_location = {loc.identifier: active.filter(location=loc).count()
                   for loc in source.organization.locations.all()}
    print(f"\nThe demo organization '{SLUG}' has {active.count()} active contacts: " +
          ", ".join(f"{n} in {loc}" for loc, n in by_location.items()))
    password = _admin_password()
    print(f"\nPortal: http://{args.address}/   user: admin   password: {password}")
    print(f"API:    http://{args.address}/api/v1/docs   (API keys: the organization's page)")
    print(f"Try:    usersync contacts --org {SLUG}      usersync runs --org {SLUG}")
    if args.no_serve:
        return 0
    return serve.serve_portal(args.address)
