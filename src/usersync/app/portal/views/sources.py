"""A source's actions from the portal: Sync now, Remove, and the Directory users tab.

The setup wizard and the source page (run history, settings) come with the source services;
they belong in this module's neighbours (``wizard.py``, a ``source`` view here).
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from usersync.app import sources as source_services
from usersync.app.accounts import access
from usersync.app.directory import objects as decisions
from usersync.app.directory.models import Contact, DirectoryObject, ObjectState, Source, Trigger
from usersync.app.sync import readers, runs
from usersync.app.sync.runs import RunRefused
from usersync.connectors.errors import SourceError
from usersync.core.normalize import FieldError

from .redirects import back

PAGE_SIZE = 100


def _source(request, slug: str, source_id: int, write: bool = False) -> Source:
    org = access.require_org(request, slug, write=write)
    return get_object_or_404(Source.objects.select_related("organization"), organization=org,
                             pk=source_id)


@login_required
@require_POST
def sync_now(request, slug: str, source_id: int):
    """Run the source now and show the run. (Runs in the request until the worker exists.)"""
    source = _source(request, slug, source_id, write=True)
    try:
        outcome = runs.sync(source, readers.configured_reader(source), trigger=Trigger.MANUAL)
    except (SourceError, RunRefused) as error:
        messages.error(request, f"{source.name}: {error}")
        return back(request, reverse("portal:home"))
    if outcome.error is not None:
        messages.error(request, f"{source.name}: the sync failed: {outcome.error}")
    else:
        messages.success(request, f"{source.name}: sync {outcome.status}.")
    return redirect("portal:run", slug=source.organization.slug, run_id=outcome.run.pk)


@login_required
def remove(request, slug: str, source_id: int):
    """Confirm, then delete the source with its runs and directory objects; contacts stay."""
    source = _source(request, slug, source_id, write=True)
    if request.method == "POST":
        try:
            removed = source_services.remove_source(source)
        except ValidationError as error:
            messages.error(request, "; ".join(error.messages))
            return redirect("portal:organization", slug=source.organization.slug)
        messages.success(request, f"Removed the sync settings {source.name!r} and their history "
                                  f"({removed.runs} runs). {removed.contacts_kept} contacts were "
                                  "kept, now unmanaged.")
        return redirect("portal:organization", slug=source.organization.slug)
    return render(request, "portal/source_remove.html", {
        "org": source.organization, "source": source, "runs": source.runs.count(),
        "objects": source.directory_objects.count(),
        "contacts": source.contacts.count(),
    })


@login_required
def directory_users(request, slug: str, source_id: int):
    """The directory objects of a source, filtered by state, with map / ignore / unmap."""
    source = _source(request, slug, source_id)
    state = request.GET.get("state", "")
    query = request.GET.get("q", "").strip().replace("\x00", "")
    found = DirectoryObject.objects.filter(source=source).select_related("contact",
                                                                          "manual_contact")
    counts = dict(found.values_list("state").annotate(n=Count("id")).order_by())
    if state in ObjectState.values:
        found = found.filter(state=state)
    if query:
        found = found.filter(Q(dn__icontains=query) | Q(anchor=query)
                             | Q(contact__email__icontains=query))
    page = Paginator(found, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "portal/directory_users.html", {
        "org": source.organization, "source": source, "page": page, "state": state, "q": query,
        "states": [(s, counts.get(s, 0)) for s in ObjectState.values],
        "total": sum(counts.values()), "writable": access.can_write(request, source.organization),
    })


@login_required
def contact_picker(request, slug: str, source_id: int, object_id: int):
    """htmx: the contacts matching a search, to map a directory object to one of them."""
    source = _source(request, slug, source_id, write=True)
    obj = get_object_or_404(DirectoryObject, source=source, pk=object_id)
    text = request.GET.get("q", "").strip().replace("\x00", "")
    contacts = Contact.objects.none()
    if len(text) >= 2:
        contacts = Contact.objects.filter(organization=source.organization).filter(
            Q(first_name__icontains=text) | Q(last_name__icontains=text)
            | Q(email__icontains=text) | Q(identification__icontains=text)
        ).select_related("location")[:15]
    return render(request, "portal/_contact_picker.html", {
        "org": source.organization, "source": source, "obj": obj, "contacts": contacts,
        "q": text})


@login_required
@require_POST
def decide(request, slug: str, source_id: int, object_id: int, decision: str):
    """Map, ignore or unmap a directory object."""
    source = _source(request, slug, source_id, write=True)
    obj = get_object_or_404(DirectoryObject.objects.select_related("source"), source=source,
                            pk=object_id)
    try:
        if decision == "map":
            contact_id = request.POST.get("contact_id", "")
            if not contact_id.isdigit() or int(contact_id) > access.MAX_ID:
                raise FieldError("contact_id", "choose a contact")
            contact = get_object_or_404(Contact, organization=source.organization,
                                        pk=int(contact_id))
            decisions.map_object(obj, contact)
            messages.success(request, f"Mapped {obj} to {contact}; the next sync links them.")
        elif decision == "ignore":
            decisions.ignore_object(obj)
            messages.success(request, f"Ignoring {obj}; its mapping was removed.")
        else:
            decisions.unmap_object(obj)
            messages.success(request, f"Unmapped {obj}; the next sync matches it again.")
    except FieldError as error:
        messages.error(request, f"{error.message}")
    return back(request, reverse("portal:directory-users", args=[source.organization.slug,
                                                                 source.pk]))
