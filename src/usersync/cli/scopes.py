"""``--scope`` values of ``usersync source add|edit``: ``LOCATION=BASE_DN``, or ``BASE_DN`` alone
for a global organization."""

from __future__ import annotations

from usersync.connectors.errors import SourceError
from usersync.connectors.scope import parse_dn

from . import CommandError

SCOPE_EXAMPLE = "headquarters=OU=Headquarters,DC=example,DC=com"


def parse_scope(value: str, multi_location: bool, locations: list[str] | tuple = ()) -> dict:
    """One ``--scope`` value as ``{"base", "location"}``.

    A multi-location organization gives ``LOCATION=BASE_DN``: the value is split at its first
    ``=``, since the base DN has ``=`` signs of its own. A global organization gives ``BASE_DN``
    alone: the whole value is the base.
    """
    value = value.strip()
    if not multi_location:
        _no_location(value)
        return {"base": value}
    location, sep, base = value.partition("=")
    location, base = location.strip(), base.strip()
    known = {identifier.lower(): identifier for identifier in locations}
    if location.lower() not in known and _bare_dn(value):
        raise CommandError(
            f"--scope {value!r} names no location: write LOCATION=BASE_DN, e.g. "
            f"{(list(known.values()) or ['headquarters'])[0]}={value} (locations: "
            f"{', '.join(known.values()) or 'none'})")
    if not sep or not location or not base:
        raise CommandError(f"--scope {value!r}: write LOCATION=BASE_DN, e.g. {SCOPE_EXAMPLE}")
    return {"base": base, "location": known.get(location.lower(), location)}


def _bare_dn(value: str) -> bool:
    """Whether ``value`` is a DN alone (``OU=HQ,DC=x``), not ``location=DN``.

    Both parse as DNs: ``headquarters=OU=HQ,DC=x`` is the RDN ``headquarters`` = ``OU=HQ``. What
    tells them apart is the first RDN's value: a real one holds no ``=``.
    """
    try:
        first = parse_dn(value)[:1]
    except SourceError:
        return False
    return bool(first) and not any("=" in part for _, part in first[0])


def _no_location(value: str) -> None:
    """A global organization's scope that starts with ``location=`` is a mistake."""
    try:
        parse_dn(value)
    except SourceError:
        return  # the settings' validation explains what a DN looks like
    if not _bare_dn(value):
        raise CommandError(f"--scope {value!r}: the organization is global (it has no "
                           "locations), so give only the base DN, e.g. OU=Staff,DC=example,DC=com")
