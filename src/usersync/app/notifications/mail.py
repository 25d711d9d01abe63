"""Sending email over SMTP with the standard library (``smtplib``): the transport of every email.

The mail server is one URL (``USERSYNC_SMTP_URL``; docs/email.md):

- ``smtp://user:password@mail.example.com:587`` — STARTTLS, required: a server that does not offer
  it is an error, never a silent fall back to plain text (``?starttls=true`` says the same);
- ``smtps://user:password@mail.example.com:465`` — TLS from the first byte ("implicit TLS");
- ``smtp://relay.internal:25?starttls=false`` — not encrypted, only when asked for, and never
  with a password (it would cross the network in clear).

Certificates are verified (the system's CAs, or the CA file given), with TLS 1.2 at least. Every
step has a timeout. The password is never logged: ``SmtpServer`` keeps it out of its ``repr`` and
every message names the server by ``display``, which has no password. This module knows nothing of
Django, runs or organizations: it parses, connects and sends.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from urllib.parse import parse_qs, unquote, urlsplit

DEFAULT_PORTS = {"smtp": 587, "smtps": 465}
STARTTLS, IMPLICIT, PLAIN = "starttls", "implicit", "none"
_BAD_ADDRESS = (ValueError, IndexError, HeaderParseError)
_BOOLEANS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


class MailError(Exception):
    """An email could not be sent: ``message`` says what happened, ``hint`` what to do. Neither
    ever contains the password."""

    def __init__(self, message: str, hint: str = ""):
        super().__init__(message)
        self.message, self.hint = message, hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    tls: str  # STARTTLS, IMPLICIT or PLAIN
    username: str = ""
    password: str = field(default="", repr=False)

    @property
    def display(self) -> str:
        """The server as logs and errors may show it: no password."""
        scheme = "smtps" if self.tls == IMPLICIT else "smtp"
        user = f"{self.username}@" if self.username else ""
        how = {STARTTLS: " (STARTTLS)", IMPLICIT: "", PLAIN: " (not encrypted)"}[self.tls]
        return f"{scheme}://{user}{self.host}:{self.port}{how}"


def parse_url(url: str) -> SmtpServer:
    """The server of ``USERSYNC_SMTP_URL``; ``MailError`` says what is wrong with it (without
    repeating the URL, which may hold a password)."""
    hint = ("write it like smtp://user:password@mail.example.com:587 (STARTTLS) or "
            "smtps://user:password@mail.example.com:465")
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as error:
        raise MailError(f"USERSYNC_SMTP_URL is not a valid URL: {error}", hint) from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise MailError(f"USERSYNC_SMTP_URL starts with {scheme + '://' if scheme else 'no scheme'}"
                        ", not smtp:// or smtps://", hint)
    if not parts.hostname:
        raise MailError("USERSYNC_SMTP_URL names no mail server", hint)
    if parts.path not in ("", "/") or parts.fragment:
        raise MailError("USERSYNC_SMTP_URL has a path; only ?starttls=true|false may follow "
                        "the host and port", hint)
    options = parse_qs(parts.query, keep_blank_values=True)
    unknown = sorted(set(options) - {"starttls"})
    if unknown:
        raise MailError(f"USERSYNC_SMTP_URL has an unknown option {unknown[0]!r}; the only "
                        "option is ?starttls=true|false", hint)
    tls = IMPLICIT if scheme == "smtps" else STARTTLS
    if "starttls" in options:
        wanted = _BOOLEANS.get(options["starttls"][-1].lower())
        if wanted is None:
            raise MailError("USERSYNC_SMTP_URL: starttls must be true or false", hint)
        if scheme == "smtps":
            raise MailError("USERSYNC_SMTP_URL: smtps:// is TLS from the first byte; starttls "
                            "does not apply", "remove ?starttls, or use smtp:// for STARTTLS")
        tls = STARTTLS if wanted else PLAIN
    username, password = unquote(parts.username or ""), unquote(parts.password or "")
    if tls == PLAIN and (username or password):
        raise MailError("USERSYNC_SMTP_URL sends a password over a connection that is not "
                        "encrypted (starttls=false)",
                        "use STARTTLS (remove ?starttls=false) or smtps://, or a relay that "
                        "needs no login")
    return SmtpServer(parts.hostname, port or DEFAULT_PORTS[scheme], tls, username, password)


def tls_context(ca_file: str = "") -> ssl.SSLContext:
    """Verified TLS, 1.2 at least: the system's CAs, or only those of ``ca_file``."""
    try:
        context = ssl.create_default_context(cafile=ca_file or None)
    except (OSError, ssl.SSLError) as error:
        reason = getattr(error, "strerror", None) or error
        raise MailError(f"cannot read the CA file {ca_file}: {reason}",
                        "USERSYNC_SMTP_CA_FILE must name a PEM file of CA certificates") from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def message(sender: str, to: Sequence[str], subject: str, text: str, html: str) -> EmailMessage:
    """A multipart/alternative email: plain text, and the same in HTML."""
    mail = EmailMessage()
    try:
        mail["From"] = sender
        addresses = mail["From"].addresses
    except _BAD_ADDRESS:
        addresses = ()
    if len(addresses) != 1 or not addresses[0].domain:
        raise MailError(f"USERSYNC_FROM_EMAIL is not one valid address: {sender!r}",
                        "write it like sync@example.com or Example <sync@example.com>")
    recipients = []
    for address in to:
        try:
            recipients.append(Address(addr_spec=address))
        except _BAD_ADDRESS:
            raise MailError(f"{address!r} is not a valid email address",
                            "correct it where it was set") from None
    mail["To"] = recipients
    mail["Subject"] = " ".join(subject.split())  # one line, whatever the names in it hold
    mail["Date"] = formatdate(localtime=False)
    mail["Message-ID"] = make_msgid(domain=addresses[0].domain)
    mail["Auto-Submitted"] = "auto-generated"  # RFC 3834: out-of-office replies stay quiet
    mail.set_content(text)
    mail.add_alternative(html, subtype="html")
    return mail


def send(server: SmtpServer, messages: Sequence[EmailMessage], context: ssl.SSLContext,
         timeout: float) -> dict[int, MailError]:
    """Send ``messages`` over one connection; the ones not sent (by position), with why. A
    connection that cannot be made, or breaks, fails every message it did not send."""
    failed: dict[int, MailError] = {}
    index = 0  # the message being sent: it and those after it fail if the connection breaks
    try:
        with _connect(server, context, timeout) as smtp:
            for index, mail in enumerate(messages):
                try:
                    refused = smtp.send_message(mail)
                except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused,
                        smtplib.SMTPDataError) as error:
                    failed[index] = _refused(server, error)  # smtplib has reset the session
                else:
                    if refused:
                        failed[index] = MailError(
                            f"{server.host} refused {', '.join(sorted(refused))}",
                            "check these addresses")
            index = len(messages)  # QUIT may still fail: everything was sent
    except (MailError, smtplib.SMTPException, OSError) as error:
        broken = error if isinstance(error, MailError) else _translated(server, error, timeout)
        failed.update({i: broken for i in range(index, len(messages)) if i not in failed})
    return failed


def _connect(server: SmtpServer, context: ssl.SSLContext, timeout: float) -> smtplib.SMTP:
    try:
        if server.tls == IMPLICIT:
            smtp = smtplib.SMTP_SSL(server.host, server.port, timeout=timeout, context=context)
        else:
            smtp = smtplib.SMTP(server.host, server.port, timeout=timeout)
    except (smtplib.SMTPException, OSError) as error:
        raise _translated(server, error, timeout) from None
    try:
        if server.tls == STARTTLS:
            smtp.ehlo()
            if not smtp.has_extn("starttls"):
                raise MailError(
                    f"{server.display} does not offer STARTTLS",
                    "use smtps:// if it speaks TLS from the first byte (port 465), or "
                    "?starttls=false only for a relay on a network you trust")
            smtp.starttls(context=context)
        if server.username:
            smtp.login(server.username, server.password)
    except BaseException as error:
        smtp.close()
        if isinstance(error, (smtplib.SMTPException, OSError)):
            raise _translated(server, error, timeout) from None
        raise
    return smtp


def _translated(server: SmtpServer, error: BaseException, timeout: float) -> MailError:
    """Our error for what smtplib, ssl and socket raise; order matters (they are all OSError)."""
    where = server.display
    if isinstance(error, TimeoutError) or isinstance(error.__context__, TimeoutError):
        return MailError(f"no answer from {where} within {timeout:g} s",
                         "check the host and port (a firewall dropping the connection looks like "
                         "this), or raise USERSYNC_SMTP_TIMEOUT")
    if isinstance(error, ssl.SSLCertVerificationError):
        return MailError(f"the certificate of {server.host} is not trusted: "
                         f"{error.verify_message}",
                         "give the CA certificate that signed it in USERSYNC_SMTP_CA_FILE, or "
                         "fix the mail server's certificate (it must name the host)")
    if isinstance(error, ssl.SSLError):
        return MailError(f"TLS with {where} failed: {error.reason or error}",
                         "the mail server must speak TLS 1.2 or later; smtps:// needs a server "
                         "that speaks TLS from the first byte (usually port 465)")
    if isinstance(error, smtplib.SMTPAuthenticationError):
        return MailError(f"{where} refused the user name or password "
                         f"({error.smtp_code} {_said(error.smtp_error)})",
                         "check them in USERSYNC_SMTP_URL (percent-encode @ : / in them)")
    if isinstance(error, smtplib.SMTPNotSupportedError):
        return MailError(f"{where} does not accept a login: {error}",
                         "remove the user and password from USERSYNC_SMTP_URL")
    if isinstance(error, smtplib.SMTPServerDisconnected):
        return MailError(f"{where} closed the connection: {error}",
                         "check the port and TLS mode (smtp:// with STARTTLS on 587, smtps:// "
                         "on 465); a server that closes after some messages limits them: see "
                         "its log")
    if isinstance(error, smtplib.SMTPResponseException):
        return MailError(f"{where} answered {error.smtp_code} {_said(error.smtp_error)}",
                         "see the mail server's log")
    if isinstance(error, socket.gaierror):
        return MailError(f"cannot find the mail server {server.host}: {error.strerror}",
                         "check the host name in USERSYNC_SMTP_URL")
    if isinstance(error, OSError) and error.strerror:
        return MailError(f"cannot connect to {where}: {error.strerror}",
                         "check the host and port in USERSYNC_SMTP_URL, and that the mail server "
                         "is running")
    return MailError(f"sending through {where} failed: {error}", "see the mail server's log")


def _refused(server: SmtpServer, error: smtplib.SMTPException) -> MailError:
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        who = ", ".join(sorted(error.recipients))
        return MailError(f"{server.host} refused {who}", "check these addresses")
    if isinstance(error, smtplib.SMTPSenderRefused):
        return MailError(f"{server.host} refused the sender {error.sender} "
                         f"({error.smtp_code} {_said(error.smtp_error)})",
                         "set USERSYNC_FROM_EMAIL to an address this server may send from")
    return MailError(f"{server.host} refused the message ({error.smtp_code} "
                     f"{_said(error.smtp_error)})", "see the mail server's log")


def _said(answer: bytes | str) -> str:
    return answer.decode(errors="replace") if isinstance(answer, bytes) else str(answer)
