"""A contact's picture, for the portal's pages (``<img src>``); the API serves the same bytes."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required

from usersync.app.accounts import access
from usersync.app.images import serving


@login_required
def contact_image(request, slug: str, contact_id: int):
    org = access.require_org(request, slug)
    return serving.image_response(request, serving.stored_image(org, contact_id))
