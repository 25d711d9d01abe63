"""Creating, changing, testing and removing sources: one place for every surface (the command
line, the portal and the API), so a source is validated the same way wherever it is written, and
every refusal names the field it is about (the API answers 422 with per-field messages, the
command line prints them).

The bind password of a directory source lives only in ``Source.secret``, encrypted
(``usersync.app.crypto``). It is decrypted at the last moment, by ``ldap_settings``, for the
connector that binds with it, and it is never returned: ``public_data`` says whether one is set.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from usersync.app import crypto
from usersync.app.directory import source_settings
from usersync.app.directory.models import (Contact, RunStatus, ScheduleKind, Source,
                                           SourceKind, SyncRun)
from usersync.app.jobs import schedules
from usersync.app.orgs.models import Organization
from usersync.app.webhooks import services as webhook_services
from usersync.app.webhooks.models import Webhook
from usersync.connectors.errors import ConfigurationError
from usersync.connectors.ldap import LdapConnector, LdapSettings
from usersync.connectors.scope import Scope
from usersync.core import schedule
from usersync.core.mapping import AttributeMapping
from usersync.core.planning import CHANNELS

DIRECTORY_KINDS = (SourceKind.ACTIVE_DIRECTORY, SourceKind.LDAP)
#: The kinds a surface may create: those whose settings have a schema (the others have no
#: connector yet; import sources are made by the imports themselves).
CREATABLE_KINDS = tuple(SourceKind(kind) for kind in source_settings.SCHEMAS)
#: Source fields other than name, kind, settings and the secret that a surface may set.
OPTIONS = frozenset({
    "enabled", "archive_missing", "archive_disabled", "safeguard_percent", "safeguard_minimum",
    "safeguard_maximum", "schedule", "schedule_hours", "welcome_email", "full_reconcile_hours",
    "new_contact_channels",
})
#: An incremental source reads everything at least this often: between every hour and monthly.
FULL_RECONCILE_HOURS = (1, 24 * 30)
def create_source(
    org: Organization, name: str, kind: str, settings: dict, password: str | None = None,
    **options,
) -> Source:
    """A new source of ``org``; a directory source needs its bind password."""
    if kind not in CREATABLE_KINDS:
        what = "sources cannot be set up yet" if kind in SourceKind.values else "is no kind"
        raise ValidationError({"kind": f"{str(kind)!r} {what}: use one of "
                                       f"{', '.join(CREATABLE_KINDS)}"})
    if kind in DIRECTORY_KINDS and not password:
        raise ValidationError({"password": "a directory source needs the password of its bind "
                                           "account"})
    source = Source(organization=org, kind=kind)
    _set_options(source, options)
    with transaction.atomic():
        _save(source, name, settings, password)
    return source


def edit_source(
    source: Source, *, name: str | None = None, settings: dict | None = None,
    password: str | None = None, **options,
) -> Source:
    """Change what is given and keep the rest. ``settings`` holds the keys to replace (a key set to
    ``None`` goes back to its default); a new ``password`` is encrypted with the newest key."""
    _set_options(source, options)
    merged = dict(source.settings)
    for key, value in (settings or {}).items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    with transaction.atomic():
        _save(source, name or source.name, merged, password)
    return source


@dataclass(frozen=True)
class Removed:
    contacts_kept: int
    runs: int
    directory_objects: int


class SourceBusy(ValidationError):
    """The source has a run in progress (``run``), which must finish before it is removed."""

    def __init__(self, source: Source, run: SyncRun):
        self.run = run
        super().__init__(f"source {source.name!r} has a run in progress (run {run.pk}); "
                         "wait for it to finish, then remove the source")


def remove_source(source: Source) -> Removed:
    """Delete the source with its runs and directory objects. Its contacts are kept (archive,
    never delete): they become unmanaged (no source, no anchor) with their status unchanged; a
    later source that reads the same people matches them again by email or identification."""
    with transaction.atomic():
        source = Source.objects.select_for_update().get(pk=source.pk)
        # A queued run (a retry waiting out its backoff) goes with the source; a running one
        # is writing, and must finish first.
        running = source.runs.filter(status=RunStatus.RUNNING).first()
        if running is not None:
            raise SourceBusy(source, running)
        kept = Contact.objects.filter(source=source).update(source=None, anchor=None)
        removed = Removed(kept, source.runs.count(), source.directory_objects.count())
        source.delete()
    return removed


def has_password(source: Source) -> bool:
    return bool(source.secret)


def public_data(source: Source) -> dict:
    """What any surface may show of a source: everything but the secret."""
    return {
        "id": source.pk,
        "organization": source.organization.slug,
        "name": source.name,
        "kind": source.kind,
        "enabled": source.enabled,
        "settings": source.settings,
        "password_set": has_password(source),
        "archive_missing": source.archive_missing,
        "archive_disabled": source.archive_disabled,
        "safeguard_percent": source.safeguard_percent,
        "safeguard_minimum": source.safeguard_minimum,
        "safeguard_maximum": source.safeguard_maximum,
        "schedule": source.schedule,
        "schedule_hours": source.schedule_hours,
        "next_run_at": source.next_run_at.isoformat() if source.next_run_at else None,
        "welcome_email": source.welcome_email,
        "new_contact_channels": source.new_contact_channels,
        "full_reconcile_hours": source.full_reconcile_hours,
    }


def schedule_text(source: Source) -> str:
    """The source's schedule in an admin's words, e.g. ``every 6 hours at :01 (0:01, 6:01, …)``."""
    if source.schedule == ScheduleKind.EVERY_HOURS:
        hours = schedule.slot_hours(source.schedule_hours)
        if len(hours) == 1:
            return "every 24 hours at 0:01 (12:01 am)"
        slots = ", ".join(f"{h}:01" for h in hours[:4]) + (", …" if len(hours) > 4 else "")
        return f"every {source.schedule_hours} hours at :01 ({slots})"
    if source.schedule == ScheduleKind.AFTER_LAST:
        return "every 24 hours after the start of the last sync"
    return "manual only"


def next_run_local(source: Source) -> datetime | None:
    """When the scheduler next queues a run, in the organization's time zone (UTC if that zone
    is unknown); ``None`` for a manual schedule, or before the scheduler's first tick."""
    if source.next_run_at is None:
        return None
    try:
        zone = schedule.zone(source.organization.time_zone)
    except schedule.ScheduleError:
        zone = schedule.zone("UTC")
    return source.next_run_at.astimezone(zone)


def ldap_settings(source: Source) -> LdapSettings:
    """The connector's settings for a directory source, with its password decrypted."""
    if source.kind not in DIRECTORY_KINDS:
        raise ConfigurationError(f"source {source.name!r} is a {source.get_kind_display()} "
                                 "source, not a directory", code="wrong_kind")
    try:
        data = source_settings.validated(source.kind, source.settings)
    except ValidationError as error:
        raise ConfigurationError(f"the settings of source {source.name!r} are invalid: "
                                 + "; ".join(error.messages),
                                 f"correct them with usersync source edit --org "
                                 f"{source.organization.slug} --name {source.name}",
                                 code="invalid_settings") from None
    return LdapSettings(
        kind=source.kind,
        urls=tuple(data["urls"]),
        bind_dn=data["bind_dn"],
        password=_password(source),
        scopes=tuple(Scope(s["base"], s.get("location")) for s in data["scopes"]),
        mapping=AttributeMapping.from_data(data["mapping"]),
        filter=data.get("filter"),
        groups=tuple(data["groups"]),
        exclusions=tuple(data["exclusions"]),
        ca_pem=data.get("ca_pem"),
        insecure=data["insecure"],
        page_size=data["page_size"],
        connect_timeout=data["connect_timeout"],
        timeout=data["timeout"],
    )


def test_connection(source: Source, samples: int = 5) -> dict:
    """The connection report of a directory source (see ``LdapConnector.test``), as JSON data."""
    return LdapConnector(ldap_settings(source)).test(samples=samples).to_data()


test_connection.__test__ = False  # a service, not a pytest test


@dataclass(frozen=True)
class Rotation:
    reencrypted: int
    keys: int
    new_key: bool
    dropped: int
    from_environment: bool


def rotate_secrets(new_key: bool = True, drop_old: bool = False) -> Rotation:
    """Re-encrypt every stored secret with the newest key, in one transaction.

    ``new_key`` first puts a fresh key in front of the key file (keys from the environment are
    never changed here: the caller tells the operator what to set). ``drop_old`` then removes the
    older keys from the key file, once every secret is encrypted with the newest one. Nothing is
    changed when a secret cannot be decrypted with the keys in force.
    """
    keys = crypto.load_keys()
    unreadable = [str(s) for s in Source.objects.exclude(secret="").select_related("organization")
                  if not crypto.readable(s.secret, keys)]
    unreadable += [f"the webhook {w.url} of {w.organization.slug}" for w in
                   Webhook.objects.select_related("organization")
                   if not crypto.readable(w.secret, keys)]
    if unreadable:
        raise crypto.SecretUnreadable(
            f"the secrets of {', '.join(unreadable)} cannot be decrypted with the keys in force "
            "(the encryption keys changed); nothing was rotated",
            "restore the old key, or enter those passwords again (usersync source edit --org ORG "
            "--name NAME --password-file FILE) and rotate those webhooks' secrets in the portal, "
            "then rotate again")
    if new_key:
        keys = crypto.add_key_to_file(keys)
    with transaction.atomic():
        count = 0
        for source in Source.objects.select_for_update().exclude(secret=""):
            source.secret = crypto.rotate(source.secret, keys)
            source.save(update_fields=["secret"])
            count += 1
        count += webhook_services.reencrypt_secrets(keys)
    dropped = 0
    if drop_old and not keys.from_environment and len(keys.keys) > 1:
        dropped = len(keys.keys) - 1
        keys = crypto.keep_only_newest(keys)
    return Rotation(count, len(keys.keys), new_key, dropped, keys.from_environment)


def _set_options(source: Source, options: dict) -> None:
    unknown = set(options) - OPTIONS
    if unknown:
        raise TypeError(f"unknown source options: {', '.join(sorted(unknown))}")
    for option, value in options.items():
        if value is not None:
            setattr(source, option, value)
    _check_options(source)


def _check_options(source: Source) -> None:
    """The options' ranges, in words an admin acts on (the model's validators say less)."""
    problems = {}
    if source.schedule not in ScheduleKind.values:
        problems["schedule"] = (f"unknown schedule {source.schedule!r}: use "
                                f"{', '.join(ScheduleKind.values)}")
    try:
        schedule.slot_hours(source.schedule_hours)
    except (schedule.ScheduleError, TypeError):
        problems["schedule_hours"] = (f"a schedule runs every {schedule.MIN_HOURS} to "
                                      f"{schedule.MAX_HOURS} hours, not {source.schedule_hours}")
    low, high = FULL_RECONCILE_HOURS
    if not low <= source.full_reconcile_hours <= high:
        problems["full_reconcile_hours"] = (f"a full reconcile runs every {low} to {high} hours "
                                            f"(30 days), not {source.full_reconcile_hours}")
    if not 0 <= source.safeguard_percent <= 100:
        problems["safeguard_percent"] = f"a share from 0 to 100, not {source.safeguard_percent:g}"
    for option in ("safeguard_minimum", "safeguard_maximum"):
        if getattr(source, option) < 0:
            problems[option] = "a number of contacts: 0 or more"
    channels = source.new_contact_channels
    if not isinstance(channels, list | tuple) or not set(channels) <= CHANNELS:
        problems["new_contact_channels"] = (f"channels among {', '.join(sorted(CHANNELS))}, not "
                                            f"{channels!r}")
    else:
        source.new_contact_channels = sorted(set(channels))
    if problems:
        raise ValidationError(problems)


def _save(source: Source, name: str, settings: dict, password: str | None) -> None:
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "a source needs a name"})
    taken = Source.objects.filter(organization_id=source.organization_id, name=name)
    if taken.exclude(pk=source.pk).exists():
        raise ValidationError({"name": f"organization {source.organization.slug!r} already has "
                                       f"a source named {name!r}"})
    if password is not None:
        if source.kind not in DIRECTORY_KINDS:
            raise ValidationError({"password": f"{source.get_kind_display()} sources have no "
                                               "password"})
        if not password:
            raise ValidationError({"password": "the bind password is empty"})
        source.secret = crypto.encrypt(password)
    _no_nul_characters(settings, "settings")
    source.name = name
    source.settings = source_settings.validated(source.kind, settings)
    _check_locations(source.organization, source.settings.get("scopes", []))
    source.full_clean()
    if _schedule_changed(source):
        source.next_run_at = schedules.next_run_at(source, timezone.now())
    source.save()


def _no_nul_characters(value, where: str) -> None:
    """Settings are stored as JSON, and PostgreSQL cannot store a NUL character in it."""
    if isinstance(value, dict):
        for key, item in value.items():
            _no_nul_characters(key, where)
            _no_nul_characters(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _no_nul_characters(item, f"{where}.{index}")
    elif isinstance(value, str) and "\x00" in value:
        raise ValidationError({"settings": f"{where}: holds a NUL character; remove it"})


def _schedule_changed(source: Source) -> bool:
    """A new source, or a new schedule: the next run is computed again (the scheduler would
    otherwise keep the old schedule's next run)."""
    before = Source.objects.filter(pk=source.pk).values_list("schedule", "schedule_hours").first()
    return before != (source.schedule, source.schedule_hours)


def _check_locations(org: Organization, scopes: list[dict]) -> None:
    """Scopes of a multi-location organization name one of its locations; a global organization's
    scopes name none (its contacts are in every location)."""
    known = sorted(org.locations.values_list("identifier", flat=True))
    problems = []
    for scope in scopes:
        location = scope.get("location")
        if not org.multi_location and location:
            problems.append(f"organization {org.slug!r} is global (it has no locations): give "
                            f"the search base {scope['base']!r} without a location")
        elif org.multi_location and not location:
            problems.append(f"the search base {scope['base']!r} needs a location (LOCATION="
                            f"BASE_DN); the locations of {org.slug!r} are: {', '.join(known)}")
        elif org.multi_location and location not in known:
            problems.append(f"organization {org.slug!r} has no location {location!r} (its "
                            f"locations: {', '.join(known)}); add it with usersync org edit "
                            f"--slug {org.slug} --locations {location}")
    if problems:
        raise ValidationError({"scopes": problems})


def _password(source: Source) -> str:
    if not source.secret:
        raise ConfigurationError(f"source {source.name!r} has no bind password",
                                 _edit_hint(source), code="no_password")
    try:
        return crypto.decrypt(source.secret)
    except crypto.SecretUnreadable as error:
        raise crypto.SecretUnreadable(
            f"the bind password of source {source.name!r} cannot be decrypted: the encryption "
            "keys changed; restore the old key or re-enter the password",
            f"{crypto.KEYS_HINT}: {_edit_hint(source)}") from error


def _edit_hint(source: Source) -> str:
    return (f"usersync source edit --org {source.organization.slug} --name {source.name} "
            "--password-file FILE")
