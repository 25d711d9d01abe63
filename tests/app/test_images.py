"""Contact images: downloaded by the worker's chore from a real HTTP server on loopback (with
``USERSYNC_ALLOW_PRIVATE_DESTINATIONS`` on only where a test needs loopback), stored in the
database, and served by the API and the portal with headers that keep them just images."""

from __future__ import annotations

import hashlib
import socket
import struct
import threading
import zlib
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from callers import key_api, make_user, session_api
from django.test import Client
from django.utils import timezone
from support.jobs import locked_by_another_worker
from support.syncing import csv_bytes, import_csv

from usersync.app.directory import contacts as manual
from usersync.app.directory.models import Contact, ContactImage
from usersync.app.images import fetching, formats
from usersync.app.images.download import LIMITS, Downloaded, DownloadFailed, Limits, download
from usersync.app.jobs.worker import Worker


def png(width: int = 2, height: int = 1) -> bytes:
    """A real PNG (red pixels)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))
    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0,
                                                               0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


PNG, OTHER_PNG = png(), png(3, 2)
GIF = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;"
WEBP = (b"RIFF\x1a\x00\x00\x00WEBPVP8L\x0d\x00\x00\x00/\x00\x00\x00\x10\x07\x10\x11\x11"
        b"\x88\x88\xfe\x07\x00")
HTML = b"<html><body><script>alert(document.cookie)</script></body></html>"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
FIVE_MB = 5 * 2**20


class ImageServer:
    """A real HTTP server on 127.0.0.1. ``routes`` maps a path to (status, headers, body); a body
    may be a function that writes the response itself. ``asked`` lists the paths requested."""

    def __init__(self):
        self.routes: dict[str, tuple] = {}
        self.asked: list[str] = []
        self.hosts: list[str] = []
        self.release = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                server.asked.append(self.path)
                server.hosts.append(self.headers["Host"])
                status, headers, body = server.routes.get(self.path, (404, {}, b"no such file"))
                try:
                    if callable(body):
                        body(self)
                        return
                    self.send_response(status)
                    for name, value in {"Content-Length": str(len(body)), **headers}.items():
                        if value is not None:
                            self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client stopped reading: what a size limit does

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def _stream(size: int):
    """A PNG-looking body of ``size`` bytes without a Content-Length, in 64 KiB writes."""
    def write(handler):
        handler.send_response(200)
        handler.send_header("Content-Type", "image/png")
        handler.end_headers()
        handler.wfile.write(PNG[:8])
        for _ in range(size // 65536 + 1):
            handler.wfile.write(b"\x00" * 65536)
    return write


def _stall(server: ImageServer):
    def write(handler):
        handler.send_response(200)
        handler.send_header("Content-Type", "image/png")
        handler.end_headers()
        handler.wfile.write(PNG[:8])
        handler.wfile.flush()
        server.release.wait(30)  # until the test ends
    return write


@pytest.fixture
def server():
    server = ImageServer()
    image = {"Content-Type": "image/png"}
    server.routes.update({
        "/photo.png": (200, image, PNG),
        "/other.png": (200, image, OTHER_PNG),
        "/photo.gif": (200, {"Content-Type": "image/gif"}, GIF),
        "/Jane%20Doe.png": (200, image, PNG),
        "/photo.webp": (200, {"Content-Type": "image/webp; charset=binary"}, WEBP),
        "/big.png": (200, image, PNG[:8] + b"\x00" * FIVE_MB),
        "/endless.png": (200, {}, _stream(FIVE_MB + 2**20)),
        "/exactly-5-mb.png": (200, image, PNG[:8] + b"\x00" * (FIVE_MB - 8)),
        "/lie.png": (200, image, HTML),
        "/page.html": (200, {"Content-Type": "text/html; charset=utf-8"}, HTML),
        "/drawing.svg": (200, {"Content-Type": "image/svg+xml"}, SVG),
        "/no-type": (200, {}, PNG),
        "/broken": (500, {"Content-Type": "text/plain"}, b"oops"),
        "/moved": (302, {"Location": "/photo.png"}, b""),
        "/moved-twice": (301, {"Location": server.url("/moved")}, b""),
        "/to-metadata": (302, {"Location": "http://169.254.169.254/latest/meta-data/"}, b""),
        "/to-private": (302, {"Location": "http://10.0.0.5/photo.png"}, b""),
        "/to-file": (302, {"Location": "file:///etc/passwd"}, b""),
        "/loop": (302, {"Location": "/loop"}, b""),
        "/stall.png": (200, {}, _stall(server)),
    })
    yield server
    server.close()


@pytest.fixture(autouse=True)
def discover_at_each_call(monkeypatch):
    """Each ``fetch_due`` looks for new URLs (a worker process does every 30 s)."""
    monkeypatch.setattr(fetching, "discovery", fetching.Throttle(0))


@pytest.fixture
def loopback_allowed(settings):
    settings.USERSYNC_ALLOW_PRIVATE_DESTINATIONS = True


def failure(url: str, limits: Limits = LIMITS) -> str:
    with pytest.raises(DownloadFailed) as failed:
        download(url, limits)
    return str(failed.value)


# -- one download -------------------------------------------------------------------------------

@pytest.mark.usefixtures("loopback_allowed")
@pytest.mark.parametrize("path, body, media_type", [
    ("/photo.png", PNG, "image/png"), ("/photo.gif", GIF, "image/gif"),
    ("/photo.webp", WEBP, "image/webp"),
    ("/exactly-5-mb.png", PNG[:8] + b"\x00" * (FIVE_MB - 8), "image/png"),
    ("/Jane Doe.png", PNG, "image/png"),  # asked for as /Jane%20Doe.png
])
def test_an_image_is_downloaded_with_the_type_its_bytes_show(server, path, body, media_type):
    assert download(server.url(path)) == Downloaded(body, media_type, server.url(path))


@pytest.mark.usefixtures("loopback_allowed")
def test_redirects_are_followed_up_to_three_and_the_final_url_is_kept(server):
    assert download(server.url("/moved-twice")) == Downloaded(PNG, "image/png",
                                                              server.url("/photo.png"))
    assert server.asked == ["/moved-twice", "/moved", "/photo.png"]
    server.asked.clear()
    assert failure(server.url("/loop")) == (f"more than 3 redirects (the last one to "
                                            f"{server.url('/loop')})")
    assert server.asked == ["/loop"] * 4


@pytest.mark.usefixtures("loopback_allowed")
@pytest.mark.parametrize("path, message", [
    ("/missing.png", "the image server answered 404"),
    ("/broken", "the image server answered 500"),
    ("/page.html", "not an image (text/html)"),
    ("/drawing.svg", "not an image (image/svg+xml)"),
    ("/no-type", "not an image (no Content-Type)"),
    ("/lie.png", ("not an image: the content is not a JPEG, PNG, GIF or WebP image (the server "
                  "said image/png)")),
    ("/big.png", "larger than 5 MB"),
    ("/endless.png", "larger than 5 MB"),
    ("/to-metadata", ("refused: 169.254.169.254 is a link-local address (after a redirect to "
                      "http://169.254.169.254/latest/meta-data/)")),
    ("/to-file", ("refused: 'file:///etc/passwd' is not an http:// or https:// URL (after a "
                  "redirect to file:///etc/passwd)")),
])
def test_what_is_not_an_image_is_refused_with_the_reason(server, path, message):
    assert failure(server.url(path)) == message


def test_loopback_and_private_addresses_are_refused_by_default_without_connecting(server):
    assert failure(server.url("/photo.png")) == "refused: 127.0.0.1 is a loopback address"
    assert failure("http://10.0.0.5/photo.png") == "refused: 10.0.0.5 is a private address"
    assert failure(f"http://[::1]:{server.port}/photo.png") == ("refused: ::1 is a loopback "
                                                                 "address")
    assert failure("http://169.254.169.254/") == "refused: 169.254.169.254 is a link-local address"
    assert server.asked == []


def test_a_redirect_to_a_private_address_is_checked_again(server, monkeypatch):
    """Default settings. The first hop is a public name and address (the connection to that
    address is sent to the loopback server: the only stand-in in this file); the redirect it
    answers, to 10.0.0.5, is refused, because every hop is checked."""
    real_resolve, real_connect = socket.getaddrinfo, socket.create_connection
    public = "93.184.215.14"

    def resolve(host, port, *args, **kwargs):
        if host == "images.example":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (public, port))]
        return real_resolve(host, port, *args, **kwargs)

    def connect(address, *args, **kwargs):
        assert address == (public, server.port)  # the checked address, not a new resolution
        return real_connect(("127.0.0.1", server.port), *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    monkeypatch.setattr(socket, "create_connection", connect)
    assert failure(f"http://images.example:{server.port}/to-private") == (
        "refused: 10.0.0.5 is a private address (after a redirect to "
        "http://10.0.0.5/photo.png)")
    assert server.asked == ["/to-private"]
    assert server.hosts == [f"images.example:{server.port}"]


@pytest.mark.usefixtures("loopback_allowed")
def test_the_name_is_resolved_once_and_the_checked_address_is_used(server, monkeypatch):
    real_resolve, lookups = socket.getaddrinfo, []

    def resolve(host, port, *args, **kwargs):
        if host != "images.test":
            return real_resolve(host, port, *args, **kwargs)  # the numeric address connected to
        lookups.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    assert download(f"http://images.test:{server.port}/photo.png").content == PNG
    assert lookups == ["images.test"]
    assert server.hosts == [f"images.test:{server.port}"]


@pytest.mark.usefixtures("loopback_allowed")
def test_a_download_that_takes_too_long_is_abandoned(server):
    assert failure(server.url("/stall.png"), Limits(total_timeout=0.5)) == (
        "the download took longer than 0.5 s")


@pytest.mark.usefixtures("loopback_allowed")
def test_a_server_that_is_not_there_is_a_clear_failure(server):
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    assert failure(f"http://127.0.0.1:{port}/photo.png") == (
        f"127.0.0.1 refused the connection on port {port}")


def test_formats_are_recognized_by_their_bytes_not_their_name():
    assert [formats.sniff(b) for b in (PNG, GIF, WEBP, b"\xff\xd8\xff\xe0rest", HTML, SVG, b"")] \
        == ["image/png", "image/gif", "image/webp", "image/jpeg", None, None, None]
    assert [formats.declared(h) for h in ("IMAGE/JPG", "image/png; q=1", "image/svg+xml", None)] \
        == ["image/jpeg", "image/png", None, None]


# -- the chore: which images are due, claiming, recording --------------------------------------

def contact(org, url: str = "", n: int = 1) -> Contact:
    return manual.create_contact(org, {"first_name": f"First{n}", "last_name": f"Last{n}",
                                       "email": f"p{n}@{org.slug}.example", "image_url": url})


def image_of(person: Contact) -> ContactImage:
    return ContactImage.objects.get(contact=person)


@pytest.mark.usefixtures("loopback_allowed")
def test_the_chore_stores_a_new_image_and_does_not_download_it_again_until_the_refresh(
        globex, server):
    person = contact(globex, server.url("/moved"))
    now = timezone.now()

    assert fetching.fetch_due(now) == 1
    image = image_of(person)
    assert (bytes(image.content), image.content_type, image.sha256) == (
        PNG, "image/png", hashlib.sha256(PNG).hexdigest())
    assert (image.url, image.fetched_url) == (server.url("/moved"), server.url("/photo.png"))
    assert (image.fetched_at, image.error, image.failures, image.claimed_until) == (now, "", 0,
                                                                                   None)
    assert fetching.fetch_due(now + timedelta(days=6)) == 0  # an unchanged URL waits a week
    assert server.asked == ["/moved", "/photo.png"]

    later = now + fetching.REFRESH
    assert fetching.fetch_due(later) == 1
    image = image_of(person)
    assert (bytes(image.content), image.fetched_at, image.next_attempt_at) == (
        PNG, later, later + fetching.REFRESH)


@pytest.mark.usefixtures("loopback_allowed")
def test_a_changed_url_drops_the_old_image_and_an_emptied_one_deletes_it(globex, server):
    person = contact(globex, server.url("/photo.png"))
    fetching.fetch_due()
    manual.edit_contact(person, {"image_url": server.url("/other.png")})

    fetching.discover(timezone.now())
    image = image_of(person)
    assert (image.url, image.content, image.sha256) == (server.url("/other.png"), None, "")
    assert fetching.fetch_due() == 1
    assert bytes(image_of(person).content) == OTHER_PNG

    manual.edit_contact(person, {"image_url": ""})
    fetching.fetch_due()
    assert not ContactImage.objects.filter(contact=person).exists()


@pytest.mark.usefixtures("loopback_allowed")
def test_a_failed_download_is_retried_with_backoff_then_no_more_until_the_contact_is_saved(
        globex, server):
    person = contact(globex, server.url("/missing.png"))
    now = timezone.now() - timedelta(days=3)  # a contact of 3 days ago; then an admin saves it
    Contact.objects.filter(pk=person.pk).update(updated_at=now)
    assert fetching.fetch_due(now) == 1
    waits = []
    for _ in fetching.RETRY_DELAYS:
        image = image_of(person)
        waits.append(image.next_attempt_at - image.attempted_at)
        assert fetching.fetch_due(image.next_attempt_at - timedelta(seconds=1)) == 0
        assert fetching.fetch_due(image.next_attempt_at) == 1

    image = image_of(person)
    assert waits == list(fetching.RETRY_DELAYS)
    assert (image.error, image.failures, image.next_attempt_at) == (
        "the image server answered 404", 5, None)
    assert fetching.fetch_due() == 0
    assert server.asked == ["/missing.png"] * 5

    server.routes["/missing.png"] = (200, {"Content-Type": "image/png"}, PNG)
    manual.edit_contact(person, {})  # an admin saves the contact: try again
    assert fetching.fetch_due() == 1
    assert (bytes(image_of(person).content), image_of(person).error) == (PNG, "")


@pytest.mark.usefixtures("loopback_allowed")
def test_images_of_a_sync_are_found_and_archived_contacts_are_not_downloaded(globex, server):
    header = "First Name,Last Name,Email,Image"
    rows = [f"Ann,Able,ann@globex.example,{server.url('/photo.png')}",
            f"Bob,Baker,bob@globex.example,{server.url('/photo.gif')}",
            "Cy,Cole,cy@globex.example,"]
    assert import_csv(globex, csv_bytes(*rows, header=header)).status == "succeeded"
    assert fetching.fetch_due() == 2
    stored = {i.contact.email: i.content_type for i in ContactImage.objects.all()}
    assert stored == {"ann@globex.example": "image/png", "bob@globex.example": "image/gif"}

    bob = Contact.objects.get(email="bob@globex.example")
    manual.edit_contact(bob, {"status": "archived", "image_url": server.url("/other.png")})
    assert fetching.fetch_due() == 0
    assert fetching.fetch_due(timezone.now() + fetching.REFRESH * 2) == 1  # Ann's refresh only
    assert server.asked == ["/photo.png", "/photo.gif", "/photo.png"]

    manual.edit_contact(bob, {"status": "active"})
    assert fetching.fetch_due() == 1
    assert bytes(image_of(bob).content) == OTHER_PNG


@pytest.mark.usefixtures("loopback_allowed")
def test_a_worker_process_looks_for_new_urls_at_most_every_interval(globex, server, monkeypatch):
    monkeypatch.setattr(fetching, "discovery", fetching.Throttle(3600))
    first = contact(globex, server.url("/photo.png"), 1)
    assert fetching.fetch_due() == 1
    second = contact(globex, server.url("/photo.gif"), 2)
    assert fetching.fetch_due() == 0  # not looked for yet
    assert not ContactImage.objects.filter(contact=second).exists()
    fetching.discover(timezone.now())
    assert fetching.fetch_due() == 1
    assert [image_of(p).content_type for p in (first, second)] == ["image/png", "image/gif"]


@pytest.mark.usefixtures("loopback_allowed")
def test_the_worker_downloads_due_images_between_runs(globex, server):
    person = contact(globex, server.url("/photo.png"))
    Worker(name="test").run(once=True)
    assert bytes(image_of(person).content) == PNG


def test_claims_do_not_overlap_and_an_expired_claim_is_taken_again(globex):
    people = [contact(globex, f"https://images.example/{n}.png", n) for n in range(7)]
    now = timezone.now()
    fetching.discover(now)

    first, second = fetching.claim(now), fetching.claim(now)
    assert len(first) == fetching.BATCH and len(second) == 7 - fetching.BATCH
    assert fetching.claim(now) == []
    assert {i.contact_id for i in first + second} == {p.pk for p in people}
    expired = max(i.claimed_until for i in ContactImage.objects.all())
    assert len(fetching.claim(expired + timedelta(seconds=1))) == fetching.BATCH


def test_a_result_for_a_url_that_changed_meanwhile_is_not_stored(globex):
    person = contact(globex, "https://images.example/old.png")
    now = timezone.now()
    fetching.discover(now)
    [claimed] = fetching.claim(now)
    manual.edit_contact(person, {"image_url": "https://images.example/new.png"})
    fetching.discover(now)

    fetching.record(claimed, Downloaded(PNG, "image/png", claimed.url), now)
    image = image_of(person)
    assert (image.url, image.content, image.next_attempt_at) == (
        "https://images.example/new.png", None, now)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_claim_skips_images_another_worker_is_claiming(globex):
    people = [contact(globex, f"https://images.example/{n}.png", n) for n in range(3)]
    now = timezone.now()
    fetching.discover(now)
    with locked_by_another_worker(ContactImage.objects.filter(contact=people[0])):
        claimed = fetching.claim(now)
    assert {i.contact_id for i in claimed} == {people[1].pk, people[2].pk}


# -- serving ------------------------------------------------------------------------------------

HEADERS = {"Content-Type": "image/png", "X-Content-Type-Options": "nosniff",
           "Content-Security-Policy": "default-src 'none'; sandbox",
           "Cache-Control": "private, no-cache"}


@pytest.fixture
def pictured(acme, globex, server, settings):
    """An acme contact whose image is downloaded, and one of globex."""
    settings.USERSYNC_ALLOW_PRIVATE_DESTINATIONS = True
    person = manual.create_contact(acme, {"first_name": "Ann", "last_name": "Able",
                                          "email": "ann@acme.example", "location": "headquarters",
                                          "image_url": server.url("/photo.png")})
    other = contact(globex, server.url("/photo.png"))
    fetching.fetch_due()
    return person, other


def served_headers(response) -> dict:
    return {name: response.headers.get(name) for name in HEADERS}


def test_the_api_serves_the_image_with_headers_that_keep_it_an_image(pictured, globex):
    person, _ = pictured
    api = key_api(person.organization, "read_contacts")
    path = f"/organizations/acme/contacts/{person.pk}/image"

    response = api.get(path)
    assert response.status_code == 200 and response.content == PNG
    assert served_headers(response) == HEADERS
    etag = f'"{hashlib.sha256(PNG).hexdigest()}"'
    assert response.headers["ETag"] == etag
    assert response.headers["Content-Disposition"] == f'inline; filename="contact-{person.pk}.png"'

    api.headers["If-None-Match"] = etag
    cached = api.get(path)
    assert (cached.status_code, cached.content, cached.headers["ETag"]) == (304, b"", etag)


def test_the_api_says_why_a_contact_has_no_image(acme, server, loopback_allowed):
    api = key_api(acme)
    none = manual.create_contact(acme, {"first_name": "No", "last_name": "Url",
                                        "email": "no@acme.example", "location": "warehouse"})
    broken = manual.create_contact(acme, {"first_name": "Bro", "last_name": "Ken",
                                          "email": "bro@acme.example", "location": "warehouse",
                                          "image_url": server.url("/page.html")})

    def message(person):
        response = api.get(f"/organizations/acme/contacts/{person.pk}/image")
        assert (response.status_code, response.json()["code"]) == (404, "not_found")
        return response.json()["message"]

    assert message(none) == f"contact {none.pk} has no image URL"
    assert message(broken) == (f"the image of contact {broken.pk} is not downloaded yet; a "
                               "worker downloads it")
    now = timezone.now()
    fetching.fetch_due(now)
    retry = now + fetching.RETRY_DELAYS[0]
    assert message(broken) == (f"contact {broken.pk} has no image: not an image (text/html); a "
                               f"worker tries again after {retry:%Y-%m-%d %H:%M} UTC")


def test_the_portal_serves_the_image_to_members_only(pictured, acme):
    person, other = pictured
    viewer = Client()
    viewer.force_login(make_user("viewer", acme=(acme, "viewer")))
    response = viewer.get(f"/orgs/acme/contacts/{person.pk}/image/")
    assert response.status_code == 200 and response.content == PNG
    assert served_headers(response) == HEADERS

    assert viewer.get(f"/orgs/globex/contacts/{other.pk}/image/").status_code == 404
    assert viewer.get(f"/orgs/acme/contacts/{other.pk}/image/").status_code == 404
    assert Client().get(f"/orgs/acme/contacts/{person.pk}/image/").status_code == 302  # log in


def test_another_organizations_image_is_not_found_through_the_api(pictured):
    person, other = pictured
    admin = make_user("acme-admin", acme=(person.organization, "admin"))
    for api in (key_api(person.organization), session_api(admin)):
        for org, pk in (("acme", other.pk), ("globex", other.pk)):
            response = api.get(f"/organizations/{org}/contacts/{pk}/image")
            assert response.status_code == 404 and response.json()["code"] == "not_found"
