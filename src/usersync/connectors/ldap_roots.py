"""Where searches start: the search bases' common parent, searched once instead of each base.

OpenLDAP's content sync tells a search of every entry written anywhere in the database, and its
mdb backend checks every candidate entry of the database against the scope of each search: twenty
sibling bases cost slapd about twice what one search of their parent does (measured at 100,000
people). So the reads of an OpenLDAP source start at the common parent of its bases, one per
naming context holding bases, and give each entry to every scope that contains it
(``scope.ScopeFinder``); a base whose parent the bind account may not search is searched from
itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import ldap
import ldap.dn

from .ldap_errors import search_error
from .ldap_search import Session
from .ldap_settings import LdapSettings
from .scope import Scope, normalize_dn, parse_dn, within


@dataclass(frozen=True, slots=True)
class SearchRoot:
    """Where one search starts, and the scopes whose people it reads."""

    dn: str
    scopes: tuple[Scope, ...]

    @property
    def key(self) -> str:  # of its cookie in the saved state: the same for any spelling
        return normalize_dn(self.dn)


def common_parent(bases: Sequence[str]) -> str:
    """The longest DN that is or contains each of ``bases`` (compared parsed, spelled as the
    first base); ``""`` when they share no RDN."""
    parsed = [parse_dn(base) for base in bases]
    depth = min(len(dn) for dn in parsed)
    while depth and len({dn[len(dn) - depth:] for dn in parsed}) > 1:
        depth -= 1
    rdns = ldap.dn.str2dn(bases[0].strip())
    return ldap.dn.dn2str(rdns[len(rdns) - depth:])


def search_roots(session: Session, settings: LdapSettings) -> list[SearchRoot]:
    """The common parent of the bases in each of the server's naming contexts. A base in no
    naming context the server lists, or whose parent the bind account may not search from, is
    searched from itself."""
    listed = session.fetch("", ["namingContexts"]).get("namingContexts", [])
    contexts = sorted((value.decode("utf-8", "replace") for value in listed),
                      key=lambda context: -len(parse_dn(context)))  # the innermost first
    groups: dict[str, list[Scope]] = {}
    for scope in settings.scopes:
        inside = next((c for c in contexts if within(scope.base, c)), scope.base)
        groups.setdefault(inside, []).append(scope)
    roots = []
    for scopes in groups.values():
        parent = common_parent([scope.base for scope in scopes])
        if len(scopes) > 1 and not _searchable(session, parent):
            roots += [SearchRoot(scope.base, (scope,)) for scope in scopes]
        else:
            roots.append(SearchRoot(parent, tuple(scopes)))
    return roots


def _searchable(session: Session, dn: str) -> bool:
    """Whether a search may start at ``dn`` (not at a parent hidden from the bind account)."""
    try:
        session.connection.search_ext_s(dn, ldap.SCOPE_BASE, "(objectClass=*)", ["1.1"],
                                        timeout=session.timeout)
    except (ldap.NO_SUCH_OBJECT, ldap.INSUFFICIENT_ACCESS):
        return False
    except ldap.LDAPError as error:
        raise search_error(error, session.server, dn, 0) from None
    return True
