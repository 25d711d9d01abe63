"""A real webhook receiver for tests: an HTTP server on loopback, in a thread, that checks each
delivery's signature with the function docs/webhooks.md shows (so the documented example is what
is tested), answers the statuses a test asks for, and records every request."""

from __future__ import annotations

import json
import re
import ssl
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

DOCS = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"


def documented_verify():
    """``verify_signature`` from the Python example of docs/webhooks.md."""
    [code] = re.findall(r"```python\n(.*?)```", DOCS.read_text(), re.S)
    namespace: dict = {}
    exec(compile(code, str(DOCS), "exec"), namespace)  # noqa: S102 — our own documentation
    return namespace["verify_signature"]


@dataclass
class Seen:
    headers: dict
    body: bytes
    status: int
    signed: bool

    @property
    def event(self) -> dict:
        return json.loads(self.body)


class Receiver:
    """``statuses``: the answers to give, in order (then 200); ``clock``: the receiver's time for
    the signature's freshness (None: now); ``requests``: every request, as ``Seen``."""

    def __init__(self, secret: str = "", tls: ssl.SSLContext | None = None):
        self.secret = secret
        self.statuses: list[int] = []
        self.clock: float | None = None
        self.requests: list[Seen] = []
        self.verify = documented_verify()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                header = self.headers.get("Usersync-Signature", "")
                signed = receiver.verify(receiver.secret, header, body, now=receiver.clock)
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                status = status if signed else 401
                receiver.requests.append(Seen(dict(self.headers), body, status, signed))
                answer = json.dumps({"received": status < 300, "path": self.path}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{port}/hooks/usersync"
        if tls is not None:  # https, for a certificate that names localhost
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
            self.url = f"https://localhost:{port}/hooks/usersync"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def accepted(self) -> list[dict]:
        """The events the receiver took (answered 2xx), in order."""
        return [seen.event for seen in self.requests if seen.status < 300]
