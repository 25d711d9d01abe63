"""The portal's first pages: organizations, an organization's contacts and sources, a run.

Operators (staff) see every organization; organization roles arrive with the full portal.
"""

from __future__ import annotations

from itertools import groupby

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import get_object_or_404, render

from usersync.app.directory.models import Contact, ContactStatus, SyncRun
from usersync.app.orgs.models import Organization
from usersync.core.plan import Plan


def visible_organizations(user):
    if user.is_staff or user.is_superuser:
        return Organization.objects.all()
    return Organization.objects.none()


def _organization(request, slug: str) -> Organization:
    return get_object_or_404(visible_organizations(request.user), slug=slug)


@login_required
def home(request):
    organizations = visible_organizations(request.user).prefetch_related("sources")
    return render(request, "portal/home.html", {"organizations": organizations})


@login_required
def organization(request, slug: str):
    org = _organization(request, slug)
    status = request.GET.get("status", ContactStatus.ACTIVE)
    contacts = (
        Contact.objects.filter(organization=org, status=status)
        .select_related("location", "source")
        .order_by("department", "last_name", "first_name")
    )
    groups = [(dept or "No department", list(items)) for dept, items in
              groupby(contacts, key=lambda c: c.department)]
    sources = org.sources.all()
    runs = SyncRun.objects.filter(organization=org).select_related("source")[:10]
    return render(request, "portal/organization.html", {
        "org": org, "groups": groups, "sources": sources, "runs": runs, "status": status,
        "count": contacts.count(),
    })


@login_required
def run_detail(request, slug: str, run_id: int):
    org = _organization(request, slug)
    run = get_object_or_404(SyncRun, organization=org, pk=run_id)
    if run.plan is None:
        raise Http404("this run has no plan")
    plan = Plan.from_data(run.plan)
    wanted = request.GET.get("op")
    operations = [o for o in plan.operations if not wanted or o.op == wanted]
    return render(request, "portal/run.html", {"org": org, "run": run, "operations": operations})
