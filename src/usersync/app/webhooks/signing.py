"""The signature of a delivery, and the secret it is made with.

``Usersync-Signature: t=<unix time>,s=<hex>``: ``s`` is HMAC-SHA256, keyed with the webhook's
secret (its UTF-8 bytes, ``whsec_`` included), of the text ``"<t>.<body>"`` where ``<body>`` is
the request's body byte for byte. The time is signed too, so a receiver can refuse an old
delivery replayed by someone who recorded it (docs/webhooks.md shows the check in Python).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

SIGNATURE_HEADER = "Usersync-Signature"
EVENT_ID_HEADER = "Usersync-Event-Id"
EVENT_TYPE_HEADER = "Usersync-Event-Type"
SECRET_START = "whsec_"


def new_secret() -> str:
    """``whsec_`` and 256 random bits: shown to the admin once, stored encrypted."""
    return SECRET_START + secrets.token_urlsafe(32)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The value of the ``Usersync-Signature`` header for ``body`` sent at ``timestamp``."""
    signed = str(timestamp).encode("ascii") + b"." + body
    digest = hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},s={digest}"
