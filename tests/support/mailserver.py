"""A real SMTP server for tests: aiosmtpd on loopback, keeping every message it accepts.

Modes: ``starttls`` (the default, like a submission server on 587: STARTTLS required, with a
certificate of a trustme test CA naming 127.0.0.1 (or ``names``), and a login required once
encrypted),
``smtps`` (TLS from the first byte, like 465) and ``plain`` (no TLS offered, no login, like an
internal relay on 25). ``refuse`` lists recipients it answers 550; ``hang_up`` those it answers
421 (busy: the connection ends there). ``url`` is what
``USERSYNC_SMTP_URL`` would say; ``ca_file`` the CA that signed its certificate.

``silent_server`` accepts connections and never says a word: a mail server that hangs.
"""

from __future__ import annotations

import socket
import ssl
from contextlib import contextmanager
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Iterator
from urllib.parse import quote

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from support.postgres import free_port

HOST = "127.0.0.1"
USER, PASSWORD = "usersync", "s3cret:p@ss/word"


@dataclass
class Received:
    """One accepted message: the envelope, the parsed message, and how the session went."""

    mail_from: str
    rcpt_to: list[str]
    message: EmailMessage
    encrypted: bool
    login: str | None

    @property
    def subject(self) -> str:
        # Python folds a long subject onto its own continuation line and, parsing it back,
        # keeps that line's leading space (mail clients, unfolding per RFC 5322, do not).
        return str(self.message["Subject"]).strip()

    @property
    def text(self) -> str:
        return self.message.get_body(("plain",)).get_content()

    @property
    def html(self) -> str:
        return self.message.get_body(("html",)).get_content()


class _Handler:
    def __init__(self, server: MailServer):
        self.server = server

    async def handle_RCPT(self, smtp, session, envelope, address, rcpt_options):
        if address in self.server.refuse:
            return "550 5.1.1 no such mailbox here"
        if address in self.server.hang_up:
            return "421 4.3.2 too busy, closing the connection"  # the client hangs up then
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, smtp, session, envelope):
        message = message_from_bytes(envelope.original_content, policy=policy.default)
        login = session.auth_data.login.decode() if session.authenticated else None
        encrypted = smtp.transport.get_extra_info("ssl_object") is not None
        self.server.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), message,
                                             encrypted, login))
        return "250 OK: queued"


class MailServer:
    def __init__(self, folder: Path, mode: str = "starttls", refuse: frozenset[str] = frozenset(),
                 names: tuple[str, ...] = (HOST, "localhost"),
                 hang_up: frozenset[str] = frozenset()):
        self.mode, self.refuse, self.hang_up = mode, set(refuse), set(hang_up)
        self.received: list[Received] = []
        self.port = free_port()
        ca = trustme.CA(organization_name="usersync mail test CA")
        self.ca_file = folder / "mail-ca.pem"
        ca.cert_pem.write_to_path(self.ca_file)
        self._tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert(*names).configure_cert(self._tls)
        self._controller: Controller | None = None

    @property
    def url(self) -> str:
        quoted = quote(PASSWORD, safe="")
        if self.mode == "plain":
            return f"smtp://{HOST}:{self.port}?starttls=false"
        scheme = "smtps" if self.mode == "smtps" else "smtp"
        return f"{scheme}://{USER}:{quoted}@{HOST}:{self.port}"

    def start(self) -> MailServer:
        options: dict = {}
        if self.mode == "starttls":
            options = {"tls_context": self._tls, "require_starttls": True,
                       "authenticator": _authenticate, "auth_required": True}
        elif self.mode == "smtps":
            # aiosmtpd counts only STARTTLS as TLS for AUTH (this session is TLS from the start):
            # it offers AUTH here only when not told to require TLS for it (nor, then, a login).
            options = {"ssl_context": self._tls, "authenticator": _authenticate,
                       "auth_require_tls": False}
        self._controller = Controller(_Handler(self), hostname=HOST, port=self.port, **options)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def to(self, address: str) -> list[Received]:
        return [r for r in self.received if address in r.rcpt_to]


def _authenticate(server, session, envelope, mechanism, auth_data) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login.decode(),
                                                   auth_data.password.decode()) == (USER, PASSWORD)
    # handled=False: aiosmtpd answers (235, or 535 for a wrong password) itself
    return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)


@contextmanager
def running(folder: Path, mode: str = "starttls", refuse=frozenset(),
            names: tuple[str, ...] = (HOST, "localhost"),
            hang_up=frozenset()) -> Iterator[MailServer]:
    server = MailServer(folder, mode, frozenset(refuse), names, frozenset(hang_up)).start()
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def silent_server() -> Iterator[int]:
    """A port that accepts TCP connections (the kernel's backlog) and never answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind((HOST, 0))
        listener.listen(8)
        yield listener.getsockname()[1]
