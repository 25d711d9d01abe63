"""One download of an image URL, guarded: what a URL from a directory may make a worker do.

- Only http and https, to public addresses (``usersync.app.net_guard``: resolved once, connected
  to the checked address); each redirect (at most ``max_redirects``) is checked again.
- A connect timeout, and a total deadline for the whole download, redirects included: a watchdog
  shuts the socket down when it passes, whatever the download is waiting on.
- At most ``max_bytes``, read in chunks: a larger image is abandoned as soon as it is known to be.
- The Content-Type header must name an image type and the bytes must be one (``formats``).

Every failure is a ``DownloadFailed`` whose message an admin reads as is, e.g. "the image
server answered 404", "not an image (text/html)", "larger than 5 MB".
"""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
from dataclasses import dataclass
from urllib.parse import urljoin

from usersync.app import net_guard

from . import formats

REDIRECTS = frozenset({301, 302, 303, 307, 308})
HEADERS = {"Accept": ", ".join(formats.TYPES), "User-Agent": "usersync (contact images)"}
CHUNK = 64 * 1024


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 5 * 2**20
    connect_timeout: float = 5.0
    total_timeout: float = 20.0
    max_redirects: int = 3


LIMITS = Limits()


@dataclass(frozen=True)
class Downloaded:
    content: bytes
    content_type: str  # what the bytes are (``formats.sniff``), not what the server said
    url: str  # after redirects


class DownloadFailed(Exception):
    """Why a download failed, in words for an admin."""


def download(url: str, limits: Limits = LIMITS) -> Downloaded:
    """The image at ``url``; ``DownloadFailed`` with the reason otherwise."""
    watchdog = _Watchdog(limits.total_timeout)
    try:
        for hop in range(limits.max_redirects + 1):
            where = f" (after a redirect to {url})" if hop else ""
            try:
                destination = net_guard.check_destination(url)
            except net_guard.DestinationRefused as refused:
                raise DownloadFailed(f"refused: {refused}{where}") from None
            except net_guard.DestinationUnresolved as error:
                raise DownloadFailed(f"{error}{where}") from None
            result = _get(destination, watchdog, limits)
            if isinstance(result, Downloaded):
                return result
            url = result
        raise DownloadFailed(f"more than {limits.max_redirects} redirects (the last one to {url})")
    finally:
        watchdog.cancel()


def _get(destination: net_guard.Destination, watchdog: _Watchdog,
         limits: Limits) -> Downloaded | str:
    """The image at ``destination``, or the URL it redirects to."""
    watchdog.check()
    connection = net_guard.PinnedConnection(destination, timeout=limits.connect_timeout)
    try:
        connection.connect()
        watchdog.watch(connection.sock)
        connection.request("GET", destination.target, headers=HEADERS)
        response = connection.getresponse()
        location = response.getheader("Location")
        if response.status in REDIRECTS and location:
            return urljoin(destination.url, location.strip())
        declared = _checked_headers(response, limits)
        content = _read(response, limits)
        watchdog.check()
    except (OSError, http.client.HTTPException) as error:
        watchdog.check()
        raise DownloadFailed(_network_failure(destination, error, limits)) from None
    finally:
        connection.close()
    media_type = formats.sniff(content)
    if media_type is None:
        raise DownloadFailed(f"not an image: the content is not a JPEG, PNG, GIF or WebP image "
                             f"(the server said {declared})")
    return Downloaded(content=content, content_type=media_type, url=destination.url)


def _checked_headers(response: http.client.HTTPResponse, limits: Limits) -> str:
    if response.status != 200:
        raise DownloadFailed(f"the image server answered {response.status}")
    header = response.getheader("Content-Type") or ""
    declared = formats.declared(header)
    if declared is None:
        shown = header.split(";", 1)[0].strip()[:100] or "no Content-Type"
        raise DownloadFailed(f"not an image ({shown})")
    length = response.getheader("Content-Length") or ""
    if length.isdigit() and int(length) > limits.max_bytes:
        raise DownloadFailed(f"larger than {_size(limits.max_bytes)}")
    return declared


def _read(response: http.client.HTTPResponse, limits: Limits) -> bytes:
    chunks, total = [], 0
    while chunk := response.read(CHUNK):
        total += len(chunk)
        if total > limits.max_bytes:
            raise DownloadFailed(f"larger than {_size(limits.max_bytes)}")
        chunks.append(chunk)
    return b"".join(chunks)


def _network_failure(destination: net_guard.Destination, error: Exception,
                     limits: Limits) -> str:
    host = destination.host
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"the TLS certificate of {host} is not valid ({error.verify_message})"
    if isinstance(error, ssl.SSLError):
        return f"the TLS connection to {host} failed ({error.reason or error})"
    if isinstance(error, TimeoutError):
        return f"{host} did not answer within {limits.connect_timeout:g} s"
    if isinstance(error, ConnectionRefusedError):
        return f"{host} refused the connection on port {destination.port}"
    if isinstance(error, http.client.HTTPException):
        return f"{host} sent an invalid HTTP response ({type(error).__name__})"
    return f"could not download from {host}: {error.strerror or error}"


def _size(count: int) -> str:
    return f"{count // 2**20} MB" if count % 2**20 == 0 else f"{count} bytes"


class _Watchdog:
    """The total deadline of a download: when it passes, the current socket is shut down (a
    blocked read returns at once) and ``check`` raises."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.expired = threading.Event()
        self._sock: socket.socket | None = None
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def watch(self, sock: socket.socket) -> None:
        """Shut ``sock`` down at the deadline (the response keeps reading from it after the
        connection object lets go of it); raise if the deadline passed while connecting."""
        self._sock = sock
        self.check()

    def check(self) -> None:
        if self.expired.is_set():
            raise DownloadFailed(f"the download took longer than {self.seconds:g} s")

    def cancel(self) -> None:
        self._timer.cancel()

    def _expire(self) -> None:
        self.expired.set()
        sock = self._sock
        if sock is not None:
            try:  # the plain socket's shutdown, also under TLS: no TLS state shared with readers
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
            except OSError:
                pass
