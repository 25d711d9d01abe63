"""Directory objects of a source (the "Directory users" tab): list by state, map, ignore, unmap."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Q
from django.shortcuts import get_object_or_404
from ninja import Field, Query, Router, Schema

from usersync.app.accounts import access
from usersync.app.directory import objects as decisions
from usersync.app.directory.models import Contact, DirectoryObject, ObjectState, Source

from .schemas import ERRORS, TEXT, Error, Input, OrgRef, PageQuery, object_id, page

router = Router(tags=["directory objects"])
BASE = "/organizations/{org}/sources/{source_id}/directory-objects"


class DirectoryObjectOut(Schema):
    id: int
    anchor: str
    dn: str
    attributes: dict = Field(..., description="The mapped values last read (never the PIN).")
    state: ObjectState
    message: str
    contact_id: int | None
    manual_contact_id: int | None = Field(..., description="The contact an admin mapped it to.")
    ignored: bool
    present: bool = Field(..., description="Returned by the last complete read.")
    first_seen_at: datetime
    last_seen_at: datetime | None = Field(..., description="When a read last returned it.")

    @staticmethod
    def resolve_last_seen_at(obj: DirectoryObject) -> datetime | None:
        return obj.seen_at


class DirectoryObjectPage(Schema):
    count: int
    limit: int
    offset: int
    items: list[DirectoryObjectOut]


class DirectoryObjectQuery(PageQuery):
    state: ObjectState | None = None
    q: str | None = Field(None, max_length=200, pattern=TEXT, description="Text in the DN.")


class MapIn(Input):
    contact_id: int = Field(..., ge=1, le=access.MAX_ID)


def _source(request, org: str, source_id: int, write: bool = False) -> Source:
    organization = access.require_org(request, org, write=write)
    return get_object_or_404(Source, organization=organization, pk=source_id)


def _object(request, org: str, source_id: int, object_id_: int, write=False) -> DirectoryObject:
    source = _source(request, org, source_id, write)
    return get_object_or_404(DirectoryObject.objects.select_related("source"),
                             source=source, pk=object_id_)


SOURCE_ID = object_id("The source's id.")
OBJECT_ID = object_id("The directory object's id.")


@router.get(BASE, response={200: DirectoryObjectPage, ERRORS: Error})
def list_directory_objects(request, org: OrgRef, query: Query[DirectoryObjectQuery],
                           source_id: int = SOURCE_ID):
    found = DirectoryObject.objects.filter(
        source=_source(request, org, source_id)).select_related("source")
    if query.state:
        found = found.filter(state=query.state)
    if query.q:
        found = found.filter(Q(dn__icontains=query.q.strip()) | Q(anchor=query.q.strip()))
    return page(found, query)


@router.get(BASE + "/{object_id}", response={200: DirectoryObjectOut, ERRORS: Error})
def read_directory_object(request, org: OrgRef, source_id: int = SOURCE_ID,
                          object_id: int = OBJECT_ID):
    return _object(request, org, source_id, object_id)


@router.post(BASE + "/{object_id}/map", response={200: DirectoryObjectOut, ERRORS: Error})
def map_directory_object(request, org: OrgRef, payload: MapIn, source_id: int = SOURCE_ID,
                         object_id: int = OBJECT_ID):
    """Map to an existing contact of the organization; the next sync links them."""
    obj = _object(request, org, source_id, object_id, write=True)
    contact = get_object_or_404(Contact, organization_id=obj.source.organization_id,
                                pk=payload.contact_id)
    return decisions.map_object(obj, contact)


@router.post(BASE + "/{object_id}/ignore", response={200: DirectoryObjectOut, ERRORS: Error})
def ignore_directory_object(request, org: OrgRef, source_id: int = SOURCE_ID,
                            object_id: int = OBJECT_ID):
    """Skip it from now on. Removes its mapping: its contacts stay, no longer managed."""
    return decisions.ignore_object(_object(request, org, source_id, object_id, write=True))


@router.post(BASE + "/{object_id}/unmap", response={200: DirectoryObjectOut, ERRORS: Error})
def unmap_directory_object(request, org: OrgRef, source_id: int = SOURCE_ID,
                           object_id: int = OBJECT_ID):
    """Forget the mapping or the ignore; the next sync matches it afresh."""
    return decisions.unmap_object(_object(request, org, source_id, object_id, write=True))
