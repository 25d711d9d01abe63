"""Where usersync keeps its local state, and the secrets it generates there on first use.

Keys come from the environment or from files in ``$USERSYNC_HOME`` (mode 0600), never from the
database: a stolen database alone reveals no PIN and no bind password.

- ``secret_key()``: Django's secret key (sessions, CSRF); ``USERSYNC_SECRET_KEY`` or
  ``secret-key``.
- ``hash_secret()``: PINs are stored as HMAC-SHA256 under the hash key (``USERSYNC_HASH_KEY`` or
  ``hash-key``). This key must stay stable: PINs are only ever stored hashed, so a new hash key
  makes every stored PIN unverifiable until the next sync writes it again. It is not rotated by
  ``usersync rotate-keys`` (which rotates the encryption keys of ``usersync.app.crypto``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import tempfile
from functools import lru_cache
from pathlib import Path


def home() -> Path:
    path = Path(os.environ.get("USERSYNC_HOME", "var")).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_private(path: Path, text: str, replace: bool = False) -> bool:
    """Write ``text`` to ``path`` with mode 0600, all at once: a reader sees the old content or the
    new one, never a half-written file.

    Without ``replace``, an existing file wins (two processes creating the same key on first use
    agree on the one written first) and the result is False.
    """
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mode 0600
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if replace:
            os.replace(temporary, path)
            return True
        try:
            os.link(temporary, path)  # fails if the file exists: never overwrites a key
        except FileExistsError:
            return False
        except OSError:  # a file system without hard links
            return _write_exclusive(path, text)
        return True
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def _write_exclusive(path: Path, text: str) -> bool:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    return True


def _generated(name: str, env: str) -> str:
    """The value of ``env``, or of the file ``name`` in the home folder, created on first use."""
    if os.environ.get(env):
        return os.environ[env]
    path = home() / name
    if not path.exists():
        value = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
        write_private(path, value + "\n")
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
