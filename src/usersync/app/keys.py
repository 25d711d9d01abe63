"""Where usersync keeps its local state, and the secrets it generates there on first use.

Keys come from the environment or from files in ``$USERSYNC_HOME`` (mode 0600), never from the
database: a stolen database alone reveals no PIN and no bind password.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from functools import lru_cache
from pathlib import Path


def home() -> Path:
    path = Path(os.environ.get("USERSYNC_HOME", "var")).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def _generated(name: str, env: str) -> str:
    """The value of ``env``, or of the file ``name`` in the home folder, created on first use."""
    if os.environ.get(env):
        return os.environ[env]
    path = home() / name
    if not path.exists():
        value = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(value + "\n")
    return path.read_text().strip()


def secret_key() -> str:
    return _generated("secret-key", "USERSYNC_SECRET_KEY")


@lru_cache(maxsize=1)
def _hash_key() -> bytes:
    return _generated("hash-key", "USERSYNC_HASH_KEY").encode()


def hash_secret(value: str) -> str:
    """A keyed hash (HMAC-SHA256) of a check-in secret such as a PIN."""
    digest = hmac.new(_hash_key(), value.encode(), hashlib.sha256).hexdigest()
    return f"hmac-sha256:{digest}"
