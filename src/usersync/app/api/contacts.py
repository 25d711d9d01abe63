"""Contacts: list with filters, read, and an admin's manual create and edit.

Reading needs the ``read_contacts`` scope (or ``admin``); writing needs ``admin``. The PIN is
write-only: ``has_pin`` says whether one is set, its value is never returned.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from django.shortcuts import get_object_or_404
from ninja import Field, Query, Router, Schema
from ninja.responses import Status

from usersync.app.accounts import access
from usersync.app.accounts.models import ApiScope
from usersync.app.directory import contacts as manual
from usersync.app.directory.models import Contact
from usersync.app.directory.queries import contacts_of
from usersync.app.images import formats, serving

from .schemas import ERRORS, TEXT, Error, Input, IsoDateTime, OrgRef, PageQuery, object_id, page

router = Router(tags=["contacts"])
ContactState = Literal["active", "archived"]


class ContactOut(Schema):
    id: int
    first_name: str
    last_name: str
    email: str
    sms_phone: str
    title: str
    department: str
    image_url: str
    identification: str
    slack: str
    aliases: list[str]
    location: str | None = Field(..., description="Location identifier; null: all locations.")
    status: ContactState
    archived_at: datetime | None
    archived_reason: str
    source_id: int | None = Field(..., description="The source managing it; null: unmanaged.")
    has_pin: bool
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_location(contact: Contact) -> str | None:
        return contact.location.identifier if contact.location_id else None

    @staticmethod
    def resolve_has_pin(contact: Contact) -> bool:
        return bool(contact.pin_hash)


class ContactPage(Schema):
    count: int
    limit: int
    offset: int
    items: list[ContactOut]


def _text(max_length: int, description: str = ""):
    return Field(None, max_length=max_length, pattern=TEXT, description=description)


class ContactPatch(Input):
    first_name: str | None = _text(200)
    last_name: str | None = _text(200)
    email: str | None = _text(254)
    sms_phone: str | None = _text(32, "Any format; numbers without a country code use the "
                                      "organization's region. Stored in E.164.")
    title: str | None = _text(200)
    department: str | None = _text(200)
    image_url: str | None = _text(1000)
    identification: str | None = _text(200)
    slack: str | None = _text(100)
    pin: str | None = Field(None, pattern=r"^[0-9]{0,6}$",
                            description="4 to 6 digits; write-only; empty clears it.")
    location: str | None = _text(64, "Location identifier (required with several locations).")
    status: ContactState | None = None


class ContactIn(ContactPatch):
    first_name: str = Field(..., min_length=1, max_length=200, pattern=TEXT)
    last_name: str = Field(..., min_length=1, max_length=200, pattern=TEXT)


class ContactQuery(PageQuery):
    status: ContactState | None = None
    location: str | None = _text(64, "Location identifier.")
    q: str | None = _text(200, "Text in the name, email, SMS phone or identification.")
    department: str | None = _text(200)
    updated_since: IsoDateTime | None = Field(None, description="Changed at or after this "
                                              "time (ISO 8601; UTC when no offset is given).")
    source_id: int | None = Field(None, ge=1, le=access.MAX_ID)
    managed: bool | None = Field(None, description="false: only contacts no source manages.")


@router.get("/organizations/{org}/contacts", response={200: ContactPage, ERRORS: Error})
def list_contacts(request, org: OrgRef, query: Query[ContactQuery]):
    organization = access.require_org(request, org, scope=ApiScope.READ_CONTACTS)
    return page(contacts_of(organization, **query.dict(exclude={"limit", "offset"})), query)


@router.post("/organizations/{org}/contacts", response={201: ContactOut, ERRORS: Error})
def create_contact(request, org: OrgRef, payload: ContactIn):
    organization = access.require_org(request, org, write=True)
    return Status(201, manual.create_contact(organization, payload.dict(exclude_unset=True)))


@router.get("/organizations/{org}/contacts/{contact_id}",
            response={200: ContactOut, ERRORS: Error})
def read_contact(request, org: OrgRef, contact_id: int = object_id("The contact's id.")):
    organization = access.require_org(request, org, scope=ApiScope.READ_CONTACTS)
    return get_object_or_404(Contact.objects.select_related("location"),
                             organization=organization, pk=contact_id)


@router.patch("/organizations/{org}/contacts/{contact_id}",
              response={200: ContactOut, ERRORS: Error})
def edit_contact(request, org: OrgRef, payload: ContactPatch,
                 contact_id: int = object_id("The contact's id.")):
    """Fields left out are unchanged. A synced contact's fields are set again by its next sync."""
    organization = access.require_org(request, org, write=True)
    contact = get_object_or_404(Contact, organization=organization, pk=contact_id)
    return manual.edit_contact(contact, payload.dict(exclude_unset=True))


IMAGE_RESPONSES = {"responses": {200: {
    "description": "The image downloaded from the contact's image_url, in the format its bytes "
                   "are; the ETag is their SHA-256 (send it in If-None-Match for a 304).",
    "content": {media_type: {"schema": {"type": "string", "format": "binary"}}
                for media_type in formats.TYPES},
}, 304: {"description": "Not modified: the image still has the ETag sent in If-None-Match."}}}


@router.get("/organizations/{org}/contacts/{contact_id}/image", response={ERRORS: Error},
            openapi_extra=IMAGE_RESPONSES)
def read_contact_image(request, org: OrgRef, contact_id: int = object_id("The contact's id.")):
    """The contact's picture, downloaded by a worker from its image_url (JPEG, PNG, GIF or WebP).
    404 while there is none, with the reason (not downloaded yet, or why the download failed)."""
    organization = access.require_org(request, org, scope=ApiScope.READ_CONTACTS)
    return serving.image_response(request, serving.stored_image(organization, contact_id))
