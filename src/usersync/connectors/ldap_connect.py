"""Opening a directory connection: verified TLS with no way back to cleartext, failover, bind.

Each connection gets its own TLS context (python-ldap's global options are never touched): the
certificate is required and checked against the source's CA bundle or the system store, libldap
checks that it names the host, and TLS 1.2 is the minimum. ``ldap://`` URLs start TLS before the
bind; a StartTLS or certificate failure is a configuration error and the bind is never sent.

libldap reports every TLS failure as "Can't contact LDAP server", like a server that is down. To
tell the admin which it is, a failed TLS connection is examined once more with ``tls.inspect``:
a server that cannot be reached is failed over; one whose certificate is not trusted is an error.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Protocol

import ldap

from . import tls
from .errors import ConfigurationError, ConnectionFailed
from .ldap_errors import CA_BUNDLE_HINT, bind_error, diagnostic
from .ldap_search import Session

UNREACHABLE_HINT = (
    "check that the server is running, the host names and ports (636 for ldaps://, 389 for "
    "ldap://), and that the firewall lets usersync through"
)


class ConnectionSettings(Protocol):
    urls: tuple[str, ...]
    bind_dn: str
    password: str
    ca_pem: str | None
    insecure: bool
    connect_timeout: float
    timeout: float


class _Unreachable(Exception):
    """This server cannot be used now: try the next one."""


def open_session(settings: ConnectionSettings, now: datetime) -> Session:
    """A session bound on the first of ``settings.urls`` that can be reached.

    Raises ``ConnectionFailed`` (code ``unreachable``) when none can, naming each; a TLS or bind
    failure is a ``ConfigurationError`` right away (the other servers hold the same directory and
    the same accounts, and failing over would hide the problem).
    """
    failures = []
    for url in settings.urls:
        try:
            return _open(url, settings, now)
        except _Unreachable as down:
            failures.append(f"{url} ({down})")
    raise ConnectionFailed("no directory server could be reached: " + "; ".join(failures),
                           hint=UNREACHABLE_HINT, code="unreachable")


@contextmanager
def ca_file(ca_pem: str | None) -> Iterator[str | None]:
    """The CA bundle as a file for libldap, deleted once the TLS context has read it."""
    if not ca_pem:
        yield None
        return
    handle, path = tempfile.mkstemp(prefix="usersync-ca-", suffix=".pem")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(ca_pem)
        yield path
    finally:
        os.unlink(path)


def configure(connection: ldap.ldapobject.LDAPObject, cafile: str | None,
              settings: ConnectionSettings) -> None:
    """Options of one connection; ``OPT_X_TLS_NEWCTX`` last, so the context uses all of them."""
    connection.set_option(ldap.OPT_PROTOCOL_VERSION, ldap.VERSION3)
    connection.set_option(ldap.OPT_REFERRALS, 0)
    connection.set_option(ldap.OPT_NETWORK_TIMEOUT, float(settings.connect_timeout))
    connection.set_option(ldap.OPT_TIMEOUT, float(settings.timeout))
    connection.set_option(ldap.OPT_X_TLS_REQUIRE_CERT, ldap.OPT_X_TLS_DEMAND)
    if cafile:
        connection.set_option(ldap.OPT_X_TLS_CACERTFILE, cafile)
    connection.set_option(ldap.OPT_X_TLS_PROTOCOL_MIN, ldap.OPT_X_TLS_PROTOCOL_TLS1_2)
    connection.set_option(ldap.OPT_X_TLS_NEWCTX, 0)


def _open(url: str, settings: ConnectionSettings, now: datetime) -> Session:
    scheme, _host, _port = tls.split_url(url)
    starttls = scheme == "ldap" and not settings.insecure
    encrypted = scheme == "ldaps" or starttls
    if scheme == "ldaps":
        _preflight(url, settings, now)
    connection = ldap.initialize(url.strip())
    with ca_file(settings.ca_pem) as cafile:
        configure(connection, cafile, settings)
    if starttls:
        try:
            connection.start_tls_s()
        except (ldap.SERVER_DOWN, ldap.CONNECT_ERROR, ldap.TIMEOUT) as error:
            _drop(connection)
            _examine(url, settings, now, error)
        except ldap.LDAPError as error:
            _drop(connection)
            raise ConfigurationError(
                f"{url} refused StartTLS: {diagnostic(error) or type(error).__name__}",
                hint="enable StartTLS on the server or use ldaps://; usersync never sends the "
                "bind password over an unencrypted connection", code="tls_failed",
                server=url) from None
    try:
        connection.simple_bind_s(settings.bind_dn, settings.password)
    except (ldap.SERVER_DOWN, ldap.CONNECT_ERROR, ldap.TIMEOUT) as error:
        _drop(connection)
        if scheme == "ldaps":
            _examine(url, settings, now, error)
        raise _Unreachable(_reason(error, settings)) from None
    except (ldap.BUSY, ldap.UNAVAILABLE) as error:
        _drop(connection)
        raise _Unreachable(f"busy or unavailable: {diagnostic(error)}") from None
    except ldap.LDAPError as error:
        _drop(connection)
        raise bind_error(error, url, settings.bind_dn) from None
    description = None
    if encrypted:
        version = connection.get_option(ldap.OPT_X_TLS_VERSION)
        cipher = connection.get_option(ldap.OPT_X_TLS_CIPHER)
        description = " ".join(str(part) for part in (version, cipher) if part) or "TLS"
    return Session(connection, url, description, settings.timeout)


def _drop(connection: ldap.ldapobject.LDAPObject) -> None:
    try:
        connection.unbind_ext_s()
    except ldap.LDAPError:
        pass


def _reason(error: ldap.LDAPError, settings: ConnectionSettings) -> str:
    if isinstance(error, ldap.TIMEOUT):
        return f"no answer within {settings.timeout:g} s"
    info = diagnostic(error)
    details = error.args[0] if error.args and isinstance(error.args[0], dict) else {}
    text = details.get("desc") or "cannot be reached"
    if info and info != "(unknown error code)":
        text += f": {info}"
    return text


def _preflight(url: str, settings: ConnectionSettings, now: datetime) -> None:
    """Check an ``ldaps://`` server's TLS with a handshake bounded by the connect timeout.

    libldap does not time out the TLS handshake of an ``ldaps://`` connection (StartTLS it does):
    a server that accepts connections but hangs would hang the read for good. A server that cannot
    complete a handshake in time here is treated as down (the next URL is tried); one whose
    certificate is refused never reaches libldap. (A server that hangs in the milliseconds between
    this handshake and libldap's remains possible.)
    """
    try:
        report = tls.inspect(url, settings.ca_pem, settings.connect_timeout, now)
    except ConnectionFailed as error:
        raise _Unreachable(error.message) from None
    if report is None or report.error or not report.trusted or not report.hostname_match:
        raise tls_error(url, report)


def _examine(url: str, settings: ConnectionSettings, now: datetime,
             error: ldap.LDAPError) -> None:
    """Why a TLS connection failed: ``_Unreachable`` if the server cannot be reached, else a
    ``ConfigurationError`` that says what is wrong with its TLS. Always raises."""
    try:
        report = tls.inspect(url, settings.ca_pem, settings.connect_timeout, now)
    except ConnectionFailed:
        raise _Unreachable(_reason(error, settings)) from None
    raise tls_error(url, report, diagnostic(error)) from None


def tls_error(url: str, report: tls.CertificateReport | None,
              libldap: str = "") -> ConfigurationError:
    """The configuration error of a server whose TLS could not be established."""
    if report is None or report.not_after is None:
        problem = report.error if report and report.error else libldap or "unknown error"
        return ConfigurationError(
            f"TLS with {url} could not be established: {problem}",
            hint="use ldaps:// for an LDAPS port (636) and ldap:// for a port that offers "
            "StartTLS (389); the server must offer TLS 1.2 or newer", code="tls_failed",
            server=url)
    if not report.trusted:
        expired = report.days_left is not None and report.days_left < 0
        hint = ("renew the server's certificate" if expired else CA_BUNDLE_HINT)
        return ConfigurationError(
            f"the certificate of {url} is not trusted: {report.error} (subject {report.subject}, "
            f"issued by {report.issuer})", hint=hint, code="tls_untrusted", server=url)
    if not report.hostname_match:
        names = ", ".join(report.sans) or report.subject
        return ConfigurationError(
            f"the certificate of {url} does not name the host (it names {names})",
            hint="connect with a host name the certificate names, or have the certificate "
            "reissued with this name in its subject alternative names", code="tls_untrusted",
            server=url)
    return ConfigurationError(
        f"TLS with {url} failed although its certificate verifies"
        + (f" ({libldap})" if libldap else ""),
        hint="check the server's TLS settings (TLS 1.2 or newer, a complete certificate chain)",
        code="tls_failed", server=url)
