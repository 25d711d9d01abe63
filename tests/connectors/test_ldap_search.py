"""Paged searches and range retrieval, on a fake connection (the real servers are in
tests/integration): a read is complete only when every page ended with an empty cookie."""

import ldap
import pytest
from ldap.controls import SimplePagedResultsControl

from usersync.connectors.errors import ConfigurationError, ConnectionFailed, IncompleteRead
from usersync.connectors.ldap_search import Session, complete_ranges, parse_range

GROUP = "CN=Big,OU=Groups,DC=acme,DC=example"


def members(start: int, stop: int) -> list[bytes]:
    return [f"CN=User{n},OU=Staff,DC=acme,DC=example".encode() for n in range(start, stop)]


class RangedDirectory:
    """Answers base searches the way AD does: at most ``limit`` values of an attribute, marked
    with the range they cover."""

    def __init__(self, values: list[bytes], limit: int = 1500):
        self.values = values
        self.limit = limit
        self.asked: list[list[str]] = []

    def first(self) -> dict:
        return self.answer(0)

    def answer(self, start: int) -> dict:
        chunk = self.values[start:start + self.limit]
        last = start + len(chunk) >= len(self.values)
        end = "*" if last else str(start + len(chunk) - 1)
        return {"objectClass": [b"group"], f"member;range={start}-{end}": chunk}

    def fetch(self, dn: str, attributes):
        assert dn == GROUP
        self.asked.append(list(attributes))
        (wanted,) = attributes
        assert wanted.startswith("member;range=") and wanted.endswith("-*")
        return {k: v for k, v in self.answer(int(wanted.split("=")[1].split("-")[0])).items()
                if k != "objectClass"}


@pytest.mark.parametrize(
    "key, expected",
    [
        ("member;range=0-1499", ("member", 0, 1499)),
        ("member;range=1500-*", ("member", 1500, None)),
        ("Member;Range=3000-4499", ("Member", 3000, 4499)),
        ("proxyAddresses;binary;range=0-9", ("proxyAddresses;binary", 0, 9)),
        ("member", None),
        ("userCertificate;binary", None),
        ("member;range=a-b", None),
    ],
)
def test_range_keys_are_parsed(key, expected):
    assert parse_range(key) == expected


@pytest.mark.parametrize("total", [0, 1, 1499, 1500, 1501, 3000, 3001, 5432])
def test_every_value_of_a_ranged_attribute_is_fetched_and_merged(total):
    directory = RangedDirectory(members(0, total))
    merged = complete_ranges(GROUP, directory.first(), directory.fetch)
    assert merged["member"] == members(0, total)
    assert merged["objectClass"] == [b"group"]
    assert not any(";range=" in key for key in merged)
    steps = max(0, -(-total // 1500) - 1)
    assert directory.asked == [[f"member;range={1500 * (n + 1)}-*"] for n in range(steps)]


def test_several_ranged_attributes_are_each_completed():
    big = RangedDirectory(members(0, 4000), limit=1000)
    first = big.first()
    first["proxyAddresses;range=0-1"] = [b"smtp:a@x", b"smtp:b@x"]

    def fetch(dn, attributes):
        if attributes[0].startswith("proxyAddresses"):
            return {"proxyAddresses;range=2-*": [b"SMTP:c@x"]}
        return big.fetch(dn, attributes)

    merged = complete_ranges(GROUP, first, fetch)
    assert len(merged["member"]) == 4000
    assert merged["proxyAddresses"] == [b"smtp:a@x", b"smtp:b@x", b"SMTP:c@x"]


@pytest.mark.parametrize(
    "answer",
    [
        {},  # the attribute vanished (the entry was changed between the requests)
        {"member;range=1400-*": [b"x"]},  # a range that does not start where asked
        {"member;range=1500-1400": [b"x"]},  # backwards
    ],
)
def test_a_range_that_cannot_be_completed_fails_the_read(answer):
    with pytest.raises(IncompleteRead) as caught:
        complete_ranges(GROUP, {"member;range=0-1499": members(0, 1500)}, lambda dn, a: answer)
    assert caught.value.code == "range_retrieval"


class FakeConnection:
    """Plays back the pages of a paged search; records what the session asks."""

    def __init__(self, pages, error_at: int | None = None, error=None, control: bool = True):
        self.pages = pages
        self.error_at = error_at
        self.error = error
        self.control = control
        self.searches = []
        self.unbound = False

    def search_ext(self, base, scope, filterstr, attrlist, serverctrls=None, timeout=-1):
        self.searches.append((base, scope, filterstr, attrlist,
                              [(c.controlType, c.criticality, c.size, c.cookie)
                               for c in serverctrls or ()], timeout))
        return len(self.searches)

    def result3(self, msgid, timeout=-1):
        index = msgid - 1
        if self.error_at == index:
            raise self.error
        data = self.pages[index]
        cookie = b"" if index == len(self.pages) - 1 else f"page{index + 1}".encode()
        controls = [SimplePagedResultsControl(True, size=0, cookie=cookie)] if self.control else []
        return ldap.RES_SEARCH_RESULT, data, msgid, controls

    def unbind_ext_s(self):
        self.unbound = True


def entry(n: int):
    return (f"CN=User{n},OU=Staff,DC=acme", {"cn": [f"User{n}".encode()]})


def session(connection) -> Session:
    return Session(connection, "ldaps://dc1", "TLS1.3", timeout=30.0)


def test_pages_are_requested_with_a_critical_control_and_followed_to_the_empty_cookie():
    connection = FakeConnection([[entry(1), entry(2)], [entry(3), entry(4)], [entry(5)]])
    pages = list(session(connection).pages("OU=Staff,DC=acme", "(cn=*)", ["cn"], 2))
    assert [len(page) for page in pages] == [2, 2, 1]
    controls = [search[4][0] for search in connection.searches]
    assert controls == [
        (SimplePagedResultsControl.controlType, True, 2, b""),
        (SimplePagedResultsControl.controlType, True, 2, b"page1"),
        (SimplePagedResultsControl.controlType, True, 2, b"page2"),
    ]
    assert all(search[1] == ldap.SCOPE_SUBTREE and search[3] == ["cn"] and search[5] == 30.0
               for search in connection.searches)


def test_the_page_size_never_exceeds_1000():
    connection = FakeConnection([[entry(1)]])
    list(session(connection).pages("DC=acme", "(cn=*)", ["cn"], 5000))
    assert connection.searches[0][4][0][2] == 1000


def test_continuation_references_are_skipped_not_failed():
    references = (None, ["ldaps://acme.example/CN=Configuration,DC=acme,DC=example"])
    connection = FakeConnection([[entry(1), references, entry(2)], [references]])
    reading = session(connection)
    pages = list(reading.pages("DC=acme", "(cn=*)", ["cn"], 2))
    assert [dn for page in pages for dn, _ in page] == [entry(1)[0], entry(2)[0]]
    assert reading.references == 2


def test_a_page_without_the_paging_control_cannot_prove_completeness():
    connection = FakeConnection([[entry(1)], [entry(2)]], control=False)
    with pytest.raises(IncompleteRead) as caught:
        list(session(connection).pages("DC=acme", "(cn=*)", ["cn"], 1))
    assert caught.value.code == "paging_broken"


@pytest.mark.parametrize(
    "error, kind, code",
    [
        (ldap.SIZELIMIT_EXCEEDED({"result": 4}), IncompleteRead, "size_limit"),
        (ldap.TIMELIMIT_EXCEEDED({"result": 3}), IncompleteRead, "time_limit"),
        (ldap.SERVER_DOWN({"result": -1}), ConnectionFailed, "connection_lost"),
        (ldap.REFERRAL({"result": 10}), ConfigurationError, "referral"),
    ],
)
def test_a_failure_on_a_later_page_raises_after_the_pages_before_it(error, kind, code):
    connection = FakeConnection([[entry(1)], [entry(2)], [entry(3)]], error_at=1, error=error)
    seen = []
    with pytest.raises(kind) as caught:
        for page in session(connection).pages("DC=acme", "(cn=*)", ["cn"], 1):
            seen.extend(page)
    assert caught.value.code == code
    assert len(seen) == 1
    if kind is not ConfigurationError:
        assert "after 1 entry:" in caught.value.message


def test_ranged_attributes_of_search_results_are_completed():
    directory = RangedDirectory(members(0, 3200))

    class Connection(FakeConnection):
        def result3(self, msgid, timeout=-1):
            base, scope, _f, attrs, _c, _t = self.searches[msgid - 1]
            if scope == ldap.SCOPE_BASE:
                return ldap.RES_SEARCH_RESULT, [(GROUP, directory.fetch(GROUP, attrs))], msgid, []
            return super().result3(msgid, timeout)

    connection = Connection([[(GROUP, directory.first())]])
    (page,) = session(connection).pages("DC=acme", "(objectClass=group)", ["member"], 10)
    assert len(page[0][1]["member"]) == 3200
    assert [s[1] for s in connection.searches] == [ldap.SCOPE_SUBTREE, ldap.SCOPE_BASE,
                                                    ldap.SCOPE_BASE]


def test_closing_unbinds():
    connection = FakeConnection([])
    with session(connection):
        pass
    assert connection.unbound
