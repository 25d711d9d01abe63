"""Normalization of contact field values: one function per field, each pure.

Every function takes a raw text and returns the stored form, or raises ``FieldError`` with a
message an admin can act on.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from urllib.parse import urlsplit

import phonenumbers

#: The longest value each kind of field keeps (the columns' lengths): a longer one is an error
#: of its record, never of the run.
MAX_TEXT = 200
MAX_EMAIL = 254  # the longest address SMTP can deliver to (RFC 5321's path)
MAX_URL = 1000
#: The one character PostgreSQL cannot keep in text: a value with it is its record's error.
NUL = "\x00"
NUL_PROBLEM = "contains a NUL character (U+0000), which cannot be stored: remove it at the source"
#: Phone numbers of one region whose normal form is remembered (~150 bytes each; a 100k
#: directory's).
PHONES_REMEMBERED = 200_000
_EMAIL = re.compile(r"^[^@\s\x00]+@[^@\s\x00]+\.[^@\s.\x00]{2,}$")
_PIN = re.compile(r"^[0-9]{4,6}$")  # ASCII only: "١٢٣٤" is not a PIN a keypad can type
_SLACK = re.compile(r"^[\w.\-]{1,80}$")
_IDENTIFIER = re.compile(r"^[a-z0-9][a-z0-9_\-]*$")


class FieldError(ValueError):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


def text(value: str, field: str = "text") -> str:
    """Trim, collapse inner whitespace, and keep it to a sane length. (``str.split`` splits at
    what ``\\s`` matches, at a fifth of a regular expression's cost: five fields a record.)"""
    cleaned = " ".join((value or "").split())
    if len(cleaned) > MAX_TEXT:
        raise FieldError(field, f"is longer than {MAX_TEXT} characters")
    if NUL in cleaned:
        raise FieldError(field, NUL_PROBLEM)
    return cleaned


def name(value: str, field: str) -> str:
    cleaned = text(value, field)
    if not cleaned:
        raise FieldError(field, "is required")
    return cleaned


def email(value: str, field: str = "email") -> str:
    cleaned = (value or "").strip().lower()
    if cleaned.startswith("mailto:"):
        cleaned = cleaned[len("mailto:") :]
    if cleaned and not _EMAIL.match(cleaned):
        raise FieldError(field, f"{value.strip()!r} is not a valid email address")
    if len(cleaned) > MAX_EMAIL:
        raise FieldError(field, f"is longer than {MAX_EMAIL} characters, the most an email "
                         "address can have")
    return cleaned


def sms_phone(value: str, region: str, field: str = "sms_phone") -> str:
    """A phone number in E.164 form; numbers without a country code use the organization's region."""
    raw, region = phone_key(value, region)
    if not raw:
        return ""
    e164 = e164_remembered(raw, region)
    if e164 is None:
        hint = f" for region {region}" if region else ""
        raise FieldError(field, f"{raw!r} is not a valid phone number{hint}")
    return e164


def phone_key(value: str, region: str) -> tuple[str, str]:
    """What a number's normal form depends on: the number trimmed, and the region in capitals
    (phonenumbers knows only "NL", not "nl")."""
    return (value or "").strip(), (region or "").strip().upper()


def e164(raw: str, region: str) -> str | None:
    """The E.164 form of a number (``phone_key``'s form of it), or ``None`` when it is not a
    valid one. phonenumbers takes ~30-65 µs a number: a fifth to a third of a first sync's CPU."""
    try:
        number = phonenumbers.parse(raw, region or None)
    except phonenumbers.NumberParseException:
        return None
    if not ((number.country_code == _main_country_code(region)
             and phonenumbers.is_valid_number_for_region(number, region))
            or phonenumbers.is_valid_number(number)):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@functools.cache
def _main_country_code(region: str) -> int | None:
    """The country code of which ``region`` is the main region (US for +1, GB for +44), where
    phonenumbers tells its numbers' region by trying that one first, without leading digits:
    a number of that code valid there is valid (``is_valid_number`` checks the number against
    the region's metadata twice then: to find the region among the code's, 25 for +1, and to
    validate it; 21.5 → 17 µs a number). ``None`` for other regions."""
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region) if region else None
    if metadata is None or metadata.leading_digits is not None:
        return None
    code = metadata.country_code
    return code if phonenumbers.region_code_for_country_code(code) == region else None


#: ``e164``'s answers by region, then number: a pure function of its arguments (phonenumbers'
#: metadata ships with the package), so remembering them changes no result. A worker that syncs
#: the same directory again pays for a number once; a switchboard number shared by hundreds of
#: people once per run; a run's numbers worked out on another core (``remember_e164``) not at
#: all. (By region first: one tuple and one region string less a number, ~10 MB at 100,000.)
_REMEMBERED: dict[str, dict[str, str | None]] = {}


def e164_remembered(raw: str, region: str) -> str | None:
    """``e164``, from memory when the number was seen before."""
    try:
        return _REMEMBERED[region][raw]
    except KeyError:
        found = e164(raw, region)
        remember_e164([((raw, region), found)])
        return found


def remember_e164(answers: Iterable[tuple[tuple[str, str], str | None]]) -> None:
    """Remember ``e164``'s answers by ``phone_key``, worked out here or elsewhere. Past
    ``PHONES_REMEMBERED`` numbers the memory starts again (a 100k directory's fit)."""
    for (raw, region), answer in answers:
        numbers = _REMEMBERED.get(region)
        if numbers is None:
            numbers = _REMEMBERED[region] = {}
        elif len(numbers) >= PHONES_REMEMBERED:
            numbers.clear()
        numbers[raw] = answer


def is_remembered(raw: str, region: str) -> bool:
    return raw in _REMEMBERED.get(region, ())


def pin(value: str, field: str = "pin") -> str:
    cleaned = (value or "").strip()
    if cleaned and not _PIN.match(cleaned):
        raise FieldError(field, "must be 4 to 6 digits")
    return cleaned


def slack(value: str, field: str = "slack") -> str:
    cleaned = (value or "").strip().lstrip("@")
    if cleaned and not _SLACK.match(cleaned):
        raise FieldError(field, f"{value.strip()!r} is not a Slack username")
    return cleaned


def image_url(value: str, field: str = "image_url") -> str:
    cleaned = (value or "").strip()
    if not cleaned:
        return ""
    parts = urlsplit(cleaned)
    if parts.scheme not in ("http", "https") or not parts.netloc or NUL in cleaned:
        raise FieldError(field, f"{cleaned!r} is not an http(s) URL")
    if len(cleaned) > MAX_URL:
        raise FieldError(field, f"is longer than {MAX_URL} characters")
    return cleaned


def location_identifier(value: str, field: str = "location") -> str:
    """A location identifier: lower case, no spaces (seed 001's "Location Slug")."""
    cleaned = (value or "").strip().lower()
    if cleaned and not _IDENTIFIER.match(cleaned):
        raise FieldError(
            field,
            f"{value.strip()!r} is not a location identifier "
            "(lower-case letters, digits, '-' and '_', no spaces)",
        )
    return cleaned


def aliases(values: tuple[str, ...], field: str = "aliases") -> tuple[str, ...]:
    """Email aliases: each a valid address, de-duplicated and sorted; invalid ones are dropped."""
    kept = set()
    for value in values:
        try:
            address = email(value, field)
        except FieldError:
            continue
        if address:
            kept.add(address)
    return tuple(sorted(kept))
