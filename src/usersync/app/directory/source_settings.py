"""The typed schema of each source kind's settings (stored as JSON on the source).

Settings are validated here once, whatever surface wrote them (command line, portal, API), and
never hold a secret: secrets live encrypted in ``Source.secret``.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as SchemaError


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


SCHEMAS: dict[str, type[BaseModel]] = {"csv": FileSettings, "ldif": FileSettings}


def validated(kind: str, data: dict) -> dict:
    """``data`` checked against the kind's schema, as plain JSON data; ValidationError otherwise."""
    schema = SCHEMAS.get(kind)
    if schema is None:
        return dict(data)
    try:
        return schema.model_validate(data).model_dump(exclude_none=True)
    except SchemaError as error:
        problems = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()]
        raise ValidationError({"settings": problems}) from None
