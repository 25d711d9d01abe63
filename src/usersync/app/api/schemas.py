"""Schemas shared by the resources: errors, pagination, path parameters."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from ninja import Field, Path, Schema
from ninja.schema import DjangoGetter
from pydantic import BeforeValidator, ConfigDict, model_validator

from usersync.app.accounts.access import MAX_ID

ORG_REF = r"^[A-Za-z0-9_-]{1,64}$"
#: Text a person typed: no NUL characters (PostgreSQL cannot store them).
TEXT = r"^[^\x00]*$"

#: The statuses of the API's errors, all of them an ``Error`` (500 is a bug, reported the same way).
ERRORS = frozenset({400, 401, 403, 404, 409, 422, 500})

OrgRef = Annotated[str, Path(..., pattern=ORG_REF, description="The organization's slug or id.")]


def _iso(value: Any) -> Any:
    """Only ISO 8601 text is a time here, never a number taken for a Unix timestamp."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise ValueError("must be an ISO 8601 date-time")
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError("must be an ISO 8601 date-time, e.g. 2025-01-31T08:00:00Z") from None


IsoDateTime = Annotated[datetime, BeforeValidator(_iso)]


class Input(Schema):
    """A request body: a JSON object with only the documented fields."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _an_object(cls, data: Any) -> Any:
        raw = data._obj if isinstance(data, DjangoGetter) else data  # ninja wraps it once more
        if not isinstance(raw, dict):
            raise ValueError("the body must be a JSON object")
        return data


def object_id(description: str):
    return Path(..., ge=1, le=MAX_ID, description=description)


class Problem(Schema):
    field: str
    message: str


class Error(Schema):
    """Every error: a stable ``code``, what happened, and what to do about it."""

    code: str = Field(..., examples=["not_found"])
    message: str
    hint: str = ""
    errors: list[Problem] = []


class PageQuery(Schema):
    limit: int = Field(50, ge=1, le=500, description="How many items to return.")
    offset: int = Field(0, ge=0, le=10**9, description="How many items to skip.")


def page(queryset, query: PageQuery) -> dict:
    """A page of ``queryset`` as ``{"count", "limit", "offset", "items"}``."""
    items = list(queryset[query.offset:query.offset + query.limit])
    return {"count": queryset.count(), "limit": query.limit, "offset": query.offset,
            "items": items}
