"""What the two directory servers of the tests (slapd.py, samba.py) share: TLS connections that
verify the server, the test CA and its certificates, and ``LdapServer``, the part of their
interface that does not depend on which server it is (connections, certificates, stop/restart).
"""

from __future__ import annotations

import collections
import contextlib
import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Self

import ldap
import ldap.ldapobject
import pytest
import trustme

from support.servers import ChildProcess


@contextlib.contextmanager
def ldap_calls():
    """Count every python-ldap call made to libldap inside the block (all connections)."""
    calls: collections.Counter[str] = collections.Counter()
    original = ldap.ldapobject.SimpleLDAPObject._ldap_call

    def spy(self, func, *args, **kwargs):
        calls[getattr(func, "__name__", repr(func))] += 1
        return original(self, func, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ldap.ldapobject.SimpleLDAPObject, "_ldap_call", spy)
        yield calls


def tls_connection(url: str, *, ca_file: str | Path, who: str | None = None,
                   password: str | None = None, starttls: bool = False, timeout: float = 10.0):
    """A python-ldap connection that verifies the server against ``ca_file`` (hostname
    included), bound when ``who`` is given; ``starttls`` for ``ldap://`` URLs."""
    conn = ldap.initialize(url)
    conn.protocol_version = 3
    conn.set_option(ldap.OPT_REFERRALS, 0)
    conn.set_option(ldap.OPT_NETWORK_TIMEOUT, timeout)
    conn.set_option(ldap.OPT_TIMEOUT, timeout)
    conn.set_option(ldap.OPT_X_TLS_CACERTFILE, str(ca_file))
    conn.set_option(ldap.OPT_X_TLS_REQUIRE_CERT, ldap.OPT_X_TLS_DEMAND)
    conn.set_option(ldap.OPT_X_TLS_NEWCTX, 0)  # last: builds the TLS context from the above
    if starttls:
        conn.start_tls_s()
    if who is not None:
        conn.simple_bind_s(who, password)
    return conn


class ServerCertificates:
    """A trustme CA and the server certificate files of one server (``tls/`` in its folder)."""

    def __init__(self, folder: Path, identities: tuple[str, ...], common_name: str) -> None:
        self.identities, self.common_name = identities, common_name
        self.ca = trustme.CA(organization_name="usersync test CA")
        self.ca_pem = self.ca.cert_pem.bytes().decode()
        self.folder = folder / "tls"
        self.folder.mkdir(exist_ok=True)
        self.ca_file, self.cert_file, self.key_file = (
            self.folder / "ca.pem", self.folder / "cert.pem", self.folder / "key.pem")
        self.ca.cert_pem.write_to_path(self.ca_file)
        self.install(self.issue())

    def issue(self, *, not_after_days: float = 365,
              identities: tuple[str, ...] | None = None) -> trustme.LeafCert:
        now = datetime.now(UTC)
        return self.ca.issue_cert(*(identities or self.identities), common_name=self.common_name,
                                  not_before=now - timedelta(hours=1),
                                  not_after=now + timedelta(days=not_after_days))

    def install(self, leaf: trustme.LeafCert) -> None:
        """Make ``leaf`` the server's certificate (the server reads it when it starts)."""
        leaf.cert_chain_pems[0].write_to_path(self.cert_file)
        self.key_file.touch(mode=0o600)  # Samba refuses a private key that others can read
        leaf.private_key_pem.write_to_path(self.key_file)

    @contextlib.contextmanager
    def replaced(self, restart: Callable[[], object], **issue_args):
        """Serve another certificate in the block (``not_after_days``, ``identities``)."""
        saved = self.cert_file.read_bytes(), self.key_file.read_bytes()
        self.install(self.issue(**issue_args))
        restart()
        try:
            yield
        finally:
            self.cert_file.write_bytes(saved[0])
            self.key_file.write_bytes(saved[1])
            restart()


class LdapServer:
    """A directory server run by the tests in a folder of its own, with a certificate of the
    test CA. A subclass sets, in ``__init__``, the folder, ``tls`` and ``_server`` (``None``
    until it makes them), the names the admin and the reader bind with (``_admin_who``,
    ``_reader_who``) and their passwords, and provides ``start()`` and ``_default_url``."""

    folder: Path | None
    tls: ServerCertificates | None
    _server: ChildProcess | None
    admin_password: str
    reader_password: str
    _admin_who: str
    _reader_who: str
    #: What a connection raises while the server is still starting.
    _not_ready: tuple[type[Exception], ...] = (ldap.SERVER_DOWN, ldap.UNAVAILABLE, ldap.TIMEOUT,
                                               ldap.CONNECT_ERROR)

    @property
    def _default_url(self) -> str:
        raise NotImplementedError

    def start(self) -> Self:
        raise NotImplementedError

    # -- what tests use ---------------------------------------------------------------------

    @property
    def ca_pem(self) -> str:
        assert self.tls is not None
        return self.tls.ca_pem

    @property
    def ca_file(self) -> Path:
        assert self.tls is not None
        return self.tls.ca_file

    @property
    def running(self) -> bool:
        return self._server is not None and self._server.running

    def connect(self, url: str | None = None, *, who: str | None = None,
                password: str | None = None, starttls: bool = False,
                ca_file: str | Path | None = None, timeout: float = 10.0):
        """A python-ldap connection verifying the server against ``ca_file`` (our CA unless
        told), over LDAPS unless ``url`` says otherwise; bound when ``who`` is given;
        ``starttls`` for an ``ldap://`` URL."""
        return tls_connection(url or self._default_url, ca_file=ca_file or self.ca_file, who=who,
                              password=password, starttls=starttls, timeout=timeout)

    def admin(self):
        """A connection bound as the administrator over LDAPS."""
        return self.connect(who=self._admin_who, password=self.admin_password)

    def reader(self):
        """A connection bound as the read-only service account over LDAPS."""
        return self.connect(who=self._reader_who, password=self.reader_password)

    def use_certificate(self, *, not_after_days: float = 365,
                        identities: tuple[str, ...] | None = None):
        """Serve another certificate of our CA in the block, e.g. one that expires in 10 days
        or names another host (restarts twice, well under a second each)."""
        assert self.tls is not None
        return self.tls.replaced(self.restart, not_after_days=not_after_days,
                                 identities=identities)

    def frozen(self):
        """The server is suspended (SIGSTOP) in the block: connections hang (timeout tests)."""
        assert self._server is not None
        return self._server.frozen()

    # -- lifecycle ----------------------------------------------------------------------------

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    def stop(self) -> None:
        """Stop the server; its folder stays and ``start()`` brings it back. Idempotent."""
        if self._server is not None:
            self._server.stop()

    def restart(self) -> Self:
        self.stop()
        return self.start()

    def close(self) -> None:
        """Stop the server and delete its folder."""
        self.stop()
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None

    def _answers(self) -> bool:
        """Whether the server takes an admin bind yet (``ChildProcess.start``'s ``ready``)."""
        try:
            self.connect(who=self._admin_who, password=self.admin_password, timeout=2).unbind_s()
        except self._not_ready:
            return False
        return True
