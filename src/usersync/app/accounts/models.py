"""Memberships (a person's role in an organization) and API keys (an app's access to one).

Operators are Django staff users and see every organization without a membership.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from usersync.app.orgs.models import Organization


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    VIEWER = "viewer", "Viewer (read-only)"


class Membership(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="memberships")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE,
                                     related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["organization__name", "user__username"]
        constraints = [
            models.UniqueConstraint(fields=["user", "organization"], name="membership_unique")
        ]

    def __str__(self) -> str:
        return f"{self.user} is {self.role} of {self.organization}"


class ApiScope(models.TextChoices):
    AGENT_PUSH = "agent_push", "Agent push"
    CSV_UPLOAD = "csv_upload", "CSV upload"
    READ_CONTACTS = "read_contacts", "Read contacts"
    SCIM = "scim", "SCIM"
    ADMIN = "admin", "Admin (full API access to the organization)"


class ApiKey(models.Model):
    """A key an app or agent uses to call the API for one organization.

    Only the SHA-256 of the token is stored; ``prefix`` (the token's first characters) finds the
    key and is shown so admins can tell keys apart.
    """

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE,
                                     related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    secret_hash = models.CharField(max_length=64)
    scopes = models.JSONField(default=list)
    created_by = models.CharField(max_length=150, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def allows(self, scope: str) -> bool:
        return ApiScope.ADMIN in self.scopes or scope in self.scopes
