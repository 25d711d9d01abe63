"""Group membership on LDAP servers that cannot evaluate nesting themselves (OpenLDAP).

Active Directory answers "members of G, at any depth" in the search filter
(``LDAP_MATCHING_RULE_IN_CHAIN``). OpenLDAP does not, so the groups are walked here: each group's
``member`` (groupOfNames) and ``uniqueMember`` (groupOfUniqueNames) values, and those of the groups
among them, recursively. Cycles (A ∋ B ∋ A) end the walk instead of looping. DNs are compared in
their normalized form, never as typed.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Collection, Iterable

from .errors import ConfigurationError
from .scope import normalize_dn

GROUP_CLASSES = frozenset({"groupofnames", "groupofuniquenames"})
MEMBER_ATTRIBUTES = ("member", "uniqueMember")
GROUP_FILTER = "(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames))"
#: Read a group: DN → its attributes (objectClass, member, uniqueMember), ``None`` if it is not a
#: group (or does not exist).
ReadGroup = Callable[[str], "dict[str, list[bytes]] | None"]


def _normalized(dn: str) -> str | None:
    if not dn.strip():
        return None  # the empty DN is the root DSE, never a member
    try:
        return normalize_dn(dn)
    except ConfigurationError:
        return None


def _member_dn(raw: bytes) -> str:
    """A member value's DN; a ``uniqueMember`` may end in ``#'0101'B`` (RFC 4517 Name and
    Optional UID), which is not part of the DN."""
    text = raw.decode("utf-8", "replace").strip()
    head, sep, tail = text.rpartition("#'")
    if sep and tail.endswith("'B") and set(tail[:-2]) <= {"0", "1"}:
        return head
    return text


def _values(attributes: dict[str, list[bytes]], name: str) -> list[bytes]:
    return [v for key, values in attributes.items()
            if key.partition(";")[0].lower() == name.lower() for v in values]


def walk_members(groups: Iterable[str], read_group: ReadGroup,
                 known_people: Collection[str] = ()) -> frozenset[str]:
    """The normalized DNs of every member of ``groups``, through nested groups.

    ``known_people`` are normalized DNs already known to be people (the entries the read found):
    a member among them is not read again, so a group of 1,500 users costs one read, not 1,501.
    Every other member is read once to see whether it is a group. A configured group that does
    not exist or is not a group is a ``ConfigurationError``; a dangling member is skipped.
    """
    members: set[str] = set()
    seen: set[str] = set()
    pending: deque[dict[str, list[bytes]]] = deque()
    for group in groups:
        normalized = _normalized(group)
        if normalized is None:
            raise ConfigurationError(f"{group!r} is not a valid group DN",
                                     hint="write the group's full DN", code="invalid_dn")
        attributes = read_group(group.strip())
        if attributes is None:
            raise ConfigurationError(
                f"the group {group!r} does not exist or is not a group (groupOfNames or "
                "groupOfUniqueNames)", hint="correct the group DN", code="no_such_group")
        seen.add(normalized)
        pending.append(attributes)
    while pending:
        current = pending.popleft()
        for name in MEMBER_ATTRIBUTES:
            for raw in _values(current, name):
                dn = _member_dn(raw)
                normalized = _normalized(dn)
                if normalized is None or normalized in seen:
                    continue  # not a DN, or met before (a cycle, or a member of two groups)
                seen.add(normalized)
                if normalized in known_people:
                    members.add(normalized)
                    continue
                nested = read_group(dn)
                if nested is None:
                    members.add(normalized)  # a person outside the read, or a dangling DN
                else:
                    pending.append(nested)
    return frozenset(members)
