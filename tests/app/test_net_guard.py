"""The SSRF guard (usersync.app.net_guard): which addresses a URL from an organization may reach,
and a connection pinned to the address that was checked, TLS verified against the host name
(a real TLS server on loopback with a trustme certificate)."""

from __future__ import annotations

import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import trustme

from usersync.app import net_guard
from usersync.app.net_guard import Destination, DestinationRefused, PinnedConnection

REFUSED_BY_DEFAULT = {
    "127.0.0.1": "a loopback address",
    "127.8.9.10": "a loopback address",
    "::1": "a loopback address",
    "10.0.0.5": "a private address",
    "172.16.4.1": "a private address",
    "192.168.1.20": "a private address",
    "fd00::7": "a private address",
    "::ffff:10.0.0.5": "a private address",  # IPv4-mapped
    "2002:a00:5::1": "a private address",  # 6to4 of 10.0.0.5
    "100.64.0.1": "not a public address",  # carrier-grade NAT
    "192.0.2.1": "not a public address",  # documentation
    "240.0.0.1": "not a public address",  # reserved
}
ALWAYS_REFUSED = {
    "169.254.169.254": "a link-local address",  # cloud metadata
    "fe80::1%lo": "a link-local address",
    "224.0.0.1": "a multicast address",
    "ff02::1": "a multicast address",
    "0.0.0.0": "an unspecified address",
    "::": "an unspecified address",
}
PUBLIC = ("93.184.215.14", "8.8.8.8", "2606:4700:4700::1111", "2a00:1450:4001:80b::200e")


@pytest.fixture(autouse=True)
def private_refused(settings):
    settings.USERSYNC_ALLOW_PRIVATE_DESTINATIONS = False


@pytest.mark.parametrize("address", sorted({**REFUSED_BY_DEFAULT, **ALWAYS_REFUSED}))
def test_non_public_addresses_are_refused_by_default(address):
    expected = {**REFUSED_BY_DEFAULT, **ALWAYS_REFUSED}[address]
    assert net_guard.refusal(address) == net_guard.non_public(address) == expected


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_allowed(address):
    assert net_guard.refusal(address) is net_guard.non_public(address) is None


def test_the_setting_allows_private_addresses_but_never_link_local_multicast_or_unspecified(
        settings):
    settings.USERSYNC_ALLOW_PRIVATE_DESTINATIONS = True
    assert [a for a in REFUSED_BY_DEFAULT if net_guard.refusal(a)] == []
    assert {a: net_guard.refusal(a) for a in ALWAYS_REFUSED} == ALWAYS_REFUSED


@pytest.mark.parametrize("url, message", [
    ("http://127.0.0.1:8000/photo.png", "127.0.0.1 is a loopback address"),
    ("http://10.0.0.5/photo.png", "10.0.0.5 is a private address"),
    ("https://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address"),
    ("http://[::1]:8080/", "::1 is a loopback address"),
    ("http://0x7f000001/", "0x7f000001 (127.0.0.1) is a loopback address"),
    ("ftp://images.example/photo.png",
     "'ftp://images.example/photo.png' is not an http:// or https:// URL"),
    ("file:///etc/passwd", "'file:///etc/passwd' is not an http:// or https:// URL"),
    ("http:///photo.png",
     "'http:///photo.png' names no host; enter a URL like https://example.com/"),
    ("http://images.example:99999/",
     "'http://images.example:99999/' is not a valid URL (check its port)"),
    ("https://user:secret@images.example/",
     "the URL contains a user name or password; remove them"),
])
def test_check_destination_refuses_with_the_reason(url, message):
    with pytest.raises(DestinationRefused) as refused:
        net_guard.check_destination(url)
    assert str(refused.value) == message
    assert "USERSYNC_ALLOW_PRIVATE_DESTINATIONS" in refused.value.hint


def test_a_name_that_resolves_to_loopback_is_refused_naming_both():
    with pytest.raises(DestinationRefused, match=r"^localhost \((127\.0\.0\.1|::1)\) is a "
                                                 r"loopback address$"):
        net_guard.check_destination("http://localhost:8000/photo.png")


def test_a_name_with_any_private_address_is_refused_whole(monkeypatch):
    answers = [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, 80))
               for a in ("93.184.215.14", "10.1.2.3")]
    monkeypatch.setattr(socket, "getaddrinfo", lambda *args, **kwargs: answers)
    with pytest.raises(DestinationRefused) as refused:
        net_guard.check_destination("http://mixed.example/photo.png")
    assert str(refused.value) == "mixed.example (10.1.2.3) is a private address"


def test_a_checked_destination_keeps_the_host_port_target_and_addresses(settings):
    settings.USERSYNC_ALLOW_PRIVATE_DESTINATIONS = True
    destination = net_guard.check_destination("http://127.0.0.1:8123/a/b.png?size=64")
    assert destination == Destination(url="http://127.0.0.1:8123/a/b.png?size=64", scheme="http",
                                      host="127.0.0.1", port=8123, target="/a/b.png?size=64",
                                      addresses=("127.0.0.1",))


def test_the_target_is_escaped_and_the_host_in_ascii_as_a_browser_sends_them():
    assert net_guard.parse("https://Bücher.example/photos/Jane Doe.jpg?size=64&name=Zoë#top") == (
        "https", "xn--bcher-kva.example", 443, "/photos/Jane%20Doe.jpg?size=64&name=Zo%C3%AB")
    assert net_guard.parse("http://images.example:8080")[2:] == (8080, "/")
    assert net_guard.parse("http://images.example/a%20b.png")[3] == "/a%20b.png"  # kept once


def test_a_name_that_does_not_resolve_is_a_connection_error():
    with pytest.raises(net_guard.DestinationUnresolved,
                       match=r"^the host name no-such-host\.invalid does not resolve"):
        net_guard.check_destination("https://no-such-host.invalid/photo.png")


# -- the pinned connection, against a real TLS server -------------------------------------------

class _Hello(BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"host={self.headers['Host']}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def tls_server():
    """An HTTPS server on 127.0.0.1 whose certificate names only images.test."""
    ca = trustme.CA()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("images.test").configure_cert(context)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    client = net_guard.tls_context()
    ca.configure_trust(client)
    yield server.server_address[1], client
    server.shutdown()
    server.server_close()


def _destination(host: str, port: int) -> Destination:
    """``host`` at 127.0.0.1: names that do not resolve, so only the pinned address can work."""
    return Destination(url=f"https://{host}:{port}/", scheme="https", host=host, port=port,
                       target="/", addresses=("127.0.0.1",))


def test_the_connection_goes_to_the_checked_address_with_the_host_name_for_tls(tls_server):
    port, client_context = tls_server
    connection = PinnedConnection(_destination("images.test", port), timeout=5,
                                  context=client_context)
    try:
        connection.request("GET", "/")
        response = connection.getresponse()
        assert (response.status, response.read()) == (200, f"host=images.test:{port}".encode())
    finally:
        connection.close()


def test_a_certificate_for_another_name_is_refused(tls_server):
    port, client_context = tls_server
    connection = PinnedConnection(_destination("other.test", port), timeout=5,
                                  context=client_context)
    with pytest.raises(ssl.SSLCertVerificationError, match="other.test"):
        connection.request("GET", "/")
    connection.close()


def test_tls_is_verified_by_default(tls_server):
    port, _ = tls_server
    connection = PinnedConnection(_destination("images.test", port), timeout=5)
    with pytest.raises(ssl.SSLCertVerificationError):  # the test CA is not trusted by default
        connection.request("GET", "/")
    connection.close()
