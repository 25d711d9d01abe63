"""The source setup wizard: kind → connection → test connection → scope → mapping → options →
preview → schedule → save. Editing a source walks the same steps, prefilled.

One URL per wizard (a new source of an organization, or a saved source), the step in ``?step=``.
The draft lives in the session between steps (``usersync.app.drafts``: the password only
encrypted); opening the wizard without a step starts a fresh draft. Each step's POST updates the
draft and moves on, or shows the step again with its problems next to their fields. Two htmx
actions answer with a fragment: the scope's live count and the mapping's sample records.
"""

from __future__ import annotations

import io

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse

from usersync.app import drafts
from usersync.app.accounts import access
from usersync.app.directory.models import Source
from usersync.connectors.errors import SourceError
from usersync.connectors.ldap_filters import default_filter
from usersync.connectors.ldap_settings import default_mapping
from usersync.core.plan import COUNT_KEYS, Op

from .. import plan_view
from ..summary import connection_report
from . import wizard_forms as forms

DIRECTORY_STEPS = (("kind", "Kind"), ("connection", "Connection"), ("test", "Test connection"),
                   ("scope", "Scope"), ("mapping", "Mapping"), ("options", "Options"),
                   ("preview", "Preview"), ("schedule", "Schedule"))
FILE_STEPS = (("kind", "Kind"), ("options", "Options"))
SHOWN_OPERATIONS = 300


def steps_of(draft: dict) -> tuple[tuple[str, str], ...]:
    return DIRECTORY_STEPS if drafts.is_directory(draft) else FILE_STEPS


@login_required
def wizard(request, slug: str, source_id: int | None = None):
    org = access.require_org(request, slug, write=True)
    source = get_object_or_404(Source, organization=org, pk=source_id) if source_id else None
    if source is not None and source.kind not in drafts.WIZARD_KINDS:
        messages.error(request, f"{source.get_kind_display()} sources are set up with the API.")
        return redirect("portal:source", slug=org.slug, source_id=source.pk)
    key = f"usersync.wizard.{org.pk}.{source.pk if source else 'new'}"
    step = request.POST.get("step") or request.GET.get("step") or ""
    draft = request.session.get(key)
    if draft is None or (request.method == "GET" and not step):
        draft = drafts.draft_of(source) if source else drafts.new_draft()
        request.session[key] = draft
    names = [name for name, _ in steps_of(draft)]
    step = step if step in names else names[0]
    ctx = Context(request, org, source, key, draft, step)
    if request.method == "POST":
        return POSTS[step](ctx)
    if step == "preview" and request.GET.get("format") == "csv":
        return _export(ctx)
    return ctx.render()


class Context:
    """One request of the wizard: where it is, the draft, and how to answer."""

    def __init__(self, request, org, source, key, draft, step):
        self.request, self.org, self.source, self.key = request, org, source, key
        self.draft, self.step = draft, step
        self.url = (reverse("portal:source-edit", args=[org.slug, source.pk]) if source
                    else reverse("portal:source-new", args=[org.slug]))

    def keep(self, draft: dict) -> None:
        self.draft = draft
        self.request.session[self.key] = draft

    def go(self, step: str):
        return redirect(f"{self.url}?step={step}")

    def advance(self, draft: dict, errors: dict, to: str | None = None):
        """A step's form posted: keep it and go on (to the next step, or ``to``), or show it
        again with its errors (nothing kept)."""
        if errors:
            self.draft = draft
            return self.render(errors)
        self.keep(draft)
        return self.go(to or self.next_step())

    def next_step(self) -> str:
        names = [name for name, _ in steps_of(self.draft)]
        return names[min(names.index(self.step) + 1, len(names) - 1)]

    def render(self, errors: dict | None = None, step: str | None = None, **extra):
        step = step or self.step
        steps = steps_of(self.draft)
        names = [name for name, _ in steps]
        index = names.index(step)
        context = {
            "org": self.org, "source": self.source, "draft": self.draft, "step": step,
            "url": self.url, "errors": errors or {}, "steps": steps, "index": index,
            "back": names[index - 1] if index else None,
            "last": index == len(names) - 1, "title": dict(steps)[step],
            "editing": self.source is not None,
            **STEP_CONTEXT[step](self), **extra,
        }
        return render(self.request, f"portal/wizard/{step}.html", context,
                      status=400 if errors else 200)


# -- each step: what it shows (GET) and what its form does (POST) ----------------------------------

def _next(ctx):
    """Steps that only show something (the test, the preview): Next moves on."""
    return ctx.go(ctx.next_step())


def _kind_context(ctx):
    return {"kinds": [(k.value, k.label) for k in drafts.WIZARD_KINDS]}


def _kind_post(ctx):
    return ctx.advance(*forms.kind_step(ctx.request.POST, ctx.draft, ctx.org))


def _connection_context(ctx):
    draft = ctx.draft
    return {"security": forms.security_of(draft), "securities": forms.SECURITY,
            "servers": "\n".join(draft["settings"].get("urls", [])),
            "password_set": drafts.has_password(ctx.org, draft),
            "ca_set": bool(draft["settings"].get("ca_pem"))}


def _connection_post(ctx):
    request = ctx.request
    draft, errors = forms.connection_step(request.POST, request.FILES, ctx.draft)
    if not drafts.has_password(ctx.org, draft):
        errors["password"] = ["enter the password of the bind account"]
    return ctx.advance(draft, errors, "test" if request.POST.get("action") != "next" else "scope")


def _test_context(ctx):
    try:
        return connection_report(drafts.test(ctx.org, ctx.draft))
    except ValidationError as error:
        return {"invalid": forms.errors_of(error)}
    except SourceError as error:
        return {"failure": error}


def _scope_context(ctx):
    locations = list(ctx.org.locations.order_by("identifier")) if ctx.org.multi_location else []
    return {"locations": [(loc, forms.bases_text(ctx.draft, loc.identifier))
                          for loc in locations],
            "bases": forms.bases_text(ctx.draft, None) or (
                "" if ctx.draft["settings"].get("scopes") else ctx.draft["base_dn"]),
            "default_filter": default_filter(ctx.draft["kind"]),
            "groups": "\n".join(ctx.draft["settings"].get("groups", [])),
            "exclusions": "\n".join(ctx.draft["settings"].get("exclusions", []))}


def _scope_post(ctx):
    draft, errors = forms.scope_step(ctx.request.POST, ctx.draft, ctx.org)
    if ctx.request.POST.get("action") == "count":
        return _live_count(ctx, draft, errors)
    return ctx.advance(draft, errors)


def _live_count(ctx, draft, errors):
    """htmx: how many entries the scope being edited matches (nothing is kept)."""
    count, failure = None, None
    if not errors:
        try:
            count = drafts.count(ctx.org, draft)
        except SourceError as error:
            failure = error
    return render(ctx.request, "portal/wizard/_count.html",
                  {"count": count, "errors": errors, "failure": failure})


def _mapping_context(ctx):
    return {"mapping": forms.mapping_text(ctx.draft),
            "default_mapping": "\n".join(default_mapping(ctx.draft["kind"]).to_data())}


def _mapping_post(ctx):
    draft, errors = forms.mapping_step(ctx.request.POST, ctx.draft)
    if ctx.request.POST.get("action") == "samples":
        return _samples(ctx, draft, errors)
    return ctx.advance(draft, errors)


def _samples(ctx, draft, errors):
    """htmx: a few directory records as the mapping being edited makes them."""
    found, report, failure = [], None, None
    if not errors:
        try:
            found, report = drafts.samples(ctx.org, draft)
        except SourceError as error:
            failure = error
        except ValidationError as error:
            errors = forms.errors_of(error)
    columns = list(dict.fromkeys(name for sample in found for name in sample.values))
    return render(ctx.request, "portal/wizard/_samples.html", {
        "rows": [([s.values.get(c, "") for c in columns], s.problem) for s in found],
        "columns": columns, "report": report, "failure": failure, "errors": errors})


def _form_context(form_class):
    def context(ctx):
        return {"form": form_class(initial=forms.initial(form_class, ctx.draft))}
    return context


def _form_post(form_class, then):
    """A step that is one form: keep what it gives, then ``then(ctx)``; its errors on the form."""
    def post(ctx):
        draft, errors, form = forms.form_step(form_class, ctx.request.POST, ctx.draft)
        if errors:
            return ctx.render(errors, form=form)
        ctx.keep(draft)
        return then(ctx)
    return post


def _after_options(ctx):
    """Save now if asked to, or if there is no directory to preview; otherwise on to preview."""
    if ctx.request.POST.get("action") == "save" or not drafts.is_directory(ctx.draft):
        return _save(ctx)
    return ctx.go(ctx.next_step())


def _preview_context(ctx):
    try:
        outcome = drafts.preview(ctx.org, ctx.draft)
    except ValidationError as error:
        return {"invalid": forms.errors_of(error)}
    except SourceError as error:
        return {"failure": error}
    if outcome.error is not None:
        return {"failure": outcome.error, "notices": outcome.notices}
    plan = outcome.plan
    wanted = ctx.request.GET.get("op", "")
    shown = [o for o in plan.operations if o.op is not Op.UNCHANGED
             and (not wanted or o.op.value == wanted)]
    notices = plan_view.split_notices(outcome.notices)[1]  # a preview always reads everything
    return {"plan": plan, "notices": notices, "op": wanted,
            "ops": [(op.value, COUNT_KEYS[op], plan.counts[COUNT_KEYS[op]]) for op in Op],
            "rows": plan_view.rows(shown[:SHOWN_OPERATIONS]),
            "more": max(0, len(shown) - SHOWN_OPERATIONS)}


def _export(ctx):
    """Seed 002's "Export User Preview to .csv": the preview again, one row per address."""
    try:
        outcome = drafts.preview(ctx.org, ctx.draft)
    except (ValidationError, SourceError):
        outcome = None
    if outcome is None or outcome.plan is None:
        messages.error(ctx.request, "The preview could not be made; see the error below.")
        return ctx.go("preview")
    buffer = io.StringIO()
    drafts.write_preview(buffer, outcome.plan)
    response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
    name = "".join(c if c.isalnum() or c in "-_" else "-" for c in ctx.draft["name"]) or "source"
    response["Content-Disposition"] = (f'attachment; filename="{ctx.org.slug}-{name}-'
                                       'user-preview.csv"')
    return response


def _save(ctx):
    """Save the draft; a problem found now is shown on the step it belongs to."""
    try:
        source = drafts.save(ctx.org, ctx.draft)
    except ValidationError as error:
        errors = forms.errors_of(error)
        names = [name for name, _ in steps_of(ctx.draft)]
        owner = min((forms.STEP_OF.get(f, ctx.step) for f in errors),
                    key=lambda s: names.index(s) if s in names else len(names))
        owner = owner if owner in names else ctx.step
        return ctx.render(errors, step=owner)
    del ctx.request.session[ctx.key]
    verb = "Saved" if ctx.source else "Created"
    messages.success(ctx.request, f"{verb} the source {source.name!r}."
                     + (" Sync now to read the directory." if not ctx.source else ""))
    return redirect("portal:source", slug=ctx.org.slug, source_id=source.pk)


STEP_CONTEXT = {
    "kind": _kind_context, "connection": _connection_context, "test": _test_context,
    "scope": _scope_context, "mapping": _mapping_context,
    "options": _form_context(forms.OptionsForm), "preview": _preview_context,
    "schedule": _form_context(forms.ScheduleForm),
}
POSTS = {
    "kind": _kind_post, "connection": _connection_post, "test": _next, "scope": _scope_post,
    "mapping": _mapping_post, "options": _form_post(forms.OptionsForm, _after_options),
    "preview": _next, "schedule": _form_post(forms.ScheduleForm, _save),
}
