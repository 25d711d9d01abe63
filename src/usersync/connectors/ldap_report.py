"""Test connection: what an admin needs to know before the first sync, as one report.

Reachable (and which server answered), the TLS certificate and an SSL status, whether the bind
worked (with a hint in plain language), how many people each search base holds with the filter,
and a few records as they would map. Nothing here raises: every failure becomes part of the report.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from usersync.core.records import SECRET_FIELDS

from . import tls
from .errors import ConfigurationError, ConnectionFailed, SourceError
from .ldap_connect import open_session
from .ldap_groups import walk_members
from .ldap_read import RecordCollector, group_reader
from .ldap_search import Session
from .ldap_settings import LdapSettings
from .scope import normalize_dn


@dataclass(frozen=True, slots=True)
class BindResult:
    ok: bool
    error: str | None = None
    hint: str | None = None
    code: str | None = None


@dataclass(frozen=True, slots=True)
class BaseCount:
    base: str
    location: str | None
    #: ``None`` when the base could not be counted (``error`` says why).
    count: int | None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class ConnectionReport:
    reachable: bool
    server: str | None
    ssl_status: str
    certificate: tls.CertificateReport | None
    bind: BindResult
    bases: tuple[BaseCount, ...] = ()
    samples: tuple[dict, ...] = ()
    insecure: bool = False
    #: What stopped the test early (code, message, hint), if anything did.
    error: SourceError | None = None

    def to_data(self) -> dict:
        certificate = self.certificate
        return {
            "reachable": self.reachable,
            "server": self.server,
            "ssl_status": self.ssl_status,
            "certificate": certificate.to_data() if certificate and certificate.not_after
            else None,
            "tls": {"protocol": certificate.protocol, "cipher": certificate.cipher}
            if certificate and certificate.protocol else None,
            "insecure": self.insecure,
            "bind": {"ok": self.bind.ok, "error": self.bind.error, "hint": self.bind.hint},
            "bases": [{"base": b.base, "location": b.location, "count": b.count,
                       **({"error": b.error} if b.error else {})} for b in self.bases],
            "samples": [dict(sample) for sample in self.samples],
            "error": None if self.error is None else {
                "code": self.error.code, "message": self.error.message, "hint": self.error.hint},
        }


def connection_test(settings: LdapSettings, now: datetime, samples: int = 5) -> ConnectionReport:
    insecure = settings.insecure
    try:
        settings.validate()
    except ConfigurationError as error:
        return ConnectionReport(False, None, tls.ssl_status(None, insecure), None,
                                BindResult(False, "not attempted: the settings are invalid"),
                                insecure=insecure, error=error)
    try:
        session = open_session(settings, now)
    except ConnectionFailed as error:
        status = "not encrypted" if insecure and _all_plain(settings) else "unknown"
        return ConnectionReport(False, None, status, None,
                                BindResult(False, "not attempted: no server could be reached",
                                           error.hint, error.code),
                                insecure=insecure, error=error)
    except ConfigurationError as error:
        certificate = _inspect(error.server, settings, now)
        if error.code.startswith("tls_"):
            bind = BindResult(False, "not attempted: TLS could not be established",
                              error.hint, error.code)
        else:
            bind = BindResult(False, error.message, error.hint, error.code)
        return ConnectionReport(True, error.server, _status(certificate, error.server, insecure),
                                certificate, bind, insecure=insecure, error=error)
    with session:
        certificate = _inspect(session.server, settings, now)
        status = _status(certificate, session.server, insecure)
        try:
            members = _members(session, settings)
            bases = tuple(_count(session, settings, scope, members) for scope in settings.scopes)
            found = _samples(session, settings, members, samples, now)
        except SourceError as error:
            return ConnectionReport(True, session.server, status, certificate, BindResult(True),
                                    insecure=insecure, error=error)
    return ConnectionReport(True, session.server, status, certificate, BindResult(True), bases,
                            found, insecure=insecure)


def _all_plain(settings: LdapSettings) -> bool:
    return all(tls.split_url(url)[0] == "ldap" for url in settings.urls)


def _status(certificate, server: str | None, insecure: bool) -> str:
    if certificate is None and server and insecure and tls.split_url(server)[0] == "ldap":
        return "not encrypted"
    return tls.ssl_status(certificate, insecure=False)


def _inspect(server: str | None, settings: LdapSettings, now: datetime):
    if server is None:
        return None
    try:
        return tls.inspect(server, settings.ca_pem, settings.connect_timeout, now,
                           insecure=settings.insecure)
    except SourceError:
        return None


def _members(session: Session, settings: LdapSettings) -> frozenset[str] | None:
    """On OpenLDAP with groups: the normalized DNs of the groups' members; else ``None`` (AD
    evaluates groups in the filter)."""
    if not settings.groups or settings.is_ad:
        return None
    people = frozenset(normalize_dn(dn) for scope in settings.scopes
                       for dn in session.dns(scope.base, settings.search_filter(),
                                             settings.page_size))
    return walk_members(settings.groups, group_reader(session), people)


def _count(session: Session, settings: LdapSettings, scope, members) -> BaseCount:
    try:
        if members is None:
            count = session.count(scope.base, settings.search_filter(), settings.page_size)
        else:
            count = sum(normalize_dn(dn) in members for dn in
                        session.dns(scope.base, settings.search_filter(), settings.page_size))
    except ConnectionFailed:
        raise
    except SourceError as error:
        return BaseCount(scope.base, scope.location, None, error.message)
    return BaseCount(scope.base, scope.location, count)


def _samples(session: Session, settings: LdapSettings, members, limit: int,
             now: datetime) -> tuple[dict, ...]:
    """Up to ``limit`` records as the mapping makes them (secret fields such as the PIN left out).
    Only the first page of each base is read; the paged search is released by the unbind."""
    if limit <= 0:
        return ()
    collector = RecordCollector(settings, now)
    out: list[dict] = []
    seen: set[str | None] = set()
    for scope in settings.scopes:
        page_size = limit if members is None else settings.page_size
        try:
            first = next(iter(session.pages(scope.base, settings.search_filter(),
                                            settings.requested_attributes(), page_size)), [])
        except ConnectionFailed:
            raise
        except SourceError:
            continue  # this base's error is in its count already
        for dn, values in first:
            if members is not None and normalize_dn(dn) not in members:
                continue
            record = collector.add(scope, dn, values)
            if record.anchor in seen:
                continue  # under two bases: shown once
            seen.add(record.anchor)
            fields = settings.mapping.apply_lowered(record.attributes)
            out.append({name: list(value) if isinstance(value, tuple) else value
                        for name, value in fields.items() if name not in SECRET_FIELDS})
            if len(out) >= limit:
                return tuple(out)
    return tuple(out)
