"""Contacts, sources, runs and directory objects: what usersync stores about people.

Contacts are written only by ``usersync.app.sync.apply`` (the one writer of synced changes) and by
an admin's manual edits.
"""

from __future__ import annotations

from datetime import datetime

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from usersync.app.orgs.models import Location, Organization
from usersync.core.normalize import MAX_EMAIL, MAX_TEXT, MAX_URL
from usersync.core.planning import CHANNELS

from . import lookups  # noqa: F401 — registers ``field__among=values``
from . import source_settings


class ContactStatus(models.TextChoices):
    ACTIVE = "active"
    ARCHIVED = "archived"


class Contact(models.Model):
    # The foreign keys to the organization and the source are found through the indexes that
    # start with them (Meta.indexes): an index of their own is written for every contact a sync
    # creates and read by nothing.
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="contacts",
                                     db_index=False)
    location = models.ForeignKey(
        Location, null=True, blank=True, on_delete=models.PROTECT, related_name="contacts",
        help_text="Empty: all locations of a global organization.",
    )
    first_name = models.CharField(max_length=MAX_TEXT)
    last_name = models.CharField(max_length=MAX_TEXT)
    email = models.CharField(max_length=MAX_EMAIL, blank=True, default="")
    sms_phone = models.CharField(max_length=32, blank=True, default="")
    title = models.CharField(max_length=MAX_TEXT, blank=True, default="")
    department = models.CharField(max_length=MAX_TEXT, blank=True, default="")
    image_url = models.CharField(max_length=MAX_URL, blank=True, default="")
    pin_hash = models.CharField(max_length=100, blank=True, default="")
    identification = models.CharField(max_length=MAX_TEXT, blank=True, default="")
    slack = models.CharField(max_length=100, blank=True, default="")
    aliases = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=10, choices=ContactStatus.choices, default=ContactStatus.ACTIVE)
    archived_at = models.DateTimeField(null=True, blank=True)
    archived_reason = models.CharField(max_length=300, blank=True, default="")
    source = models.ForeignKey(
        "Source", null=True, blank=True, on_delete=models.SET_NULL, related_name="contacts",
        help_text="The source that manages this contact; empty for unmanaged contacts.",
        db_index=False,
    )
    # a directory's id for the person (``DirectoryObject.anchor``), of any length
    anchor = models.TextField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # not indexed: a sync's update of a contact then writes no index entry (migration 0014)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["last_name", "first_name", "id"]
        indexes = [
            models.Index(fields=["organization", "status"]),
            models.Index(fields=["organization", "email"]),
            models.Index(fields=["source", "anchor"]),
            # an incremental run looks its changed people's keys up among all contacts
            models.Index(fields=["organization", "identification"]),
            models.Index(fields=["organization", "sms_phone"]),
        ]

    def __str__(self) -> str:
        return f"{self.first_name} {self.last_name}"

    @property
    def active(self) -> bool:
        return self.status == ContactStatus.ACTIVE


class ContactAlias(models.Model):
    """One of a contact's email aliases (an element of ``Contact.aliases``): an incremental run
    looks its changed people's addresses up among every contact's aliases through the index of
    these rows, where a look-up in each contact's list read the whole organization (80 ms at
    100,000 contacts of 3 aliases; 3.8 s on PostgreSQL with jsonb's ``?|``). Written only by the
    database, whose triggers on the contact table (migration 0011) keep these rows true at every
    write of a contact, bulk ones included; the code only reads them."""

    contact_id = models.BigIntegerField()
    organization_id = models.BigIntegerField()
    address = models.TextField()

    class Meta:
        indexes = [
            models.Index(fields=["organization_id", "address"], name="contact_alias_lookup"),
            models.Index(fields=["contact_id"], name="contact_alias_contact"),
        ]

    def __str__(self) -> str:
        return f"{self.address} (contact {self.contact_id})"


class ContactImage(models.Model):
    """The picture behind a contact's ``image_url``: downloaded by a worker, served by the portal
    and the API (``usersync.app.images``). Apart from ``Contact`` so that reading contacts never
    loads pictures, and so that a sync never waits on an image server."""

    contact = models.OneToOneField(Contact, on_delete=models.CASCADE, related_name="image")
    url = models.CharField(max_length=1000, help_text="The image_url this row is about.")
    content = models.BinaryField(null=True, blank=True, help_text="JPEG, PNG, GIF or WebP bytes.")
    content_type = models.CharField(max_length=20, blank=True, default="")
    sha256 = models.CharField(max_length=64, blank=True, default="")
    fetched_url = models.TextField(blank=True, default="",
                                 help_text="Where the bytes came from, after redirects.")
    fetched_at = models.DateTimeField(null=True, blank=True)
    attempted_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True, default="", help_text="Why the last download failed.")
    failures = models.PositiveSmallIntegerField(default=0, help_text="Failed downloads in a row.")
    next_attempt_at = models.DateTimeField(
        null=True, blank=True, help_text="When a worker downloads it (again); empty: never.")
    claimed_until = models.DateTimeField(
        null=True, blank=True, help_text="A worker is downloading it until then.")

    class Meta:
        indexes = [models.Index(fields=["next_attempt_at"], name="contact_image_due")]

    def __str__(self) -> str:
        return f"image of contact {self.contact_id}"


class Channel(models.TextChoices):
    EMAIL = "email"
    SMS = "sms"
    SLACK = "slack"


class MessageRule(models.Model):
    # found through the (contact, channel) constraint's index
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="message_rules",
                                db_index=False)
    channel = models.CharField(max_length=10, choices=Channel.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["contact", "channel"], name="message_rule_unique")
        ]


class SourceKind(models.TextChoices):
    ACTIVE_DIRECTORY = "active_directory", "Active Directory"
    LDAP = "ldap", "LDAP"
    ENTRA_ID = "entra_id", "Entra ID"
    AGENT = "agent", "Agent"
    CSV = "csv", "CSV"
    LDIF = "ldif", "LDIF"
    SCIM = "scim", "SCIM"


class ScheduleKind(models.TextChoices):
    MANUAL = "manual", "Manual only"
    EVERY_HOURS = "every_hours", "Every N hours at minute :01"
    AFTER_LAST = "after_last", "Every 24 hours after the last sync"


def default_channels() -> list[str]:
    """Every channel: a new contact is notified wherever it can be reached."""
    return sorted(CHANNELS)


class Source(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="sources")
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=20, choices=SourceKind.choices)
    enabled = models.BooleanField(default=True)
    settings = models.JSONField(default=dict, blank=True, help_text="Connection, scope and mapping.")
    secret = models.TextField(blank=True, default="", help_text="Encrypted; never shown.")
    archive_missing = models.BooleanField(default=True)
    archive_disabled = models.BooleanField(default=True)
    safeguard_percent = models.FloatField(default=20.0)
    safeguard_minimum = models.PositiveIntegerField(default=10)
    safeguard_maximum = models.PositiveIntegerField(default=500)
    schedule = models.CharField(max_length=20, choices=ScheduleKind.choices, default=ScheduleKind.MANUAL)
    schedule_hours = models.PositiveSmallIntegerField(
        default=24, validators=[MinValueValidator(1), MaxValueValidator(24)],
        help_text="Every N hours (1-24) at minute :01, for the every_hours schedule.",
    )
    next_run_at = models.DateTimeField(
        null=True, blank=True, help_text="When the scheduler enqueues the next run (jobs.scheduler).",
    )
    welcome_email = models.BooleanField(
        default=False, help_text="Send a welcome email to each contact this source creates.",
    )
    new_contact_channels = models.JSONField(
        default=default_channels, blank=True,
        help_text="How contacts the source creates are notified (email, sms, slack), among the "
                  "channels each one has a value for; an empty list: none.",
    )
    full_reconcile_hours = models.PositiveSmallIntegerField(
        default=24, validators=[MinValueValidator(1), MaxValueValidator(24 * 30)],
        help_text="An incremental source reads everything (a full reconcile) at least this often.",
    )
    sync_state = models.JSONField(
        default=dict, blank=True,
        help_text="What the connector needs for the next incremental read (watermarks); "
                  "empty means the next read is full.",
    )
    last_full_read_at = models.DateTimeField(
        null=True, blank=True,
        help_text="When the last complete full read was applied: every directory object still "
                  "present was seen then (``DirectoryObject.seen_at``).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="source_name_unique")
        ]

    def __str__(self) -> str:
        return f"{self.organization.slug}/{self.name}"

    def clean(self) -> None:
        self.settings = source_settings.validated(self.kind, self.settings or {})


class RunStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    BLOCKED = "blocked"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


ACTIVE_RUN_STATUSES = (RunStatus.QUEUED, RunStatus.RUNNING)


class Trigger(models.TextChoices):
    MANUAL = "manual"
    SCHEDULE = "schedule"
    UPLOAD = "upload"
    CLI = "cli"
    API = "api"
    AGENT = "agent"
    SCIM = "scim"


class SyncRun(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="runs")
    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="runs")
    trigger = models.CharField(max_length=10, choices=Trigger.choices)
    status = models.CharField(max_length=10, choices=RunStatus.choices, default=RunStatus.QUEUED)
    counts = models.JSONField(default=dict, blank=True)
    #: The plan but its operations (``Plan.header``): those are ``OperationBatch`` rows.
    plan = models.JSONField(null=True, blank=True)
    blocked_reason = models.TextField(blank=True, default="")
    notices = models.JSONField(default=list, blank=True)
    error_code = models.CharField(max_length=50, blank=True, default="")
    error_message = models.TextField(blank=True, default="")
    error_hint = models.TextField(blank=True, default="")
    connection = models.JSONField(default=dict, blank=True, help_text="Server, outcome and reason.")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.CharField(max_length=150, blank=True, default="")
    decided_at = models.DateTimeField(null=True, blank=True)
    # The run as a job (usersync.app.jobs): who holds it, until when, and which attempt it is.
    lease_owner = models.CharField(max_length=100, blank=True, default="")
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    not_before = models.DateTimeField(
        null=True, blank=True, help_text="A queued retry waits until then (backoff).",
    )
    attempt = models.PositiveSmallIntegerField(default=1)
    retry_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="retries",
        help_text="The first attempt of the sync this run retries; empty for a first attempt.",
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["source"],
                condition=Q(status__in=["queued", "running"]),
                name="one_active_run_per_source",
            )
        ]
        indexes = [
            models.Index(fields=["source", "-created_at"]),
            models.Index(fields=["created_at"], condition=Q(status="queued"), name="queued_runs"),
            models.Index(fields=["lease_expires_at"], condition=Q(status="running"),
                         name="leased_runs"),
        ]

    def __str__(self) -> str:
        return f"run {self.pk} of {self.source} ({self.status})"


class OperationBatch(models.Model):
    """Consecutive operations of one kind of a run's plan, in the plan's order: ``data`` is a
    JSON list of ``[position, operation]`` pairs (``core.plan.Operation.to_data``; ``position``
    its place in the whole plan), at most ``usersync.app.sync.history.BATCH`` of them. The rest
    of the plan is the run's ``plan``; a run's page reads only the batches of the operations it
    shows (``history.Operations``).

    A batch, not a row per operation: PostgreSQL compresses a batch's JSON (the write-ahead log
    of a first sync's 100,000 operations: 69 MB one row each, 3 MB in batches), and neither
    database keeps two index entries per operation. ``data`` is text: nothing looks inside it,
    and PostgreSQL would parse jsonb for nothing."""

    # found through the (run, op, start) constraint's index
    run = models.ForeignKey(SyncRun, on_delete=models.CASCADE, related_name="operation_batches",
                            db_index=False)
    op = models.CharField(max_length=12)
    #: How many operations of this kind come before the batch's first in the plan.
    start = models.PositiveIntegerField()
    count = models.PositiveIntegerField()
    first_position = models.PositiveIntegerField()
    last_position = models.PositiveIntegerField()
    data = models.TextField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run", "op", "start"], name="operation_batch_start")
        ]

    def __str__(self) -> str:
        return f"{self.count} {self.op} operations of run {self.run_id} from {self.start}"


class ObjectState(models.TextChoices):
    MAPPED = "mapped"
    UNMAPPED = "unmapped"
    CONFLICT = "conflict"
    IGNORED = "ignored"


class DirectoryObject(models.Model):
    """A user as the directory knows it, and what the source decided about it."""

    # found through the (source, anchor) constraint's index
    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="directory_objects",
                               db_index=False)
    # objectGUID, entryUUID, else the DN ("dn:" and the DN in lower case): a deep tree's DN
    # can be longer than any limit a column would set
    anchor = models.TextField()
    dn = models.TextField(blank=True, default="")
    attributes = models.JSONField(default=dict, blank=True, help_text="Last mapped values.")
    state = models.CharField(max_length=10, choices=ObjectState.choices, default=ObjectState.UNMAPPED)
    message = models.TextField(blank=True, default="")
    contact = models.ForeignKey(
        Contact, null=True, blank=True, on_delete=models.SET_NULL, related_name="directory_objects"
    )
    manual_contact = models.ForeignKey(
        Contact, null=True, blank=True, on_delete=models.SET_NULL, related_name="manual_mappings"
    )
    ignored = models.BooleanField(default=False)
    present = models.BooleanField(default=True, help_text="Returned by the last full read.")
    digest = models.CharField(max_length=32, blank=True, default="",
                              help_text="What the entry was when its contact was last synced.")
    synced_at = models.DateTimeField(null=True, blank=True,
                                     help_text="Since when the contact is what the digest says.")
    first_seen_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(
        null=True, blank=True,
        help_text="When a read last wrote this object (new, changed, or named by an incremental "
                  "read); a full read does not rewrite every object it returns (``seen_at``).")

    class Meta:
        ordering = ["dn", "anchor"]
        constraints = [
            models.UniqueConstraint(fields=["source", "anchor"], name="directory_object_unique")
        ]
        indexes = [
            models.Index(fields=["source", "state"]),
            # the admin's decisions, read before every run: few rows among many
            models.Index(fields=["source"], condition=Q(ignored=True),
                         name="directory_object_ignored"),
            models.Index(fields=["source"], condition=Q(manual_contact__isnull=False),
                         name="directory_object_manual"),
        ]

    def __str__(self) -> str:
        return self.dn or self.anchor

    @property
    def seen_at(self) -> datetime | None:
        """When a read last returned this object: a present object was returned by its source's
        last full read too (kept once on the source: writing it to each of 100,000 objects cost
        a PostgreSQL full read 2.5 s)."""
        full = self.source.last_full_read_at if self.present else None
        if full is None or (self.last_seen_at is not None and self.last_seen_at > full):
            return self.last_seen_at
        return full
