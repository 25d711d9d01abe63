"""Manual contact edits: the only writes to contacts besides ``usersync.app.sync.apply``.

Values are validated with the core's normalizers, the same rules a sync applies, so a contact an
admin types in looks like one a directory sent. The PIN is write-only: it is stored as its keyed
hash and never read back. Keys (email, SMS phone, identification) stay unique among the active
contacts of a location, because matching relies on them.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from usersync.app.keys import hash_secret
from usersync.app.orgs.models import Location, Organization
from usersync.app.webhooks import events as webhook_events
from usersync.core import normalize
from usersync.core.normalize import FieldError

from .models import Contact, ContactStatus

TEXT_FIELDS = ("title", "department", "identification")
EDITABLE = ("first_name", "last_name", "email", "sms_phone", *TEXT_FIELDS, "image_url", "slack",
            "pin", "location", "status")
UNIQUE_KEYS = {"email": "email", "sms_phone": "SMS phone", "identification": "identification"}
MAX_LENGTHS = {"email": 254, "sms_phone": 32, "image_url": 1000, "slack": 100}


def create_contact(org: Organization, values: dict) -> Contact:
    """A new unmanaged contact of ``org``; first and last name and an email or SMS phone needed."""
    contact = Contact(organization=org)
    return _save(contact, {"first_name": "", "last_name": "", **values})


def edit_contact(contact: Contact, values: dict) -> Contact:
    """Change the fields present in ``values``; the others are left as they are."""
    return _save(contact, values)


def _save(contact: Contact, values: dict) -> Contact:
    org = contact.organization
    status_before = contact.status if contact.pk else None
    unknown = set(values) - set(EDITABLE)
    if unknown:
        raise FieldError(sorted(unknown)[0], "is not a field that can be edited")
    for name, value in values.items():
        _set(contact, org, name, value)
    if not contact.email and not contact.sms_phone:
        raise FieldError("email", "an email or an SMS phone is required")
    if org.multi_location and contact.location_id is None:
        raise FieldError("location", "is required: the organization has several locations")
    with transaction.atomic():
        _check_unique(contact)
        contact.save()
        webhook_events.contact_saved(contact, status_before)
    return contact


def _set(contact: Contact, org: Organization, name: str, value) -> None:
    value = "" if value is None else value
    if not isinstance(value, str):
        raise FieldError(name, "must be text")
    if "\x00" in value:
        raise FieldError(name, "contains a NUL character")
    if name in MAX_LENGTHS and len(value.strip()) > MAX_LENGTHS[name]:
        raise FieldError(name, f"is longer than {MAX_LENGTHS[name]} characters")
    if name in ("first_name", "last_name"):
        setattr(contact, name, normalize.name(value, name))
    elif name == "email":
        contact.email = normalize.email(value)
    elif name == "sms_phone":
        contact.sms_phone = normalize.sms_phone(value, org.default_region)
    elif name in TEXT_FIELDS:
        setattr(contact, name, normalize.text(value, name))
    elif name == "image_url":
        contact.image_url = normalize.image_url(value)
    elif name == "slack":
        contact.slack = normalize.slack(value)
    elif name == "pin":
        pin = normalize.pin(value)
        contact.pin_hash = hash_secret(pin) if pin else ""
    elif name == "location":
        contact.location = _location(org, value)
    elif name == "status":
        _set_status(contact, value)


def _location(org: Organization, value: str) -> Location | None:
    identifier = normalize.location_identifier(value)
    if not identifier:
        return None
    location = Location.objects.filter(organization=org, identifier=identifier).first()
    if location is None:
        raise FieldError("location", f"{identifier!r} is not a location of this organization")
    return location


def _set_status(contact: Contact, value: str) -> None:
    if value not in ContactStatus.values:
        raise FieldError("status", f"must be one of {', '.join(ContactStatus.values)}")
    if value == contact.status:
        return
    contact.status = value
    if value == ContactStatus.ARCHIVED:
        contact.archived_at, contact.archived_reason = timezone.now(), "archived by an admin"
    else:
        contact.archived_at, contact.archived_reason = None, ""


def _check_unique(contact: Contact) -> None:
    if contact.status != ContactStatus.ACTIVE:
        return
    others = Contact.objects.filter(organization_id=contact.organization_id,
                                    location_id=contact.location_id,
                                    status=ContactStatus.ACTIVE).exclude(pk=contact.pk)
    for field, label in UNIQUE_KEYS.items():
        value = getattr(contact, field)
        if value:
            clash = others.filter(**{field: value}).first()
            if clash is not None:
                raise FieldError(field, f"{label} {value} is already used by {clash} "
                                        f"(contact {clash.pk}) in this location")
