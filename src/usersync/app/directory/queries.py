"""Reads both surfaces (portal and API) share: filtered contacts, sources with their counts.

Every function takes the organization first: nothing here can reach another organization's rows.
"""

from __future__ import annotations

from datetime import datetime
from datetime import timezone as tz

from django.db.models import Count, Q
from django.utils import timezone

from usersync.app.orgs.models import Organization

from .models import Contact, ContactStatus, ObjectState, Source


def contacts_of(org: Organization, *, status: str | None = None, location: str | None = None,
                q: str | None = None, department: str | None = None,
                updated_since: datetime | None = None, source_id: int | None = None,
                managed: bool | None = None):
    """The organization's contacts, filtered; ``managed=False`` keeps the unmanaged ones."""
    contacts = Contact.objects.filter(organization=org).select_related("location")
    if status:
        contacts = contacts.filter(status=status)
    if location:
        contacts = contacts.filter(location__identifier=location.strip().lower())
    if q and q.strip():
        text = q.strip()
        contacts = contacts.filter(
            Q(first_name__icontains=text) | Q(last_name__icontains=text)
            | Q(email__icontains=text) | Q(sms_phone__icontains=text)
            | Q(identification__icontains=text))
    if department is not None:
        contacts = contacts.filter(department__iexact=department.strip())
    if updated_since:
        if timezone.is_naive(updated_since):
            updated_since = timezone.make_aware(updated_since, tz.utc)
        # In UTC: PostgreSQL refuses offsets beyond ±15:59 that ISO 8601 and Python allow.
        updated_since = updated_since.astimezone(tz.utc)
        contacts = contacts.filter(updated_at__gte=updated_since)
    if source_id:
        contacts = contacts.filter(source_id=source_id)
    if managed is not None:
        contacts = contacts.filter(source__isnull=not managed)
    return contacts


def sources_of(org: Organization):
    """The organization's sources with ``synced_users`` (active contacts they manage) and
    ``conflicts`` (directory objects in conflict)."""
    return Source.objects.filter(organization=org).annotate(
        synced_users=Count("contacts", filter=Q(contacts__status=ContactStatus.ACTIVE),
                           distinct=True),
        conflicts=Count("directory_objects",
                        filter=Q(directory_objects__state=ObjectState.CONFLICT), distinct=True),
    ).order_by("name")
