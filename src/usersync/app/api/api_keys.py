"""API keys of an organization: list, create (the token is in the answer, once), revoke."""

from __future__ import annotations

from datetime import datetime

from django.shortcuts import get_object_or_404
from ninja import Field, Router, Schema
from ninja.responses import Status

from usersync.app.accounts import access
from usersync.app.accounts import api_keys as keys
from usersync.app.accounts.models import ApiKey, ApiScope

from .schemas import ERRORS, TEXT, Error, Input, OrgRef, object_id

router = Router(tags=["API keys"])


class ApiKeyOut(Schema):
    id: int
    name: str
    prefix: str = Field(..., description="The token's first characters, to tell keys apart.")
    scopes: list[ApiScope]
    created_by: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    active: bool


class ApiKeyCreated(ApiKeyOut):
    token: str = Field(..., description="The key itself: shown this once, stored only hashed.")


class ApiKeyIn(Input):
    name: str = Field(..., min_length=1, max_length=100, pattern=TEXT)
    scopes: list[ApiScope] = Field(..., min_length=1)


@router.get("/organizations/{org}/api-keys", response={200: list[ApiKeyOut], ERRORS: Error})
def list_api_keys(request, org: OrgRef):
    return ApiKey.objects.filter(organization=access.require_org(request, org))


@router.post("/organizations/{org}/api-keys", response={201: ApiKeyCreated, ERRORS: Error})
def create_api_key(request, org: OrgRef, payload: ApiKeyIn):
    organization = access.require_org(request, org, write=True)
    key, token = keys.create_api_key(organization, payload.name, payload.scopes,
                                     created_by=access.actor(request))
    key.token = token
    return Status(201, key)


@router.post("/organizations/{org}/api-keys/{key_id}/revoke",
             response={200: ApiKeyOut, ERRORS: Error})
def revoke_api_key(request, org: OrgRef, key_id: int = object_id("The API key's id.")):
    organization = access.require_org(request, org, write=True)
    return keys.revoke(get_object_or_404(ApiKey, organization=organization, pk=key_id))
