"""The typed schema of each source kind's settings (stored as JSON on the source).

Settings are validated here once, whatever surface wrote them (command line, portal, API), and
never hold a secret: secrets live encrypted in ``Source.secret``. A CA certificate is not a
secret: it is kept here, with the source it verifies.

What this schema cannot know (whether a scope's location exists in the organization) is checked
by the service that writes sources, ``usersync.app.sources``.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from django.core.exceptions import ValidationError
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic import ValidationError as SchemaError

from usersync.connectors import active_directory, openldap
from usersync.connectors.errors import SourceError
from usersync.connectors.ldap import validate_filter
from usersync.connectors.ldap_filters import exclusion_filter
from usersync.connectors.scope import parse_dn
from usersync.core.mapping import AttributeMapping, MappingError

#: Keys that look like a secret. Refused by name, so a misplaced password is never stored.
_SECRET_KEYS = frozenset({"password", "bind_password", "secret", "client_secret"})


class ScopeSetting(BaseModel):
    """A search base, and the location its people go to (none for a global organization)."""

    model_config = ConfigDict(extra="forbid")
    base: str = Field(min_length=1)
    location: str | None = None


class FileSettings(BaseModel):
    """CSV and LDIF sources: an optional file to read at each run, and LDIF search bases."""

    model_config = ConfigDict(extra="forbid")
    path: str | None = None
    scopes: list[ScopeSetting] = []


class DirectorySettings(BaseModel):
    """Active Directory and LDAP sources: connection, scope and mapping (the password is not here).

    - ``urls``: servers tried in order (failover); ``ldaps://`` (TLS from the start) or
      ``ldap://`` (StartTLS, unless ``insecure``: then plain, unencrypted LDAP).
    - ``bind_dn``: the account usersync binds as: a DN, a UPN (``user@domain``) or
      ``DOMAIN\\user``.
    - ``scopes``: search bases, each with the location its people go to.
    - ``filter``: an LDAP filter; ``None`` is the kind's default.
    - ``groups``: group DNs; when given, only their (nested) members are read.
    - ``exclusions``: ``attribute=pattern`` conditions that skip an object (``*`` is a wildcard).
    - ``ca_pem``: the CA certificate(s) that issued the server's certificate (PEM); ``None``
      trusts the system's store.
    - ``mapping``: ``field=attribute|transform,…`` lines; the kind's default when not given.
    """

    model_config = ConfigDict(extra="forbid")
    urls: list[str] = Field(min_length=1)
    bind_dn: str = Field(min_length=1)
    scopes: list[ScopeSetting] = Field(min_length=1)
    filter: str | None = None
    groups: list[str] = []
    exclusions: list[str] = []
    ca_pem: str | None = None
    insecure: bool = False
    page_size: int = Field(500, ge=1, le=1000)
    connect_timeout: float = Field(10.0, gt=0, le=300)
    timeout: float = Field(120.0, gt=0, le=24 * 3600)
    mapping: list[str] = Field(min_length=1)

    @field_validator("urls")
    @classmethod
    def _urls(cls, urls: list[str]) -> list[str]:
        cleaned = [_url(url) for url in urls]
        if len(set(cleaned)) != len(cleaned):
            raise ValueError("the same server is listed twice")
        return cleaned

    @field_validator("bind_dn")
    @classmethod
    def _bind_dn(cls, value: str) -> str:
        value = value.strip()
        if "=" not in value and ("@" in value or "\\" in value):
            return value  # user@domain (UPN) or DOMAIN\user
        _dn(value, "the bind account", "CN=usersync,OU=Service Accounts,DC=example,DC=com, or a "
            "UPN such as usersync@example.com")
        return value

    @field_validator("scopes")
    @classmethod
    def _scopes(cls, scopes: list[ScopeSetting]) -> list[ScopeSetting]:
        seen = set()
        for scope in scopes:
            scope.base = scope.base.strip()
            _dn(scope.base, "a search base", "OU=Headquarters,DC=example,DC=com")
            key = (tuple(parse_dn(scope.base)), scope.location)
            if key in seen:
                raise ValueError(f"the search base {scope.base!r} is listed twice"
                                 + (f" for {scope.location!r}" if scope.location else ""))
            seen.add(key)
        return scopes

    @field_validator("filter")
    @classmethod
    def _filter(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        try:
            return validate_filter(value.strip())
        except SourceError as error:
            raise ValueError(str(error)) from None

    @field_validator("groups")
    @classmethod
    def _groups(cls, groups: list[str]) -> list[str]:
        cleaned = [group.strip() for group in groups]
        for group in cleaned:
            _dn(group, "a group", "CN=Staff,OU=Groups,DC=example,DC=com")
        return list(dict.fromkeys(cleaned))

    @field_validator("exclusions")
    @classmethod
    def _exclusions(cls, exclusions: list[str]) -> list[str]:
        cleaned = []
        for rule in exclusions:
            try:
                exclusion_filter(rule)  # the connector's own reading of the rule
            except SourceError as error:
                raise ValueError(str(error)) from None
            attribute, _, pattern = rule.partition("=")
            cleaned.append(f"{attribute.strip()}={pattern.strip()}")
        return list(dict.fromkeys(cleaned))

    @field_validator("ca_pem")
    @classmethod
    def _ca_pem(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if "PRIVATE KEY" in value:
            raise ValueError("the CA file holds a private key: give only the CA certificate(s)")
        try:
            certificates = x509.load_pem_x509_certificates(value.encode("utf-8"))
        except ValueError:
            raise ValueError("the CA file is not a PEM certificate (-----BEGIN CERTIFICATE-----); "
                             "export the CA certificate as Base-64 encoded X.509") from None
        return "".join(c.public_bytes(Encoding.PEM).decode("ascii") for c in certificates)

    @field_validator("mapping")
    @classmethod
    def _mapping(cls, lines: list[str]) -> list[str]:
        try:
            return AttributeMapping.from_data(line for line in lines if line.strip()).to_data()
        except MappingError as error:
            raise ValueError(str(error)) from None

    @model_validator(mode="before")
    @classmethod
    def _no_secret(cls, data):
        if isinstance(data, dict) and _SECRET_KEYS.intersection(data):
            raise ValueError("a password is never a setting: it is stored encrypted on its own "
                             "(usersync source add/edit --password-file)")
        return data


class ActiveDirectorySettings(DirectorySettings):
    mapping: list[str] = Field(default_factory=active_directory.DEFAULT_MAPPING.to_data,
                               min_length=1)


class LdapSettings(DirectorySettings):
    mapping: list[str] = Field(default_factory=openldap.DEFAULT_MAPPING.to_data, min_length=1)


SCHEMAS: dict[str, type[BaseModel]] = {
    "csv": FileSettings,
    "ldif": FileSettings,
    "active_directory": ActiveDirectorySettings,
    "ldap": LdapSettings,
}
DIRECTORY_KINDS = frozenset({"active_directory", "ldap"})


def validated(kind: str, data: dict) -> dict:
    """``data`` checked against the kind's schema, as plain JSON data; ValidationError otherwise."""
    schema = SCHEMAS.get(kind)
    if schema is None:
        return dict(data)
    try:
        return schema.model_validate(data).model_dump(exclude_none=True)
    except SchemaError as error:
        raise ValidationError({"settings": [_problem(e) for e in error.errors()]}) from None


_BOUNDS = {"less_than_equal": "at most", "less_than": "less than",
           "greater_than_equal": "at least", "greater_than": "more than"}


def _problem(error: dict) -> str:
    """One schema error as an admin reads it: ``where: what`` (never the value itself)."""
    where = ".".join(str(part) for part in error["loc"])
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "not a setting of this kind of source"
    elif error["type"] == "missing":
        message = "required"
    elif error["type"] == "too_short":
        message = "give at least one"
    elif error["type"] in _BOUNDS:
        bound = next(iter(error.get("ctx", {}).values()), "")
        message = f"must be {_BOUNDS[error['type']]} {bound}"
    return f"{where}: {message}" if where else message


def _url(url: str) -> str:
    url = url.strip()
    scheme, sep, rest = url.partition("://")
    netloc = rest.split("/", 1)[0].split("?", 1)[0]
    if "@" in netloc:  # never repeat it: it may hold a password
        raise ValueError("a server URL holds credentials: give the bind account with --bind-dn "
                         "and the password with --password-file")
    example = "write ldaps://host[:636] or ldap://host[:389]"
    if not sep or scheme.lower() not in ("ldap", "ldaps"):
        raise ValueError(f"{url!r} is not an LDAP server URL: {example}")
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        raise ValueError(f"{url!r} has no valid host and port: {example}") from None
    if not host:
        raise ValueError(f"{url!r} names no server: {example}")
    if parts.path.strip("/") or parts.query or parts.fragment:
        raise ValueError(f"the server URL {scheme}://{netloc} has more than a host and port: "
                         "give search bases as scopes, and the filter on its own")
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme.lower()}://{shown}" + (f":{port}" if port is not None else "")


def _dn(value: str, what: str, example: str) -> None:
    if not value.strip():
        raise ValueError(f"{what} is empty (e.g. {example})")
    try:
        parse_dn(value)
    except SourceError:
        raise ValueError(f"{what} {value!r} is not a distinguished name (e.g. {example})") from None
