"""``usersync rotate-keys``: a new encryption key, and every stored secret re-encrypted with it.

With keys in ``$USERSYNC_HOME/encryption-keys`` the command does it all: it puts a new key first in
the file, re-encrypts every source's secret in one transaction, and with ``--drop-old`` removes
the older keys afterwards. With keys in ``USERSYNC_ENCRYPTION_KEYS`` it cannot change the
environment of every machine that runs usersync: it prints a new key to put first there, and
``--no-new-key`` re-encrypts once that is done. Keys are printed only in that case, never read back.
"""

from __future__ import annotations

import json

from usersync.app import crypto
from usersync.app import sources as services


def register(sub) -> None:
    rotate = sub.add_parser("rotate-keys", help="add a new encryption key and re-encrypt every "
                            "stored password with it")
    rotate.add_argument("--drop-old", action="store_true",
                        help="after a successful rotation, remove the older keys from the key file")
    rotate.add_argument("--no-new-key", action="store_true",
                        help="only re-encrypt with the newest key in force (after putting a new "
                        f"key first in {crypto.ENV})")
    rotate.add_argument("--json", action="store_true")
    rotate.set_defaults(handler=_rotate)


def _rotate(args) -> int:
    keys = crypto.load_keys()
    if keys.from_environment and not args.no_new_key:
        return _environment_instructions(args, crypto.new_key())
    rotation = services.rotate_secrets(new_key=not args.no_new_key, drop_old=args.drop_old)
    if args.json:
        print(json.dumps({"reencrypted": rotation.reencrypted, "new_key": rotation.new_key,
                          "keys": rotation.keys, "dropped": rotation.dropped,
                          "from_environment": rotation.from_environment}, indent=2))
        return 0
    where = crypto.ENV if rotation.from_environment else str(crypto.key_file())
    if rotation.new_key:
        print(f"Added a new encryption key to {where}.")
    print(f"Re-encrypted {rotation.reencrypted} stored secret(s) with the newest key.")
    if rotation.dropped:
        print(f"Removed {rotation.dropped} old key(s); {where} now holds one key. Backups of the "
              "database made before this rotation need the removed keys to be read.")
    elif rotation.keys > 1 and rotation.from_environment:
        print(f"Every secret now uses the first key of {crypto.ENV}: you may remove the others "
              "from it (usersync never changes the environment).")
    elif rotation.keys > 1:
        print(f"{where} still holds {rotation.keys - 1} older key(s), so older database backups "
              "stay readable; `usersync rotate-keys --no-new-key --drop-old` removes them.")
    return 0


def _environment_instructions(args, key: str) -> int:
    """Keys from the environment: say what to set; change nothing (not the key file either)."""
    if args.json:
        print(json.dumps({"reencrypted": 0, "new_key": key, "from_environment": True,
                          "next": f"put the key first in {crypto.ENV}, then run "
                                  "usersync rotate-keys --no-new-key"}, indent=2))
        return 0
    print(f"The encryption keys come from {crypto.ENV}; usersync does not change it, and "
          f"leaves {crypto.key_file()} alone. Nothing was changed.")
    print(f"1. Put this new key first, on every machine that runs usersync:\n"
          f"     {crypto.ENV}={key},<the keys it holds now>")
    print("2. Restart usersync there, then re-encrypt the stored secrets with it:\n"
          "     usersync rotate-keys --no-new-key")
    print(f"3. When that reports success, you may remove the old keys:\n"
          f"     {crypto.ENV}={key}")
    return 0
