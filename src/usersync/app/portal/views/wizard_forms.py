"""The wizard's forms: each step's posted fields → changes to the draft, and the problems found.

A step returns the changed draft and ``{field: [message]}``. Settings are checked by the kind's
schema (``source_settings``, through ``drafts.validated_settings``) and its messages are shown
next to the field they are about; options and the schedule are Django forms.
"""

from __future__ import annotations

import re

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError

from usersync.app import drafts, sources
from usersync.app.directory.models import ScheduleKind, Source
from usersync.connectors.ldap_settings import default_mapping

SECURITY = {"ldaps": "LDAPS (TLS from the start, port 636)",
            "starttls": "StartTLS (port 389, then TLS)",
            "plain": "Plain LDAP — insecure: nothing is encrypted (a trusted test network only)"}
MAX_CA_BYTES = 256 * 1024
#: The step whose fields each settings key (or form field) belongs to.
STEP_OF = {"name": "kind", "kind": "kind",
           "urls": "connection", "bind_dn": "connection", "password": "connection",
           "ca_pem": "connection", "insecure": "connection", "base_dn": "connection",
           "security": "connection", "page_size": "connection", "connect_timeout": "connection",
           "timeout": "connection",
           "scopes": "scope", "filter": "scope", "groups": "scope", "exclusions": "scope",
           "mapping": "mapping",
           **{name: "options" for name in drafts.OPTION_NAMES},
           "enabled": "schedule", "schedule": "schedule", "schedule_hours": "schedule"}
#: Where problems that concern no field are shown (above the step's form).
GENERAL = "general"
_WHERE = re.compile(r"^([a-z_]+)(?:\.[\w.]+)?: ")

Errors = dict[str, list[str]]


def errors_of(error: ValidationError) -> Errors:
    """A ``ValidationError`` of the settings schema or the source services, by field. The schema
    says ``where: what``; ``where`` picks the field, and is dropped when it is just its name."""
    found: Errors = {}
    items = error.message_dict.items() if hasattr(error, "error_dict") else [
        (GENERAL, error.messages)]
    for key, messages in items:
        for message in messages:
            field = key
            match = _WHERE.match(message) if key in ("settings", NON_FIELD_ERRORS) else None
            if match and match[1] in STEP_OF:
                field = match[1]
                if match[0] == f"{field}: ":
                    message = message[len(match[0]):]
            found.setdefault(field if field in STEP_OF else GENERAL, []).append(message)
    return found


def settings_errors(draft: dict) -> Errors:
    try:
        drafts.validated_settings(draft)
    except ValidationError as error:
        return errors_of(error)
    return {}


def of_step(errors: Errors, step: str) -> Errors:
    return {f: m for f, m in errors.items() if STEP_OF.get(f) == step}


def lines(text: str) -> list[str]:
    return [line.strip() for line in (text or "").replace("\x00", "").splitlines() if line.strip()]


def _text(post, name: str, limit: int = 2000) -> str:
    return post.get(name, "").replace("\x00", "").strip()[:limit]


# -- kind -----------------------------------------------------------------------------------------

def kind_step(post, draft: dict, org) -> tuple[dict, Errors]:
    errors: Errors = {}
    name = _text(post, "name", 100)
    kind = draft["kind"] if draft["source_id"] else post.get("kind", "")
    if kind not in drafts.WIZARD_KINDS:
        errors["kind"] = ["choose the kind of source"]
        kind = draft["kind"]
    if not name:
        errors["name"] = ["a source needs a name"]
    elif Source.objects.filter(organization=org, name=name).exclude(pk=draft["source_id"]).exists():
        errors["name"] = [f"this organization already has a source named {name!r}"]
    changed = {**draft, "name": name}
    if kind != draft["kind"]:
        changed.update(kind=kind, settings={})  # another kind's settings mean nothing here
    return changed, errors


# -- connection -----------------------------------------------------------------------------------

def security_of(draft: dict) -> str:
    settings = draft["settings"]
    if settings.get("insecure"):
        return "plain"
    urls = settings.get("urls") or []
    if urls:
        return "ldaps" if all(u.lower().startswith("ldaps://") for u in urls) else "starttls"
    return "ldaps" if draft["kind"] == "active_directory" else "starttls"


def connection_step(post, files, draft: dict) -> tuple[dict, Errors]:
    errors: Errors = {}
    settings = dict(draft["settings"])
    security = post.get("security", "")
    if security not in SECURITY:
        errors["security"] = ["choose how to connect: LDAPS, StartTLS or plain"]
        security = "starttls"
    scheme = "ldaps" if security == "ldaps" else "ldap"
    urls = []
    for line in lines(post.get("servers", ""))[:20]:
        given, sep, _ = line.partition("://")
        if sep and given.lower() != scheme:
            errors.setdefault("urls", []).append(
                f"{line} uses {given}:// but the security is {security_of_label(security)}: "
                f"write {scheme}://{line.partition('://')[2]} or choose another security")
        urls.append(line if sep else f"{scheme}://{line}")
    settings.update(urls=urls, insecure=security == "plain", bind_dn=_text(post, "bind_dn", 500))
    upload = files.get("ca_file")
    if upload is not None:
        data = upload.read(MAX_CA_BYTES + 1)
        if len(data) > MAX_CA_BYTES:
            errors["ca_pem"] = ["the CA file is larger than 256 KB: give only the CA "
                                "certificate(s)"]
        else:
            settings["ca_pem"] = data.decode("utf-8", errors="replace")
    elif post.get("remove_ca"):
        settings.pop("ca_pem", None)
    changed = {**draft, "settings": settings, "base_dn": _text(post, "base_dn", 500)}
    password = post.get("password", "")
    if password:
        changed = drafts.with_password(changed, password)
    if not changed["base_dn"] and not settings.get("scopes"):
        errors["base_dn"] = ["enter the base DN of the directory (e.g. DC=example,DC=com): the "
                             "connection is tested with it"]
    found = settings_errors(changed)
    if not settings.get("scopes") and "scopes" in found:
        found.setdefault("base_dn", []).extend(found.pop("scopes"))
    for field, messages in of_step(found, "connection").items():
        errors.setdefault(field, []).extend(m for m in messages if m not in errors.get(field, []))
    return changed, errors


def security_of_label(security: str) -> str:
    return SECURITY[security].split(" (")[0].split(" —")[0]


# -- scope ----------------------------------------------------------------------------------------

def scope_step(post, draft: dict, org) -> tuple[dict, Errors]:
    settings = dict(draft["settings"])
    if org.multi_location:
        scopes = [{"base": base, "location": location.identifier}
                  for location in org.locations.order_by("identifier")
                  for base in lines(post.get(f"bases-{location.identifier}", ""))]
    else:
        scopes = [{"base": base} for base in lines(post.get("bases", ""))]
    settings.update(scopes=scopes, groups=lines(post.get("groups", "")),
                    exclusions=lines(post.get("exclusions", "")))
    settings["filter"] = _text(post, "filter") or None
    if not settings["filter"]:
        settings.pop("filter")
    changed = {**draft, "settings": settings}
    errors = of_step(settings_errors(changed), "scope")
    if not scopes:
        errors["scopes"] = ["give at least one search base, e.g. OU=Staff,DC=example,DC=com"
                            + (" (one or more per location)" if org.multi_location else "")]
    return changed, errors


def bases_text(draft: dict, location: str | None) -> str:
    return "\n".join(s["base"] for s in draft["settings"].get("scopes", [])
                     if s.get("location") == location)


# -- mapping --------------------------------------------------------------------------------------

def mapping_step(post, draft: dict) -> tuple[dict, Errors]:
    settings = dict(draft["settings"])
    settings["mapping"] = lines(post.get("mapping", ""))[:100]
    if not settings["mapping"]:
        settings.pop("mapping")  # the kind's default
    changed = {**draft, "settings": settings}
    return changed, of_step(settings_errors(changed), "mapping")


def mapping_text(draft: dict) -> str:
    return "\n".join(draft["settings"].get("mapping")
                     or default_mapping(draft["kind"]).to_data())


# -- options and schedule -------------------------------------------------------------------------

class OptionsForm(forms.Form):
    archive_missing = forms.BooleanField(
        required=False, label="Archive contacts that are no longer in the directory")
    archive_disabled = forms.TypedChoiceField(
        label="Disabled accounts", coerce=lambda v: v == "archive", widget=forms.RadioSelect,
        choices=[("archive", "Archive their contacts"),
                 ("keep", "Keep their contacts as they are")])
    welcome_email = forms.BooleanField(
        required=False, label="Send a welcome email to each contact this source creates")
    new_contact_channels = forms.MultipleChoiceField(
        required=False, widget=forms.CheckboxSelectMultiple,
        choices=[("email", "Email"), ("sms", "SMS"), ("slack", "Slack")],
        label="Notify new contacts by",
        help_text="Each only where the person has an address, a mobile number or a Slack name.")
    safeguard_percent = forms.FloatField(
        min_value=0, max_value=100, label="Block a run that would archive more than (%)")
    safeguard_minimum = forms.IntegerField(
        min_value=0, max_value=1_000_000, label="… but only when that is at least (contacts)")
    safeguard_maximum = forms.IntegerField(
        min_value=0, max_value=1_000_000, label="Always block a run that would archive more than "
                                                "(contacts)")
    full_reconcile_hours = forms.IntegerField(
        min_value=1, max_value=24 * 30, label="Read everything at least every (hours)")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in list(self.fields):  # only what the source services can write
            if name not in sources.OPTIONS:
                del self.fields[name]


class ScheduleForm(forms.Form):
    schedule = forms.ChoiceField(choices=ScheduleKind.choices, widget=forms.RadioSelect,
                                 label="Schedule")
    schedule_hours = forms.TypedChoiceField(
        coerce=int, choices=[(n, f"{n} hour{'s' if n > 1 else ''}") for n in range(1, 25)],
        label="Every")
    enabled = forms.BooleanField(required=False,
                                 label="Enabled: scheduled syncs run (Sync now always works)")


def initial(form_class, draft: dict) -> dict:
    options = draft["options"]
    values = {name: options.get(name) for name in form_class.base_fields}
    if "archive_disabled" in values:
        values["archive_disabled"] = "archive" if options.get("archive_disabled") else "keep"
    return values


def form_step(form_class, post, draft: dict) -> tuple[dict, Errors, forms.Form]:
    form = form_class(post, initial=initial(form_class, draft))
    if not form.is_valid():
        return draft, {f: list(m) for f, m in form.errors.items()}, form
    return {**draft, "options": {**draft["options"], **form.cleaned_data}}, {}, form
