"""CSV contact files (seed 001's format): headers, encodings, line numbers, per-row problems."""

import codecs

import pytest

from usersync.connectors.csvfile import COLUMN_TITLES, COLUMNS, read_csv
from usersync.connectors.errors import ConfigurationError
from usersync.core.desired import FIELD_LABELS, Desired, Placement, Rejected, build
from usersync.core.records import CONTACT_FIELDS, EXTRA_FIELDS, RecordProblem

HEADER = "First Name,Last Name,Email"


def csv(*lines: str, newline: str = "\n") -> bytes:
    return newline.join(lines).encode("utf-8") + newline.encode()


def values(reading) -> list[dict[str, str]]:
    return [{k: v[0] for k, v in r.attributes.items()} for r in reading.snapshot.records]


def lines(reading) -> list[int]:
    return [r.line for r in reading.snapshot.records]


def test_the_columns_are_seed_001s():
    assert COLUMN_TITLES == (
        "First Name", "Last Name", "Email", "SMS Phone", "Business Title", "Department", "Image",
        "PIN", "Location Slug", "Identification", "Slack",
    )
    for column in COLUMNS:
        assert column.field in CONTACT_FIELDS + EXTRA_FIELDS
        assert FIELD_LABELS[column.field] == column.title  # one name per field, everywhere


def test_every_column_is_read_into_its_field():
    reading = read_csv(csv(
        ",".join(COLUMN_TITLES),
        "Ada,Lovelace,ada@example.com,+14152345678,Analyst,R&D,https://img.example/ada.png,"
        "1234,hq,E1,ada",
    ))
    assert values(reading) == [{
        "first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com",
        "sms_phone": "+14152345678", "title": "Analyst", "department": "R&D",
        "image_url": "https://img.example/ada.png", "pin": "1234", "location": "hq",
        "identification": "E1", "slack": "ada",
    }]
    assert reading.mapping.fields == {column.field for column in COLUMNS}
    record = reading.snapshot.records[0]
    assert (record.anchor, record.locations, record.line, record.problems) == (None, None, 2, ())
    assert reading.snapshot.complete
    assert reading.notices == ()


@pytest.mark.parametrize(
    "header",
    [
        "First Name,Last Name,Email",
        "first name,LAST NAME,eMail",
        "  First Name , Last Name\t,Email ",
        "First  Name,Last Name,Email",
        "Email,Last Name,First Name",
    ],
)
def test_headers_are_case_insensitive_trimmed_and_in_any_order(header):
    titles = [" ".join(t.split()).lower() for t in header.split(",")]
    row = {"first name": "Ada", "last name": "Lovelace", "email": "ada@example.com"}
    reading = read_csv(csv(header, ",".join(row[t] for t in titles)))
    assert values(reading) == [
        {"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com"}
    ]
    assert reading.mapping.fields == {"first_name", "last_name", "email"}


@pytest.mark.parametrize(
    "data",
    [
        codecs.BOM_UTF8 + csv(HEADER, "Zoë,Müller,zoe@example.com"),
        csv(HEADER, "Zoë,Müller,zoe@example.com"),
        csv(HEADER, "Zoë,Müller,zoe@example.com", newline="\r\n"),
        csv(HEADER.replace(",", ";"), "Zoë;Müller;zoe@example.com"),
        csv(HEADER.replace(",", "\t"), "Zoë\tMüller\tzoe@example.com"),
        (HEADER + "\r\nZoë,Müller,zoe@example.com\r\n").encode("utf-16"),
    ],
    ids=["bom", "no-bom", "crlf", "semicolon", "tab", "utf-16"],
)
def test_encodings_and_delimiters(data):
    reading = read_csv(data)
    assert values(reading) == [{"first_name": "Zoë", "last_name": "Müller",
                                "email": "zoe@example.com"}]
    assert lines(reading) == [2]
    assert reading.snapshot.records[0].problems == ()


def test_a_comma_inside_a_semicolon_file_stays_in_its_cell():
    reading = read_csv(csv("First Name;Last Name;Email;Business Title",
                           "Ada;Lovelace;ada@example.com;Analyst, R&D"))
    assert values(reading)[0]["title"] == "Analyst, R&D"


def test_unknown_columns_are_a_notice_not_an_error():
    reading = read_csv(csv(HEADER + ",Nickname,Shoe Size", "Ada,Lovelace,ada@example.com,Ada,38"))
    assert reading.notices == ('unknown column "Nickname" ignored',
                               'unknown column "Shoe Size" ignored')
    assert values(reading) == [{"first_name": "Ada", "last_name": "Lovelace",
                                "email": "ada@example.com"}]


@pytest.mark.parametrize(
    "header, missing",
    [
        ("Last Name,Email", ['"First Name"']),
        ("First Name,Email", ['"Last Name"']),
        ("First Name,Last Name", ['"Email" or "SMS Phone"']),
        ("First Name,Last Name,Department", ['"Email" or "SMS Phone"']),
        ("Email", ['"First Name"', '"Last Name"']),
        ("Nickname", ['"First Name"', '"Last Name"', '"Email" or "SMS Phone"']),
        ("First Name,Last Name,E-mail", ['"Email" or "SMS Phone"']),
    ],
)
def test_a_missing_required_column_fails_the_file(header, missing):
    with pytest.raises(ConfigurationError) as caught:
        read_csv(csv(header, "a,b"))
    error = caught.value
    assert error.code == "csv_missing_column"
    for name in missing:
        assert name in error.message
    for title in COLUMN_TITLES:
        assert title in error.hint


@pytest.mark.parametrize("header", ["First Name,Last Name,SMS Phone", "First Name,Last Name,Email"])
def test_email_or_sms_phone_is_enough(header):
    assert len(read_csv(csv(header, "Ada,Lovelace,x")).snapshot.records) == 1


@pytest.mark.parametrize("data", [b"", b"\n\n", b"  \n", codecs.BOM_UTF8, b",,,\n"])
def test_an_empty_file_fails(data):
    with pytest.raises(ConfigurationError) as caught:
        read_csv(data)
    assert caught.value.code == "csv_empty"
    assert "First Name" in caught.value.hint


def test_a_header_only_file_is_an_empty_complete_snapshot():
    reading = read_csv(csv(HEADER))
    assert reading.snapshot.records == ()
    assert reading.snapshot.complete


def test_a_duplicate_column_fails_the_file():
    with pytest.raises(ConfigurationError) as caught:
        read_csv(csv(HEADER + ",email", "Ada,Lovelace,a@example.com,b@example.com"))
    assert caught.value.code == "csv_duplicate_column"
    assert '"Email"' in caught.value.message


def test_invalid_utf8_fails_only_its_row_with_line_and_column():
    data = (
        b"First Name,Last Name,Email\n"
        b"Ada,Lovelace,ada@example.com\n"
        b"Jos\xc3\xa9,Ib\xe9\xf1ez,jose@example.com\n"
        b"Zo\xc3\xab,M\xc3\xbcller,zoe@example.com\n"
    )
    records = read_csv(data).snapshot.records
    assert [(r.line, r.problems) for r in records] == [
        (2, ()),
        (3, (RecordProblem("last_name", 'invalid UTF-8 (byte 0xE9) in column "Last Name"'),)),
        (4, ()),
    ]
    assert records[1].attributes["first_name"] == ("José",)
    assert records[1].attributes["last_name"] == ("Ib\ufffd\ufffdez",)
    assert records[2].attributes["last_name"] == ("Müller",)


def test_an_invalid_byte_in_each_of_two_cells_gives_two_problems():
    data = b"First Name,Last Name,Email\nJ\xe9,N\xfa,j@example.com\n"
    (record,) = read_csv(data).snapshot.records
    assert [p.field for p in record.problems] == ["first_name", "last_name"]
    assert "byte 0xFA" in record.problems[1].message


def test_an_invalid_byte_in_an_unknown_column_is_ignored_with_it():
    data = b"First Name,Last Name,Email,Nickname\nAda,Lovelace,a@example.com,\xff\n"
    (record,) = read_csv(data).snapshot.records
    assert record.problems == ()


def test_line_numbers_are_where_each_record_starts():
    reading = read_csv(csv(
        HEADER + ",Business Title",
        'Ada,Lovelace,ada@example.com,"Analyst',
        'and poet"',
        "",
        "Bob,Babbage,bob@example.com,",
        ',,,',
        '"Carla","Cruz","carla@example.com","Head of',
        "",
        'Things"',
        "Dan,Dee,dan@example.com,x",
    ))
    assert lines(reading) == [2, 5, 7, 10]
    assert values(reading)[0]["title"] == "Analyst\nand poet"
    assert values(reading)[2]["title"] == "Head of\n\nThings"


def test_a_quote_never_closed_fails_the_file_instead_of_swallowing_the_rest():
    with pytest.raises(ConfigurationError) as caught:
        read_csv(csv(HEADER, "Ada,Lovelace,ada@example.com", '"Bob,Babbage,bob@example.com',
                     "Carla,Cruz,carla@example.com"))
    assert caught.value.code == "csv_malformed"
    assert caught.value.message.startswith("line 3:")


@pytest.mark.parametrize(
    "row, problem",
    [
        ("Ada,Lovelace,ada@example.com,extra",
         "the row has 4 cells but the header names 3 columns"),
        ("Ada,Lovelace,ada@example.com,,", None),
        ("Ada,Lovelace", None),
    ],
)
def test_row_widths(row, problem):
    (record,) = read_csv(csv(HEADER, row)).snapshot.records
    assert [p.message for p in record.problems] == ([problem] if problem else [])
    assert set(record.attributes) == {"first_name", "last_name", "email"}


def test_the_apostrophe_of_a_formula_safe_export_is_removed():
    reading = read_csv(csv("First Name,Last Name,SMS Phone,Business Title",
                           "Ada,'Ohana,'+14152345678,'=cmd"))
    assert values(reading)[0] == {"first_name": "Ada", "last_name": "'Ohana",
                                  "sms_phone": "+14152345678", "title": "=cmd"}


@pytest.mark.parametrize(
    "row, outcome",
    [
        ("Ada,Lovelace,ada@example.com", "contact"),
        ("Ada,,ada@example.com", "Last Name is required"),
        (b"Ada,Lovel\xe1ce,ada@example.com", 'invalid UTF-8 (byte 0xE1) in column "Last Name"'),
        ("Ada,Lovelace,ada@example.com,surplus", "the row has 4 cells"),
    ],
)
def test_rows_build_into_contacts_or_reasons(row, outcome):
    data = csv(HEADER) + (row if isinstance(row, bytes) else row.encode()) + b"\n"
    reading = read_csv(data)
    (record,) = reading.snapshot.records
    built = build(record, reading.mapping, Placement(), lambda pin: pin)
    if outcome == "contact":
        assert isinstance(built, list) and isinstance(built[0], Desired)
        assert built[0].anchor == "email:ada@example.com"
    else:
        assert isinstance(built, Rejected)
        assert outcome in built.reason
        assert record.label == "line 2"
