"""Sources, read-only for now: what the portal's organization page lists.

Creating, editing, testing, previewing and syncing sources arrive with the source services
(``usersync.app.sources``) and the setup wizard; they belong in this module.
"""

from __future__ import annotations

from datetime import datetime

from django.shortcuts import get_object_or_404
from ninja import Field, Router, Schema

from usersync.app.accounts import access
from usersync.app.directory.queries import sources_of

from .schemas import ERRORS, Error, OrgRef, object_id

router = Router(tags=["sources"])


class SourceOut(Schema):
    id: int
    name: str
    kind: str
    enabled: bool
    settings: dict = Field(..., description="Connection, scope and mapping (never a secret).")
    archive_missing: bool
    archive_disabled: bool
    safeguard_percent: float
    safeguard_minimum: int
    safeguard_maximum: int
    schedule: str
    schedule_hours: int
    next_run_at: datetime | None
    synced_users: int = Field(..., description="Active contacts the source manages.")
    conflicts: int = Field(..., description="Directory objects in conflict.")
    created_at: datetime
    updated_at: datetime


@router.get("/organizations/{org}/sources", response={200: list[SourceOut], ERRORS: Error})
def list_sources(request, org: OrgRef):
    return sources_of(access.require_org(request, org))


@router.get("/organizations/{org}/sources/{source_id}",
            response={200: SourceOut, ERRORS: Error})
def read_source(request, org: OrgRef, source_id: int = object_id("The source's id.")):
    return get_object_or_404(sources_of(access.require_org(request, org)), pk=source_id)
