"""From a source record to the contacts it asks for: map, normalize, validate, place in locations.

A record becomes one ``Desired`` contact per location it belongs to, or a ``Rejected`` record with
every reason an admin needs to fix it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping

from . import normalize
from .mapping import AttributeMapping
from .records import FieldValue, SourceRecord

#: How each field is named to an admin (seed 001's CSV column titles).
FIELD_LABELS = {
    "first_name": "First Name",
    "last_name": "Last Name",
    "email": "Email",
    "sms_phone": "SMS Phone",
    "title": "Business Title",
    "department": "Department",
    "image_url": "Image",
    "pin": "PIN",
    "location": "Location Slug",
    "identification": "Identification",
    "slack": "Slack",
    "aliases": "Email aliases",
}
#: Keys that identify a person, in seed 001's matching order.
MATCH_KEYS = ("identification", "email", "sms_phone")


@dataclass(frozen=True, slots=True)
class Placement:
    """Where contacts live: the organization's locations, or none for a global organization."""

    locations: frozenset[str] = frozenset()
    multi_location: bool = False
    default_region: str = ""


@dataclass(frozen=True, slots=True)
class Desired:
    """The contact a record asks for in one location (``None``: all locations)."""

    record: SourceRecord
    anchor: str
    location: str | None
    values: Mapping[str, FieldValue]

    def keys(self) -> list[tuple[str, str]]:
        """The (key, value) pairs that identify this person, in matching order."""
        found = []
        for key in MATCH_KEYS:
            value = self.values.get(key)
            if value:
                found.append((key, value))
        for alias in self.values.get("aliases", ()):
            found.append(("email", alias))
        return found


@dataclass(frozen=True, slots=True)
class Rejected:
    """A record that cannot become a contact, with the first bad field and every reason."""

    record: SourceRecord
    field: str
    reason: str
    anchor: str | None
    keys: tuple[tuple[str, str], ...]


@functools.lru_cache(maxsize=64)
def _normalizers(region: str) -> dict[str, Callable[[str], FieldValue]]:
    return {
        "first_name": lambda v: normalize.name(v, "first_name"),
        "last_name": lambda v: normalize.name(v, "last_name"),
        "email": normalize.email,
        "sms_phone": lambda v: normalize.sms_phone(v, region),
        "title": lambda v: normalize.text(v, "title"),
        "department": lambda v: normalize.text(v, "department"),
        "image_url": normalize.image_url,
        "pin": normalize.pin,
        "identification": lambda v: normalize.text(v, "identification"),
        "slack": normalize.slack,
        "location": normalize.location_identifier,
    }


def file_anchor(values: Mapping[str, FieldValue]) -> str | None:
    """The anchor of a record that has none of its own: its first identifying key."""
    for key in MATCH_KEYS:
        value = values.get(key)
        if value:
            return f"{key}:{value}"
    return None


def phones_to_validate(records: Iterable[SourceRecord], mapping: AttributeMapping,
                       placement: Placement) -> list[tuple[str, str]]:
    """The phone numbers ``build`` will validate for ``records`` and has not yet (as
    ``normalize.phone_key`` has them), each once, in the records' order: the work another core
    can do ahead of the building (``app.sync.building``)."""
    if "sms_phone" not in mapping.fields:
        return []
    phone = mapping.only("sms_phone")
    found: dict[tuple[str, str], None] = {}
    for record in records:
        value = phone.apply_lowered(record.attributes)["sms_phone"]
        key = normalize.phone_key(_text(value), placement.default_region)
        if key[0] and not normalize.is_remembered(*key):
            found[key] = None
    return list(found)


def _text(value: FieldValue) -> str:
    """What a field's normalizer is given: a value of several parts joined by spaces."""
    return value if isinstance(value, str) else " ".join(value)


def build(
    record: SourceRecord,
    mapping: AttributeMapping,
    placement: Placement,
    hash_secret: Callable[[str], str],
) -> list[Desired] | Rejected:
    raw = mapping.apply_lowered(record.attributes)
    normalizers = _normalizers(placement.default_region)
    values: dict[str, FieldValue] = {}
    problems: list[tuple[str, str]] = [(p.field, p.message) for p in record.problems]
    for name, value in raw.items():
        if name == "aliases":
            values[name] = normalize.aliases(value if isinstance(value, tuple) else (value,))
            continue
        try:
            values[name] = normalizers[name](_text(value))
        except normalize.FieldError as error:
            problems.append((name, f"{FIELD_LABELS[name]} {error.message}"))
    problems.extend(_required(values, mapping))
    anchor = record.anchor or file_anchor(values)
    locations: tuple[str | None, ...] = ()
    if not problems:
        locations, problem = _locations(record, values.pop("location", ""), placement)
        if problem:
            problems.append(problem)
    values.pop("location", None)
    if problems:
        keys = tuple((k, v) for k, v in values.items() if k in MATCH_KEYS and v)
        return Rejected(record, problems[0][0], "; ".join(m for _, m in problems), anchor, keys)
    if values.get("pin"):
        values["pin"] = hash_secret(values["pin"])
    assert anchor is not None  # guaranteed by _required: email or SMS phone is present
    return [Desired(record, anchor, location, values) for location in locations]


def _required(values: Mapping[str, FieldValue], mapping: AttributeMapping) -> list[tuple[str, str]]:
    problems = []
    for name in ("first_name", "last_name"):
        if name not in mapping.fields:
            problems.append((name, f"{FIELD_LABELS[name]} is required but not mapped"))
    if not values.get("email") and not values.get("sms_phone"):
        problems.append(("email", "Email or SMS Phone is required"))
    return problems


def _locations(
    record: SourceRecord, own: FieldValue, placement: Placement
) -> tuple[tuple[str | None, ...], tuple[str, str] | None]:
    """The locations a record's contacts go to, or the reason it has none."""
    if not placement.multi_location:
        return (None,), None
    if record.locations is not None:
        if not record.locations:
            return (), ("location", "is in no search base mapped to a location")
        return tuple(dict.fromkeys(record.locations)), None
    if not own:
        return (), ("location", "Location Slug is required when the organization has several locations")
    if own not in placement.locations:
        known = ", ".join(sorted(placement.locations))
        return (), ("location", f"Location Slug {own!r} is not a location of this organization "
                                f"(known: {known})")
    return (own,), None
