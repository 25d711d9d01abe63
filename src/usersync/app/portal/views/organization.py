"""An organization's page: sources, locations and contacts (grouped by department)."""

from __future__ import annotations

from itertools import groupby

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from usersync.app.accounts import access
from usersync.app.directory.models import Contact, ContactStatus, SyncRun
from usersync.app.directory.queries import contacts_of, sources_of
from usersync.app.orgs import services
from usersync.app.orgs.models import Location
from usersync.core.normalize import FieldError

PAGE_SIZE = 200
VIEWS = {"all": None, "managed": True, "unmanaged": False}


@login_required
def organization(request, slug: str):
    org = access.require_org(request, slug)
    context = {
        "org": org, "writable": access.can_write(request, org),
        "sources": sources_of(org),
        "locations": (Location.objects.filter(organization=org)
                      .annotate(contact_count=Count("contacts")).order_by("identifier")),
        "runs": (SyncRun.objects.filter(organization=org).select_related("source")
                 .defer("plan")[:10]),
        **_contacts(request, org),
    }
    if request.headers.get("HX-Request") and request.headers.get("HX-Target") == "contacts":
        return render(request, "portal/_contacts.html", context)
    return render(request, "portal/organization.html", context)


def _contacts(request, org) -> dict:
    """The contacts section: filters from the query string, grouped by department, paged."""
    status = request.GET.get("status", ContactStatus.ACTIVE)
    status = status if status in (*ContactStatus.values, "any") else ContactStatus.ACTIVE
    view = request.GET.get("view", "all")
    view = view if view in VIEWS else "all"
    location = request.GET.get("location", "")
    text = request.GET.get("q", "").replace("\x00", "")[:200]
    contacts = contacts_of(org, status=None if status == "any" else status, q=text,
                           location=location, managed=VIEWS[view])
    contacts = contacts.select_related("source").order_by(
        "department", "last_name", "first_name", "id")
    page = Paginator(contacts, PAGE_SIZE).get_page(request.GET.get("page"))
    groups = [(department or "No department", list(items))
              for department, items in groupby(page.object_list, key=lambda c: c.department)]
    unmanaged = Contact.objects.filter(organization=org, source__isnull=True,
                                       status=ContactStatus.ACTIVE).count()
    filters = request.GET.copy()
    filters.pop("page", None)
    return {"groups": groups, "page": page, "status": status, "view": view,
            "location": location, "q": text, "unmanaged": unmanaged,
            "filters": filters.urlencode()}


@login_required
@require_POST
def add_location(request, slug: str):
    org = access.require_org(request, slug, write=True)
    identifier = request.POST.get("identifier", "").replace("\x00", "")[:64]
    name = request.POST.get("name", "").replace("\x00", "")[:200]
    try:
        if Location.objects.filter(organization=org,
                                   identifier=identifier.strip().lower()).exists():
            raise FieldError("identifier", f"{identifier.strip().lower()!r} already exists")
        location = services.add_location(org, identifier, name.strip() or None)
    except FieldError as error:
        messages.error(request, f"Location not added: {error.message}")
    except ValidationError as error:
        messages.error(request, f"Location not added: {'; '.join(error.messages)}")
    else:
        messages.success(request, f"Added the location {location.identifier!r}.")
    return redirect("portal:organization", slug=org.slug)


@login_required
@require_POST
def remove_location(request, slug: str, location_id: int):
    org = access.require_org(request, slug, write=True)
    location = get_object_or_404(Location, organization=org, pk=location_id)
    try:
        services.remove_location(location)
    except FieldError as error:
        messages.error(request, f"Location not removed: {error.message}")
    else:
        messages.success(request, f"Removed the location {location.identifier!r}.")
    return redirect("portal:organization", slug=org.slug)
