"""The worker's chore for contact images: find what is due, claim it, download it, record it.

Which contacts need a download is a query, not a hook in the sync: ``discover`` compares the
active contacts' ``image_url`` with their ``ContactImage.url``, so a URL an admin typed is found
the same way as one a sync wrote, and a sync never waits on an image server. The comparison reads
every contact (0.2 to 0.3 s per 100,000, SQLite or PostgreSQL), so a worker process makes it at
most every ``DISCOVER_EVERY`` seconds, whichever of its threads asks; claiming what is due is an
index lookup, done at every call.

- A new or changed URL is due at once. A changed URL drops the old picture first: it may show
  the wrong person. An emptied URL deletes the picture.
- A downloaded image is downloaded again after ``REFRESH`` (people get new photos); the bytes
  are rewritten only when they changed.
- A failed download is tried again after each of ``RETRY_DELAYS``, then no more until the URL
  changes or the contact is saved again (an admin who fixed the image server saves the contact).
  A picture downloaded earlier stays while a refresh fails.
- An archived contact keeps its picture, and nothing is downloaded for it until it is reactivated.

Several workers, on several machines: a worker claims a batch by setting ``claimed_until``
(``SELECT … FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite serializes the claiming
transactions), downloads outside any transaction, and records each result only if the URL is
still the one it downloaded. A worker that dies leaves its claim to expire.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F, OuterRef, Q, Subquery
from django.utils import timezone

from usersync.app.directory.models import Contact, ContactImage, ContactStatus

from .download import LIMITS, Downloaded, DownloadFailed, Limits, download

log = logging.getLogger("usersync.images")

BATCH = 5
DISCOVER = 5000  # images added or reset per discovery, at most
DISCOVER_EVERY = 30.0  # seconds
REFRESH = timedelta(days=7)
RETRY_DELAYS = (timedelta(minutes=5), timedelta(hours=1), timedelta(hours=6), timedelta(days=1))


class Throttle:
    """Says yes at most once every ``seconds`` in this process, whichever thread asks."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self._last: float | None = None
        self._lock = threading.Lock()

    def ready(self) -> bool:
        with self._lock:
            now = time.monotonic()
            if self._last is not None and now - self._last < self.seconds:
                return False
            self._last = now
            return True


discovery = Throttle(DISCOVER_EVERY)


def fetch_due(now: datetime | None = None, limits: Limits = LIMITS) -> int:
    """Download a batch of due images; how many were tried (the worker's chore)."""
    now = now or timezone.now()
    if discovery.ready():
        discover(now)
    images = claim(now, limits)
    for image in images:
        record(image, attempt(image.url, limits), now)
    return len(images)


def discover(now: datetime) -> None:
    """Bring the images in line with the contacts' URLs (see the module's docstring)."""
    new = (Contact.objects.filter(status=ContactStatus.ACTIVE, image__isnull=True)
           .exclude(image_url="").values_list("pk", "image_url")[:DISCOVER])
    ContactImage.objects.bulk_create(
        [ContactImage(contact_id=pk, url=url, next_attempt_at=now) for pk, url in new],
        ignore_conflicts=True)  # another worker may have added the same one
    stale = list(ContactImage.objects.exclude(url=F("contact__image_url"))
                 .values_list("pk", "contact__image_url")[:DISCOVER])
    ContactImage.objects.filter(pk__in=[pk for pk, url in stale if not url]).delete()
    current = Contact.objects.filter(pk=OuterRef("contact_id")).values("image_url")[:1]
    ContactImage.objects.filter(pk__in=[pk for pk, url in stale if url]).update(
        url=Subquery(current), content=None, content_type="", sha256="", fetched_url="",
        fetched_at=None, attempted_at=None, error="", failures=0, next_attempt_at=now,
        claimed_until=None)
    # Archived contacts keep their picture, without downloads; saved or reactivated, they (and
    # those whose downloads were given up) are due again.
    ContactImage.objects.exclude(contact__status=ContactStatus.ACTIVE).exclude(
        next_attempt_at=None).update(next_attempt_at=None)
    ContactImage.objects.filter(
        Q(attempted_at=None) | Q(contact__updated_at__gt=F("attempted_at")),
        next_attempt_at=None, contact__status=ContactStatus.ACTIVE,
    ).update(failures=0, next_attempt_at=now)


def _due(now: datetime) -> Q:
    return (Q(next_attempt_at__lte=now, contact__status=ContactStatus.ACTIVE)
            & (Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)))


def claim(now: datetime, limits: Limits = LIMITS) -> list[ContactImage]:
    """Up to ``BATCH`` due images, claimed for long enough to download them all."""
    if not ContactImage.objects.filter(_due(now)).exists():  # cheap, and takes no write lock
        return []
    hold = timedelta(seconds=BATCH * limits.total_timeout + 60)
    with transaction.atomic():
        images = list(ContactImage.objects.select_for_update(skip_locked=True, of=("self",))
                      .filter(_due(now)).defer("content")
                      .order_by("next_attempt_at", "pk")[:BATCH])
        ContactImage.objects.filter(pk__in=[i.pk for i in images]).update(
            claimed_until=now + hold)
    return images


def attempt(url: str, limits: Limits) -> Downloaded | DownloadFailed:
    try:
        return download(url, limits)
    except DownloadFailed as failure:
        return failure
    except Exception:  # a bug here must not retry the same URL forever, unrecorded
        log.exception("downloading an image failed with an error")
        return DownloadFailed("an internal error occurred while downloading; the worker's log "
                              "has the details")


def record(image: ContactImage, outcome: Downloaded | DownloadFailed, now: datetime) -> None:
    """Store ``outcome`` unless the contact's URL changed meanwhile (the result is stale then)."""
    mine = ContactImage.objects.filter(pk=image.pk, url=image.url)
    if isinstance(outcome, Downloaded):
        digest = hashlib.sha256(outcome.content).hexdigest()
        changed = ({} if digest == image.sha256 else
                   {"content": outcome.content, "content_type": outcome.content_type,
                    "sha256": digest})
        mine.update(**changed, fetched_url=outcome.url, fetched_at=now, attempted_at=now,
                    error="", failures=0, next_attempt_at=now + REFRESH, claimed_until=None)
        return
    failures = image.failures + 1
    delay = RETRY_DELAYS[failures - 1] if failures <= len(RETRY_DELAYS) else None
    log.info("the image of contact %s was not downloaded: %s", image.contact_id, outcome)
    mine.update(attempted_at=now, error=str(outcome), failures=failures,
                next_attempt_at=now + delay if delay else None, claimed_until=None)
