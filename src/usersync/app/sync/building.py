"""Building a run's records (``planning.build_records``) in steps, with two things around it
that change no result, only the time and the memory a large read takes.

**Phone numbers validated on the machine's other core.** Validating a number (phonenumbers: parse
it, check it against its region's metadata) takes 30-65 µs: at a first sync of 100,000 people,
70,000 mobile numbers are two thirds of building the records, on one core, with the other one
idle. So a helper process (this module, run by the same Python) is given the numbers the records
need (``desired.phones_to_validate``), from the last record's backwards, and sends back
``normalize.e164``'s answers a chunk at a time; the run builds its records from the first
forwards and, before each step of ``STEP`` records, remembers the answers that arrived
(``normalize.remember_e164``). The two meet in the middle. The run never waits for the helper: a
number it has not answered yet, the run works out itself, and the helper is stopped once the
records are built. With fewer than ``AHEAD_FROM`` numbers, or when the helper cannot start or
stops on an error (logged as a warning, with its last line: say ``sys.executable`` is a server
that embeds Python, not a Python that imports ``usersync``), the run validates every number
itself.

**Raw values released once built.** Nothing after building reads a record's raw values
(``SourceRecord.release_attributes``): dropping each step's as it is built keeps a full read of
100,000 people from holding them (~60 MB) beside its desired contacts and its plan.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Sequence

from usersync.core import desired, normalize, planning
from usersync.core.records import SourceRecord

log = logging.getLogger("usersync.sync")
#: Fewer numbers than this are validated in the run itself: the helper takes ~0.1 s to start.
AHEAD_FROM = 3000
#: Records built between two looks at the helper's answers.
STEP = 1000
#: Numbers the helper answers in one message.
CHUNK = 500


def build_records(records: Sequence[SourceRecord], policy: planning.Policy) -> planning.Built:
    """``planning.build_records`` of a run's ``records``, which it then releases."""
    numbers = []  # a record has one number at most: fewer records, too few numbers
    if len(records) >= AHEAD_FROM:
        numbers = desired.phones_to_validate(reversed(records), policy.mapping, policy.placement)
    built: list = []
    with PhoneHelper(numbers if len(numbers) >= AHEAD_FROM else []) as helper:
        for start in range(0, len(records), STEP):
            helper.remember_answers()
            step = records[start:start + STEP]
            built.extend(planning.build_records(step, policy))
            for record in step:
                record.release_attributes()
    return built


class PhoneHelper:
    """The helper process validating ``numbers`` (``normalize.phone_key`` pairs) in order; none
    for no numbers."""

    #: What the helper runs (``python -P -m``): this module.
    module = __name__

    def __init__(self, numbers: list[tuple[str, str]]):
        self.numbers = numbers
        self.answered = 0
        self._answers: deque[list[str | None]] = deque()
        self._process: subprocess.Popen | None = None
        self._talking: threading.Thread | None = None

    def __enter__(self) -> PhoneHelper:
        if not self.numbers:
            return self
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-P", "-m", self.module], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        except OSError as error:
            log.info("phone numbers are validated in the run: no helper process (%s)", error)
            return self
        self._talking = threading.Thread(target=self._talk, name="phones-ahead", daemon=True)
        self._talking.start()
        return self

    def _talk(self) -> None:
        """Send the numbers, then collect the answers (this thread waits on the pipes, so that
        the run never does)."""
        process = self._process
        assert process is not None and process.stdin is not None and process.stdout is not None
        try:
            with process.stdin:
                process.stdin.write(json.dumps(self.numbers).encode())
            for line in process.stdout:
                self._answers.append(json.loads(line))
        except (OSError, ValueError):  # stopped, or gone: the run works the rest out itself
            pass

    def remember_answers(self) -> None:
        """Remember the answers that arrived since the last look."""
        while self._answers:
            answers = self._answers.popleft()
            asked = self.numbers[self.answered:self.answered + len(answers)]
            normalize.remember_e164(zip(asked, answers))
            self.answered += len(answers)

    def __exit__(self, *exc) -> None:
        process = self._process
        if process is None:
            return
        failed = process.poll()  # ended on its own: done (0), or it could not do its work
        process.kill()  # it holds nothing: its answers so far are all it had to give
        process.wait()
        if self._talking is not None:
            self._talking.join()
        why = process.stderr.read().decode("utf-8", "replace").strip() if failed else ""
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
        if failed:
            log.warning("the phone number helper stopped (exit %s: %s); the run validated the "
                        "numbers itself, on one core", failed, (why.splitlines() or [""])[-1])


def answer(numbers: list[list[str]], out) -> None:
    """The helper's side: ``normalize.e164`` of each number, ``CHUNK`` answers a line."""
    for start in range(0, len(numbers), CHUNK):
        part = numbers[start:start + CHUNK]
        out.write(json.dumps([normalize.e164(raw, region) for raw, region in part]) + "\n")
        out.flush()


if __name__ == "__main__":
    try:
        answer(json.load(sys.stdin), sys.stdout)
    except (BrokenPipeError, KeyboardInterrupt):
        pass
