"""Locations: list, add (identifier: lower case, no spaces, unique in the organization), remove."""

from __future__ import annotations

from django.db.models import Count
from django.shortcuts import get_object_or_404
from ninja import Field, Router, Schema
from ninja.responses import Status

from usersync.app.accounts import access
from usersync.app.orgs import services
from usersync.app.orgs.models import Location
from usersync.core.normalize import FieldError

from .schemas import ERRORS, TEXT, Error, Input, OrgRef, object_id

router = Router(tags=["locations"])


class LocationOut(Schema):
    id: int
    identifier: str
    name: str
    contact_count: int = Field(0, description="Active and archived contacts in this location.")


class LocationIn(Input):
    identifier: str = Field(..., min_length=1, max_length=64, pattern=TEXT,
                            description="Lower-case letters, digits, '-' and '_'; no spaces.")
    name: str | None = Field(None, max_length=200, pattern=TEXT)


@router.get("/organizations/{org}/locations", response={200: list[LocationOut], ERRORS: Error})
def list_locations(request, org: OrgRef):
    organization = access.require_org(request, org)
    return (Location.objects.filter(organization=organization)
            .annotate(contact_count=Count("contacts")).order_by("identifier"))


@router.post("/organizations/{org}/locations", response={201: LocationOut, ERRORS: Error})
def add_location(request, org: OrgRef, payload: LocationIn):
    organization = access.require_org(request, org, write=True)
    identifier = payload.identifier.strip().lower()
    if Location.objects.filter(organization=organization, identifier=identifier).exists():
        raise FieldError("identifier", f"{identifier!r} is already a location of this organization")
    try:
        location = services.add_location(organization, payload.identifier, payload.name or None)
    except FieldError as error:
        raise FieldError("identifier", error.message) from None
    return Status(201, location)


@router.delete("/organizations/{org}/locations/{location_id}",
               response={204: None, ERRORS: Error})
def remove_location(request, org: OrgRef, location_id: int = object_id("The location's id.")):
    """Refused (422) while contacts or a source's scope use the location."""
    organization = access.require_org(request, org, write=True)
    services.remove_location(get_object_or_404(Location, organization=organization, pk=location_id))
    return Status(204, None)
