"""LDAP search filters: the admin's filter checked, and combined with groups and exclusions.

A filter an admin types is parsed here (RFC 4515) before it reaches a server, so a typo is an error
with a hint at configuration time, not an empty read that looks like "everyone left". Every value
that comes from an admin and goes into a filter (a group DN, an exclusion pattern) is escaped, so
``O'Brien (Sales)`` or a DN with ``\\,`` can neither break the filter nor widen it.
"""

from __future__ import annotations

import re
from typing import Iterable

import ldap.filter

from . import active_directory, openldap
from .errors import ConfigurationError
from .scope import parse_dn

KINDS = ("active_directory", "ldap")
#: LDAP_MATCHING_RULE_IN_CHAIN: AD follows group nesting on the server.
IN_CHAIN = "1.2.840.113556.1.4.1941"
_KEYSTRING = r"[A-Za-z][A-Za-z0-9-]*"
_OID = rf"(?:{_KEYSTRING}|\d+(?:\.\d+)+)"
_ATTRIBUTE = rf"{_OID}(?:;[A-Za-z0-9-]+)*"
_ATTRIBUTE_RE = re.compile(rf"^{_ATTRIBUTE}$")
_EXTENSIBLE_RE = re.compile(rf"^(?:{_ATTRIBUTE}(?::dn)?(?::{_OID})?|(?::dn)?:{_OID})$", re.I)
_LEFT = re.compile(r"[A-Za-z0-9.;:\-]*")
_HEX2 = re.compile(r"[0-9A-Fa-f]{2}")
FILTER_HINT = (
    "write it like (&(objectClass=user)(department=Sales)): every condition in parentheses, "
    r"and * ( ) \ inside a value written as \2a \28 \29 \5c"
)


class _FilterSyntax(ValueError):
    def __init__(self, reason: str, position: int):
        super().__init__(reason)
        self.reason = reason
        self.position = position


class _Parser:
    """A recursive-descent reader of RFC 4515 that returns the filter without the blanks that
    people put between its parts (values keep theirs)."""

    def __init__(self, text: str):
        self.text = text
        self.pos = 0

    def fail(self, reason: str) -> _FilterSyntax:
        return _FilterSyntax(reason, self.pos + 1)

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def blanks(self) -> None:
        while self.peek().isspace() and self.peek():
            self.pos += 1

    def expect(self, char: str) -> None:
        if self.peek() != char:
            found = repr(self.peek()) if self.peek() else "the end"
            raise self.fail(f"expected {char!r}, found {found}")
        self.pos += 1

    def filter(self) -> str:
        self.blanks()
        self.expect("(")
        self.blanks()
        operator = self.peek()
        if operator in ("&", "|"):
            self.pos += 1
            parts = []
            self.blanks()
            while self.peek() == "(":
                parts.append(self.filter())
                self.blanks()
            if not parts:
                raise self.fail(f"{operator!r} needs at least one condition")
            body = operator + "".join(parts)
        elif operator == "!":
            self.pos += 1
            body = "!" + self.filter()
            self.blanks()
        else:
            body = self.item()
        self.expect(")")
        return f"({body})"

    def item(self) -> str:
        start = self.pos
        left = _LEFT.match(self.text, self.pos).group()
        self.pos += len(left)
        operator = self.peek()
        if operator in ("~", ">", "<"):
            self.pos += 1
            self.expect("=")
            operator += "="
        elif operator == "=":
            self.pos += 1
        else:
            self.pos = start + len(left)
            raise self.fail("expected a condition such as attribute=value")
        if operator == "=" and left.endswith(":"):
            if not _EXTENSIBLE_RE.match(left[:-1]):
                self.pos = start
                raise self.fail(f"{left[:-1]!r} is not an attribute with a matching rule")
            operator, left = ":=", left[:-1]
        elif not _ATTRIBUTE_RE.match(left):
            self.pos = start
            raise self.fail(f"{left!r} is not an attribute name" if left
                            else "a condition must start with an attribute name")
        return left + operator + self.value(wildcards=operator == "=")

    def value(self, wildcards: bool) -> str:
        start = self.pos
        while self.peek() not in (")", ""):
            char = self.peek()
            if char == "(":
                raise self.fail(r"'(' inside a value must be written \28")
            if char == "\x00":
                raise self.fail(r"a NUL character inside a value must be written \00")
            if char == "*" and not wildcards:
                raise self.fail(r"'*' is allowed only with '='; write \2a for a literal *")
            if char == "\\":
                if not _HEX2.match(self.text, self.pos + 1):
                    raise self.fail(r"'\' inside a value must start an escape such as \5c")
                self.pos += 2
            self.pos += 1
        return self.text[start:self.pos]


def validate_filter(text: str) -> str:
    """``text`` checked as an LDAP filter and returned in a compact form.

    A filter without its outer parentheses (``objectClass=user``) is accepted, as ldapsearch
    does. Raises ``ConfigurationError`` (code ``invalid_filter``) with the position of the problem.
    """
    stripped = (text or "").strip()
    if not stripped:
        raise ConfigurationError("the search filter is empty", hint=FILTER_HINT,
                                 code="invalid_filter")
    candidate = stripped if stripped.startswith("(") else f"({stripped})"
    parser = _Parser(candidate)
    try:
        result = parser.filter()
        parser.blanks()
        if parser.pos != len(candidate):
            raise parser.fail("unexpected text after the filter's closing parenthesis")
    except _FilterSyntax as error:
        offset = 0 if candidate is stripped else 1
        position = max(1, error.position - offset)
        raise ConfigurationError(
            f"the search filter {stripped!r} is not valid: {error.reason} (at character "
            f"{position})", hint=FILTER_HINT, code="invalid_filter") from None
    return result


def escape_pattern(pattern: str) -> str:
    """An admin's pattern as a filter value: ``*`` stays a wildcard, everything else is literal."""
    parts = re.split(r"\*+", pattern)
    return "*".join(ldap.filter.escape_filter_chars(part) for part in parts)


def exclusion_filter(rule: str) -> str:
    """``attribute=pattern`` (``*`` matches anything) → a condition that skips matching people."""
    attribute, sep, pattern = rule.partition("=")
    attribute, pattern = attribute.strip(), pattern.strip()
    if not sep or not _ATTRIBUTE_RE.match(attribute) or not pattern:
        raise ConfigurationError(
            f"the exclusion rule {rule!r} is not attribute=pattern",
            hint="write e.g. sAMAccountName=svc-* (a * matches any text)",
            code="invalid_exclusion")
    return f"(!({attribute}={escape_pattern(pattern)}))"


def group_dn(text: str) -> str:
    """A group DN from an admin, checked (``ConfigurationError`` if it is not a DN)."""
    stripped = text.strip()
    parse_dn(stripped)
    return stripped


def ad_groups_filter(groups: Iterable[str]) -> str:
    """Members of any of ``groups``, directly or through nested groups (evaluated by AD)."""
    conditions = [f"(memberOf:{IN_CHAIN}:={ldap.filter.escape_filter_chars(group_dn(group))})"
                  for group in groups]
    return conditions[0] if len(conditions) == 1 else "(|" + "".join(conditions) + ")"


def default_filter(kind: str) -> str:
    if kind == "active_directory":
        return active_directory.DEFAULT_FILTER
    if kind == "ldap":
        return openldap.DEFAULT_FILTER
    raise ConfigurationError(f"unknown directory kind {kind!r}",
                             hint="use active_directory or ldap", code="unknown_kind")


def build_filter(
    kind: str,
    user_filter: str | None,
    groups: Iterable[str] = (),
    exclusions: Iterable[str] = (),
) -> str:
    """The filter a read searches with: the people filter (the kind's default when none is set),
    AND membership of the groups (on AD; OpenLDAP groups are walked, see ``ldap_groups``), AND NOT
    each exclusion."""
    people = validate_filter(user_filter) if (user_filter or "").strip() else default_filter(kind)
    groups = tuple(groups)
    parts = [people]
    if kind == "active_directory" and groups:
        parts.append(ad_groups_filter(groups))
    parts.extend(exclusion_filter(rule) for rule in exclusions)
    return parts[0] if len(parts) == 1 else "(&" + "".join(parts) + ")"
