"""An admin's decisions about directory objects (the "Directory users" tab): map, ignore, unmap.

Decisions are stored on the directory object and taken into account by the next run's plan
(``usersync.app.sync.loading.source_state``): a mapped object links to the chosen contact, an
ignored object is skipped. Ignoring removes any mapping (seed 004 warns about it): the contacts
linked to the object's anchor stop being managed by the source, and are kept as they are.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from usersync.core.normalize import FieldError

from .models import Contact, DirectoryObject, ObjectState


def map_object(obj: DirectoryObject, contact: Contact) -> DirectoryObject:
    """Link ``obj`` to an existing contact of the same organization at the next sync."""
    if contact.organization_id != obj.source.organization_id:
        raise FieldError("contact_id", "is not a contact of this organization")
    taken = (DirectoryObject.objects.filter(source=obj.source, manual_contact=contact)
             .exclude(pk=obj.pk).first())
    if taken is not None:
        raise FieldError("contact_id", f"{contact} is already mapped to {taken}; unmap it first")
    obj.manual_contact = obj.contact = contact
    obj.ignored = False
    obj.state = ObjectState.MAPPED
    obj.message = f"mapped to {contact} by an admin; the next sync links them"
    obj.save(update_fields=["manual_contact", "contact", "ignored", "state", "message"])
    return obj


def ignore_object(obj: DirectoryObject) -> DirectoryObject:
    """Skip ``obj`` from now on and remove its mapping; its contacts become unmanaged."""
    return _unlinked(obj, ignored=True, state=ObjectState.IGNORED, message="ignored by an admin")


def unmap_object(obj: DirectoryObject) -> DirectoryObject:
    """Forget the admin's decision and the link: the next sync matches the object afresh."""
    return _unlinked(obj, ignored=False, state=ObjectState.UNMAPPED,
                     message="unmapped by an admin; the next sync matches it again")


def _unlinked(obj: DirectoryObject, *, ignored: bool, state: str, message: str) -> DirectoryObject:
    """Unlink ``obj``'s contacts and record the admin's decision, in one transaction."""
    with transaction.atomic():
        _unlink(obj)
        obj.ignored, obj.state, obj.message = ignored, state, message
        obj.save(update_fields=["manual_contact", "contact", "ignored", "state", "message"])
    return obj


def _unlink(obj: DirectoryObject) -> None:
    Contact.objects.filter(source_id=obj.source_id, anchor=obj.anchor).update(
        source=None, anchor=None, updated_at=timezone.now())
    obj.manual_contact = obj.contact = None
