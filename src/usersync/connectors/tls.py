"""What a directory server's TLS looks like: the certificate report behind the "SSL status".

libldap verifies the certificate of every connection the connector makes, but tells nothing about
it, and on failure only "Can't contact LDAP server". This module connects once more with Python's
``ssl`` to see the certificate: subject, issuer, names, expiry, whether the chain is trusted (the
source's CA bundle, or the system store) and whether it names the host. For ``ldap://`` it speaks
StartTLS itself (one fixed LDAP extended request) before the handshake.

When verification fails, a last handshake without verification *reads* the certificate so the
report can show what is wrong with it; that connection is closed at once and never carries anything.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.x509.oid import ExtensionOID

from .errors import ConfigurationError, ConnectionFailed

#: A certificate that expires within this many days is "expiring".
EXPIRING_DAYS = 30
DEFAULT_PORTS = {"ldap": 389, "ldaps": 636}
STARTTLS_OID = b"1.3.6.1.4.1.1466.20037"
#: LDAPMessage { messageID 1, ExtendedRequest { requestName [0] 1.3.6.1.4.1.1466.20037 } }
STARTTLS_REQUEST = (
    bytes([0x30, 7 + len(STARTTLS_OID), 0x02, 0x01, 0x01, 0x77, 2 + len(STARTTLS_OID),
           0x80, len(STARTTLS_OID)]) + STARTTLS_OID
)
_MAX_RESPONSE = 64 * 1024
_HOSTNAME_MISMATCH = 62  # X509_V_ERR_HOSTNAME_MISMATCH
_IP_MISMATCH = 64  # X509_V_ERR_IP_ADDRESS_MISMATCH


@dataclass(frozen=True, slots=True)
class CertificateReport:
    """The server's certificate and the TLS session that presented it.

    ``not_after`` and ``days_left`` are ``None`` (and ``subject`` empty) when no certificate could
    be seen at all (StartTLS refused, no common protocol): ``error`` then says why.
    """

    subject: str
    issuer: str
    sans: tuple[str, ...]
    not_after: datetime | None
    days_left: int | None
    trusted: bool
    hostname_match: bool
    protocol: str | None
    cipher: str | None
    error: str | None = None

    def to_data(self) -> dict:
        return {
            "subject": self.subject,
            "issuer": self.issuer,
            "sans": list(self.sans),
            "not_after": self.not_after.isoformat() if self.not_after else None,
            "days_left": self.days_left,
            "trusted": self.trusted,
            "hostname_match": self.hostname_match,
            "error": self.error,
        }


def ssl_status(report: CertificateReport | None, insecure: bool) -> str:
    """``ok``, ``expiring`` (30 days or less left), ``invalid`` or ``not encrypted``.

    ``unknown`` when nothing could be inspected although the connection would be encrypted (the
    server was unreachable).
    """
    if report is None:
        return "not encrypted" if insecure else "unknown"
    if (report.error or not report.trusted or not report.hostname_match
            or report.days_left is None or report.days_left < 0):
        return "invalid"
    return "expiring" if report.days_left <= EXPIRING_DAYS else "ok"


def split_url(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an ``ldap://`` or ``ldaps://`` URL."""
    try:
        parts = urlsplit(url.strip())
        scheme, host, port = parts.scheme.lower(), parts.hostname, parts.port
    except ValueError:
        scheme, host, port = "", None, None
    if scheme not in DEFAULT_PORTS or not host or parts.path not in ("", "/") or parts.query:
        raise ConfigurationError(
            f"{url!r} is not a directory server URL",
            hint="write ldaps://dc1.example.com (port 636) or ldap://dc1.example.com (port 389, "
            "StartTLS), optionally with :port", code="invalid_url")
    return scheme, host, port or DEFAULT_PORTS[scheme]


def inspect(url: str, ca_pem: str | None, timeout: float, now: datetime,
            insecure: bool = False) -> CertificateReport | None:
    """The certificate report of the server at ``url``; ``None`` for plain ``ldap://`` when
    ``insecure`` (no TLS at all). Raises ``ConnectionFailed`` if the server cannot be reached."""
    scheme, host, port = split_url(url)
    if scheme == "ldap" and insecure:
        return None
    strict = _context(ca_pem, verify=True, check_hostname=True)
    try:
        with _handshake(url, scheme, host, port, strict, timeout) as tls:
            return _report(tls, host, now, trusted=True, hostname_match=True)
    except ssl.SSLCertVerificationError as error:
        failure = error.verify_message or str(error)
        code = error.verify_code
    except _NoTLS as error:
        return _failed(f"{error}")
    except ssl.SSLError as error:
        return _failed(f"the TLS handshake failed: {error.reason or error}")
    if code in (_HOSTNAME_MISMATCH, _IP_MISMATCH):
        chain_only = _context(ca_pem, verify=True, check_hostname=False)
        try:
            with _handshake(url, scheme, host, port, chain_only, timeout) as tls:
                return _report(tls, host, now, trusted=True, hostname_match=False,
                               error=f"the certificate does not name {host}")
        except ssl.SSLCertVerificationError as error:
            failure = error.verify_message or str(error)
        except (ssl.SSLError, _NoTLS) as error:
            return _failed(f"the TLS handshake failed: {error}")
    # Only to read the certificate for the report: nothing is sent over this connection.
    blind = _context(None, verify=False, check_hostname=False)
    try:
        with _handshake(url, scheme, host, port, blind, timeout) as tls:
            return _report(tls, host, now, trusted=False, hostname_match=None,
                           error=f"certificate verify failed: {failure}")
    except (ssl.SSLError, _NoTLS) as error:
        return _failed(f"certificate verify failed: {failure} ({error})")


class _NoTLS(Exception):
    """The server did not let a TLS session start (StartTLS refused, or not LDAP at all)."""


def _failed(error: str) -> CertificateReport:
    return CertificateReport("", "", (), None, None, False, False, None, None, error)


def _context(ca_pem: str | None, verify: bool, check_hostname: bool) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = check_hostname
    context.verify_mode = ssl.CERT_REQUIRED if verify else ssl.CERT_NONE
    if verify:
        if ca_pem:
            try:
                context.load_verify_locations(cadata=ca_pem)
            except (ssl.SSLError, ValueError):
                raise ConfigurationError(
                    "the CA bundle of the source holds no PEM certificate",
                    hint="paste the CA certificate(s) in PEM form (-----BEGIN CERTIFICATE-----)",
                    code="invalid_ca_bundle") from None
        else:
            context.load_default_certs()
    return context


class _handshake:
    """A TLS session to the server (after StartTLS for ``ldap://``), closed on exit."""

    def __init__(self, url, scheme, host, port, context, timeout):
        self.args = (url, scheme, host, port, context, timeout)
        self.tls: ssl.SSLSocket | None = None

    def __enter__(self) -> ssl.SSLSocket:
        url, scheme, host, port, context, timeout = self.args
        try:
            raw = socket.create_connection((host, port), timeout=timeout)
        except OSError as error:
            raise ConnectionFailed(f"{url} cannot be reached: {error.strerror or error}",
                                   hint="check the host name, the port and the firewall",
                                   code="unreachable", server=url) from None
        try:
            if scheme == "ldap":
                start_tls(raw)
            self.tls = context.wrap_socket(raw, server_hostname=host)
        except TimeoutError:
            raw.close()
            # Connected, then silence: a hung server is as good as a server that is down.
            raise ConnectionFailed(f"{url} accepted the connection but did not answer within "
                                   f"{timeout:g} s", hint="the server is hung or overloaded",
                                   code="unreachable", server=url) from None
        except ssl.SSLError:
            raw.close()
            raise
        except OSError as error:
            raw.close()
            raise _NoTLS(f"the connection closed during the TLS handshake ({error})") from None
        except BaseException:
            raw.close()
            raise
        return self.tls

    def __exit__(self, *exc) -> None:
        if self.tls is not None:
            self.tls.close()


def start_tls(sock: socket.socket) -> None:
    """Ask for StartTLS on a fresh LDAP connection; ``_NoTLS`` unless the server says success."""
    try:
        sock.sendall(STARTTLS_REQUEST)
        tag, body = _read_tlv_from(sock)
    except TimeoutError:
        raise
    except (OSError, ValueError) as error:
        raise _NoTLS(f"the server did not answer StartTLS as an LDAP server ({error}); if this "
                     "port speaks LDAPS, use ldaps://") from None
    if tag != 0x30:
        raise _NoTLS("the server did not answer StartTLS as an LDAP server; if this port speaks "
                     "LDAPS, use ldaps://")
    try:
        message_tag, message_id, rest = _tlv(body, 0)
        op_tag, op, _ = _tlv(body, rest)
        code_tag, code, after_code = _tlv(op, 0)
        diagnostic = b""
        if after_code < len(op):
            _, _, after_matched = _tlv(op, after_code)
            _, diagnostic, _ = _tlv(op, after_matched)
    except ValueError as error:
        raise _NoTLS(f"the StartTLS answer is not valid LDAP ({error})") from None
    said = diagnostic.decode("utf-8", "replace").strip()
    if message_tag != 0x02 or op_tag != 0x78 or code_tag != 0x0A:
        raise _NoTLS("the server refused StartTLS" + (f": {said}" if said else ""))
    result = int.from_bytes(code, "big")
    if int.from_bytes(message_id, "big") != 1 or result != 0:
        raise _NoTLS(f"the server refused StartTLS (result code {result}"
                     + (f": {said})" if said else ")"))


def _recv_exact(sock: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise ValueError("the connection was closed")
        data += chunk
    return data


def _read_tlv_from(sock: socket.socket) -> tuple[int, bytes]:
    tag, first = _recv_exact(sock, 2)
    length = first
    if first & 0x80:
        size = first & 0x7F
        if not 0 < size <= 4:
            raise ValueError("bad BER length")
        length = int.from_bytes(_recv_exact(sock, size), "big")
    if length > _MAX_RESPONSE:
        raise ValueError("answer too long")
    return tag, _recv_exact(sock, length)


def _tlv(data: bytes, pos: int) -> tuple[int, bytes, int]:
    """(tag, value, next position) of the BER element at ``pos``."""
    if pos + 2 > len(data):
        raise ValueError("truncated")
    tag, length, pos = data[pos], data[pos + 1], pos + 2
    if length & 0x80:
        size = length & 0x7F
        if not 0 < size <= 4 or pos + size > len(data):
            raise ValueError("bad BER length")
        length, pos = int.from_bytes(data[pos:pos + size], "big"), pos + size
    if pos + length > len(data):
        raise ValueError("truncated")
    return tag, data[pos:pos + length], pos + length


def _report(tls: ssl.SSLSocket, host: str, now: datetime, trusted: bool,
            hostname_match: bool | None, error: str | None = None) -> CertificateReport:
    der = tls.getpeercert(binary_form=True)
    protocol = tls.version()
    cipher = (tls.cipher() or (None,))[0]
    if not der:
        return CertificateReport("", "", (), None, None, False, False, protocol, cipher,
                                 error or "the server sent no certificate")
    cert = x509.load_der_x509_certificate(der)
    sans = _sans(cert)
    if hostname_match is None:
        hostname_match = names_host(sans, host)
    not_after = cert.not_valid_after_utc
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    return CertificateReport(
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        sans=sans,
        not_after=not_after,
        days_left=(not_after - now).days,
        trusted=trusted,
        hostname_match=hostname_match,
        protocol=protocol,
        cipher=cipher,
        error=error,
    )


def _sans(cert: x509.Certificate) -> tuple[str, ...]:
    try:
        extension = cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
    except x509.ExtensionNotFound:
        return ()
    names = extension.value
    return tuple(names.get_values_for_type(x509.DNSName)) + tuple(
        str(address) for address in names.get_values_for_type(x509.IPAddress))


def names_host(sans: tuple[str, ...], host: str) -> bool:
    """Whether a certificate's subject alternative names cover ``host`` (RFC 6125: one leftmost
    ``*`` label for DNS names, exact match for IP addresses)."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    for name in sans:
        if address is not None:
            try:
                if ipaddress.ip_address(name) == address:
                    return True
            except ValueError:
                continue
            continue
        wanted, pattern = host.lower().rstrip("."), name.lower().rstrip(".")
        if pattern == wanted:
            return True
        if pattern.startswith("*.") and "." in wanted:
            if wanted.split(".", 1)[1] == pattern[2:]:
                return True
    return False
