"""``usersync source add|edit|show|test|list|remove``: an organization's sources.

The bind password is read from a file (``--password-file F``, or ``-`` for standard input), never
from the command line, where other users of the machine and the shell history would see it. It is
never printed: ``show`` and ``--json`` say only whether one is set.

The schedule (``--schedule``, ``--every-hours``) and the other options are checked by the source
services, which every surface shares: an option out of range is refused with its range.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from django.db.models import OuterRef, Subquery
from django.utils import timezone

from usersync.app import sources as services
from usersync.app.connection_reports import connection_ok
from usersync.app.directory.models import RunStatus, ScheduleKind, Source, SyncRun
from usersync.app.directory.queries import sources_of
from usersync.app.orgs.models import Organization

from . import EXIT_FAILED, CommandError
from .connection_report import print_report
from .orgs import get_org
from .scopes import SCOPE_EXAMPLE, parse_scope

DIRECTORY_KINDS = [kind.value for kind in services.DIRECTORY_KINDS]
#: ``--schedule`` spells ScheduleKind's values with dashes, like every option.
SCHEDULES = {value.replace("_", "-"): value for value in ScheduleKind.values}


def register(sub) -> None:
    source = sub.add_parser("source", help="add, change, test, list and remove sources")
    source_sub = source.add_subparsers(title="source commands", metavar="COMMAND", required=True)

    listing = _command(source_sub, "list", _list, help="list sources with their last run")
    listing.add_argument("--json", action="store_true")

    add = _command(source_sub, "add", _add, help="add an Active Directory or LDAP source")
    add.add_argument("--name", required=True, help="the source's name, e.g. corp-ad")
    add.add_argument("--kind", required=True, choices=DIRECTORY_KINDS)
    _directory_options(add, editing=False)

    edit = _command(source_sub, "edit", _edit, help="change a source; options not given are "
                    "kept, a repeatable option given replaces the whole list")
    edit.add_argument("--name", required=True, help="the source to change")
    edit.add_argument("--rename", metavar="NEW_NAME")
    edit.add_argument("--kind", choices=DIRECTORY_KINDS, help="must be the source's kind "
                      "(a kind never changes: add a new source instead)")
    _directory_options(edit, editing=True)

    show = _command(source_sub, "show", _show, help="a source's settings (never its password)")
    show.add_argument("--name", required=True)
    show.add_argument("--json", action="store_true")

    test = _command(source_sub, "test", _test, help="test a directory source's connection, TLS, "
                    "bind and search bases, and show sample records; changes nothing")
    test.add_argument("--source", required=True, help="source name")
    test.add_argument("--json", action="store_true")

    remove = _command(source_sub, "remove", _remove, help="remove a source with its runs; its "
                      "contacts are kept, unmanaged")
    remove.add_argument("--name", required=True)
    remove.add_argument("--yes", action="store_true", help="do not ask for confirmation")


def _command(commands, name: str, handler, help: str) -> argparse.ArgumentParser:
    """A ``source`` command: every one names its organization."""
    command = commands.add_parser(name, help=help)
    command.add_argument("--org", required=True, help="organization slug")
    command.set_defaults(handler=handler)
    return command


def _directory_options(parser, editing: bool) -> None:
    add = parser.add_argument
    needed = not editing  # what a new source cannot do without
    add("--url", action="append", dest="urls", metavar="URL", required=needed,
        help="ldaps://host[:636], or ldap://host[:389] with StartTLS; repeat for failover, "
        "in order")
    add("--bind-dn", required=needed,
        help="the read-only account to bind as: a DN, or a UPN (user@domain)")
    add("--password-file", metavar="FILE", required=needed, help="file holding the bind "
        "password ('-': standard input); one trailing newline is ignored")
    add("--ca-file", metavar="FILE", help="PEM file of the CA certificate(s) that issued the "
        "server's certificate (default: the system's trusted CAs)")
    add("--scope", action="append", dest="scopes", metavar="LOCATION=BASE_DN", required=needed,
        help=f"a search base and its location, e.g. {SCOPE_EXAMPLE}; repeat for each base; a "
        "global organization gives just BASE_DN")
    add("--filter", help="LDAP filter of the people to read (default: the kind's)")
    add("--group", action="append", dest="groups", metavar="GROUP_DN",
        help="import only the members (nested too) of this group; repeatable")
    add("--exclude", action="append", dest="exclusions", metavar="ATTR=PATTERN",
        help="skip objects whose attribute matches the pattern (* wildcard), e.g. "
        "sAMAccountName=svc-*; repeatable")
    add("--mapping", action="append", dest="mapping", metavar="FIELD=ATTR[|TRANSFORM],…",
        help="an attribute mapping line; repeat for each field (replaces the default mapping)")
    add("--keep-disabled", action="store_true", default=None,
        help="keep the contacts of disabled accounts active (default: archive them)")
    add("--insecure", action="store_true", default=None,
        help="plain LDAP without TLS for ldap:// URLs: the password crosses the network in clear")
    add("--no-archive-missing", action="store_true", default=None,
        help="do not archive contacts whose user left the scope")
    add("--page-size", type=int, help="entries per page (1-1000, default 500)")
    add("--connect-timeout", type=float, metavar="SECONDS", help="default 10")
    add("--timeout", type=float, metavar="SECONDS", help="per operation, default 120")
    add("--safeguard-percent", type=float, help="block a run archiving more than this share")
    add("--safeguard-minimum", type=int, help="…and at least this many contacts")
    add("--safeguard-maximum", type=int, help="block a run archiving more than this many")
    add("--schedule", choices=list(SCHEDULES), help="manual (the default for a new source): "
        "only when asked; every-hours: at minute :01 every N hours (--every-hours, default 24) "
        "in the organization's time zone; after-last: 24 hours after the last sync started")
    add("--every-hours", type=int, metavar="N", help="run every N hours (1-24) at minute :01; "
        "implies --schedule every-hours")
    add("--welcome-email", action=argparse.BooleanOptionalAction, default=None,
        help="email a welcome to each contact the source creates (default: no)")
    add("--new-contact-channels", metavar="LIST", help="how contacts the source creates are "
        "notified: a comma-separated list of email, sms, slack (default: all), or none")
    add("--full-reconcile-hours", type=int, metavar="N", help="an incremental read is a full "
        "read at least every N hours (1-720, default 24)")
    if editing:
        add("--no-ca-file", action="store_true", help="trust the system's CAs again")
        add("--default-filter", action="store_true", help="go back to the kind's default filter")
        add("--no-groups", action="store_true", help="import everyone in scope, not group members")
        add("--no-exclusions", action="store_true", help="remove every exclusion")
        add("--default-mapping", action="store_true", help="go back to the kind's default mapping")
        add("--archive-disabled", action="store_true", help="undo --keep-disabled")
        add("--secure", action="store_true", help="undo --insecure")
        add("--archive-missing", action="store_true", help="undo --no-archive-missing")
    add("--json", action="store_true", help="print the source (without its password) as JSON")


def read_password(path: str) -> str:
    """The password in the file (``-``: standard input), without one trailing newline."""
    try:
        data = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as error:
        raise CommandError(f"cannot read the password file {path}: {error.strerror}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise CommandError(f"the password file {path} is not UTF-8 text") from None
    text = text[:-2] if text.endswith("\r\n") else text[:-1] if text.endswith("\n") else text
    if not text:
        raise CommandError(f"the password file {path} is empty")
    return text


def _read_text(path: str, what: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or "not UTF-8 text"
        raise CommandError(f"cannot read the {what} {path}: {reason}") from None


def _settings(args, org: Organization) -> dict:
    """The settings the options give; on edit, only those (``None``: back to the default)."""
    changes: dict = {}
    for option, key in (("urls", "urls"), ("bind_dn", "bind_dn"), ("filter", "filter"),
                        ("groups", "groups"), ("exclusions", "exclusions"), ("mapping", "mapping"),
                        ("page_size", "page_size"), ("connect_timeout", "connect_timeout"),
                        ("timeout", "timeout")):
        if getattr(args, option) is not None:
            changes[key] = getattr(args, option)
    if args.scopes:
        locations = list(org.locations.values_list("identifier", flat=True))
        changes["scopes"] = [parse_scope(v, org.multi_location, locations) for v in args.scopes]
    if args.ca_file:
        changes["ca_pem"] = _read_text(args.ca_file, "CA file")
    for flag, key, value in (("no_ca_file", "ca_pem", None), ("default_filter", "filter", None),
                             ("no_groups", "groups", []), ("no_exclusions", "exclusions", []),
                             ("default_mapping", "mapping", None)):
        if getattr(args, flag, False):
            if key in changes:
                raise CommandError(f"--{flag.replace('_', '-')} contradicts another option")
            changes[key] = value
    insecure = _switch(args, "insecure", "secure")
    if insecure is not None:
        changes["insecure"] = insecure
    return changes


def _options(args) -> dict:
    keep = _switch(args, "keep_disabled", "archive_disabled")
    skip = _switch(args, "no_archive_missing", "archive_missing")
    return {
        "archive_disabled": None if keep is None else not keep,
        "archive_missing": None if skip is None else not skip,
        "safeguard_percent": args.safeguard_percent,
        "safeguard_minimum": args.safeguard_minimum,
        "safeguard_maximum": args.safeguard_maximum,
        "schedule": _schedule(args),
        "schedule_hours": args.every_hours,
        "welcome_email": args.welcome_email,
        "new_contact_channels": _channels(args.new_contact_channels),
        "full_reconcile_hours": args.full_reconcile_hours,
    }


def _channels(value: str | None) -> list[str] | None:
    """``--new-contact-channels email,sms`` (or ``none``) as a list; checked by the service."""
    if value is None:
        return None
    if value.strip().lower() == "none":
        return []
    return [item.strip().lower() for item in value.split(",") if item.strip()]


def _schedule(args) -> str | None:
    """``--schedule``'s value; ``--every-hours`` alone means every-hours."""
    chosen = SCHEDULES[args.schedule] if args.schedule else None
    if args.every_hours is None:
        return chosen
    if chosen not in (None, ScheduleKind.EVERY_HOURS):
        raise CommandError(f"--every-hours sets an every-hours schedule: it contradicts "
                           f"--schedule {args.schedule}")
    return ScheduleKind.EVERY_HOURS


def _switch(args, on: str, off: str) -> bool | None:
    turned_on, turned_off = getattr(args, on, None), getattr(args, off, None)
    if turned_on and turned_off:
        raise CommandError(f"--{on.replace('_', '-')} and --{off.replace('_', '-')} contradict "
                           "each other")
    return True if turned_on else False if turned_off else None


def get_source(org: Organization, name: str) -> Source:
    source = Source.objects.filter(organization=org, name=name).first()
    if source is None:
        names = ", ".join(org.sources.values_list("name", flat=True)) or "none yet"
        raise CommandError(f"organization {org.slug!r} has no source {name!r} "
                           f"(its sources: {names})")
    return source


def _add(args) -> int:
    org = get_org(args.org)
    settings = _settings(args, org)
    password = read_password(args.password_file)
    source = services.create_source(org, args.name, args.kind, settings, password,
                                    **_options(args))
    return _done(args, source, "Added")


def _edit(args) -> int:
    org = get_org(args.org)
    source = get_source(org, args.name)
    if args.kind and args.kind != source.kind:
        raise CommandError(f"source {source.name!r} is a {source.get_kind_display()} source; a "
                           "source's kind never changes (its people are known by the kind's ids): "
                           "add a new source instead")
    settings = _settings(args, org)
    password = read_password(args.password_file) if args.password_file else None
    services.edit_source(source, name=args.rename, settings=settings, password=password,
                         **_options(args))
    return _done(args, source, "Updated")


def _done(args, source: Source, verb: str) -> int:
    if args.json:
        print(json.dumps(services.public_data(source), indent=2, ensure_ascii=False))
        return 0
    settings = source.settings
    print(f"{verb} source {source.name} ({source.get_kind_display()}) of "
          f"{source.organization.slug}: {len(settings.get('urls', []))} server(s), "
          f"{len(settings.get('scopes', []))} search base(s)")
    if settings.get("insecure"):
        print("  warning: --insecure: ldap:// connections are not encrypted, and the bind "
              "password crosses the network in clear")
    print(f"Schedule:   {services.schedule_text(source)}; next run: {next_run(source)}")
    print(f"Test it:    usersync source test --org {source.organization.slug} --source "
          f"{source.name}")
    print(f"Preview:    usersync sync --org {source.organization.slug} --source {source.name} "
          "--preview")
    return 0


def _show(args) -> int:
    source = get_source(get_org(args.org), args.name)
    data = services.public_data(source)
    if args.json:
        print(json.dumps(data, indent=2, ensure_ascii=False))
        return 0
    settings = data.pop("settings")
    for key in ("schedule_hours", "next_run_at"):
        del data[key]
    data["schedule"] = services.schedule_text(source)
    data["next_run"] = next_run(source)
    for key, value in data.items():
        print(f"{key:20} {value}")
    for key, value in settings.items():
        if key == "ca_pem":
            value = f"{value.count('BEGIN CERTIFICATE')} CA certificate(s)"
        if isinstance(value, list):
            value = "\n".join(f"{'':21}{_item(v)}" for v in value).lstrip() or "(none)"
        print(f"{key:20} {value}")
    return 0


def next_run(source: Source) -> str:
    """When the scheduler next runs the source, in its organization's time zone."""
    if source.schedule == ScheduleKind.MANUAL:
        return "none (manual only)"
    if not source.enabled:
        return "none (the source is disabled)"
    local = services.next_run_local(source)
    if local is None:
        return "set at the scheduler's next tick (within a minute of a worker running)"
    when = f"{local:%Y-%m-%d %H:%M} {local.tzname()} ({source.organization.time_zone})"
    return f"due now (since {when})" if source.next_run_at <= timezone.now() else when


def _item(value) -> str:
    if isinstance(value, dict) and "base" in value:
        return f"{value['base']} → {value.get('location') or 'all locations'}"
    return str(value)


def _test(args) -> int:
    source = get_source(get_org(args.org), args.source)
    report = services.test_connection(source)
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False, default=str))
    else:
        print_report(report, source.settings.get("urls", []))
    return 0 if connection_ok(report) else EXIT_FAILED


def _remove(args) -> int:
    source = get_source(get_org(args.org), args.name)
    if not args.yes:
        if not sys.stdin.isatty():
            raise CommandError("removing a source deletes its run history: add --yes to confirm")
        answer = input(f"Remove source {source.name} and its run history? Its contacts are kept. "
                       "[y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("Nothing removed")
            return 0
    removed = services.remove_source(source)
    print(f"Removed source {args.name}: {removed.runs} run(s) and {removed.directory_objects} "
          f"directory object(s) deleted; {removed.contacts_kept} contact(s) kept, now unmanaged")
    return 0


def _list(args) -> int:
    sources = sources_of(get_org(args.org)).annotate(last_run_id=Subquery(
        SyncRun.objects.filter(source=OuterRef("pk")).exclude(status=RunStatus.QUEUED)
        .order_by("-created_at", "-id").values("pk")[:1]))
    last_runs = SyncRun.objects.only("status", "connection").in_bulk(
        [s.last_run_id for s in sources if s.last_run_id])
    rows = []
    for source in sources:
        last = last_runs.get(source.last_run_id)
        rows.append({
            "name": source.name, "kind": source.kind, "enabled": source.enabled,
            "managed_active": source.synced_users,
            "last_run": last.pk if last else None, "last_status": last.status if last else None,
            "last_connection": last.connection or None if last else None,
        })
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for r in rows:
        print(f"{r['name']:20} {r['kind']:16} {r['managed_active']:>6} active contacts   "
              f"last run: {r['last_status'] or 'never'}")
    return 0
