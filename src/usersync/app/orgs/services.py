"""Creating and changing organizations and locations, validated once for every surface."""

from __future__ import annotations

from functools import cache
from zoneinfo import available_timezones

import phonenumbers
from django.db import transaction
from django.utils import timezone

from usersync.app.directory.models import Source
from usersync.app.jobs import schedules
from usersync.core import normalize
from usersync.core.normalize import FieldError

from .models import Location, Organization


def create_organization(slug: str, name: str, locations: list[str] | None = None, **fields) -> Organization:
    """An organization; with locations it is multi-location, without it is global."""
    with transaction.atomic():
        org = Organization(slug=slug, name=name, multi_location=bool(locations), **fields)
        _check(org)
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
    """Change ``fields`` of ``org``; a new time zone moves its sources' scheduled runs to the
    hours of that zone."""
    zone = org.time_zone
    for name, value in fields.items():
        setattr(org, name, value)
    _check(org)
    with transaction.atomic():
        org.save()
        if org.time_zone != zone:
            schedules.time_zone_changed(org.pk, timezone.now())
    return org


def _check(org: Organization) -> None:
    """The model's own rules, and the values other code relies on: region, time zone, emails."""
    org.default_region = (org.default_region or "").upper()
    if org.default_region not in phonenumbers.SUPPORTED_REGIONS:
        raise FieldError("default_region", f"{org.default_region!r} is not a region code "
                                           "such as US, GB or NL")
    if org.time_zone not in _time_zones():
        raise FieldError("time_zone", f"{org.time_zone!r} is not a time zone such as Europe/Paris")
    emails = (normalize.email(e, "notification_emails") for e in org.notification_emails or ())
    org.notification_emails = [e for e in emails if e]
    org.full_clean()


@cache
def _time_zones() -> frozenset[str]:
    return frozenset(available_timezones())


def remove_location(location: Location) -> None:
    """Delete a location no contact and no source scope uses; FieldError says what uses it."""
    used = location.contacts.count()
    if used:
        raise FieldError("location", f"{location.identifier!r} still has {used} contact(s); "
                                     "move or archive them first")
    for source in Source.objects.filter(organization_id=location.organization_id):
        if any(s.get("location") == location.identifier for s in source.settings.get("scopes", [])):
            raise FieldError("location", f"{location.identifier!r} is used by the scope of source "
                                         f"{source.name!r}; change the source first")
    location.delete()
