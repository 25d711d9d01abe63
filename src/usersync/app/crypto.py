"""Secrets encrypted at rest: bind passwords and client secrets (``Source.secret``).

Tokens are Fernet (AES-128-CBC + HMAC-SHA256, from ``cryptography``) under a list of keys,
newest first (``MultiFernet``): the first key encrypts, every key decrypts, so a new key can be
put in front and the old tokens re-encrypted (``usersync rotate-keys``) without a moment where a
secret cannot be read.

The keys come from the environment or from a file, never from the database, so a copy of the
database alone reveals no password:

- ``USERSYNC_ENCRYPTION_KEYS``: comma-separated Fernet keys, newest first. Use it when several
  machines run usersync: they must all hold the same keys. usersync never changes it.
- otherwise ``$USERSYNC_HOME/encryption-keys``: one key per line, newest first, created with
  mode 0600 (and one fresh key) on first use. ``usersync rotate-keys`` rewrites it.

The keys are read at every use, not cached, so a rotation is seen at once by a running process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from usersync.connectors.errors import ConfigurationError

from .keys import home, write_private

ENV = "USERSYNC_ENCRYPTION_KEYS"
FILE_NAME = "encryption-keys"
KEYS_HINT = (f"the keys are in {ENV} or in $USERSYNC_HOME/{FILE_NAME}; restore the one the "
             "secret was encrypted with, or enter the secret again")


class EncryptionKeyError(ConfigurationError):
    """The encryption keys are missing or malformed."""

    code = "encryption_keys"


class SecretUnreadable(ConfigurationError):
    """No key decrypts a stored secret: the keys changed since it was encrypted."""

    code = "secret_unreadable"


@dataclass(frozen=True)
class Keys:
    """The encryption keys in force, newest first, and where they come from."""

    keys: tuple[str, ...]
    origin: str  # "environment" or "file"
    path: Path | None = None

    @property
    def from_environment(self) -> bool:
        return self.origin == "environment"

    def fernet(self) -> MultiFernet:
        return MultiFernet([Fernet(key) for key in self.keys])


def key_file() -> Path:
    return home() / FILE_NAME


def new_key() -> str:
    return Fernet.generate_key().decode()


def load_keys() -> Keys:
    """The keys in force: the environment's, else the key file's (created on first use)."""
    from_env = [k.strip() for k in os.environ.get(ENV, "").split(",") if k.strip()]
    if from_env:
        return Keys(_checked(from_env, ENV), "environment")
    path = key_file()
    if not path.exists():
        write_private(path, new_key() + "\n")
    keys = [line.strip() for line in path.read_text().splitlines()
            if line.strip() and not line.lstrip().startswith("#")]
    if not keys:
        raise EncryptionKeyError(f"the key file {path} holds no encryption key",
                        "restore it from a backup; without its keys no stored password can be read",
                        code="encryption_keys_missing")
    return Keys(_checked(keys, str(path)), "file", path)


def _checked(keys: list[str], where: str) -> tuple[str, ...]:
    for number, key in enumerate(keys, 1):
        try:
            Fernet(key)
        except (ValueError, TypeError):
            # The key itself is never repeated in a message.
            raise EncryptionKeyError(f"encryption key {number} of {where} is not a Fernet key",
                            "a Fernet key is 32 random bytes in URL-safe base64 (44 characters); "
                            "`usersync rotate-keys` generates one") from None
    if len(set(keys)) != len(keys):
        raise EncryptionKeyError(f"{where} lists the same encryption key twice",
                        "keep each key once, newest first")
    return tuple(keys)


def encrypt(text: str) -> str:
    """``text`` encrypted with the newest key, as printable text (a Fernet token)."""
    return load_keys().fernet().encrypt(text.encode("utf-8")).decode("ascii")


def decrypt(token: str) -> str:
    """The text of a token made by ``encrypt`` with any of the keys in force."""
    return _decrypt(load_keys(), token)


def rotate(token: str, keys: Keys | None = None) -> str:
    """The same secret encrypted again with the newest key."""
    keys = keys or load_keys()
    try:
        return keys.fernet().rotate(token.encode("ascii")).decode("ascii")
    except (InvalidToken, UnicodeEncodeError):
        raise _unreadable() from None


def readable(token: str, keys: Keys) -> bool:
    """Whether one of ``keys`` decrypts ``token``."""
    try:
        _decrypt(keys, token)
    except SecretUnreadable:
        return False
    return True


def _decrypt(keys: Keys, token: str) -> str:
    try:
        return keys.fernet().decrypt(token.encode("ascii")).decode("utf-8")
    except (InvalidToken, UnicodeEncodeError):
        raise _unreadable() from None


def _unreadable() -> SecretUnreadable:
    return SecretUnreadable("a stored secret cannot be decrypted: the encryption keys changed; "
                            "restore the old key or re-enter the password", KEYS_HINT)


def add_key_to_file(keys: Keys) -> Keys:
    """Put a new key in front of the key file's keys; the old ones keep decrypting."""
    _must_be_file(keys)
    added = Keys((new_key(), *keys.keys), "file", keys.path)
    _write(added)
    return added


def keep_only_newest(keys: Keys) -> Keys:
    """Remove every key but the newest from the key file (after a successful rotation)."""
    _must_be_file(keys)
    kept = Keys(keys.keys[:1], "file", keys.path)
    _write(kept)
    return kept


def _must_be_file(keys: Keys) -> None:
    if keys.from_environment:
        raise EncryptionKeyError(f"the encryption keys come from {ENV}; usersync does not "
                                 "change them", f"change {ENV} wherever usersync runs")


def _write(keys: Keys) -> None:
    write_private(keys.path, "".join(key + "\n" for key in keys.keys), replace=True)
