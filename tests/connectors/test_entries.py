"""The values a read shares between entries (``entries.SharedValues``): the same value of an
attribute is one tuple for every entry that repeats it, and an attribute whose values do not
repeat (addresses, numbers, ids) is left out after its trial."""

import pytest

from usersync.connectors.entries import SHARING_TRIAL, SharedValues


def test_entries_with_the_same_value_of_an_attribute_get_one_tuple():
    shared = SharedValues()
    first = shared.one("title", "Ingénieure".encode())

    assert first == ("Ingénieure",)
    assert shared.one("title", "Ingénieure".encode()) is first
    assert shared.one("title", b"Analyst") == ("Analyst",)


def test_the_same_bytes_in_two_attributes_are_two_values():
    shared = SharedValues()

    assert shared.one("givenname", b"Grace") is not shared.one("sn", b"Grace")


def test_an_attribute_whose_values_do_not_repeat_is_left_out_after_its_trial():
    shared = SharedValues()
    for n in range(SHARING_TRIAL):
        shared.one("mail", f"person{n}@example.com".encode())

    again = shared.one("mail", b"person1@example.com")
    assert again == ("person1@example.com",)
    assert shared.one("mail", b"person1@example.com") is not again


def test_an_attribute_whose_values_repeat_is_shared_past_its_trial():
    shared = SharedValues()
    for n in range(SHARING_TRIAL + 10):
        for _ in range(3):  # every value repeated
            shared.one("departmentnumber", f"D{n}".encode())

    assert shared.one("departmentnumber", b"D5") is shared.one("departmentnumber", b"D5")
    late = shared.one("departmentnumber", f"D{SHARING_TRIAL + 5}".encode())
    assert shared.one("departmentnumber", f"D{SHARING_TRIAL + 5}".encode()) is late


def test_a_value_that_is_not_utf8_raises_and_is_not_kept():
    shared = SharedValues()
    with pytest.raises(UnicodeDecodeError):
        shared.one("sn", b"M\xfcller")
    with pytest.raises(UnicodeDecodeError):
        shared.one("sn", b"M\xfcller")
    assert shared.one("sn", "Müller".encode()) == ("Müller",)
