"""How API callers authenticate: ``Authorization: Bearer <API key>``, or a portal session.

A session request that changes something must carry Django's CSRF token (``X-CSRFToken``); a
bearer key needs none (a browser never sends it by itself).
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import PermissionDenied
from ninja.security import APIKeyCookie, HttpBearer
from ninja.utils import check_csrf

from usersync.app.accounts import api_keys

SAFE_METHODS = ("GET", "HEAD", "OPTIONS", "TRACE")


class CsrfFailed(PermissionDenied):
    """A session request that changes something came without a valid CSRF token."""


class ApiKeyAuth(HttpBearer):
    openapi_description = "An API key of one organization: `Authorization: Bearer usk_…`."

    def authenticate(self, request, token):
        return api_keys.authenticate(token)


class SessionAuth(APIKeyCookie):
    """The portal's session cookie; unsafe methods need the CSRF token."""

    param_name = settings.SESSION_COOKIE_NAME
    openapi_description = "A portal session (unsafe methods also need the X-CSRFToken header)."

    def __init__(self) -> None:
        super().__init__(csrf=False)  # checked below, once we know there is a session at all

    def authenticate(self, request, key):
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated or not user.is_active:
            return None
        if request.method not in SAFE_METHODS and check_csrf(request) is not None:
            raise CsrfFailed("CSRF check failed")
        return user
