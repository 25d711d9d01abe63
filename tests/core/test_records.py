"""SourceRecord's two shortcuts a large read takes: ``placed`` and ``release_attributes``."""

from dataclasses import fields, replace

from usersync.core.records import RecordProblem, SourceRecord

EVERY_FIELD = SourceRecord(attributes={"mail": ("ada@example.com",)}, anchor="a1", dn="uid=ada",
                           locations=("hq",), disabled=True, line=7,
                           problems=(RecordProblem("email", "bad"),), digest="d1")


def test_every_field_is_set_in_the_record_these_tests_use():
    """So that a field added to SourceRecord and forgotten by ``placed`` fails the next test."""
    defaults = SourceRecord(attributes={})
    assert all(getattr(EVERY_FIELD, f.name) != getattr(defaults, f.name)
               for f in fields(SourceRecord))


def test_placed_is_replace_of_the_locations():
    assert EVERY_FIELD.placed(("hq", "lab")) == replace(EVERY_FIELD, locations=("hq", "lab"))
    assert EVERY_FIELD.placed(None) == replace(EVERY_FIELD, locations=None)


def test_released_attributes_leave_the_rest_of_the_record():
    record = replace(EVERY_FIELD, attributes={"mail": ("ada@example.com",)})
    record.release_attributes()
    assert record == replace(EVERY_FIELD, attributes={})
    assert EVERY_FIELD.attributes == {"mail": ("ada@example.com",)}
