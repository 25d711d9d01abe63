"""The settings of an Active Directory or LDAP source, as the connector needs them.

The password is held here in clear only for the time of a read (the app decrypts it from the
source's encrypted secret); it is left out of ``repr`` and never written into a message.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from usersync.core.mapping import AttributeMapping

from . import active_directory, openldap
from .errors import ConfigurationError
from .ldap_filters import KINDS, build_filter
from .ldap_search import MAX_PAGE_SIZE
from .scope import Scope, parse_dn
from .tls import split_url


def utc_now() -> datetime:
    return datetime.now(UTC)


Clock = Callable[[], datetime]


@dataclass(frozen=True)
class LdapSettings:
    kind: str  # "active_directory" | "ldap"
    #: Servers tried in order (failover): ldaps://host[:port] or ldap://host[:port] (StartTLS).
    urls: tuple[str, ...]
    #: A DN, or on Active Directory a UPN (user@domain).
    bind_dn: str
    password: str = field(repr=False)
    #: Search bases and the location of the people under each.
    scopes: tuple[Scope, ...] = ()
    mapping: AttributeMapping = field(default=None)  # type: ignore[assignment]
    #: ``None``: the kind's default filter.
    filter: str | None = None
    #: Groups whose members (at any depth) are read; empty: everyone the filter matches.
    groups: tuple[str, ...] = ()
    #: ``attribute=pattern`` rules (``*`` wildcard): a matching person is skipped.
    exclusions: tuple[str, ...] = ()
    #: CA bundle (PEM) stored with the source; ``None``: the system's trust store.
    ca_pem: str | None = field(default=None, repr=False)
    #: Allow plain ``ldap://`` without StartTLS (flagged in every report).
    insecure: bool = False
    page_size: int = 500
    connect_timeout: float = 10.0
    timeout: float = 120.0

    def __post_init__(self):
        for name in ("urls", "scopes", "groups", "exclusions"):
            value = getattr(self, name)
            if isinstance(value, (str, Scope)):
                value = (value,)
            object.__setattr__(self, name, tuple(value))
        if self.mapping is None:
            object.__setattr__(self, "mapping", default_mapping(self.kind))

    @property
    def is_ad(self) -> bool:
        return self.kind == "active_directory"

    @property
    def anchor_attribute(self) -> str:
        return active_directory.ANCHOR_ATTRIBUTE if self.is_ad else openldap.ANCHOR_ATTRIBUTE

    def search_filter(self) -> str:
        """The filter every search base is searched with (groups and exclusions included)."""
        return build_filter(self.kind, self.filter, self.groups, self.exclusions)

    def requested_attributes(self) -> tuple[str, ...]:
        """What a read asks for: the mapping's attributes, the anchor, and on AD what tells a
        disabled or expired account. Nothing else leaves the directory."""
        wanted = [*self.mapping.attributes, self.anchor_attribute]
        if self.is_ad:
            wanted += ["userAccountControl", "accountExpires"]
        unique: dict[str, str] = {}
        for name in wanted:
            unique.setdefault(name.lower(), name)
        return tuple(unique.values())

    def validate(self) -> None:
        """Raise ``ConfigurationError`` (with a hint) for the first setting that cannot work."""
        if self.kind not in KINDS:
            raise ConfigurationError(f"unknown directory kind {self.kind!r}",
                                     hint="use active_directory or ldap", code="unknown_kind")
        if not self.urls:
            raise ConfigurationError("the source has no server URL",
                                     hint="add ldaps://dc1.example.com", code="invalid_url")
        for url in self.urls:
            split_url(url)
        if not self.bind_dn.strip():
            raise ConfigurationError("the source has no bind account",
                                     hint="enter the DN (or user@domain on AD) of a read-only "
                                     "account", code="missing_bind_dn")
        if not self.password:
            # An empty simple bind is an anonymous bind: it "succeeds" and reads nothing.
            raise ConfigurationError("the source has no bind password",
                                     hint="enter the bind account's password",
                                     code="missing_password")
        if not self.scopes:
            raise ConfigurationError("the source has no search base",
                                     hint="add the OU to read, e.g. OU=Staff,DC=example,DC=com",
                                     code="missing_scope")
        for scope in self.scopes:
            parse_dn(scope.base)
        if not 1 <= self.page_size <= MAX_PAGE_SIZE:
            raise ConfigurationError(f"the page size {self.page_size} is out of range",
                                     hint=f"use 1 to {MAX_PAGE_SIZE}", code="invalid_page_size")
        if self.connect_timeout <= 0 or self.timeout <= 0:
            raise ConfigurationError("timeouts must be positive", hint="use seconds, e.g. 10",
                                     code="invalid_timeout")
        if self.ca_pem:
            try:
                ssl.create_default_context(cadata=self.ca_pem)
            except (ssl.SSLError, ValueError):
                raise ConfigurationError(
                    "the CA bundle of the source holds no PEM certificate",
                    hint="paste the CA certificate(s) in PEM form (-----BEGIN CERTIFICATE-----)",
                    code="invalid_ca_bundle") from None
        self.search_filter()  # checks the filter, the group DNs and the exclusion rules


def default_mapping(kind: str) -> AttributeMapping:
    return active_directory.DEFAULT_MAPPING if kind == "active_directory" else (
        openldap.DEFAULT_MAPPING)
