"""A source that the portal's setup wizard is building or editing, before it is saved: a *draft*.

Between the wizard's steps a draft is plain JSON data kept in the person's session, which is
stored in the database; so a draft never holds the bind password in clear, only the token
``crypto.encrypt`` made of it (``with_password``). A draft of a saved source whose password was
left blank uses the source's own encrypted secret.

Everything the wizard does with a draft before saving it (test its connection, count what its
filter matches, show sample records as they will map, preview a sync) builds an unsaved
``Source`` from it (``unsaved_source``) and goes through the services a saved source goes
through (``sources.test_connection``, ``readers.configured_reader``, ``runs.sync(preview=True)``),
so a draft is read exactly as the saved source will be. Saving goes through
``sources.create_source`` / ``edit_source``, which validate it once more. Nothing here knows HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError

from usersync.app import crypto, sources
from usersync.app.directory import source_settings
from usersync.app.directory.models import Source, SourceKind
from usersync.app.orgs.models import Organization
from usersync.app.sync import readers, runs
from usersync.app.sync.export import write_rows
from usersync.core.desired import FIELD_LABELS, Placement, Rejected, build
from usersync.core.mapping import AttributeMapping
from usersync.core.plan import Op, Plan
from usersync.core.records import SECRET_FIELDS, SourceRecord

#: The kinds the wizard sets up: directories fully, upload sources by name and kind only.
WIZARD_KINDS = sources.CREATABLE_KINDS
#: Source options the wizard edits, with the model's defaults for a new source.
OPTION_NAMES = ("enabled", "archive_missing", "archive_disabled", "welcome_email",
                "new_contact_channels", "safeguard_percent", "safeguard_minimum", "safeguard_maximum",
                "full_reconcile_hours", "schedule", "schedule_hours")
#: The settings a directory source may drop (``None`` in ``edit_source`` restores the default).
OPTIONAL_SETTINGS = ("filter", "ca_pem")
#: Stands in for the id of a source that does not exist yet: no saved source has it, so a new
#: draft owns no contacts and no directory objects, as a source that is not saved owns none. (The
#: run services query by source, and Django refuses an unsaved instance in such a query.)
NEW_DRAFT_ID = -1


def is_directory(draft: dict) -> bool:
    return draft["kind"] in sources.DIRECTORY_KINDS


def new_draft(kind: str = SourceKind.ACTIVE_DIRECTORY, name: str = "") -> dict:
    fields = {f.name: f.get_default() for f in Source._meta.fields if f.name in OPTION_NAMES}
    return {"source_id": None, "kind": kind, "name": name, "settings": {}, "base_dn": "",
            "secret": "", "options": fields}


def draft_of(source: Source) -> dict:
    """A draft to edit ``source``: its settings and options (its password stays where it is)."""
    scopes = source.settings.get("scopes") or [{}]
    return {"source_id": source.pk, "kind": source.kind, "name": source.name,
            "settings": dict(source.settings), "base_dn": scopes[0].get("base", ""),
            "secret": "", "options": {name: getattr(source, name) for name in OPTION_NAMES}}


def with_password(draft: dict, password: str) -> dict:
    """The draft holding ``password``, encrypted (never in clear in the session)."""
    return {**draft, "secret": crypto.encrypt(password)}


def has_password(org: Organization, draft: dict) -> bool:
    return bool(draft["secret"] or _saved_secret(org, draft))


def settings_of(draft: dict) -> dict:
    """The settings the draft would save. Until the scope step names search bases, the
    connection's base DN stands in for them, so the connection can be tested first."""
    settings = dict(draft["settings"])
    if is_directory(draft) and not settings.get("scopes") and draft.get("base_dn"):
        settings["scopes"] = [{"base": draft["base_dn"]}]
    return settings


def validated_settings(draft: dict) -> dict:
    """The draft's settings checked by the kind's schema; ``ValidationError`` otherwise."""
    return source_settings.validated(draft["kind"], settings_of(draft))


def unsaved_source(org: Organization, draft: dict) -> Source:
    """The source the draft describes, not saved: settings validated, the secret encrypted."""
    source = Source(organization=org, kind=draft["kind"], name=draft["name"] or "new source",
                    settings=validated_settings(draft),
                    secret=draft["secret"] or _saved_secret(org, draft),
                    **draft["options"])
    source.pk = draft["source_id"] or NEW_DRAFT_ID
    return source


def test(org: Organization, draft: dict, samples: int = 5) -> dict:
    """The connection report of the draft (``LdapConnector.test``): reachable, SSL status and
    certificate, bind, counts per search base, sample records. ``ValidationError`` for invalid
    settings, ``SourceError`` (with a hint) when the password is missing or unreadable."""
    return sources.test_connection(unsaved_source(org, draft), samples=samples)


test.__test__ = False  # a service, not a pytest test


@dataclass(frozen=True)
class Count:
    """How many directory entries the draft's bases, filter, groups and exclusions match."""

    total: int | None
    bases: list[dict]
    #: What stopped the count (``{"code", "message", "hint"}``), if anything did.
    error: dict | None = None


def count(org: Organization, draft: dict) -> Count:
    report = test(org, draft, samples=0)
    bases = report["bases"]
    error = report["error"] or next(
        ({"code": "search_failed", "message": f"{b['base']}: {b['error']}", "hint": ""}
         for b in bases if b.get("error")), None)
    total = None if error else sum(b["count"] for b in bases)
    return Count(total, bases, error)


@dataclass(frozen=True)
class Sample:
    """A directory record as the mapping turns it into a contact (``problem``: why it would not
    become one, as a sync would report it)."""

    values: dict[str, str]
    problem: str | None = None


def samples(org: Organization, draft: dict, limit: int = 5) -> tuple[list[Sample], dict]:
    """A few records of the directory as the draft's mapping makes them, normalized and checked
    like a sync does (``core.desired``); and the connection report they come from."""
    report = test(org, draft, samples=limit)
    placement = Placement(default_region=org.default_region)  # locations come from the bases
    shown = []
    for mapped in report["samples"]:
        mapping = AttributeMapping.from_data(
            f"{name}={name}|all" if isinstance(value, list) else f"{name}={name}"
            for name, value in mapped.items())
        attributes = {name: tuple(value) if isinstance(value, list) else (value,)
                      for name, value in mapped.items()}
        built = build(SourceRecord(attributes), mapping, placement, lambda secret: "")
        if isinstance(built, Rejected):
            shown.append(Sample(_shown(mapped), built.reason))
        else:
            shown.append(Sample(_shown(built[0].values)))
    return shown, report


def _shown(values) -> dict[str, str]:
    return {FIELD_LABELS.get(name, name): ", ".join(value) if isinstance(value, (list, tuple))
            else value for name, value in values.items() if name not in SECRET_FIELDS}


def preview(org: Organization, draft: dict) -> runs.Outcome:
    """What a sync of the draft would do: a full read and a plan, nothing written. Full, not
    incremental: the preview shows (and exports) everyone the directory holds in scope."""
    source = unsaved_source(org, draft)
    return runs.sync(source, readers.configured_reader(source, full=True), preview=True)


PREVIEW_HEADER = ("operation", "first name", "last name", "email address", "address type",
                  "primary address", "location", "record", "reason")


def preview_rows(plan: Plan):
    """Seed 002's "Export User Preview to .csv": every address the directory holds for each
    person, with its type (primary or alias) and the primary address an alias belongs to."""
    for op in plan.operations:
        fields = op.fields
        base = (op.op.value, fields.get("first_name", ""), fields.get("last_name", ""))
        tail = (op.location or "", op.label or op.dn or op.anchor or "", op.reason)
        primary = fields.get("email", "")
        if not primary and op.op is Op.ARCHIVE:
            yield (op.op.value, op.label, "", "", "", "", *tail)
            continue
        yield (*base, primary, "primary" if primary else "none", primary, *tail)
        for alias in fields.get("aliases", ()):
            yield (*base, alias, "alias", primary, *tail)


def write_preview(handle, plan: Plan) -> None:
    """The preview as CSV (cells a spreadsheet would run as formulas escaped)."""
    write_rows(handle, PREVIEW_HEADER, preview_rows(plan))


def save(org: Organization, draft: dict) -> Source:
    """Create or change the source the draft describes; ``ValidationError`` says what is wrong."""
    password = crypto.decrypt(draft["secret"]) if draft["secret"] else None
    options = {name: value for name, value in draft["options"].items()
               if name in sources.OPTIONS}
    settings = settings_of(draft) if is_directory(draft) else {}
    if draft["source_id"] is None:
        return sources.create_source(org, draft["name"], draft["kind"], settings, password,
                                     **options)
    source = Source.objects.filter(organization=org, pk=draft["source_id"]).first()
    if source is None:
        raise ValidationError("this source was removed while it was being edited")
    if is_directory(draft):
        settings = {key: settings.get(key) for key in (*settings, *OPTIONAL_SETTINGS)}
    return sources.edit_source(source, name=draft["name"], settings=settings,
                               password=password, **options)


def _saved_secret(org: Organization, draft: dict) -> str:
    if draft["source_id"] is None:
        return ""
    return (Source.objects.filter(organization=org, pk=draft["source_id"])
            .values_list("secret", flat=True).first() or "")
