"""Which connector reads a source, configured from the source's settings.

Directory sources (Active Directory, LDAP) are read by the LDAP connector with the source's
settings and its bind password, decrypted when the read starts (``sources.ldap_settings``), so a
password that cannot be decrypted fails the run with a hint instead of failing to queue it. They
are read incrementally when the server can tell what changed (``Source.sync_state``, saved by
the run when it succeeds), in full at least every ``Source.full_reconcile_hours``.

File sources (CSV, LDIF) read bytes given to them (an upload, a command-line file) or, when their
settings name a ``path``, the file found there at run time (e.g. an export a scheduled script
drops on a share).
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Callable

from django.utils import timezone

from usersync.app.directory.models import Source, SourceKind
from usersync.app.keys import hash_secret
from usersync.app.orgs.models import Organization
from usersync.app.sources import DIRECTORY_KINDS, ldap_settings
from usersync.connectors.base import Reading
from usersync.connectors.csvfile import read_csv
from usersync.connectors.errors import ConfigurationError
from usersync.connectors.ldap import Incremental, LdapConnector
from usersync.connectors.ldif import read_ldif
from usersync.connectors.scope import Scope

from . import loading

Reader = Callable[[], Reading]
FILE_KINDS = (SourceKind.CSV, SourceKind.LDIF)
#: The source an import uses when none is named: one per organization and file kind.
IMPORT_SOURCE_NAMES = {SourceKind.CSV: "csv-import", SourceKind.LDIF: "ldif-import"}
#: Hashed into the planning context: a new PIN key changes it (the key itself is never in it).
PIN_KEY_PROBE = "usersync planning context"


def scopes_of(source: Source) -> list[Scope]:
    return [Scope(s["base"], s.get("location")) for s in source.settings.get("scopes", [])]


def file_reader(source: Source, data: bytes) -> Reader:
    """A reader of ``data`` in the source's file format."""
    if source.kind == SourceKind.CSV:
        return lambda: read_csv(data)
    if source.kind == SourceKind.LDIF:
        org = source.organization
        scopes = scopes_of(source)
        auto = None
        if org.multi_location and not scopes:
            auto = set(org.locations.values_list("identifier", flat=True))
        return lambda: read_ldif(data, now=timezone.now(), scopes=scopes, auto_locations=auto)
    raise ConfigurationError(f"source {source.name!r} is a {source.get_kind_display()} source, "
                             "not a file source", "import the file into a CSV or LDIF source")


def configured_reader(source: Source, full: bool = False) -> Reader:
    """The reader a scheduled or manual run of this source uses. A directory source reads only
    what changed since its last successful run when it can (``incremental``); ``full`` reads
    everything now (a full reconcile)."""
    if source.kind in FILE_KINDS:
        path = source.settings.get("path")
        if not path:
            raise ConfigurationError(
                f"source {source.name!r} reads uploaded files and has no file path to read",
                "upload a file (usersync import-csv / import-ldif), or set the source's path",
                code="no_file")

        def read() -> Reading:
            try:
                data = Path(path).read_bytes()
            except OSError as error:
                raise ConfigurationError(f"cannot read {path}: {error.strerror}",
                                         "check that the file exists and usersync may read it",
                                         code="file_unreadable") from None
            return file_reader(source, data)()

        return read
    if source.kind in DIRECTORY_KINDS:
        return lambda: LdapConnector(ldap_settings(source)).read(
            incremental=incremental(source, force_full=full))
    raise ConfigurationError(f"{source.get_kind_display()} sources cannot be read yet",
                             "use an Active Directory, LDAP, CSV or LDIF source",
                             code="unsupported_kind")


def incremental(source: Source, force_full: bool = False) -> Incremental:
    """What a directory read needs to decide between a delta and a full read: the state the
    last successful run saved (read now, from the database: an earlier run in this process may
    have saved a newer one), the full reconcile interval, and ``planning_context``."""
    saved = Source.objects.filter(pk=source.pk).values_list("sync_state", flat=True).first()
    return Incremental(saved=saved or {}, force_full=force_full,
                       reconcile_every=timedelta(hours=source.full_reconcile_hours),
                       context=planning_context(source),
                       known=lambda: loading.settled(source))


def planning_context(source: Source) -> str:
    """What, besides the directory, decides what an unchanged entry becomes: the archive
    options, the organization's locations, phone region and contact limit, the channels new
    contacts get, the key PINs are hashed with (as a hash of a fixed text), and the admins'
    decisions about directory objects (ignored, mapped by hand). A delta does not read unchanged
    entries again, and a full read does not build the entries it recognizes unchanged, so a
    change here must bring a full read of everything (it changes the fingerprint)."""
    org = source.organization
    state = loading.source_state(source)
    return json.dumps({
        "archive_missing": source.archive_missing, "archive_disabled": source.archive_disabled,
        "locations": sorted(org.locations.values_list("identifier", flat=True)),
        "multi_location": org.multi_location, "region": org.default_region,
        "contact_limit": org.contact_limit, "ignored": sorted(state.ignored),
        "manual": sorted(state.manual.items()),
        "channels": sorted(source.new_contact_channels), "pin_key": hash_secret(PIN_KEY_PROBE),
    }, sort_keys=True)


def import_source(org: Organization, kind: str, name: str | None = None) -> Source:
    """The named file source of ``org``, or its default import source (created on first use)."""
    if name:
        source = Source.objects.filter(organization=org, name=name).first()
        if source is None:
            raise ConfigurationError(f"organization {org.slug!r} has no source named {name!r}",
                                     "list sources with: usersync source list --org " + org.slug,
                                     code="no_such_source")
        if source.kind != kind:
            raise ConfigurationError(f"source {name!r} is a {source.get_kind_display()} source",
                                     f"import into a {kind.upper()} source", code="wrong_kind")
        return source
    source, _ = Source.objects.get_or_create(
        organization=org, name=IMPORT_SOURCE_NAMES[kind], defaults={"kind": kind},
    )
    return source
