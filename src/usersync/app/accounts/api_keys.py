"""Creating, checking and revoking API keys.

A token is ``usk_`` + 8 hex characters (the prefix, stored and shown) + ``_`` + 43 characters of
``secrets.token_urlsafe(32)`` (256 random bits). Only its SHA-256 is stored: a high-entropy token
needs no slow hash, and a stolen database reveals no usable key. The token is shown once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from django.utils import timezone

from usersync.app.orgs.models import Organization
from usersync.core import normalize
from usersync.core.normalize import FieldError

from .models import ApiKey, ApiScope

TOKEN_START = "usk_"
PREFIX_LENGTH = len(TOKEN_START) + 8
#: last_used_at is written at most this often per key, so reads do not each cost a write.
LAST_USED_PRECISION = timedelta(seconds=60)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def clean_scopes(scopes) -> list[str]:
    allowed = set(ApiScope.values)
    wanted = sorted({str(s) for s in scopes or ()})
    unknown = [s for s in wanted if s not in allowed]
    if unknown:
        raise FieldError("scopes",
                         f"unknown scope {unknown[0]!r}; use {', '.join(ApiScope.values)}")
    if not wanted:
        raise FieldError("scopes", "choose at least one scope")
    return wanted


def create_api_key(org: Organization, name: str, scopes,
                   created_by: str = "") -> tuple[ApiKey, str]:
    """A new key of ``org`` and its token (the only time the token exists outside the caller)."""
    cleaned = normalize.text(name, "name")
    if not cleaned:
        raise FieldError("name", "is required")
    if len(cleaned) > 100:
        raise FieldError("name", "is longer than 100 characters")
    prefix = TOKEN_START + secrets.token_hex(4)
    while ApiKey.objects.filter(prefix=prefix).exists():
        prefix = TOKEN_START + secrets.token_hex(4)
    token = f"{prefix}_{secrets.token_urlsafe(32)}"
    key = ApiKey.objects.create(organization=org, name=cleaned, prefix=prefix,
                                secret_hash=_digest(token), scopes=clean_scopes(scopes),
                                created_by=created_by[:150])
    return key, token


def authenticate(token: str | None) -> ApiKey | None:
    """The active key this token belongs to, or None; records when the key was last used."""
    if not token or not token.startswith(TOKEN_START) or len(token) > 200:
        return None
    key = ApiKey.objects.select_related("organization").filter(
        prefix=token[:PREFIX_LENGTH], revoked_at__isnull=True).first()
    if key is None or not hmac.compare_digest(key.secret_hash, _digest(token)):
        return None
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_PRECISION:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    return key


def revoke(key: ApiKey) -> ApiKey:
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
    return key
