"""One HTTP POST of one event to a receiver, and what came of it, in words for the delivery log.

Through ``usersync.app.net_guard``: public addresses only (unless the operator allows private
ones), connected to the address that was checked, TLS verified. Redirects are not followed (a 3xx
is a failed attempt that names where it pointed: the admin enters that URL instead). A receiver
that does not answer within ``TIMEOUT`` seconds, connect and answer each, has failed the attempt.
"""

from __future__ import annotations

import http.client
import ssl
import time
from dataclasses import dataclass

from usersync.app import net_guard

TIMEOUT = 10.0
SNIPPET = 500
USER_AGENT = "usersync-webhooks/1"


@dataclass(frozen=True)
class Answer:
    """What an attempt got: an HTTP status (None when none came) or an error, the start of the
    receiver's answer, and how long it took."""

    status_code: int | None
    error: str
    response: str
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def post(url: str, body: bytes, headers: dict[str, str]) -> Answer:
    started = time.monotonic()
    status, error, text = None, "", ""
    try:
        destination = net_guard.check_destination(url)
        connection = net_guard.PinnedConnection(destination, timeout=TIMEOUT)
        try:
            connection.request("POST", destination.target, body=body, headers={
                "Content-Type": "application/json", "User-Agent": USER_AGENT, **headers})
            response = connection.getresponse()
            status = response.status
            text = response.read(SNIPPET * 4).decode("utf-8", "replace")[:SNIPPET]
            error = _judged(response)
        finally:
            connection.close()
    except net_guard.DestinationRefused as refused:
        error = f"refused: {refused}; {refused.hint}"
    except Exception as failure:  # noqa: BLE001 — every network failure is one failed attempt
        error = _failure(failure)
    return Answer(status, error[:500], text, int((time.monotonic() - started) * 1000))


def _judged(response: http.client.HTTPResponse) -> str:
    if 200 <= response.status < 300:
        return ""
    if 300 <= response.status < 400:
        where = response.getheader("Location") or "nowhere"
        return (f"the receiver redirected to {where[:300]}; redirects are not followed: "
                "enter the final URL")
    return f"the receiver answered {response.status} {response.reason}".rstrip()


def _failure(error: Exception) -> str:
    if isinstance(error, ssl.SSLCertVerificationError):
        return (f"the receiver's TLS certificate is not trusted ({error.verify_message}); "
                "it needs a certificate from a public authority that names its host")
    if isinstance(error, ssl.SSLError):
        return f"the TLS connection failed ({error.reason or error})"
    if isinstance(error, TimeoutError):
        return f"no answer within {TIMEOUT:g} s"
    if isinstance(error, ConnectionRefusedError):
        return "the receiver refused the connection (nothing listens on that port?)"
    if isinstance(error, http.client.HTTPException):
        return f"the receiver sent an invalid HTTP answer ({type(error).__name__})"
    if isinstance(error, OSError):
        return f"could not connect: {error.strerror or error}"
    return f"could not deliver: {type(error).__name__}: {error}"
