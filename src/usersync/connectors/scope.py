"""Scopes: the search bases of a source, each mapped to a location.

Seed 001 pairs each Organizational Unit with a location ("your Headquarters location gets one OU and
your Warehouse location gets another"), and a person who sits under two mapped OUs is offered in
both. A DN as typed by an admin and a DN as returned by the server rarely match as strings
(``OU=Sales, DC=Acme`` vs ``ou=sales,dc=acme``, ``\\2C`` vs ``\\,``), so every comparison here is
made on DNs parsed by libldap and normalized, never on the raw text.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable, Sequence

import ldap
import ldap.dn

from .errors import ConfigurationError

#: A parsed DN: RDNs from the leaf to the root, each a sorted tuple of (type, value) pairs.
ParsedDN = tuple[tuple[tuple[str, str], ...], ...]


@dataclass(frozen=True, slots=True)
class Scope:
    """One search base and the location its people belong to (``None``: every location, as in a
    global organization)."""

    base: str
    location: str | None = None


def parse_dn(dn: str) -> ParsedDN:
    """Parse ``dn`` into comparable RDNs.

    Attribute types and values are lower-cased (Active Directory and the usual LDAP schemas compare
    names case-insensitively), escapes are resolved by libldap, spaces around separators vanish,
    and the values of a multi-valued RDN (``cn=a+uid=b``) are sorted because their order carries no
    meaning. Raises ``ConfigurationError`` for text that is not a DN, since a DN reaching this
    function comes from a setting or a file an admin can correct.
    """
    try:
        rdns = ldap.dn.str2dn(dn.strip())
    except ldap.DECODING_ERROR:
        raise ConfigurationError(
            f"{dn!r} is not a valid distinguished name",
            hint="write it as in the directory, e.g. OU=Headquarters,DC=example,DC=com",
            code="invalid_dn",
        ) from None
    return tuple(
        tuple(sorted((kind.strip().lower(), value.strip().lower()) for kind, value, _ in rdn))
        for rdn in rdns
    )


def normalize_dn(dn: str) -> str:
    """The canonical text of ``dn``: equal for any two spellings of the same DN."""
    return ldap.dn.dn2str(
        [[(kind, value, 1) for kind, value in rdn] for rdn in parse_dn(dn)]
    )


@lru_cache(maxsize=256)
def _parsed_base(base: str) -> ParsedDN:
    """Scope bases are few and compared against every entry: parse each once."""
    return parse_dn(base)


def _within(parsed: ParsedDN, base: ParsedDN) -> bool:
    return len(parsed) >= len(base) and parsed[len(parsed) - len(base):] == base


def within(dn: str, base: str) -> bool:
    """Whether ``dn`` is ``base`` itself or lies anywhere below it (a subtree search's reach)."""
    return _within(parse_dn(dn), parse_dn(base))


def scopes_containing(dn: str, scopes: Sequence[Scope]) -> tuple[Scope, ...]:
    """The scopes whose base is ``dn`` or lies above it, in the scopes' order."""
    parsed = parse_dn(dn)
    return tuple(scope for scope in scopes if _within(parsed, _parsed_base(scope.base)))


class ScopeFinder:
    """``scopes_containing`` for the many entries of one search. Parsing a DN costs ~40 µs and
    entries share few parents: an entry's scopes are its parent's, worked out once per parent
    as the server spells it. An entry is parsed on its own only when its first RDN holds an
    escape, or when a base sits right under its parent (it could be that base)."""

    def __init__(self, scopes: Sequence[Scope]):
        self.scopes = tuple(scopes)
        self._parents: dict[str, tuple[Scope, ...] | None] = {}

    def __call__(self, dn: str) -> tuple[Scope, ...]:
        comma = dn.find(",")
        if comma <= 0 or "\\" in dn[:comma]:
            return scopes_containing(dn, self.scopes)
        parent = dn[comma + 1:]
        if parent not in self._parents:
            self._parents[parent] = self._of_parent(parent)
        containing = self._parents[parent]
        return scopes_containing(dn, self.scopes) if containing is None else containing

    def _of_parent(self, parent: str) -> tuple[Scope, ...] | None:
        """The scopes containing every child of ``parent``; ``None`` if a child may be a base."""
        parsed = parse_dn(parent)
        bases = [_parsed_base(scope.base) for scope in self.scopes]
        if any(base[1:] == parsed for base in bases):
            return None
        return tuple(scope for scope, base in zip(self.scopes, bases) if _within(parsed, base))


def scope_locations(containing: Iterable[Scope]) -> tuple[str, ...]:
    """The locations of ``containing`` scopes, without repeats; scopes without one add none."""
    return tuple(dict.fromkeys(s.location for s in containing if s.location is not None))


def locations_for(dn: str, scopes: Sequence[Scope]) -> tuple[str, ...]:
    """The locations of every scope that contains ``dn``, without repeats, in the scopes' order.

    A user under two mapped bases gets both locations: seed 001 makes a contact available in several
    locations by placing them in several OUs. Scopes without a location add none.
    """
    return scope_locations(scopes_containing(dn, scopes))


def ou_slug(name: str) -> str:
    """The location identifier an OU name stands for: lower case, spaces become ``-``."""
    return "-".join(name.strip().lower().split())


def locations_by_ou(dn: str, identifiers: Iterable[str]) -> tuple[str, ...]:
    """The location identifiers that name one of the DN's OUs (leaf-most OU first).

    Used when an export is imported without explicit scopes: ``OU=Head Office`` stands for the
    location ``head-office``. An empty result is deliberate, not an error here: the planner then
    reports the record as belonging to no location, which an admin can see and fix.
    """
    known = {identifier.strip().lower(): identifier for identifier in identifiers}
    found: dict[str, None] = {}
    for rdn in parse_dn(dn):
        for kind, value in rdn:
            identifier = known.get(ou_slug(value)) if kind == "ou" else None
            if identifier is not None:
                found.setdefault(identifier, None)
    return tuple(found)
