"""Sources: list, read, create, edit and delete; test the connection, preview, sync now, and
the source's run history. (A blocked run is approved or rejected at ``/runs/{id}/approve`` and
``/runs/{id}/reject``, whichever source it belongs to.)

Every write goes through the source services (``usersync.app.sources``), so a source is validated
here as in the portal and on the command line. The bind password is write-only: ``password_set``
says whether one is stored, and no answer ever holds it. Testing and previewing need write access
too: they read the directory with the stored password.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404
from ninja import Field, Query, Router, Schema
from ninja.responses import Status

from usersync.app import connection_reports
from usersync.app import sources as services
from usersync.app.accounts import access
from usersync.app.directory.models import RunStatus, ScheduleKind, Source, SyncRun, Trigger
from usersync.app.directory.queries import sources_of
from usersync.app.jobs import queue
from usersync.app.sync import readers
from usersync.app.sync import runs as running
from usersync.core.plan import Op
from usersync.core.planning import CHANNELS

from .runs import OperationOut, RunError, RunOut, shown
from .schemas import ERRORS, TEXT, Error, Input, OrgRef, PageQuery, object_id, page

router = Router(tags=["sources"])
SOURCES = "/organizations/{org}/sources"
SOURCE = SOURCES + "/{source_id}"
SOURCE_ID = object_id("The source's id.")
#: A preview reads the directory within the request: 502 when it cannot (try again later).
READ_ERRORS = ERRORS | {502}
#: An answer with its own 409: the source has a run in progress.
BUSY_ERRORS = ERRORS - {409}
Kind = Literal[tuple(str(kind) for kind in services.CREATABLE_KINDS)]
MAX_INT = 2**31 - 1


Channel = Literal[tuple(sorted(CHANNELS))]


class SourceOut(Schema):
    id: int
    name: str
    kind: str
    enabled: bool
    settings: dict = Field(..., description="Connection, scope and mapping (never a secret).")
    password_set: bool = Field(..., description="Whether a bind password is stored (it is "
                                                "write-only: never returned).")
    archive_missing: bool
    archive_disabled: bool
    welcome_email: bool
    new_contact_channels: list[str] = Field(..., description="How contacts the source creates "
                                            "are notified: email, sms, slack.")
    safeguard_percent: float
    safeguard_minimum: int
    safeguard_maximum: int
    schedule: str
    schedule_hours: int
    full_reconcile_hours: int
    next_run_at: datetime | None
    synced_users: int = Field(..., description="Active contacts the source manages.")
    conflicts: int = Field(..., description="Directory objects in conflict.")
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_password_set(source: Source) -> bool:
        return services.has_password(source)


class SourceOptions(Input):
    """The options of a source; a field left out (or null) keeps its value (or the default)."""

    enabled: bool | None = None
    archive_missing: bool | None = Field(None, description="Archive the contacts of people who "
                                         "left the scope.")
    archive_disabled: bool | None = Field(None, description="Archive the contacts of disabled "
                                          "accounts.")
    welcome_email: bool | None = Field(None, description="Email each contact the source creates.")
    new_contact_channels: list[Channel] | None = Field(
        None, description="How contacts the source creates are notified (their message rules), "
        "among the channels each one has a value for; [] for none. Default: all.")
    safeguard_percent: float | None = Field(None, ge=0, le=100)
    safeguard_minimum: int | None = Field(None, ge=0, le=MAX_INT)
    safeguard_maximum: int | None = Field(None, ge=0, le=MAX_INT)
    schedule: ScheduleKind | None = Field(None, description="manual; every_hours (at minute :01 "
                                          "in the organization's time zone); after_last (24 "
                                          "hours after the start of the last sync).")
    schedule_hours: int | None = Field(None, ge=1, le=24, description="N of every_hours.")
    full_reconcile_hours: int | None = Field(None, ge=services.FULL_RECONCILE_HOURS[0],
                                             le=services.FULL_RECONCILE_HOURS[1])


class SourceIn(SourceOptions):
    name: str = Field(..., min_length=1, max_length=100, pattern=TEXT)
    kind: Kind
    settings: dict[str, Any] = Field({}, description="The kind's settings: for a directory, "
                                     "urls, bind_dn, scopes [{base, location}], filter, groups, "
                                     "exclusions, ca_pem, insecure, mapping …")
    password: str | None = Field(None, min_length=1, max_length=1024, pattern=TEXT,
                                 description="The bind password of a directory source; "
                                             "write-only.")


class SourcePatch(SourceOptions):
    name: str | None = Field(None, min_length=1, max_length=100, pattern=TEXT)
    settings: dict[str, Any] | None = Field(None, description="The settings to replace, by key; "
                                            "a key set to null goes back to its default.")
    password: str | None = Field(None, min_length=1, max_length=1024, pattern=TEXT,
                                 description="A new bind password; write-only.")


class RunInProgress(Error):
    run_id: int | None = Field(None, description="The source's active run.")


class Removed(Schema):
    id: int
    name: str
    contacts_kept: int = Field(..., description="Its contacts, kept unmanaged (never deleted).")
    runs: int = Field(..., description="Runs deleted with it.")
    directory_objects: int


class Bind(Schema):
    ok: bool
    error: str | None
    hint: str | None


class BaseCount(Schema):
    base: str
    location: str | None
    count: int | None = Field(..., description="Objects the filter finds; null: see error.")
    error: str | None = None


class Certificate(Schema):
    subject: str | None
    issuer: str | None
    sans: list[str]
    not_after: str | None
    days_left: int | None
    trusted: bool | None
    hostname_match: bool | None
    error: str | None


class Tls(Schema):
    protocol: str
    cipher: str | None


class ConnectionReport(Schema):
    ok: bool = Field(..., description="Reachable, bound, every search base searchable.")
    message: str = Field(..., description="The outcome in one sentence.")
    hint: str = Field(..., description="What to do next.")
    reachable: bool
    server: str | None = Field(..., description="The server that answered.")
    ssl_status: str = Field(..., description="ok, expiring, invalid, not encrypted or unknown.")
    ssl_meaning: str
    certificate: Certificate | None
    tls: Tls | None
    insecure: bool
    bind: Bind
    bases: list[BaseCount]
    samples: list[dict] = Field(..., description="A few records as the mapping makes them.")
    error: RunError | None


class RecordError(Schema):
    line: int | None = Field(..., description="The file's line; null for directory records.")
    field: str | None
    message: str
    record: str | None = None


class PreviewOperations(Schema):
    count: int
    limit: int
    offset: int
    items: list[OperationOut]


class Preview(Schema):
    complete: bool = Field(..., description="Whether the read was provably complete.")
    read: int = Field(..., description="Records read from the source.")
    counts: dict[str, int]
    blocked: str | None = Field(..., description="Why a sync would wait for approval, if so.")
    notices: list[str]
    errors: list[RecordError] = Field(..., description="Records that cannot be synced, each "
                                      "with its reason.")
    operations: PreviewOperations


class PreviewQuery(PageQuery):
    op: Op | None = Field(None, description="Only the operations of this kind.")


class SourceRun(RunOut):
    attempt: int = Field(..., description="1 for a first attempt; retries count on.")
    retry_of_id: int | None = Field(..., description="The first attempt this run retries.")
    duration_seconds: float | None = Field(..., description="From start to end; null until "
                                           "the run ends.")

    @staticmethod
    def resolve_duration_seconds(run: SyncRun) -> float | None:
        if run.started_at is None or run.finished_at is None:
            return None
        return round((run.finished_at - run.started_at).total_seconds(), 3)


class SourceRunPage(Schema):
    count: int
    limit: int
    offset: int
    items: list[SourceRun]


class SourceRunQuery(PageQuery):
    status: RunStatus | None = None


def _source(request, org: str, source_id: int, write: bool = False) -> Source:
    organization = access.require_org(request, org, write=write)
    return get_object_or_404(Source.objects.select_related("organization"),
                             organization=organization, pk=source_id)


def _shown(source: Source) -> Source:
    """The source as the API shows it (with its counts)."""
    return sources_of(source.organization).get(pk=source.pk)


def _may_set_path(request, kind: str, settings: dict | None) -> None:
    """A file source's ``path`` is read on the server's own disk: only operators may name one."""
    if (settings or {}).get("path") is not None and kind in readers.FILE_KINDS:
        if not access.is_operator(getattr(request, "user", None)) or access.api_key_of(request):
            raise PermissionDenied("only operators may set a file path: it is read on the "
                                   "server; upload files instead")


def _busy(code: str, message: str, hint: str, run: SyncRun | None) -> Status:
    return Status(409, {"code": code, "message": message, "hint": hint, "errors": [],
                        "run_id": run.pk if run is not None else None})


@router.get(SOURCES, response={200: list[SourceOut], ERRORS: Error})
def list_sources(request, org: OrgRef):
    return sources_of(access.require_org(request, org))


@router.post(SOURCES, response={201: SourceOut, ERRORS: Error})
def create_source(request, org: OrgRef, payload: SourceIn):
    """A directory source needs its bind password; scopes name the organization's locations."""
    organization = access.require_org(request, org, write=True)
    values = payload.dict()
    _may_set_path(request, payload.kind, payload.settings)
    source = services.create_source(organization, values.pop("name"), values.pop("kind"),
                                    values.pop("settings"), values.pop("password"), **values)
    return Status(201, _shown(source))


@router.get(SOURCE, response={200: SourceOut, ERRORS: Error})
def read_source(request, org: OrgRef, source_id: int = SOURCE_ID):
    return get_object_or_404(sources_of(access.require_org(request, org)), pk=source_id)


@router.patch(SOURCE, response={200: SourceOut, ERRORS: Error})
def edit_source(request, org: OrgRef, payload: SourcePatch, source_id: int = SOURCE_ID):
    """Fields left out are kept; ``settings`` replaces the keys it gives (null: the default);
    a ``password`` replaces the stored one. A kind never changes: add a new source instead."""
    source = _source(request, org, source_id, write=True)
    values = payload.dict(exclude_unset=True)
    _may_set_path(request, source.kind, values.get("settings"))
    services.edit_source(source, **values)
    return _shown(source)


@router.delete(SOURCE, response={200: Removed, 409: RunInProgress, BUSY_ERRORS: Error})
def delete_source(request, org: OrgRef, source_id: int = SOURCE_ID):
    """Delete the source with its runs and directory objects; its contacts are kept, unmanaged.
    409 while one of its runs is in progress."""
    source = _source(request, org, source_id, write=True)
    try:
        removed = services.remove_source(source)
    except services.SourceBusy as busy:
        return _busy("source_busy", busy.messages[0], "wait for the run to finish, then delete "
                     "the source again", busy.run)
    return {"id": source_id, "name": source.name, "contacts_kept": removed.contacts_kept,
            "runs": removed.runs, "directory_objects": removed.directory_objects}


@router.post(SOURCE + "/test", response={200: ConnectionReport, ERRORS: Error})
def test_source(request, org: OrgRef, source_id: int = SOURCE_ID):
    """Connect, check TLS, bind, count each search base and map a few records; changes nothing.
    A failure is part of the report (``ok`` false, with its hint), not an error status."""
    report = services.test_connection(_source(request, org, source_id, write=True))
    return connection_reports.explained(report)


@router.post(SOURCE + "/preview", response={200: Preview, READ_ERRORS: Error})
def preview_source(request, org: OrgRef, query: Query[PreviewQuery],
                   source_id: int = SOURCE_ID):
    """Read the source and plan, writing nothing: the counts, whether a sync would be blocked,
    the per-record errors, and a page of the operations. Each call reads the whole source again
    (a full read, even for a source whose syncs read incrementally: a preview shows everyone)."""
    source = _source(request, org, source_id, write=True)
    outcome = running.sync(source, readers.configured_reader(source, full=True), preview=True)
    if outcome.error is not None:
        raise outcome.error
    plan = outcome.plan
    operations = plan.of(query.op) if query.op else list(plan.operations)
    chosen = operations[query.offset:query.offset + query.limit]
    return {"complete": plan.complete, "read": plan.read, "counts": plan.counts,
            "blocked": plan.blocked, "notices": outcome.notices,
            "errors": running.errors_of(plan),
            "operations": {"count": len(operations), "limit": query.limit,
                           "offset": query.offset, "items": [shown(o) for o in chosen]}}


@router.post(SOURCE + "/sync", response={202: SourceRun, 409: RunInProgress,
                                         BUSY_ERRORS: Error})
def sync_source(request, org: OrgRef, source_id: int = SOURCE_ID):
    """Queue a run (trigger ``api``); a worker executes it. 409 ``already_running`` with the
    active run's id while the source has one queued or running."""
    source = _source(request, org, source_id, write=True)
    readers.configured_reader(source)  # a source that cannot be read at all is refused now
    try:
        run = queue.enqueue(source, Trigger.API)
    except queue.AlreadyRunning as busy:
        hint = (f"follow it at /api/v1/organizations/{source.organization.slug}/runs/"
                f"{busy.run.pk}" if busy.run is not None else "try again in a moment")
        return _busy("already_running", str(busy), hint, busy.run)
    return Status(202, run)


@router.get(SOURCE + "/runs", response={200: SourceRunPage, ERRORS: Error})
def list_source_runs(request, org: OrgRef, query: Query[SourceRunQuery],
                     source_id: int = SOURCE_ID):
    """The source's runs, newest first (every attempt is its own run)."""
    source = _source(request, org, source_id)
    found = SyncRun.objects.filter(source=source).select_related("source").defer("plan")
    if query.status:
        found = found.filter(status=query.status)
    return page(found, query)
