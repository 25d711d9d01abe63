"""Real directory servers for the integration tests, shared by the whole session.

Fixtures:

- ``samba_domain`` (session): a :class:`support.samba.SambaDomain`, a Samba AD DC on its own
  loopback address (127.0.0.7 unless another session holds it), filled with the standard
  directory. Provisioning and filling take ~15-25 s, so when the collected tests use it, that work
  starts in a background thread right after collection and overlaps the tests that run first.
- ``slapd_server`` (session): a :class:`support.slapd.Slapd` on 127.0.0.1 high ports (~1 s).
- ``samba_changes`` / ``slapd_changes`` (function): make changes in a directory that are undone,
  in reverse order, after the test (added entries deleted, modified attributes restored, renamed
  and moved entries put back), so tests do not leak into each other.

Only sessions that use a server pay for it. Tests are skipped when the server's programs are not
installed (``scripts/setup`` installs them), except under CI (``CI`` set), where that is an error.
A test that stops or freezes a server should restart it; if it does not (a failure midway), the
server is started again after the test.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable

import ldap
import ldap.dn
import pytest
from support import directory_data as data
from support import samba, slapd
from support.samba import SambaDomain
from support.slapd import Slapd

PROGRAMS = {"samba_domain": ("samba", "samba-tool"), "slapd_server": ("slapd", "slapadd")}
_servers: dict[str, SambaDomain | Slapd] = {}  # running for the session
_timings: dict[str, dict[str, float]] = {}  # of the servers this session started
_prewarmed: dict[str, SambaDomain] = {}


def _missing(fixture: str) -> list[str]:
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    return [p for p in PROGRAMS[fixture] if shutil.which(p, path=path) is None]


def _require(fixture: str) -> None:
    missing = _missing(fixture)
    if missing:
        message = (f"{', '.join(missing)} not installed: run scripts/setup (Debian packages "
                   f"samba, samba-dsdb-modules, samba-ad-provision, slapd, ldap-utils)")
        if os.environ.get("CI"):
            pytest.fail(f"{message} — CI must run the integration tests", pytrace=False)
        pytest.skip(message)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Start provisioning Samba now if any selected test will need it."""
    if session.config.option.collectonly or "samba_domain" in _prewarmed:
        return
    wanted = any("samba_domain" in getattr(item, "fixturenames", ()) for item in session.items)
    if wanted and not _missing("samba_domain") and os.geteuid() == 0:
        _prewarmed["samba_domain"] = SambaDomain()
        _prewarmed["samba_domain"].prepare_in_background()


def pytest_sessionfinish(session: pytest.Session) -> None:
    for server in _prewarmed.values():  # prepared, but its fixture never ran (deselected, -x …)
        server.close()


def pytest_terminal_summary(terminalreporter) -> None:
    for name, timings in _timings.items():
        steps = ", ".join(f"{step} {seconds:.1f} s" for step, seconds in timings.items())
        terminalreporter.write_line(f"{name}: {steps}")


@pytest.fixture(scope="session")
def samba_domain():
    _require("samba_domain")
    server = _prewarmed.pop("samba_domain", None) or SambaDomain()
    try:
        _servers["samba_domain"] = server.start()
        _timings["samba_domain"] = server.timings
        yield server
    finally:
        _servers.pop("samba_domain", None)
        server.close()


@pytest.fixture(scope="session")
def slapd_server():
    _require("slapd_server")
    server = Slapd()
    try:
        _servers["slapd_server"] = server.start()
        _timings["slapd_server"] = server.timings
        yield server
    finally:
        _servers.pop("slapd_server", None)
        server.close()


@pytest.fixture(autouse=True)
def _restart_stopped_servers():
    """A test that stopped a server and failed before restarting it does not break the next."""
    yield
    for server in list(_servers.values()):
        if not server.running:
            server.start()


# -- changes that are undone -----------------------------------------------------------------------

def _values(value) -> list[bytes]:
    values = value if isinstance(value, (list, tuple)) else [value]
    return [v if isinstance(v, bytes) else str(v).encode() for v in values]


class DirectoryChanges:
    """Changes made as the directory's administrator, each recorded with how to undo it."""

    def __init__(self, connect: Callable[[], object]) -> None:
        self._connect = connect
        self._conn = None
        self._undo: list[tuple[str, Callable[[], None]]] = []
        self._added: set[str] = set()
        self._deleted_some = False

    @property
    def conn(self):
        """An admin connection (opened again after a server restart)."""
        if self._conn is not None:
            try:
                self._conn.search_s("", ldap.SCOPE_BASE, "(objectClass=*)", ["1.1"])
            except ldap.LDAPError:
                self._conn = None
        if self._conn is None:
            self._conn = self._connect()
        return self._conn

    def add(self, dn: str, attrs: dict[str, object]) -> str:
        """Add an entry (values: str, bytes or lists of them); deleted after the test."""
        self.conn.add_s(dn, [(name, _values(value)) for name, value in attrs.items()])
        self._added.add(_norm(dn))
        self._undo.append((f"delete {dn}", lambda: self.conn.delete_s(dn)))
        return dn

    def modify(self, dn: str, **changes) -> None:
        """Replace attributes (``None`` removes one); the old values come back after the test."""
        (_, old), = self.conn.search_s(dn, ldap.SCOPE_BASE, "(objectClass=*)", list(changes))
        old = {k.lower(): v for k, v in old.items()}
        self.conn.modify_s(dn, [(ldap.MOD_REPLACE, name, None if value is None else _values(value))
                                for name, value in changes.items()])
        restore = [(ldap.MOD_REPLACE, name, old.get(name.lower())) for name in changes]
        self._undo.append((f"restore {sorted(changes)} of {dn}",
                           lambda: self.conn.modify_s(dn, restore)))

    def add_values(self, dn: str, name: str, values) -> None:
        self.conn.modify_s(dn, [(ldap.MOD_ADD, name, _values(values))])
        self._undo.append((f"remove {name} values of {dn}", lambda: self.conn.modify_s(
            dn, [(ldap.MOD_DELETE, name, _values(values))])))

    def delete_values(self, dn: str, name: str, values) -> None:
        self.conn.modify_s(dn, [(ldap.MOD_DELETE, name, _values(values))])
        self._undo.append((f"add back {name} values of {dn}", lambda: self.conn.modify_s(
            dn, [(ldap.MOD_ADD, name, _values(values))])))

    def rename(self, dn: str, new_rdn: str, new_parent: str | None = None) -> str:
        """Rename (``new_rdn`` like ``CN=New Name``, escaped) and/or move; returns the new DN."""
        rdn, parent = _split(dn)
        self.conn.rename_s(dn, new_rdn, new_parent)
        new_dn = f"{new_rdn},{new_parent or parent}"
        if _norm(dn) in self._added:
            self._added.add(_norm(new_dn))
        self._undo.append((f"rename {new_dn} back to {dn}", lambda: self.conn.rename_s(
            new_dn, rdn, parent if new_parent else None)))
        return new_dn

    def move(self, dn: str, new_parent: str) -> str:
        """Move to another OU (``new_parent``: its DN); returns the new DN."""
        return self.rename(dn, _split(dn)[0], new_parent)

    def delete(self, dn: str) -> None:
        """Delete an entry this test added. Fixture entries cannot be deleted: they would come
        back with a new objectGUID/entryUUID, a different directory for the tests that follow
        (move one out of scope or disable it instead)."""
        if _norm(dn) not in self._added:
            raise ValueError(f"{dn} was not added by this test: add an entry, then delete it")
        self.conn.delete_s(dn)
        self._deleted_some = True

    def undo(self) -> None:
        failures = []
        for what, undo in reversed(self._undo):
            try:
                undo()
            except ldap.NO_SUCH_OBJECT as error:
                if not self._deleted_some:  # otherwise: about an entry the test deleted
                    failures.append(f"{what}: {error}")
            except ldap.LDAPError as error:
                failures.append(f"{what}: {error}")
        self._undo.clear()
        if self._conn is not None:
            self._conn.unbind_s()
            self._conn = None
        if failures:
            raise AssertionError("could not undo the directory changes of this test:\n"
                                 + "\n".join(failures))


class SambaChanges(DirectoryChanges):
    def __init__(self, dc: SambaDomain) -> None:
        super().__init__(dc.admin)
        self.dc = dc

    def add_person(self, key: str, given_name: str, surname: str,
                   ou: tuple[str, ...] = ("Headquarters",), **fields) -> str:
        """A user like the fixture people (``directory_data.Person`` fields), with a password
        (Samba refuses an enabled account without one over LDAP); returns its DN."""
        person = data.Person(key, given_name, surname, ou, **fields)
        attrs = samba.person_attributes(person)
        attrs["unicodePwd"] = [f'"{self.dc.admin_password}x"'.encode("utf-16-le")]
        return self.add(samba.person_dn(person), attrs)

    def add_ou(self, path: tuple[str, ...]) -> str:
        return self.add(samba.ou_dn(path), {"objectClass": "organizationalUnit"})

    def _uac(self, dn: str) -> int:
        (_, values), = self.conn.search_s(dn, ldap.SCOPE_BASE, "(objectClass=*)",
                                          ["userAccountControl"])
        return int(values["userAccountControl"][0])

    def disable(self, dn: str) -> None:
        self.modify(dn, userAccountControl=str(self._uac(dn) | 0x2))

    def enable(self, dn: str) -> None:
        self.modify(dn, userAccountControl=str(self._uac(dn) & ~0x2))

    def expire(self, dn: str, when) -> None:
        """Set accountExpires to ``when`` (an aware datetime)."""
        self.modify(dn, accountExpires=str(samba.filetime(when)))

    def add_member(self, group: str, member_dn: str) -> None:
        self.add_values(samba.group_dn(group), "member", member_dn)

    def remove_member(self, group: str, member_dn: str) -> None:
        self.delete_values(samba.group_dn(group), "member", member_dn)


class SlapdChanges(DirectoryChanges):
    def __init__(self, server: Slapd) -> None:
        super().__init__(server.admin)
        self.server = server

    def add_person(self, key: str, given_name: str, surname: str,
                   ou: tuple[str, ...] = ("Headquarters",), **fields) -> str:
        person = data.Person(key, given_name, surname, ou, **fields)
        return self.add(slapd.person_dn(person), slapd.person_attributes(person))

    def add_ou(self, path: tuple[str, ...]) -> str:
        return self.add(slapd.ou_dn(path), {"objectClass": "organizationalUnit", "ou": path[-1]})

    def add_member(self, group: str, member_dn: str) -> None:
        self.add_values(slapd.group_dn(group), "member", member_dn)

    def remove_member(self, group: str, member_dn: str) -> None:
        self.delete_values(slapd.group_dn(group), "member", member_dn)


def _split(dn: str) -> tuple[str, str]:
    parts = ldap.dn.str2dn(dn)
    return ldap.dn.dn2str(parts[:1]), ldap.dn.dn2str(parts[1:])


def _norm(dn: str) -> str:
    return ldap.dn.dn2str(ldap.dn.str2dn(dn)).lower()


@pytest.fixture
def samba_changes(samba_domain):
    changes = SambaChanges(samba_domain.start())
    yield changes
    samba_domain.start()  # a test that stopped the server and failed: undo needs it
    changes.undo()


@pytest.fixture
def slapd_changes(slapd_server):
    changes = SlapdChanges(slapd_server.start())
    yield changes
    slapd_server.start()
    changes.undo()
