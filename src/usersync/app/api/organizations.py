"""Organizations: everyone lists and reads the ones they may see; operators create them;
admins edit their settings (the contact limit, which the deployment's plan sets, is operators')."""

from __future__ import annotations

from datetime import datetime

from ninja import Field, Router, Schema
from ninja.responses import Status

from usersync.app.accounts import access
from usersync.app.orgs import services
from usersync.app.orgs.models import NotifyOn, Organization

from .schemas import ERRORS, TEXT, Error, Input, OrgRef

router = Router(tags=["organizations"])


class OrganizationOut(Schema):
    id: int
    slug: str
    name: str
    multi_location: bool
    contact_limit: int | None
    default_region: str
    time_zone: str
    notification_emails: list[str]
    notify_on: NotifyOn = Field(..., description="Which runs email the summary: every_run, "
                                "changes (changed something, failed or blocked), problems.")
    locations: list[str] = Field(..., description="The identifiers of its locations.")
    created_at: datetime

    @staticmethod
    def resolve_locations(org: Organization) -> list[str]:
        return [location.identifier for location in org.locations.all()]


class OrganizationIn(Input):
    slug: str = Field(..., pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    name: str = Field(..., min_length=1, max_length=200, pattern=TEXT)
    locations: list[str] = Field([], description="Location identifiers; none for a global "
                                 "(single-site) organization.")
    contact_limit: int | None = Field(None, ge=0, le=2**31 - 1)
    default_region: str = Field("US", min_length=2, max_length=2)
    time_zone: str = Field("UTC", max_length=64, pattern=TEXT)
    notification_emails: list[str] = []
    notify_on: NotifyOn = NotifyOn.EVERY_RUN


class OrganizationPatch(Input):
    name: str | None = Field(None, min_length=1, max_length=200, pattern=TEXT)
    contact_limit: int | None = Field(None, ge=0, le=2**31 - 1)
    default_region: str | None = Field(None, min_length=2, max_length=2)
    time_zone: str | None = Field(None, max_length=64, pattern=TEXT)
    notification_emails: list[str] | None = None
    notify_on: NotifyOn | None = None


def _loaded(queryset):
    return queryset.prefetch_related("locations")


@router.get("/organizations", response={200: list[OrganizationOut], ERRORS: Error})
def list_organizations(request):
    return _loaded(access.visible_organizations(request))


@router.post("/organizations", response={201: OrganizationOut, ERRORS: Error})
def create_organization(request, payload: OrganizationIn):
    """Operators only."""
    access.require_operator(request)
    values = payload.dict()
    org = services.create_organization(values.pop("slug"), values.pop("name"),
                                       values.pop("locations"), **values)
    return Status(201, _loaded(Organization.objects.filter(pk=org.pk)).get())


@router.get("/organizations/{org}", response={200: OrganizationOut, ERRORS: Error})
def read_organization(request, org: OrgRef):
    return access.require_org(request, org)


@router.patch("/organizations/{org}", response={200: OrganizationOut, ERRORS: Error})
def edit_organization(request, org: OrgRef, payload: OrganizationPatch):
    """Admins of the organization; the contact limit, operators only."""
    organization = access.require_org(request, org, write=True)
    changes = payload.dict(exclude_unset=True)
    if "contact_limit" in changes:
        access.require_operator(request)
    for name in ("name", "notify_on", "notification_emails", "default_region", "time_zone"):
        if name in changes and changes[name] is None:
            del changes[name]  # null keeps the value: these have no "unset"
    return services.edit_organization(organization, **changes)
