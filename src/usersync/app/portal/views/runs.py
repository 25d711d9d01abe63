"""A run: what it read and changed, record by record; a blocked run's approve / reject; CSV."""

from __future__ import annotations

import io

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from usersync.app.accounts import access
from usersync.app.directory.models import Contact, RunStatus, SyncRun
from usersync.app.sync import history
from usersync.app.sync import runs as running
from usersync.app.sync.export import write_plan
from usersync.app.sync.runs import RunRefused
from usersync.core.plan import COUNT_KEYS, Op, Plan

from .. import plan_view

PAGE_SIZE = 200
SHOWN_ARCHIVES = 500


def _run(request, slug: str, run_id: int, write: bool = False) -> SyncRun:
    org = access.require_org(request, slug, write=write)
    return get_object_or_404(SyncRun.objects.select_related("source", "organization"),
                             organization=org, pk=run_id)


@login_required
def run_detail(request, slug: str, run_id: int):
    run = _run(request, slug, run_id)
    wanted = request.GET.get("op", "")
    wanted = wanted if wanted in Op.__members__.values() else ""
    page = Paginator(history.operations(run, Op(wanted) if wanted else None),
                     PAGE_SIZE).get_page(request.GET.get("page"))
    shown = history.shown(page.object_list)
    counts = run.counts or {}
    archived = counts.get(COUNT_KEYS[Op.ARCHIVE], 0) if run.status == RunStatus.BLOCKED else 0
    archives = history.first(run, Op.ARCHIVE, SHOWN_ARCHIVES) if archived else []
    names = _contact_names(run, [o.contact_id for o in (*shown, *archives)])
    read_why, notices = plan_view.split_notices(run.notices)
    return render(request, "portal/run.html", {
        "org": run.organization, "run": run,
        # the header only (kind, read, complete): the operations are the page's, counts the run's
        "plan": Plan.from_data(run.plan) if run.plan else None,
        "page": page, "op": wanted, "read_why": read_why, "notices": notices,
        "rows": plan_view.rows(shown, names, _created(run, shown)),
        "ops": [(op.value, COUNT_KEYS[op], counts.get(COUNT_KEYS[op], 0)) for op in Op],
        "operations": history.operations(run).count() if wanted else page.paginator.count,
        # people a full read recognized unchanged have no operation each: counted, not listed
        "recognized": (max(0, counts.get(COUNT_KEYS[Op.UNCHANGED], 0) - page.paginator.count)
                       if wanted == Op.UNCHANGED else 0),
        "archives": plan_view.rows(archives, names),
        "more_archives": max(0, archived - SHOWN_ARCHIVES),
        "writable": access.can_write(request, run.organization), "duration": duration(run),
    })


def duration(run: SyncRun) -> str:
    """How long the run took, as a person says it: "0.4 s", "12 s", "3 min 5 s"."""
    if not run.started_at or not run.finished_at:
        return ""
    seconds = (run.finished_at - run.started_at).total_seconds()
    if seconds < 10:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"


def _contact_names(run: SyncRun, ids) -> dict[int, str]:
    wanted = {i for i in ids if i}
    found = Contact.objects.filter(organization=run.organization, pk__in=wanted)
    return {c.pk: str(c) for c in found.only("first_name", "last_name")}


def _created(run: SyncRun, operations) -> dict[str, int]:
    """The contacts a succeeded run created, by anchor (the plan was made before they existed)."""
    anchors = [o.anchor for o in operations if o.op is Op.CREATE and o.anchor]
    if run.status != RunStatus.SUCCEEDED or not anchors:
        return {}
    found = Contact.objects.filter(organization=run.organization, source=run.source_id,
                                   anchor__in=anchors)
    return dict(found.values_list("anchor", "pk"))


@login_required
def run_export(request, slug: str, run_id: int):
    """The plan as CSV, one row per field change (cells a spreadsheet would run escaped)."""
    run = _run(request, slug, run_id)
    buffer = io.StringIO()
    write_plan(buffer, history.plan_of(run))
    response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (f'attachment; filename="{run.organization.slug}-run-'
                                       f'{run.pk}.csv"')
    return response


@login_required
@require_POST
def decide(request, slug: str, run_id: int, decision: str):
    """Approve (apply exactly the plan) or reject a blocked run."""
    run = _run(request, slug, run_id, write=True)
    try:
        if decision == "approve":
            running.approve(run, by=access.actor(request))
            messages.success(request, f"Run #{run.pk} approved: its plan was applied.")
        else:
            running.reject(run, by=access.actor(request))
            messages.success(request, f"Run #{run.pk} rejected: nothing was changed.")
    except RunRefused as error:
        messages.error(request, str(error))
    return redirect("portal:run", slug=run.organization.slug, run_id=run.pk)
