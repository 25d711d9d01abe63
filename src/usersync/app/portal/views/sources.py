"""A source's page (settings, SSL status, schedule, run history) and its actions: Sync now and
Remove. Its Directory users tab is ``directory_users.py``; setting a source up and editing it is
the wizard (``wizard.py``).
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from usersync.app import sources as source_services
from usersync.app.accounts import access
from usersync.app.directory.models import ACTIVE_RUN_STATUSES, Source, SyncRun, Trigger
from usersync.app.jobs import queue
from usersync.app.sync import readers
from usersync.app.sync.runs import AlreadyRunning, RunRefused
from usersync.connectors.errors import SourceError

from ..health import ssl_status
from ..summary import summary
from ..words import counted
from .redirects import back
from .runs import duration

RUNS_PAGE_SIZE = 25


def source_of(request, slug: str, source_id: int, write: bool = False) -> Source:
    org = access.require_org(request, slug, write=write)
    return get_object_or_404(Source.objects.select_related("organization"), organization=org,
                             pk=source_id)


@login_required
def source(request, slug: str, source_id: int):
    """The source page: what it reads and how, its SSL status and schedule, its runs."""
    source = source_of(request, slug, source_id, write=request.method not in ("GET", "HEAD"))
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET"])
    org = source.organization
    history = SyncRun.objects.filter(source=source).defer("plan")
    page = Paginator(history, RUNS_PAGE_SIZE).get_page(request.GET.get("page"))
    finished = history.exclude(status__in=ACTIVE_RUN_STATUSES).first()
    return render(request, "portal/source.html", {
        "org": org, "source": source, "writable": access.can_write(request, org),
        "summary": summary(source), "page": page,
        "rows": [(run, duration(run)) for run in page.object_list],
        "active": history.filter(status__in=ACTIVE_RUN_STATUSES).first(),
        "ssl_status": ssl_status(finished.connection if finished else None),
        "schedule": source_services.schedule_text(source),
        "next_run": source_services.next_run_local(source),
        "directory_users": source.directory_objects.count(),
    })


@login_required
@require_POST
def sync_now(request, slug: str, source_id: int):
    """Queue a run of the source (a worker executes it) and show the run, which refreshes itself
    until it is done."""
    source = source_of(request, slug, source_id, write=True)
    org_slug = source.organization.slug
    try:
        readers.configured_reader(source)  # a source that cannot be read is told now, not queued
        run = queue.enqueue(source, Trigger.MANUAL)
    except AlreadyRunning as error:
        if error.run is None:
            messages.error(request, f"{source.name}: {error}")
        else:
            link = reverse("portal:run", args=[org_slug, error.run.pk])
            messages.warning(request, format_html(
                '{}: a sync is already {} (<a href="{}">run #{}</a>); {}.', source.name,
                error.run.status, link, error.run.pk, "wait for it to finish"))
        return back(request, reverse("portal:source", args=[org_slug, source.pk]))
    except (SourceError, RunRefused) as error:
        messages.error(request, f"{source.name}: {error}")
        return back(request, reverse("portal:source", args=[org_slug, source.pk]))
    messages.success(request, f"{source.name}: sync queued as run #{run.pk}.")
    return redirect("portal:run", slug=org_slug, run_id=run.pk)


@login_required
def remove(request, slug: str, source_id: int):
    """Confirm, then delete the source with its runs and directory objects; contacts stay."""
    source = source_of(request, slug, source_id, write=True)
    if request.method == "POST":
        try:
            removed = source_services.remove_source(source)
        except ValidationError as error:
            messages.error(request, "; ".join(error.messages))
            return redirect("portal:organization", slug=source.organization.slug)
        kept = removed.contacts_kept
        messages.success(request, f"Removed the sync settings {source.name!r} and their history "
                                  f"({counted(removed.runs, 'run')}). {counted(kept, 'contact')} "
                                  f"{'was' if kept == 1 else 'were'} kept, now unmanaged.")
        return redirect("portal:organization", slug=source.organization.slug)
    return render(request, "portal/source_remove.html", {
        "org": source.organization, "source": source, "runs": source.runs.count(),
        "objects": source.directory_objects.count(),
        "contacts": source.contacts.count(),
    })
