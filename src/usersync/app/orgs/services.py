"""Creating and changing organizations and locations, validated once for every surface."""

from __future__ import annotations

from django.db import transaction

from usersync.core import normalize

from .models import Location, Organization


def create_organization(slug: str, name: str, locations: list[str] | None = None, **fields) -> Organization:
    """An organization; with locations it is multi-location, without it is global."""
    with transaction.atomic():
        org = Organization(slug=slug, name=name, multi_location=bool(locations), **fields)
        org.full_clean()
        org.save()
        for identifier in locations or ():
            add_location(org, identifier)
    return org


def add_location(org: Organization, identifier: str, name: str | None = None) -> Location:
    cleaned = normalize.location_identifier(identifier)
    location = Location(organization=org, identifier=cleaned,
                        name=name or cleaned.replace("-", " ").replace("_", " ").title())
    location.full_clean()
    location.save()
    if not org.multi_location:
        org.multi_location = True
        org.save(update_fields=["multi_location"])
    return location


def edit_organization(org: Organization, **fields) -> Organization:
    for name, value in fields.items():
        setattr(org, name, value)
    org.full_clean()
    org.save()
    return org
