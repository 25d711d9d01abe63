"""Attribute mapping (directory attributes → contact fields) and building desired contacts."""

import pytest
from builders import GLOBAL, MAPPING, MULTI, REGION, fake_hash, record

from usersync.core import normalize
from usersync.core.desired import Desired, Placement, Rejected, build, phones_to_validate
from usersync.core.mapping import AttributeMapping, MappingError, identity_mapping
from usersync.core.records import RecordProblem, SourceRecord

AD = AttributeMapping.from_data(
    [
        "first_name=givenName",
        "last_name=sn",
        "email=mail,proxyAddresses|primary_smtp,userPrincipalName",
        "aliases=proxyAddresses|smtp_aliases",
        "sms_phone=mobile,telephoneNumber",
        "title=title",
        "department=department",
        "identification=employeeID",
    ]
)


@pytest.mark.parametrize(
    "attributes, field, expected",
    [
        ({"mail": ("ada@example.com",)}, "email", "ada@example.com"),
        # the first source that gives a value wins
        ({"mail": (), "proxyAddresses": ("smtp:old@example.com", "SMTP:Ada@Example.com")},
         "email", "Ada@Example.com"),
        ({"userPrincipalName": ("ada@corp.example",)}, "email", "ada@corp.example"),
        ({}, "email", ""),
        # attribute names are case-insensitive (AD returns "mail", admins type "Mail")
        ({"MAIL": ("ada@example.com",)}, "email", "ada@example.com"),
        ({"proxyAddresses": ("SMTP:a@x.io", "smtp:b@x.io", "x500:/o=Org", "smtp:c@x.io")},
         "aliases", ("b@x.io", "c@x.io")),
        ({}, "aliases", ()),
        ({"mobile": (), "telephoneNumber": ("+1 650 253 0000",)}, "sms_phone", "+1 650 253 0000"),
        ({"employeeID": ("E1", "E2")}, "identification", "E1"),
    ],
)
def test_mapping_applies_fallbacks_and_transforms(attributes, field, expected):
    assert AD.apply(attributes)[field] == expected


def test_every_mapped_field_has_a_value_even_when_the_directory_has_none():
    values = AD.apply({})
    assert set(values) == AD.fields
    assert values["title"] == ""


def test_a_join_transform_concatenates_values():
    mapping = AttributeMapping.from_data(["department=ou|join"])
    assert mapping.apply({"ou": ("Sales", "", "EMEA")}) == {"department": "Sales EMEA"}


def test_the_mapping_says_which_attributes_to_request_once_in_order():
    assert AD.attributes == (
        "givenName", "sn", "mail", "proxyAddresses", "userPrincipalName", "mobile",
        "telephoneNumber", "title", "department", "employeeID",
    )


def test_fields_the_mapping_does_not_name_are_not_managed():
    assert "pin" not in AD.fields and "image_url" not in AD.fields


def test_a_mapping_round_trips_through_its_text_form():
    assert AttributeMapping.from_data(AD.to_data()) == AD
    assert "email=mail,proxyAddresses|primary_smtp,userPrincipalName" in AD.to_data()


@pytest.mark.parametrize(
    "lines, message",
    [
        (["nickname=cn"], "unknown contact field 'nickname'"),
        (["email=mail|upper"], "unknown transform 'upper'"),
        (["email"], "is not field=attribute"),
        (["email="], "is not field=attribute"),
        (["email=mail,,upn"], "empty attribute"),
    ],
)
def test_unusable_mappings_are_refused_with_a_reason(lines, message):
    with pytest.raises(MappingError, match=message):
        AttributeMapping.from_data(lines)


def test_identity_mapping_reads_each_field_from_the_same_named_column():
    mapping = identity_mapping(["first_name", "email"])
    assert mapping.apply({"first_name": ("Ada",), "email": ("a@x.io",), "other": ("z",)}) == {
        "first_name": "Ada", "email": "a@x.io",
    }


# -- a record becomes desired contacts ---------------------------------------------------------


def built(rec: SourceRecord, placement: Placement = GLOBAL, mapping=MAPPING):
    return build(rec, mapping, placement, fake_hash)


def test_a_valid_record_is_normalized():
    [want] = built(record(" Ada ", "Lovelace", email="ADA@Example.com", sms_phone="(650) 253-0000",
                          slack="@ada", aliases=["A.L@example.com"], anchor="g1"))
    assert want.anchor == "g1" and want.location is None
    assert want.values["first_name"] == "Ada"
    assert want.values["email"] == "ada@example.com"
    assert want.values["sms_phone"] == "+16502530000"
    assert want.values["slack"] == "ada"
    assert want.values["aliases"] == ("a.l@example.com",)
    assert "location" not in want.values


def test_the_pin_is_hashed_before_it_leaves_the_record():
    [want] = built(record(email="a@x.io", pin="4321"))
    assert want.values["pin"] == fake_hash("4321")
    assert "4321" not in repr(want.values)


@pytest.mark.parametrize(
    "attributes, field, words",
    [
        ({"pin": "12"}, "pin", "PIN must be 4 to 6 digits"),
        ({"email": "not-an-email"}, "email", "Email 'not-an-email' is not a valid email address"),
        ({"first_name": ""}, "first_name", "First Name is required"),
        ({"email": "", "sms_phone": ""}, "email", "Email or SMS Phone is required"),
        ({"image_url": "ftp://x.io/a.png"}, "image_url", "Image 'ftp://x.io/a.png' is not"),
        ({"sms_phone": "12"}, "sms_phone", "SMS Phone '12' is not a valid phone number"),
    ],
)
def test_an_invalid_record_is_rejected_with_the_field_and_a_reason(attributes, field, words):
    values = {"email": "ada@example.com", **attributes}
    first = values.pop("first_name", "Ada")
    result = built(record(first, "Lovelace", line=3, **values))
    assert isinstance(result, Rejected)
    assert result.field == field
    assert words in result.reason
    assert result.record.label == "line 3"


def test_a_rejected_record_reports_every_problem_and_keeps_its_valid_keys():
    result = built(record("", "Lovelace", pin="12", email="a@x.io", identification="E7"))
    assert isinstance(result, Rejected)
    assert "First Name is required" in result.reason and "PIN must be" in result.reason
    assert ("email", "a@x.io") in result.keys and ("identification", "E7") in result.keys
    # a CSV row has no anchor of its own; its first key stands in, so its contact can be protected
    assert result.anchor == "identification:E7"


def test_problems_found_while_reading_reject_the_record():
    rec = SourceRecord({"first_name": ("Ada",), "last_name": ("L",), "email": ("a@x.io",)},
                       problems=(RecordProblem("department", "is not valid UTF-8"),))
    result = built(rec)
    assert isinstance(result, Rejected) and result.field == "department"
    assert "UTF-8" in result.reason


def test_a_mapping_without_names_rejects_every_record():
    mapping = AttributeMapping.from_data(["email=email"])
    result = built(record(email="a@x.io"), mapping=mapping)
    assert isinstance(result, Rejected)
    assert "First Name is required but not mapped" in result.reason


@pytest.mark.parametrize(
    "kwargs, anchor",
    [
        ({"identification": "E7", "email": "a@x.io"}, "identification:E7"),
        ({"email": "A@x.io", "sms_phone": "650 253 0000"}, "email:a@x.io"),
        ({"sms_phone": "650 253 0000"}, "sms_phone:+16502530000"),
        ({"email": "a@x.io", "anchor": "guid-1"}, "guid-1"),
    ],
)
def test_file_rows_are_anchored_by_their_first_key(kwargs, anchor):
    [want] = built(record(**kwargs))
    assert want.anchor == anchor


@pytest.mark.parametrize(
    "kwargs, locations",
    [
        ({"locations": ["hq"]}, ["hq"]),
        ({"locations": ["hq", "warehouse", "hq"]}, ["hq", "warehouse"]),
        ({"location": "HQ"}, ["hq"]),  # a CSV row's Location Slug, normalized
        # the scope the record was found in wins over a mapped location attribute
        ({"locations": ["warehouse"], "location": "hq"}, ["warehouse"]),
    ],
)
def test_a_record_gets_one_contact_per_location(kwargs, locations):
    wants = built(record(email="a@x.io", **kwargs), MULTI)
    assert [w.location for w in wants] == locations
    assert all(isinstance(w, Desired) and w.anchor == wants[0].anchor for w in wants)


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"locations": []}, "is in no search base mapped to a location"),
        ({}, "Location Slug is required"),
        ({"location": "paris"}, "'paris' is not a location of this organization (known: hq, "
                                "warehouse)"),
        ({"location": "Head Office"}, "no spaces"),
    ],
)
def test_a_record_without_a_known_location_is_rejected(kwargs, words):
    result = built(record(email="a@x.io", **kwargs), MULTI)
    assert isinstance(result, Rejected) and result.field == "location"
    assert words in result.reason


def test_a_global_organization_puts_every_contact_in_no_location():
    wants = built(record(email="a@x.io", locations=["hq", "warehouse"], location="hq"), GLOBAL)
    assert [w.location for w in wants] == [None]


def test_the_default_region_comes_from_the_organization():
    [want] = built(record(sms_phone="06 12 34 56 78"), Placement(default_region="FR"))
    assert want.values["sms_phone"] == "+33612345678"
    assert REGION == "US"  # and the same number is not valid for the US organization
    assert isinstance(built(record(sms_phone="06 12 34 56 78")), Rejected)


def test_a_mapping_of_one_field_gives_what_the_whole_mapping_gives_it():
    mapping = AttributeMapping.from_data(["sms_phone=mobile,telephoneNumber|join",
                                          "email=mail"])
    phone = mapping.only("sms_phone")
    for attributes in ({"mobile": ("+1 650 253 0000",)}, {"telephonenumber": ("650", "253")},
                       {"Mobile": ("",), "TelephoneNumber": ("1",)}, {}):
        assert phone.apply(attributes) == {"sms_phone": mapping.apply(attributes)["sms_phone"]}
    assert mapping.only("title").apply({"title": ("Boss",)}) == {}  # not mapped


def test_the_phones_to_validate_are_each_unknown_number_once_in_the_records_order(monkeypatch):
    monkeypatch.setattr(normalize, "_REMEMBERED", {})
    normalize.sms_phone("+1 650 253 0001", REGION)  # known already: not asked again
    records = [record(sms_phone=" (650) 253-0002 "), record(sms_phone="+1 650 253 0001"),
               record(email="no-phone@example.com"), record(sms_phone="(650) 253-0002"),
               record(sms_phone=""), record(sms_phone="0033 1 23")]
    assert phones_to_validate(records, MAPPING, MULTI) == [("(650) 253-0002", "US"),
                                                          ("0033 1 23", "US")]
    no_phone = AttributeMapping.from_data(["first_name=first_name", "email=email"])
    assert phones_to_validate(records, no_phone, MULTI) == []
