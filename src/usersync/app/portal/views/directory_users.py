"""A source's Directory users tab (seed 004): the users the directory holds, filtered by state,
their details, and an admin's decisions about them: map to a contact (a searchable picker),
ignore, unmap."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from usersync.app.accounts import access
from usersync.app.directory import objects as decisions
from usersync.app.directory.models import Contact, DirectoryObject, ObjectState
from usersync.core.desired import FIELD_LABELS
from usersync.core.normalize import FieldError

from .redirects import back
from .sources import source_of

PAGE_SIZE = 100


def person(obj: DirectoryObject) -> str:
    """Who a directory user is, in words: the mapped name, else the email, else the contact it
    is linked to, else where the directory keeps it."""
    values = obj.attributes or {}
    name = f"{values.get('first_name', '')} {values.get('last_name', '')}".strip()
    return name or values.get("email") or (str(obj.contact) if obj.contact else "") or str(obj)


def details(obj: DirectoryObject) -> list[tuple[str, str, bool]]:
    """What the directory says about a user, by field label (empty values left out), then where
    the directory keeps it: (label, value, whether it is an identifier shown as code)."""
    shown = [(FIELD_LABELS.get(name, name.replace("_", " ").capitalize()),
              ", ".join(value) if isinstance(value, list) else str(value), False)
             for name, value in (obj.attributes or {}).items() if value not in ("", None, [])]
    if obj.dn:
        shown.append(("DN", obj.dn, True))
    return [*shown, ("Anchor", obj.anchor, True)]


@login_required
def directory_users(request, slug: str, source_id: int):
    """The directory objects of a source, filtered by state, with map / ignore / unmap."""
    source = source_of(request, slug, source_id)
    state = request.GET.get("state", "")
    query = request.GET.get("q", "").strip().replace("\x00", "")
    found = DirectoryObject.objects.filter(source=source).select_related(
        "source", "contact", "manual_contact")
    counts = dict(found.values_list("state").annotate(n=Count("id")).order_by())
    if state in ObjectState.values:
        found = found.filter(state=state)
    if query:
        found = found.filter(Q(dn__icontains=query) | Q(anchor=query)
                             | Q(contact__email__icontains=query))
    page = Paginator(found, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "portal/directory_users.html", {
        "org": source.organization, "source": source, "page": page, "state": state, "q": query,
        "rows": [(obj, person(obj), details(obj)) for obj in page.object_list],
        "states": [(s, counts.get(s, 0)) for s in ObjectState.values],
        "total": sum(counts.values()), "writable": access.can_write(request, source.organization),
    })


@login_required
def contact_picker(request, slug: str, source_id: int, object_id: int):
    """htmx: the contacts matching a search, to map a directory object to one of them."""
    source = source_of(request, slug, source_id, write=True)
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
    source = source_of(request, slug, source_id, write=True)
    obj = get_object_or_404(DirectoryObject.objects.select_related("source", "contact"),
                            source=source, pk=object_id)
    who = person(obj)
    try:
        if decision == "map":
            contact_id = request.POST.get("contact_id", "")
            if not contact_id.isdigit() or int(contact_id) > access.MAX_ID:
                raise FieldError("contact_id", "choose a contact")
            contact = get_object_or_404(Contact, organization=source.organization,
                                        pk=int(contact_id))
            decisions.map_object(obj, contact)
            messages.success(request, f"Mapped {who} to {contact}; the next sync links them.")
        elif decision == "ignore":
            decisions.ignore_object(obj)
            messages.success(request, f"Ignoring {who}; its mapping was removed.")
        else:
            decisions.unmap_object(obj)
            messages.success(request, f"Unmapped {who}; the next sync matches it again.")
    except FieldError as error:
        messages.error(request, f"{error.message}")
    return back(request, reverse("portal:directory-users", args=[source.organization.slug,
                                                                 source.pk]))
