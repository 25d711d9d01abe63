"""The images usersync stores: JPEG, PNG, GIF and WebP, recognized by their first bytes.

A server's Content-Type header is a claim, not a fact: an HTML page or an SVG (which carries
script) sent as ``image/png`` must not be stored and served back as an image. So the bytes must
look like one of these formats too, and the type served is the one the bytes show.
"""

from __future__ import annotations

#: What the Content-Type header may say (aliases some servers send map to the standard name).
DECLARED = {"image/jpeg": "image/jpeg", "image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg",
            "image/png": "image/png", "image/gif": "image/gif", "image/webp": "image/webp"}
TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
EXTENSIONS = {"image/jpeg": ".jpg", "image/png": ".png", "image/gif": ".gif", "image/webp": ".webp"}
_SIGNATURES = ((b"\xff\xd8\xff", "image/jpeg"), (b"\x89PNG\r\n\x1a\n", "image/png"),
               (b"GIF87a", "image/gif"), (b"GIF89a", "image/gif"))


def declared(header: str | None) -> str | None:
    """The image type a Content-Type header names (parameters aside), or ``None``."""
    media_type = (header or "").split(";", 1)[0].strip().lower()
    return DECLARED.get(media_type)


def sniff(data: bytes) -> str | None:
    """The type ``data`` is, by its magic number, or ``None`` if it is none of ``TYPES``."""
    for signature, media_type in _SIGNATURES:
        if data.startswith(signature):
            return media_type
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None
