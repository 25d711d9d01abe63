"""Serving a contact's stored image, the same way in the portal and the API.

The bytes came from a server an organization chose, so the response makes sure a browser treats
them as nothing but the image they were checked to be: the type recognized from the bytes,
``X-Content-Type-Options: nosniff``, and a Content-Security-Policy that sandboxes the response
and allows it nothing. The ETag is the bytes' SHA-256: a client that has them gets a 304.
"""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotModified
from django.shortcuts import get_object_or_404
from django.utils.http import parse_etags

from usersync.app.directory.models import Contact, ContactImage
from usersync.app.orgs.models import Organization

from . import formats

HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Cache-Control": "private, no-cache",  # kept by the browser, revalidated with the ETag
}


def stored_image(org: Organization, contact_id: int) -> ContactImage:
    """The downloaded image of ``org``'s contact; ``Http404`` saying why there is none."""
    contact = get_object_or_404(Contact.objects.only("pk", "image_url"),
                                organization=org, pk=contact_id)
    image = ContactImage.objects.filter(contact=contact, url=contact.image_url).first()
    if image is None or image.content is None:
        raise Http404(_why_none(contact, image))
    return image


def _why_none(contact: Contact, image: ContactImage | None) -> str:
    if not contact.image_url:
        return f"contact {contact.pk} has no image URL"
    if image is None or not image.error:
        return f"the image of contact {contact.pk} is not downloaded yet; a worker downloads it"
    if image.next_attempt_at is None:
        return (f"contact {contact.pk} has no image: {image.error}; usersync stopped trying "
                f"after {image.failures} attempts: correct the Image URL or the image server, "
                "then save the contact to try again")
    return (f"contact {contact.pk} has no image: {image.error}; a worker tries again after "
            f"{image.next_attempt_at:%Y-%m-%d %H:%M} UTC")


def image_response(request: HttpRequest, image: ContactImage) -> HttpResponse:
    """The image's bytes, or 304 Not Modified when the client's ETag matches."""
    etag = f'"{image.sha256}"'
    if etag in parse_etags(request.headers.get("If-None-Match", "")):
        response = HttpResponseNotModified()
    else:
        response = HttpResponse(bytes(image.content), content_type=image.content_type)
        extension = formats.EXTENSIONS.get(image.content_type, "")
        response["Content-Disposition"] = (f'inline; filename="contact-{image.contact_id}'
                                           f'{extension}"')
    response["ETag"] = etag
    for name, value in HEADERS.items():
        response[name] = value
    return response
