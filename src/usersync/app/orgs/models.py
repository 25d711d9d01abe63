"""Organizations (tenants) and their locations."""

from __future__ import annotations

from django.core.validators import RegexValidator
from django.db import models

identifier_validator = RegexValidator(
    r"^[a-z0-9][a-z0-9_\-]*$",
    "An identifier is lower-case letters, digits, '-' and '_', with no spaces.",
)


class NotifyOn(models.TextChoices):
    EVERY_RUN = "every_run", "Every run"
    CHANGES = "changes", "Only runs that changed something, failed or were blocked"
    PROBLEMS = "problems", "Only failed or blocked runs"


class Organization(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=64, unique=True)
    multi_location = models.BooleanField(
        default=False,
        help_text="Several locations; a global (single-site) organization puts contacts in all.",
    )
    contact_limit = models.PositiveIntegerField(
        null=True, blank=True, help_text="Active contacts the plan allows; empty for no limit."
    )
    notification_emails = models.JSONField(default=list, blank=True)
    notify_on = models.CharField(
        max_length=20, choices=NotifyOn.choices, default=NotifyOn.EVERY_RUN,
        help_text="Which runs send the summary email to the notification addresses.",
    )
    default_region = models.CharField(
        max_length=2, default="US", help_text="Region for phone numbers without a country code."
    )
    time_zone = models.CharField(max_length=64, default="UTC")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Location(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="locations")
    name = models.CharField(max_length=200)
    identifier = models.CharField(max_length=64, validators=[identifier_validator])

    class Meta:
        ordering = ["identifier"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "identifier"], name="location_identifier_unique")
        ]

    def __str__(self) -> str:
        return self.identifier
