"""Field normalization: what an admin's data becomes, and what is refused with a usable message."""

import re

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from usersync.core import normalize
from usersync.core.normalize import FieldError


@pytest.mark.parametrize(
    "raw, stored",
    [
        ("Ada", "Ada"),
        ("  Ada  ", "Ada"),
        ("Mary   Ann", "Mary Ann"),
        ("Jean-\tLuc\n", "Jean- Luc"),
        ("Zoë", "Zoë"),
    ],
)
def test_names_are_trimmed_and_inner_whitespace_collapsed(raw, stored):
    assert normalize.name(raw, "first_name") == stored


#: Every kind of whitespace Unicode has, among letters: what collapsing must treat alike.
SPACED_TEXT = st.text(alphabet=st.sampled_from(
    "ab é\t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0\u1680\u2000\u2007\u200a\u200b\u2028"
    "\u2029\u202f\u205f\u3000\ufeff"), max_size=40)


@settings(max_examples=300, deadline=None)
@given(SPACED_TEXT)
def test_text_collapses_exactly_what_a_whitespace_pattern_matches(raw):
    """``text`` splits at whitespace as ``re``'s ``\\s`` matches it: runs of any of it become one
    space, none is left at either end, and a zero-width space (not whitespace) stays."""
    assert normalize.text(raw) == re.sub(r"\s+", " ", raw).strip()


@pytest.mark.parametrize("raw", ["", "   ", "\t\n"])
def test_an_empty_name_is_required(raw):
    with pytest.raises(FieldError) as error:
        normalize.name(raw, "last_name")
    assert error.value.field == "last_name"
    assert "required" in error.value.message


def test_overlong_text_is_refused_not_truncated():
    with pytest.raises(FieldError, match="longer than 200"):
        normalize.text("x" * 201, "title")
    assert normalize.text("x" * 200, "title") == "x" * 200


@pytest.mark.parametrize(
    "raw, stored",
    [
        ("ada@example.com", "ada@example.com"),
        ("  Ada.Lovelace@Example.COM ", "ada.lovelace@example.com"),
        ("mailto:ada@example.com", "ada@example.com"),
        ("ada+visitors@sub.example.co.uk", "ada+visitors@sub.example.co.uk"),
        ("", ""),
        ("   ", ""),
    ],
)
def test_emails_are_lowercased(raw, stored):
    assert normalize.email(raw) == stored


@pytest.mark.parametrize(
    "raw",
    ["ada", "ada@", "@example.com", "ada@example", "ada@example.c", "ada lovelace@example.com",
     "ada@@example.com", "ada@exa mple.com"],
)
def test_invalid_emails_name_the_value(raw):
    with pytest.raises(FieldError) as error:
        normalize.email(raw)
    assert error.value.field == "email"
    assert repr(raw.strip()) in error.value.message


def test_an_email_longer_than_an_address_can_be_is_refused_and_the_longest_kept():
    domain = "@example.com"
    longest = "a" * (normalize.MAX_EMAIL - len(domain)) + domain
    assert normalize.email(longest.upper()) == longest
    with pytest.raises(FieldError, match="longer than 254 characters"):
        normalize.email("a" + longest)


@pytest.mark.parametrize(
    "raw, region, stored",
    [
        ("+1 650 253 0000", "US", "+16502530000"),
        ("(650) 253-0000", "US", "+16502530000"),
        ("650.253.0000", "US", "+16502530000"),
        ("06 12 34 56 78", "FR", "+33612345678"),
        ("0612345678", "NL", "+31612345678"),
        ("0612345678", "nl", "+31612345678"),  # a region stored in lower case still works
        ("+33 6 12 34 56 78", "US", "+33612345678"),  # an explicit country code wins
        ("+1 650 253 0000", "", "+16502530000"),
        ("", "US", ""),
    ],
)
def test_sms_phones_become_e164_using_the_organizations_region(raw, region, stored):
    assert normalize.sms_phone(raw, region) == stored


@pytest.mark.parametrize(
    "raw, region",
    [("12", "US"), ("call me", "US"), ("650 253 0000", ""), ("+1 555 0100", "US"),
     ("0612345678", "US")],
)
def test_invalid_phones_are_refused(raw, region):
    with pytest.raises(FieldError) as error:
        normalize.sms_phone(raw, region)
    assert error.value.field == "sms_phone"
    assert "not a valid phone number" in error.value.message


#: The unmemoized computation: the reference the memo must agree with.
_phonenumbers_e164 = normalize.e164


PHONE_TEXT = st.text(alphabet="+0123456789 ()-.x", max_size=18)
NATIONAL = st.builds(lambda a, b: f"0{a} {b}", st.integers(1, 99), st.integers(0, 99_999_999))


@settings(max_examples=300, deadline=None)
@given(st.one_of(PHONE_TEXT, NATIONAL), st.sampled_from(["US", "us", "FR", "NL", "GB", "", "ZZ"]))
def test_remembered_phone_numbers_normalize_exactly_as_phonenumbers_does(raw, region):
    """The memo changes no answer, neither the first time nor from memory: valid numbers give
    the same E.164 form, invalid ones the same error for the field asked about."""
    expected = _phonenumbers_e164(raw.strip(), region.strip().upper())
    for field in ("sms_phone", "mobile"):  # the second call comes from the memo
        if not raw.strip():
            assert normalize.sms_phone(raw, region, field) == ""
        elif expected is None:
            with pytest.raises(FieldError) as error:
                normalize.sms_phone(raw, region, field)
            assert error.value.field == field and "not a valid phone number" in error.value.message
        else:
            assert normalize.sms_phone(raw, region, field) == expected


def _is_valid_number_e164(raw: str, region: str) -> str | None:
    """phonenumbers' own answer: ``is_valid_number`` alone."""
    try:
        number = phonenumbers.parse(raw, region or None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@settings(max_examples=500, deadline=None)
@given(st.one_of(PHONE_TEXT, NATIONAL, st.builds(
           lambda code, digits: f"+{code}{digits}", st.sampled_from([1, 7, 44, 39, 47, 61, 590]),
           st.integers(10**6, 10**11))),
       st.sampled_from(["US", "CA", "GB", "JE", "RU", "KZ", "IT", "VA", "AU", "CX", "GP", "FR",
                        "", "ZZ"]))
def test_a_number_valid_in_the_main_region_of_its_code_is_valid_as_phonenumbers_says(raw, region):
    """``e164`` checks a number of the region's own code against the region first when it is
    the code's main region (US for +1): the answers stay phonenumbers' own."""
    assert normalize.e164(raw.strip(), region) == _is_valid_number_e164(raw.strip(), region)


@pytest.mark.parametrize(("raw", "region", "stored"), [
    ("584 229 6630", "US", "+15842296630"),  # a Canadian area code, dialled in the US
    ("+44 7797 123456", "GB", "+447797123456"),  # a Jersey mobile, from Great Britain
    ("(212) 055-0123", "US", None),  # no exchange starts with 0, in any region of +1
    ("7797 123456", "JE", "+447797123456"),  # Jersey is not +44's main region
])
def test_numbers_of_another_region_of_the_same_code(raw, region, stored):
    assert normalize.e164(raw, region) == stored == _is_valid_number_e164(raw, region)


def test_a_number_seen_again_is_not_parsed_again(monkeypatch):
    normalize.sms_phone("+1 650 253 0099", "us")
    assert normalize.is_remembered("+1 650 253 0099", "US")
    monkeypatch.setattr(normalize.phonenumbers, "parse", None)  # would fail if called
    assert normalize.sms_phone(" +1 650 253 0099 ", "US") == "+16502530099"


def test_answers_worked_out_elsewhere_are_remembered_as_given(monkeypatch):
    """``remember_e164`` is how another process's answers arrive: they are taken as given (the
    helper runs ``e164`` itself), for valid and invalid numbers alike."""
    normalize.remember_e164([(("+1 650 253 0100", "US"), "+16502530100"),
                             (("12", "US"), None)])
    monkeypatch.setattr(normalize.phonenumbers, "parse", None)
    assert normalize.sms_phone("+1 650 253 0100", "US") == "+16502530100"
    with pytest.raises(FieldError, match="not a valid phone number for region US"):
        normalize.sms_phone("12", "US")


def test_the_memory_of_numbers_starts_again_when_full(monkeypatch):
    monkeypatch.setattr(normalize, "PHONES_REMEMBERED", 2)
    monkeypatch.setattr(normalize, "_REMEMBERED", {})
    for number in ("+1 650 253 0001", "+1 650 253 0002", "+1 650 253 0003"):
        normalize.sms_phone(number, "US")
    assert len(normalize._REMEMBERED["US"]) == 1
    assert normalize.is_remembered("+1 650 253 0003", "US")


@pytest.mark.parametrize("raw", ["1234", "12345", "123456", " 0000 ", ""])
def test_pins_of_four_to_six_digits_are_kept(raw):
    assert normalize.pin(raw) == raw.strip()


@pytest.mark.parametrize(
    "raw", ["12", "123", "1234567", "12a4", "12 34", "-1234", "١٢٣٤", "１２３４"]
)
def test_pins_must_be_four_to_six_ascii_digits(raw):
    with pytest.raises(FieldError, match="4 to 6 digits"):
        normalize.pin(raw)


@pytest.mark.parametrize(
    "raw, stored",
    [("jdoe", "jdoe"), ("@jdoe", "jdoe"), (" @j.doe-2 ", "j.doe-2"), ("", "")],
)
def test_slack_usernames_lose_the_at_sign(raw, stored):
    assert normalize.slack(raw) == stored


@pytest.mark.parametrize("raw", ["j doe", "<@U123>", "jdoe!"])
def test_invalid_slack_usernames_are_refused(raw):
    with pytest.raises(FieldError):
        normalize.slack(raw)


@pytest.mark.parametrize(
    "raw",
    ["https://cdn.example.com/ada.png", "http://example.com/a.jpg?size=2", " https://x.io/p "],
)
def test_image_urls_may_be_http_or_https(raw):
    assert normalize.image_url(raw) == raw.strip()


@pytest.mark.parametrize(
    "raw",
    ["javascript:alert(1)", "ftp://example.com/a.png", "file:///etc/passwd", "example.com/a.png",
     "data:image/png;base64,AAAA", "https:///nohost"],
)
def test_image_urls_of_other_schemes_are_refused(raw):
    with pytest.raises(FieldError, match="http"):
        normalize.image_url(raw)


@pytest.mark.parametrize("check", [
    lambda value: normalize.text(value, "title"),
    lambda value: normalize.name(value, "first_name"),
    lambda value: normalize.email(value + "@example.com"),
    lambda value: normalize.image_url("https://example.com/" + value),
])
def test_a_nul_character_is_refused_where_a_database_cannot_keep_it(check):
    with pytest.raises(FieldError, match="NUL|not a valid|not an http"):
        check("Ad\x00a")


def test_an_image_url_longer_than_its_column_is_refused():
    url = "https://cdn.example.com/" + "a" * (normalize.MAX_URL - 24)
    assert normalize.image_url(url) == url
    with pytest.raises(FieldError, match="longer than 1000 characters"):
        normalize.image_url(url + "a")


@pytest.mark.parametrize(
    "raw, stored",
    [("hq", "hq"), ("HQ", "hq"), (" Warehouse-2 ", "warehouse-2"), ("site_1", "site_1"), ("", "")],
)
def test_location_identifiers_are_lowercase(raw, stored):
    assert normalize.location_identifier(raw) == stored


@pytest.mark.parametrize("raw", ["Head Office", "hq/1", "-hq", "é"])
def test_location_identifiers_with_spaces_or_symbols_are_refused(raw):
    with pytest.raises(FieldError, match="no spaces"):
        normalize.location_identifier(raw)


def test_aliases_are_lowercased_deduplicated_sorted_and_invalid_ones_dropped():
    raw = ("B@example.com", "a@example.com", "b@example.com", "not an address", "")
    assert normalize.aliases(raw) == ("a@example.com", "b@example.com")
