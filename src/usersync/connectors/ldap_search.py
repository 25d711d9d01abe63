"""Searching a bound connection: paged subtree searches and range retrieval, nothing else.

A paged search (RFC 2696, critical) is complete only when every page ended in success and the last
one returned an empty cookie. Anything else is an error here, never a short list: a caller that got
pages from ``Session.pages`` to the end got everything. Continuation references (AD's pointers to
its other partitions when searching from the domain root) are not entries and are skipped.

Range retrieval: AD returns at most 1,500 values of an attribute per entry (MaxValRange) and marks
the answer ``member;range=0-1499``; the rest is fetched with base searches for
``member;range=1500-*`` until a range ends in ``*``. Values are merged under the plain name.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence

import ldap
from ldap.controls import LDAPControl, SimplePagedResultsControl

from .errors import IncompleteRead
from .ldap_errors import referred_entry, search_error

#: Raw attributes of an entry as python-ldap returns them.
Attributes = dict[str, list[bytes]]
#: Fetch attributes of one entry (a base search): (dn, attribute names) → attributes.
Fetch = Callable[[str, Sequence[str]], Attributes]
#: The largest page usersync asks for; AD's MaxPageSize default is 1,000.
MAX_PAGE_SIZE = 1000
_RANGE = re.compile(r"^(?P<name>[^;]+(?:;(?!range=)[^;]*)*);range=(?P<start>\d+)-(?P<end>\d+|\*)$",
                    re.IGNORECASE)
#: Safety net against a server that never ends a range (1,500 values a step: 15 million values).
_MAX_RANGE_STEPS = 10_000


def parse_range(key: str) -> tuple[str, int, int | None] | None:
    """``member;range=0-1499`` → ``("member", 0, 1499)``; ``…-*`` ends with ``None``; a key
    without a range → ``None``. Called for every attribute of every entry read: the plain name
    (nearly all of them) is told apart without the regex."""
    if ";" not in key:
        return None
    found = _RANGE.match(key)
    if found is None:
        return None
    end = found.group("end")
    return found.group("name"), int(found.group("start")), None if end == "*" else int(end)


def complete_ranges(dn: str, attributes: Attributes, fetch: Fetch,
                    server: str = "") -> Attributes:
    """``attributes`` with every ranged attribute fetched to its end and merged under its plain
    name. Raises ``IncompleteRead`` if the server stops answering a range consistently."""
    if ";" not in "".join(attributes):
        return attributes  # nearly every entry: no attribute options, nothing ranged
    merged: Attributes = {}
    pending: dict[str, int] = {}
    for key, values in attributes.items():
        ranged = parse_range(key)
        if ranged is None:
            merged.setdefault(key, []).extend(values)
            continue
        name, _start, end = ranged
        merged.setdefault(name, []).extend(values)
        if end is not None:
            pending[name] = end + 1
    steps = 0
    while pending:
        name, start = next(iter(pending.items()))
        steps += 1
        answer = fetch(dn, [f"{name};range={start}-*"])
        found = [(parse_range(key), values) for key, values in answer.items()]
        found = [(r, v) for r, v in found if r is not None and r[0].lower() == name.lower()]
        if len(found) != 1 or found[0][0][1] != start or steps > _MAX_RANGE_STEPS:
            raise IncompleteRead(
                f"the values of {name!r} of {dn!r} could not be read to the end (range retrieval "
                f"from {start} got no consistent answer)", hint="the next run will try again",
                code="range_retrieval", server=server or None)
        (_name, _start, end), values = found[0]
        merged[name].extend(values)
        if end is None:
            del pending[name]
        elif end < start:
            # An empty range still ends at or after its start on AD ("1500-1499" never happens).
            raise IncompleteRead(f"the server returned a backwards range for {name!r} of {dn!r}",
                                 hint="the next run will try again", code="range_retrieval",
                                 server=server or None)
        else:
            pending[name] = end + 1
    return merged


class Session:
    """A bound connection to one server. Issues searches only; ``close`` unbinds."""

    def __init__(self, connection: ldap.ldapobject.LDAPObject, server: str, tls: str | None,
                 timeout: float):
        self.connection = connection
        self.server = server
        #: ``"TLS1.3 AES-256-GCM"``, or ``None`` on an unencrypted connection.
        self.tls = tls
        self.timeout = timeout
        #: Continuation references seen (not followed; not an error).
        self.references = 0

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        try:
            self.connection.unbind_ext_s()
        except ldap.LDAPError:
            pass  # already gone: nothing to release

    def _search(self, base: str, scope: int, filterstr: str, attributes: Sequence[str],
                controls=None, read: int = 0):
        return self._result(self._send(base, scope, filterstr, attributes, controls, read),
                            base, read)

    def _send(self, base: str, scope: int, filterstr: str, attributes: Sequence[str],
              controls=None, read: int = 0) -> int:
        try:
            return self.connection.search_ext(base, scope, filterstr, list(attributes) or None,
                                              serverctrls=controls, timeout=self.timeout)
        except ldap.LDAPError as error:
            raise search_error(error, self.server, base, read) from None

    def _result(self, msgid: int, base: str, read: int):
        try:
            return self.connection.result3(msgid, timeout=self.timeout)
        except ldap.LDAPError as error:
            raise search_error(error, self.server, base, read) from None

    def fetch(self, dn: str, attributes: Sequence[str]) -> Attributes:
        """Attributes of the entry ``dn`` (a base search; ``{}`` if it has none of them)."""
        _type, data, _msgid, _controls = self._search(dn, ldap.SCOPE_BASE, "(objectClass=*)",
                                                      attributes)
        for entry_dn, values in data:
            if entry_dn is not None:
                return values
        return {}

    def entry(self, dn: str, attributes: Sequence[str],
              filterstr: str = "(objectClass=*)") -> Attributes | None:
        """The entry ``dn`` if it exists and matches ``filterstr``, ranges completed."""
        try:
            msgid = self.connection.search_ext(dn, ldap.SCOPE_BASE, filterstr, list(attributes),
                                               timeout=self.timeout)
            _type, data, _msgid, _controls = self.connection.result3(msgid, timeout=self.timeout)
        except ldap.NO_SUCH_OBJECT:
            return None  # a dangling member
        except ldap.REFERRAL as error:  # maybe a group, on another server: it cannot be told
            raise referred_entry(error, self.server, dn) from None
        except ldap.LDAPError as error:
            raise search_error(error, self.server, dn, 0) from None
        for entry_dn, values in data:
            if entry_dn is not None:
                return complete_ranges(entry_dn, values, self.fetch, self.server)
        return None

    def pages(self, base: str, filterstr: str, attributes: Sequence[str],
              page_size: int, controls: Sequence[LDAPControl] = ()
              ) -> Iterator[list[tuple[str, Attributes]]]:
        """The entries under ``base`` matching ``filterstr``, a page at a time, each entry's
        ranged attributes completed. Ends only after the last page proved the read complete.
        ``controls`` are sent with every page (e.g. AD's show-deleted control)."""
        control = SimplePagedResultsControl(True, size=min(page_size, MAX_PAGE_SIZE), cookie=b"")
        read = 0

        def ask() -> int:
            return self._send(base, ldap.SCOPE_SUBTREE, filterstr, attributes,
                              [control, *controls], read)

        msgid: int | None = ask()
        try:
            while msgid is not None:
                asked, msgid = msgid, None
                _type, data, _msgid, controls_back = self._result(asked, base, read)
                answer = next((c for c in controls_back or ()
                               if c.controlType == SimplePagedResultsControl.controlType), None)
                if answer is None:
                    got = read + sum(1 for dn, _values in data if dn is not None)
                    raise IncompleteRead(
                        f"{self.server} ended a page of the search of {base!r} without the paged "
                        f"results control, after {got} entries: the read cannot be "
                        "proven complete", hint="the next run will try again; if this repeats, "
                        "the server (or a proxy) does not page correctly", code="paging_broken",
                        server=self.server)
                if answer.cookie:  # the server prepares the next page while this one is used
                    control.cookie = answer.cookie
                    msgid = ask()
                entries = []
                for dn, values in data:
                    if dn is None:  # a continuation reference: not an entry, not a failure
                        self.references += 1
                        continue
                    entries.append((dn, complete_ranges(dn, values, self.fetch, self.server)))
                read += len(entries)
                yield entries
        finally:
            if msgid is not None:  # the reader stopped early: the next page is not wanted
                self.abandon(msgid)

    def abandon(self, msgid: int) -> None:
        """Stop the search ``msgid`` (its answer is not wanted any more)."""
        try:
            self.connection.abandon_ext(msgid)
        except ldap.LDAPError:
            pass  # the search ends with the session anyway

    def count(self, base: str, filterstr: str, page_size: int) -> int:
        """How many entries under ``base`` match (paged, no attributes transferred)."""
        return sum(len(page) for page in self.pages(base, filterstr, ["1.1"], page_size))

    def dns(self, base: str, filterstr: str, page_size: int) -> Iterator[str]:
        """The DNs of the entries under ``base`` that match (paged, no attributes)."""
        for page in self.pages(base, filterstr, ["1.1"], page_size):
            for dn, _values in page:
                yield dn
