"""Who may see and change what: the one module every view and API endpoint asks.

- **Operators** (Django staff users) see and change every organization.
- **Organization admins** see and change their organizations; **viewers** only see them.
- **API keys** see their own organization, within their scopes (``admin`` allows everything).

An organization the caller may not see does not exist for them: ``require_org`` raises ``Http404``
(never 403, which would confirm that the id exists). A write to an organization the caller may
see but not change raises ``PermissionDenied`` (403).
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404

from usersync.app.orgs.models import Organization

from .models import ApiKey, ApiScope, Membership, Role

#: The largest primary key a database column holds; larger ids cannot exist.
MAX_ID = 2**63 - 1
OPERATOR = "operator"


def is_operator(user) -> bool:
    return bool(user and user.is_authenticated and user.is_active and user.is_staff)


def organizations_for(user) -> QuerySet[Organization]:
    """The organizations a signed-in person may see."""
    if user is None or not user.is_authenticated or not user.is_active:
        return Organization.objects.none()
    if is_operator(user):
        return Organization.objects.all()
    return Organization.objects.filter(memberships__user=user).distinct()


def api_key_of(request) -> ApiKey | None:
    """The API key the request authenticated with, if it did with one."""
    auth = getattr(request, "auth", None)
    return auth if isinstance(auth, ApiKey) else None


def visible_organizations(request) -> QuerySet[Organization]:
    key = api_key_of(request)
    if key is not None:
        return Organization.objects.filter(pk=key.organization_id)
    return organizations_for(getattr(request, "user", None))


def role_in(request, org: Organization) -> str | None:
    """``operator``, ``admin`` or ``viewer`` for a person; ``admin`` or ``viewer`` for a key."""
    key = api_key_of(request)
    if key is not None:
        if key.organization_id != org.pk:
            return None
        return Role.ADMIN if key.allows(ApiScope.ADMIN) else Role.VIEWER
    user = getattr(request, "user", None)
    if is_operator(user):
        return OPERATOR
    if user is None or not user.is_authenticated:
        return None
    return Membership.objects.filter(user=user, organization=org).values_list(
        "role", flat=True).first()


def can_write(request, org: Organization) -> bool:
    return role_in(request, org) in (OPERATOR, Role.ADMIN)


def find_org(queryset: QuerySet[Organization], ref) -> Organization:
    """The organization of ``queryset`` whose id or slug is ``ref``; Http404 otherwise."""
    ref = str(ref)
    org = None
    if ref.isascii() and ref.isdigit() and int(ref) <= MAX_ID:
        org = queryset.filter(pk=int(ref)).first()
    if org is None:
        org = queryset.filter(slug=ref).first()
    if org is None:
        raise Http404("no such organization")
    return org


def require_org(request, ref, write: bool = False, scope: str = ApiScope.ADMIN) -> Organization:
    """The organization ``ref`` (slug or id) if the caller may see it, and change it when ``write``.

    An API key must hold ``scope`` (or ``admin``); a person must be an operator or an admin of the
    organization to write.
    """
    org = find_org(visible_organizations(request), ref)
    key = api_key_of(request)
    if key is not None:
        if not key.allows(scope):
            raise PermissionDenied(f"this API key does not have the {scope!r} scope")
    elif write and not can_write(request, org):
        raise PermissionDenied("your role in this organization is read-only")
    return org


def require_operator(request) -> None:
    """Operators only (creating and editing organizations)."""
    if api_key_of(request) is not None or not is_operator(getattr(request, "user", None)):
        raise PermissionDenied("only operators may do this")


def actor(request) -> str:
    """Who did it, for ``decided_by`` and ``created_by`` fields."""
    key = api_key_of(request)
    if key is not None:
        return f"api key {key.prefix}"
    return request.user.get_username()
