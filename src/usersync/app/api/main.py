"""The API object: authentication, error handlers and the resources' routers."""

from __future__ import annotations

from ninja import NinjaAPI

from . import api_keys, contacts, directory_objects, errors, locations, organizations, runs, sources
from . import webhooks
from .auth import ApiKeyAuth, SessionAuth

api = NinjaAPI(
    title="usersync",
    version="1",
    description="Directory sync: organizations, locations, contacts, runs, directory objects "
                "and API keys. Authenticate with `Authorization: Bearer <API key>` or a portal "
                "session (with the X-CSRFToken header on unsafe methods). Errors are "
                '`{"code", "message", "hint"}`.',
    auth=[ApiKeyAuth(), SessionAuth()],
    urls_namespace="api",
    docs_url="/docs",
    openapi_url="/openapi.json",
)
errors.register(api)
for module in (organizations, locations, contacts, sources, runs, directory_objects, api_keys):
    api.add_router("", module.router)
api.add_router("", webhooks.router)
