"""Certificate inspection (the SSL status): our StartTLS request, the status rules, and inspect()
against small TLS servers on loopback (the LDAP servers themselves are in tests/integration)."""

import socket
import ssl
import threading
from datetime import UTC, datetime, timedelta

import pytest
import trustme
from pyasn1.codec.ber import decoder
from pyasn1.type import namedtype, tag, univ

from usersync.connectors import tls
from usersync.connectors.errors import ConfigurationError, ConnectionFailed
from usersync.connectors.tls import CertificateReport, inspect, names_host, ssl_status, start_tls

NOW = datetime.now(UTC)


def report(**overrides) -> CertificateReport:
    values = dict(subject="CN=dc1", issuer="CN=CA", sans=("dc1.acme.example",),
                  not_after=NOW + timedelta(days=400), days_left=400, trusted=True,
                  hostname_match=True, protocol="TLSv1.3", cipher="TLS_AES_256_GCM_SHA384",
                  error=None)
    values.update(overrides)
    return CertificateReport(**values)


@pytest.mark.parametrize(
    "certificate, insecure, expected",
    [
        (report(), False, "ok"),
        (report(days_left=31), False, "ok"),
        (report(days_left=30), False, "expiring"),
        (report(days_left=10), False, "expiring"),
        (report(days_left=0), False, "expiring"),
        (report(days_left=-1), False, "invalid"),
        (report(trusted=False), False, "invalid"),
        (report(hostname_match=False), False, "invalid"),
        (report(error="the TLS handshake failed"), False, "invalid"),
        (report(not_after=None, days_left=None), False, "invalid"),
        (None, True, "not encrypted"),
        (None, False, "unknown"),
    ],
)
def test_ssl_status(certificate, insecure, expected):
    assert ssl_status(certificate, insecure) == expected


@pytest.mark.parametrize(
    "sans, host, expected",
    [
        (("dc1.acme.example",), "dc1.acme.example", True),
        (("DC1.ACME.EXAMPLE",), "dc1.acme.example.", True),
        (("*.acme.example",), "dc1.acme.example", True),
        (("*.acme.example",), "acme.example", False),
        (("*.acme.example",), "a.dc1.acme.example", False),
        (("dc2.acme.example",), "dc1.acme.example", False),
        (("127.0.0.7",), "127.0.0.7", True),
        (("127.0.0.7",), "127.0.0.8", False),
        (("dc1.acme.example",), "127.0.0.7", False),
        (("::1",), "::1", True),
        ((), "dc1", False),
    ],
)
def test_names_host(sans, host, expected):
    assert names_host(sans, host) is expected


class ExtendedRequest(univ.Sequence):
    tagSet = univ.Sequence.tagSet.tagImplicitly(
        tag.Tag(tag.tagClassApplication, tag.tagFormatConstructed, 23))
    componentType = namedtype.NamedTypes(namedtype.NamedType(
        "requestName", univ.OctetString().subtype(
            implicitTag=tag.Tag(tag.tagClassContext, tag.tagFormatSimple, 0))))


class LDAPMessage(univ.Sequence):
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("messageID", univ.Integer()),
        namedtype.NamedType("protocolOp", ExtendedRequest()))


def test_the_starttls_request_is_an_rfc4511_extended_request():
    message, rest = decoder.decode(tls.STARTTLS_REQUEST, asn1Spec=LDAPMessage())
    assert rest == b""
    assert int(message["messageID"]) == 1
    assert bytes(message["protocolOp"]["requestName"]) == b"1.3.6.1.4.1.1466.20037"


def extended_response(code: int, message_id: int = 1, diagnostic: bytes = b"") -> bytes:
    body = bytes([0x0A, 1, code, 0x04, 0, 0x04, len(diagnostic)]) + diagnostic
    op = bytes([0x78, len(body)]) + body
    content = bytes([0x02, 1, message_id]) + op
    return bytes([0x30, len(content)]) + content


@pytest.mark.parametrize(
    "answer, error",
    [
        (extended_response(0), None),
        (extended_response(2, diagnostic=b"unsupported extended operation"),
         "result code 2: unsupported extended operation"),
        (extended_response(52, message_id=0, diagnostic=b"bye"), "refused StartTLS"),
        (b"\x15\x03\x01\x00\x02\x02\x46", "use ldaps://"),  # a TLS alert: the port speaks LDAPS
        (b"", "use ldaps://"),
    ],
)
def test_starttls_accepts_only_a_successful_extended_response(answer, error):
    client, server = socket.socketpair()
    with client, server:
        server.sendall(answer)
        server.shutdown(socket.SHUT_WR)
        if error is None:
            start_tls(client)
        else:
            with pytest.raises(tls._NoTLS) as caught:
                start_tls(client)
            assert error in str(caught.value)
        assert server.recv(100) == tls.STARTTLS_REQUEST


class TLSServer:
    """A TLS server on 127.0.0.1 that accepts handshakes (and, with ``starttls``, first answers
    one StartTLS request), then closes."""

    def __init__(self, cert: trustme.LeafCert, starttls: bool = False):
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        cert.configure_cert(self.context)
        self.starttls = starttls
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while True:
            try:
                raw, _ = self.listener.accept()
            except OSError:
                return
            with raw:
                try:
                    if self.starttls:
                        assert raw.recv(100) == tls.STARTTLS_REQUEST
                        raw.sendall(extended_response(0))
                    with self.context.wrap_socket(raw, server_side=True) as conn:
                        conn.recv(1)
                except (OSError, AssertionError):
                    pass

    def close(self):
        self.listener.close()


@pytest.fixture(scope="module")
def ca():
    return trustme.CA()


def serve(ca, *names, not_after=None, starttls=False):
    return TLSServer(ca.issue_cert(*names, not_after=not_after), starttls=starttls)


def test_a_trusted_certificate_naming_the_host(ca):
    server = serve(ca, "127.0.0.1")
    try:
        found = inspect(f"ldaps://127.0.0.1:{server.port}", ca.cert_pem.bytes().decode(), 5, NOW)
    finally:
        server.close()
    assert found.trusted and found.hostname_match and found.error is None
    assert found.sans == ("127.0.0.1",)
    assert found.protocol in ("TLSv1.2", "TLSv1.3") and found.cipher
    assert found.days_left > 30 and ssl_status(found, False) == "ok"
    assert "trustme" in found.issuer


def test_starttls_then_the_certificate(ca):
    server = serve(ca, "127.0.0.1", starttls=True)
    try:
        found = inspect(f"ldap://127.0.0.1:{server.port}", ca.cert_pem.bytes().decode(), 5, NOW)
    finally:
        server.close()
    assert found.trusted and ssl_status(found, False) == "ok"


def test_a_certificate_expiring_in_ten_days(ca):
    server = serve(ca, "127.0.0.1", not_after=NOW + timedelta(days=10, hours=1))
    try:
        found = inspect(f"ldaps://127.0.0.1:{server.port}", ca.cert_pem.bytes().decode(), 5, NOW)
    finally:
        server.close()
    assert found.days_left == 10 and found.trusted
    assert ssl_status(found, False) == "expiring"


def test_an_untrusted_certificate_is_read_but_marked_untrusted(ca):
    server = serve(ca, "127.0.0.1")
    other = trustme.CA()
    try:
        found = inspect(f"ldaps://127.0.0.1:{server.port}", other.cert_pem.bytes().decode(), 5,
                        NOW)
    finally:
        server.close()
    assert not found.trusted and found.hostname_match
    assert "certificate verify failed" in found.error
    assert found.subject and found.not_after is not None
    assert ssl_status(found, False) == "invalid"


def test_a_certificate_for_another_name(ca):
    server = serve(ca, "dc1.acme.example")
    try:
        found = inspect(f"ldaps://127.0.0.1:{server.port}", ca.cert_pem.bytes().decode(), 5, NOW)
    finally:
        server.close()
    assert found.trusted and not found.hostname_match
    assert found.sans == ("dc1.acme.example",)
    assert ssl_status(found, False) == "invalid"


def test_an_expired_certificate_is_invalid(ca):
    server = serve(ca, "127.0.0.1", not_after=NOW - timedelta(days=2))
    try:
        found = inspect(f"ldaps://127.0.0.1:{server.port}", ca.cert_pem.bytes().decode(), 5, NOW)
    finally:
        server.close()
    assert not found.trusted and found.days_left < 0
    assert "expired" in found.error and ssl_status(found, False) == "invalid"


def test_plain_ldap_allowed_as_insecure_has_no_certificate():
    assert inspect("ldap://127.0.0.1:9", None, 1, NOW, insecure=True) is None


def test_an_unreachable_server_is_a_connection_failure():
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()
    with pytest.raises(ConnectionFailed) as caught:
        inspect(f"ldaps://127.0.0.1:{port}", None, 2, NOW)
    assert caught.value.server == f"ldaps://127.0.0.1:{port}"


@pytest.mark.parametrize("url", ["http://dc1", "dc1.acme.example", "ldaps://", "ldap://dc1/DC=x",
                                 "ldaps://dc1:99999"])
def test_urls_that_are_not_directory_servers(url):
    with pytest.raises(ConfigurationError) as caught:
        tls.split_url(url)
    assert caught.value.code == "invalid_url"


@pytest.mark.parametrize(
    "url, expected",
    [
        ("ldaps://dc1.acme.example", ("ldaps", "dc1.acme.example", 636)),
        ("ldap://dc1.acme.example", ("ldap", "dc1.acme.example", 389)),
        ("LDAPS://127.0.0.7:3269/", ("ldaps", "127.0.0.7", 3269)),
        ("ldap://[::1]:1389", ("ldap", "::1", 1389)),
    ],
)
def test_split_url(url, expected):
    assert tls.split_url(url) == expected


@pytest.mark.parametrize("scheme", ["ldap", "ldaps"])
def test_a_server_that_accepts_but_never_answers_is_unreachable(scheme):
    listener = socket.create_server(("127.0.0.1", 0))  # the kernel accepts; nobody answers
    try:
        url = f"{scheme}://127.0.0.1:{listener.getsockname()[1]}"
        started = datetime.now(UTC)
        with pytest.raises(ConnectionFailed) as caught:
            inspect(url, None, 0.5, NOW)
        assert (datetime.now(UTC) - started).total_seconds() < 5
    finally:
        listener.close()
    assert caught.value.code == "unreachable" and "did not answer within 0.5 s" in str(caught.value)


def test_a_server_that_hangs_up_during_the_handshake_is_reported(ca):
    listener = socket.create_server(("127.0.0.1", 0))

    def hang_up():
        conn, _ = listener.accept()
        conn.recv(10)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        conn.close()  # a reset, not a TLS alert

    thread = threading.Thread(target=hang_up, daemon=True)
    thread.start()
    try:
        found = inspect(f"ldaps://127.0.0.1:{listener.getsockname()[1]}",
                        ca.cert_pem.bytes().decode(), 5, NOW)
    finally:
        listener.close()
    assert found.not_after is None and not found.trusted and found.error
    assert ssl_status(found, False) == "invalid"
