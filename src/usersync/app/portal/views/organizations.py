"""The Organizations page: every organization the caller may see, with its sync health."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.shortcuts import render

from usersync.app.accounts import access
from usersync.app.accounts.models import Role

from ..health import organizations_health, sorted_health

COLUMNS = [  # (sort key, heading, numeric)
    ("name", "Organization", False), ("enabled", "Enabled", False),
    ("type", "Directory type", False), ("synced", "Synced users", True),
    ("conflicts", "Conflicts", True), ("ssl", "SSL status", False),
    ("last_sync", "Last sync", False), ("status", "Status (last 10)", False),
]


@login_required
def organizations(request):
    organizations = access.organizations_for(request.user)
    query = request.GET.get("q", "").strip()
    if query:
        organizations = organizations.filter(Q(name__icontains=query) | Q(slug__icontains=query))
    rows, sort = sorted_health(organizations_health(organizations), request.GET.get("sort", "name"))
    writable = _writable(request, [row.org for row in rows])
    headings = [
        {"key": key, "label": label, "numeric": numeric,
         "sorted": sort.lstrip("-") == key, "descending": sort == f"-{key}",
         "next": key if sort == f"-{key}" else f"-{key}" if sort == key or numeric else key}
        for key, label, numeric in COLUMNS
    ]
    return render(request, "portal/organizations.html", {
        "rows": [(row, row.org.pk in writable) for row in rows], "headings": headings,
        "sort": sort, "q": query, "nav": "organizations",
        "operator": access.is_operator(request.user),
    })


def _writable(request, orgs) -> set[int]:
    """The ids of ``orgs`` the caller may change (one query, not one per row)."""
    if access.is_operator(request.user):
        return {org.pk for org in orgs}
    return set(request.user.memberships.filter(role=Role.ADMIN).values_list("organization_id",
                                                                          flat=True))
