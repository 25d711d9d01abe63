"""Where a worker may connect for an organization: public addresses only, unless the operator
allows private ones. Shared by contact images and webhooks: one guard, one setting.

A webhook URL or a contact's image URL comes from an organization (its admin, its directory), and
a worker inside the operator's network connects to it. Left unchecked, such a URL reaches what
only the operator should reach (server-side request forgery): a cloud metadata endpoint on
169.254.169.254, an admin page on 127.0.0.1, a database on 10.0.0.5. So ``check_destination``
resolves the host once and checks every address it resolves to (a name with one inward address
is refused whole), and ``PinnedConnection`` connects to an address that was checked, never
resolving again: a name that resolves to something else a moment later (DNS rebinding) gains
nothing. TLS is verified against the host's name (TLS 1.2 at least); redirects are the caller's
business (each new URL is checked again).

Refused: loopback, private (RFC 1918, unique-local IPv6) and every other non-public address
(shared 100.64/10, documentation, reserved), also when mapped into IPv6 (``::ffff:10.0.0.5``,
6to4 ``2002:a00:5::``). A deployment whose image servers or webhook receivers live on its own
network allows those with ``USERSYNC_ALLOW_PRIVATE_DESTINATIONS=1``. Link-local (where the cloud
metadata services answer), multicast and unspecified addresses are refused even then.

A refusal is a ``DestinationRefused`` (it will not go away by itself; ``hint`` says what to do);
a name that does not resolve is a ``DestinationUnresolved``, a ``ConnectionError`` like any
network failure (try again later).
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from django.conf import settings

DEFAULT_PORTS = {"http": 80, "https": 443}
ALLOW_SETTING = "USERSYNC_ALLOW_PRIVATE_DESTINATIONS"
_PRIVATE_NETWORKS = tuple(ipaddress.ip_network(n) for n in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"))
#: What stays as it is in a request target: reserved characters and escapes ("%20").
_URL_CHARACTERS = "!#$%&'()*+,/:;=?@[]~"
#: Refused even when private destinations are allowed: nothing a URL should reach.
_NEVER_ALLOWED = ("a link-local address", "a multicast address", "an unspecified address")


class DestinationRefused(ValueError):
    """The URL is not one a worker may connect to. The message says why ("10.0.0.5 is a private
    address"), ``hint`` what to do."""

    hint = ("use a URL on a public server, or have the operator set "
            f"{ALLOW_SETTING}=1 if the server is on their own network")


class DestinationUnresolved(ConnectionError):
    """The URL's host name does not resolve (now): a network failure, worth trying again."""


@dataclass(frozen=True)
class Destination:
    """A checked URL: where to connect (``addresses``, every one allowed) and what to ask."""

    url: str
    scheme: str
    host: str  # as in the URL: the Host header, the TLS server name and certificate check
    port: int
    target: str  # the path and query, for the request line
    addresses: tuple[str, ...]


def check_destination(url: str) -> Destination:
    """``url`` resolved and checked; ``DestinationRefused`` unless every address its host
    resolves to is allowed (``refusal``). Call it just before connecting."""
    scheme, host, port, target = parse(url)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise DestinationUnresolved(f"the host name {host} does not resolve "
                                    f"({getattr(error, 'strerror', None) or error})") from None
    addresses = tuple(dict.fromkeys(str(info[4][0]) for info in infos))
    for address in addresses:
        problem = refusal(address)
        if problem:
            shown = host if host == address else f"{host} ({address})"
            raise DestinationRefused(f"{shown} is {problem}")
    return Destination(url, scheme, host, port, target, addresses)


def parse(url: str) -> tuple[str, str, int, str]:
    """The scheme, host, port and request target of an http(s) URL; ``DestinationRefused`` for
    anything else (no credentials in URLs: they would end up in logs). The host is in ASCII
    (IDNA) and the target escaped as a browser would (``/photos/Jane Doe.jpg`` asks for
    ``/photos/Jane%20Doe.jpg``), ready for the request line and the Host header."""
    try:
        parts = urlsplit(url)
        port = parts.port or DEFAULT_PORTS.get(parts.scheme, 0)
    except ValueError:
        raise DestinationRefused(f"{url!r} is not a valid URL (check its port)") from None
    if parts.scheme not in DEFAULT_PORTS:
        raise DestinationRefused(f"{url!r} is not an http:// or https:// URL")
    if not parts.hostname:
        raise DestinationRefused(f"{url!r} names no host; enter a URL like https://example.com/")
    if parts.username or parts.password:
        raise DestinationRefused("the URL contains a user name or password; remove them")
    try:
        host = parts.hostname.encode("idna").decode("ascii")
    except UnicodeError:
        raise DestinationRefused(f"{parts.hostname!r} is not a valid host name") from None
    target = quote((parts.path or "/") + (f"?{parts.query}" if parts.query else ""),
                   safe=_URL_CHARACTERS)
    return parts.scheme, host, port, target


def refusal(address: str) -> str | None:
    """Why a worker may not connect to ``address`` now ("a private address"), or None: what
    ``non_public`` says, less what the operator allows (USERSYNC_ALLOW_PRIVATE_DESTINATIONS)."""
    problem = non_public(address)
    if problem in _NEVER_ALLOWED or not settings.USERSYNC_ALLOW_PRIVATE_DESTINATIONS:
        return problem
    return None


def non_public(address: str) -> str | None:
    """What kind of non-public address ``address`` is ("a loopback address"), or None."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # an IPv6 zone (fe80::1%eth0) aside
    if isinstance(ip, ipaddress.IPv6Address):  # ::ffff:10.0.0.5 and 2002:a00:5:: reach 10.0.0.5
        ip = ip.ipv4_mapped or ip.sixtofour or ip
    for kind, flag in (("a loopback address", ip.is_loopback),
                       ("a link-local address", ip.is_link_local),
                       ("a multicast address", ip.is_multicast),
                       ("an unspecified address", ip.is_unspecified),
                       ("a private address", any(ip in n for n in _PRIVATE_NETWORKS))):
        if flag:
            return kind
    return None if ip.is_global and not ip.is_reserved else "not a public address"


def tls_context() -> ssl.SSLContext:
    """Certificates verified against the system's trust store (or ``SSL_CERT_FILE``), host
    names checked, TLS 1.2 at least."""
    context = ssl.create_default_context()
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


class PinnedConnection(http.client.HTTPSConnection):
    """An HTTP(S) connection to a checked ``Destination``: it connects to the checked addresses
    (the first that answers), never to a new resolution of the name, and speaks TLS with the
    host's name (SNI, certificate check) for https. The Host header is the URL's host."""

    def __init__(self, destination: Destination, timeout: float,
                 context: ssl.SSLContext | None = None):
        tls = (context or tls_context()) if destination.scheme == "https" else None
        super().__init__(destination.host, destination.port, timeout=timeout, context=tls)
        self.destination, self.tls = destination, tls
        self.default_port = DEFAULT_PORTS[destination.scheme]  # Host: without a default port

    def connect(self) -> None:
        last: OSError | None = None
        for address in self.destination.addresses:
            try:
                sock = socket.create_connection((address, self.port), self.timeout)
            except OSError as error:
                last = error
                continue
            try:
                self.sock = (self.tls.wrap_socket(sock, server_hostname=self.host)
                             if self.tls is not None else sock)
            except BaseException:
                sock.close()
                raise
            return
        raise last or ConnectionRefusedError(f"{self.host} has no address to connect to")
