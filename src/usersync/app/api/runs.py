"""Runs: history per organization or source, detail with the plan's summary and operations,
and the decision on a blocked run (approve applies exactly its plan; reject discards it)."""

from __future__ import annotations

from datetime import datetime

from django.shortcuts import get_object_or_404
from ninja import Field, Query, Router, Schema

from usersync.app.accounts import access
from usersync.app.directory.models import RunStatus, SyncRun
from usersync.app.sync import history
from usersync.app.sync import runs as running
from usersync.core.plan import COUNT_KEYS, MASK, Op, Operation, Plan
from usersync.core.records import SECRET_FIELDS

from .schemas import ERRORS, Error, OrgRef, PageQuery, object_id, page

router = Router(tags=["runs"])
Value = str | list[str]


class RunError(Schema):
    code: str
    message: str
    hint: str


class PlanSummary(Schema):
    kind: str
    complete: bool
    read: int = Field(..., description="Records read from the source.")
    blocked: str | None
    managed_active: int
    would_archive: int


class RunOut(Schema):
    id: int
    source_id: int
    source_name: str
    trigger: str
    status: str
    counts: dict[str, int]
    blocked_reason: str
    notices: list[str]
    error: RunError | None
    connection: dict
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    decided_by: str
    decided_at: datetime | None

    @staticmethod
    def resolve_source_name(run: SyncRun) -> str:
        return run.source.name

    @staticmethod
    def resolve_error(run: SyncRun) -> dict | None:
        if not run.error_code and not run.error_message:
            return None
        return {"code": run.error_code, "message": run.error_message, "hint": run.error_hint}


class RunDetail(RunOut):
    plan: PlanSummary | None

    @staticmethod
    def resolve_plan(run: SyncRun) -> dict | None:
        return summary(run)


class RunPage(Schema):
    count: int
    limit: int
    offset: int
    items: list[RunOut]


class ChangeOut(Schema):
    field: str
    before: Value
    after: Value


class OperationOut(Schema):
    op: str
    label: str
    anchor: str | None
    dn: str
    line: int | None
    location: str | None
    contact_id: int | None
    matched_by: str | None
    link: bool
    reason: str
    field: str | None
    candidates: list[int]
    fields: dict[str, Value] = Field(..., description="A created contact's values (PIN masked).")
    changes: list[ChangeOut] = Field(..., description="Field by field; the PIN masked.")


class OperationPage(Schema):
    count: int
    limit: int
    offset: int
    items: list[OperationOut]


class RunQuery(PageQuery):
    source_id: int | None = Field(None, ge=1, le=access.MAX_ID)
    status: RunStatus | None = None


class OperationQuery(PageQuery):
    op: Op | None = None


def summary(run: SyncRun) -> dict | None:
    if not run.plan:
        return None
    plan = Plan.from_data(run.plan)  # the header: its operations are read apart
    return {"kind": plan.kind.value, "complete": plan.complete, "read": plan.read,
            "blocked": plan.blocked, "managed_active": plan.managed_active,
            "would_archive": (run.counts or {}).get(COUNT_KEYS[Op.ARCHIVE], 0)}


def shown(operation: Operation) -> dict:
    """An operation as a person may see it: secrets masked."""
    fields = {k: (MASK if v else "") if k in SECRET_FIELDS else _plain(v)
              for k, v in operation.fields.items()}
    changes = []
    for change in operation.changes:
        before, after = change.shown()
        changes.append({"field": change.field, "before": _plain(before), "after": _plain(after)})
    return {"op": operation.op.value, "label": operation.label or operation.dn or operation.anchor
            or "", "anchor": operation.anchor, "dn": operation.dn, "line": operation.line,
            "location": operation.location, "contact_id": operation.contact_id,
            "matched_by": operation.matched_by, "link": operation.link,
            "reason": operation.reason, "field": operation.field,
            "candidates": list(operation.candidates), "fields": fields, "changes": changes}


def _plain(value):
    return list(value) if isinstance(value, tuple) else value


def _run(organization, run_id: int) -> SyncRun:
    return get_object_or_404(SyncRun.objects.select_related("source"),
                             organization=organization, pk=run_id)


RUN_ID = "The run's id."


@router.get("/organizations/{org}/runs", response={200: RunPage, ERRORS: Error})
def list_runs(request, org: OrgRef, query: Query[RunQuery]):
    organization = access.require_org(request, org)
    found = SyncRun.objects.filter(organization=organization).select_related("source").defer("plan")
    if query.source_id:
        found = found.filter(source_id=query.source_id)
    if query.status:
        found = found.filter(status=query.status)
    return page(found, query)


@router.get("/organizations/{org}/runs/{run_id}", response={200: RunDetail, ERRORS: Error})
def read_run(request, org: OrgRef, run_id: int = object_id(RUN_ID)):
    return _run(access.require_org(request, org), run_id)


@router.get("/organizations/{org}/runs/{run_id}/operations",
            response={200: OperationPage, ERRORS: Error})
def list_operations(request, org: OrgRef, query: Query[OperationQuery],
                    run_id: int = object_id(RUN_ID)):
    """The plan's operations, optionally of one kind (the per-record changes of the run)."""
    run = _run(access.require_org(request, org), run_id)
    operations = history.operations(run, query.op)
    chosen = history.shown(operations[query.offset:query.offset + query.limit])
    return {"count": operations.count(), "limit": query.limit, "offset": query.offset,
            "items": [shown(o) for o in chosen]}


@router.post("/organizations/{org}/runs/{run_id}/approve",
             response={200: RunDetail, ERRORS: Error})
def approve_run(request, org: OrgRef, run_id: int = object_id(RUN_ID)):
    """Apply exactly the plan of a blocked run (409 if it is not blocked or out of date)."""
    return _decide(request, org, run_id, running.approve)


@router.post("/organizations/{org}/runs/{run_id}/reject",
             response={200: RunDetail, ERRORS: Error})
def reject_run(request, org: OrgRef, run_id: int = object_id(RUN_ID)):
    """Discard a blocked run's plan; no contact changes."""
    return _decide(request, org, run_id, running.reject)


def _decide(request, org: str, run_id: int, decision) -> SyncRun:
    """Approve or reject (``decision``) a blocked run as the caller; the run as it is now."""
    run = _run(access.require_org(request, org, write=True), run_id)
    decision(run, by=access.actor(request))
    return _run(run.organization, run.pk)
