"""The portal's template filters: stored values in an admin's words (``words.py``)."""

from __future__ import annotations

from django import template

from .. import words

register = template.Library()
register.filter("trigger_label", words.trigger_label)
register.filter("read_kind", words.read_kind)
register.filter("thousands", words.thousands)
register.filter("changes_text", words.changes_text)


@register.filter
def counted(number, words_: str) -> str:
    """``{{ n|counted:"run" }}`` → "1 run" / "2 runs"; ``{{ n|counted:"entry,entries" }}``."""
    singular, _, plural = words_.partition(",")
    return words.counted(int(number or 0), singular, plural or None)
