"""``python tests/support/slow_worker.py ARGS…``: the ``usersync`` command with a slow apply, for
tests that kill a worker in the middle of applying a plan. The hook lives here, in the tests, and
nowhere in usersync.

- ``USERSYNC_TEST_APPLY_DELAY``: seconds to sleep in the middle of ``apply`` (after contacts
  were created and updated, inside the apply transaction, before message rules and directory
  objects are written).
- ``USERSYNC_TEST_APPLY_MARKER``: a file written (with the run's contacts so far uncommitted)
  when the sleep starts, so a test knows the worker is in the middle of applying.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "usersync.app.settings")

import django  # noqa: E402

django.setup()

from usersync.app.sync import apply  # noqa: E402
from usersync.cli import main  # noqa: E402

_write_rules = apply._message_rules


def _slow_message_rules(plan, created):
    marker = os.environ.get("USERSYNC_TEST_APPLY_MARKER")
    if marker:
        Path(marker).write_text(f"{os.getpid()}\n")
    time.sleep(float(os.environ.get("USERSYNC_TEST_APPLY_DELAY", "0")))
    return _write_rules(plan, created)


apply._message_rules = _slow_message_rules

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
