"""An organization's API keys: create (the token is shown once), revoke, last used."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from usersync.app.accounts import access
from usersync.app.accounts import api_keys as keys
from usersync.app.accounts.models import ApiKey, ApiScope
from usersync.core.normalize import FieldError

SCOPE_HELP = {
    ApiScope.AGENT_PUSH: "an on-premise agent pushes its directory reads",
    ApiScope.CSV_UPLOAD: "a script uploads CSV exports",
    ApiScope.READ_CONTACTS: "an app reads contacts",
    ApiScope.SCIM: "an identity provider provisions users over SCIM",
    ApiScope.ADMIN: "everything the API does for this organization",
}


@login_required
def api_keys(request, slug: str):
    org = access.require_org(request, slug, write=request.method == "POST")
    token = None
    if request.method == "POST":
        name = request.POST.get("name", "").replace("\x00", "")
        scopes = request.POST.getlist("scopes")
        try:
            key, token = keys.create_api_key(org, name, scopes, created_by=access.actor(request))
        except FieldError as error:
            messages.error(request, f"The key was not created: {error.field} {error.message}.")
        else:
            messages.success(request, f"Created the API key {key.name!r}. Copy it now: it is "
                                      "shown only this once.")
    return render(request, "portal/api_keys.html", {
        "org": org, "keys": ApiKey.objects.filter(organization=org), "token": token,
        "scopes": [(scope, ApiScope(scope).label, SCOPE_HELP[scope]) for scope in ApiScope.values],
        "writable": access.can_write(request, org),
    })


@login_required
@require_POST
def revoke(request, slug: str, key_id: int):
    org = access.require_org(request, slug, write=True)
    key = keys.revoke(get_object_or_404(ApiKey, organization=org, pk=key_id))
    messages.success(request, f"Revoked the API key {key.name!r} ({key.prefix}…).")
    return redirect("portal:api-keys", slug=org.slug)
