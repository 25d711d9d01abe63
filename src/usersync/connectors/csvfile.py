"""CSV contact files in seed 001's format, read into a snapshot.

The file is what a scheduled PowerShell script or a spreadsheet produces, so the reader is lenient
where a person's editing is harmless (header case, order and spacing, delimiter, BOM, unknown
columns) and strict where a mistake could archive people: a required column that is missing, or a
quote that is never closed, fails the whole file rather than reading as "everyone left". A bad cell
(bytes that are not UTF-8, too many cells) only fails its own row, with the line a person can find
in an editor.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from dataclasses import dataclass
from enum import StrEnum

from usersync.core.mapping import identity_mapping
from usersync.core.records import RecordProblem, Snapshot, SourceRecord

from .base import Reading
from .errors import ConfigurationError


class Need(StrEnum):
    """Whether a column must be in the file."""

    REQUIRED = "required"
    #: At least one of the columns with this need must be present (Email or SMS Phone).
    ONE_OF_CONTACT = "one_of_contact"
    OPTIONAL = "optional"


@dataclass(frozen=True, slots=True)
class Column:
    """One column of the CSV format: its title in the file and the contact field it fills."""

    title: str
    field: str
    need: Need = Need.OPTIONAL


#: Seed 001's columns, in its order. The CSV export writes the same titles in the same order.
COLUMNS: tuple[Column, ...] = (
    Column("First Name", "first_name", Need.REQUIRED),
    Column("Last Name", "last_name", Need.REQUIRED),
    Column("Email", "email", Need.ONE_OF_CONTACT),
    Column("SMS Phone", "sms_phone", Need.ONE_OF_CONTACT),
    Column("Business Title", "title"),
    Column("Department", "department"),
    Column("Image", "image_url"),
    Column("PIN", "pin"),
    Column("Location Slug", "location"),
    Column("Identification", "identification"),
    Column("Slack", "slack"),
)
COLUMN_TITLES: tuple[str, ...] = tuple(column.title for column in COLUMNS)
EXPECTED_HEADERS_HINT = "the first line must name the columns: " + ", ".join(COLUMN_TITLES)

_BY_KEY = {" ".join(column.title.lower().split()): column for column in COLUMNS}
_DELIMITERS = (",", ";", "\t")
#: Our own exports prefix cells a spreadsheet would run as a formula with an apostrophe.
_FORMULA_STARTS = ("=", "+", "-", "@")
#: Where ``surrogateescape`` puts the bytes that are not UTF-8.
_ESCAPED = re.compile("[\udc80-\udcff]")


def decode_export(data: bytes) -> str:
    """The text of an exported file: UTF-8 with or without a BOM, or UTF-16 with a BOM.

    Bytes that are not UTF-8 are kept as lone surrogates (``surrogateescape``) instead of failing
    the file, so the record that holds them can be reported on its own (see ``undecodable_byte``).
    UTF-16 is what Windows PowerShell's ``Out-File`` writes by default.
    """
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8):].decode("utf-8", errors="surrogateescape")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16", errors="replace")
    return data.decode("utf-8", errors="surrogateescape")


def undecodable_byte(text: str) -> int | None:
    """The first byte of ``text`` that was not UTF-8 (as kept by ``decode_export``), if any."""
    found = _ESCAPED.search(text)
    return None if found is None else ord(found.group()) - 0xDC00


def printable(text: str) -> str:
    """``text`` with undecodable bytes shown as U+FFFD, safe to show or store."""
    return _ESCAPED.sub("\ufffd", text)


def sniff_delimiter(text: str) -> str:
    """The delimiter of the header line: comma, semicolon (spreadsheets in many European locales)
    or tab, whichever occurs most; comma when in doubt."""
    header = next((line for line in io.StringIO(text, newline="") if line.strip()), "")
    counts = {delimiter: header.count(delimiter) for delimiter in _DELIMITERS}
    best = max(_DELIMITERS, key=lambda delimiter: counts[delimiter])  # first wins ties
    return best if counts[best] else ","


def read_csv(data: bytes) -> Reading:
    """Read a CSV contact file into a complete full snapshot, one record per non-empty row."""
    text = decode_export(data)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sniff_delimiter(text), strict=True)
    header = _header(reader)
    columns, notices = _columns(header)
    records: list[SourceRecord] = []
    end = reader.line_num
    while True:
        start = end + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            raise ConfigurationError(
                f"line {start}: the CSV file is malformed ({error})",
                hint='a cell that starts with a double quote must end with one, and a double quote '
                'inside such a cell is written twice ("")',
                code="csv_malformed",
            ) from None
        end = reader.line_num
        if any(cell.strip() for cell in row):
            records.append(_record(row, columns, len(header), start))
    mapping = identity_mapping(column.field for column in columns if column is not None)
    return Reading(Snapshot.full(records, complete=True), mapping, tuple(notices))


def _header(reader) -> list[str]:
    """The first non-empty row. A file without one is refused: it cannot say who is in it."""
    try:
        for row in reader:
            if any(cell.strip() for cell in row):
                return row
    except csv.Error as error:
        raise ConfigurationError(
            f"the CSV header is malformed ({error})",
            hint=EXPECTED_HEADERS_HINT,
            code="csv_malformed",
        ) from None
    raise ConfigurationError("the CSV file is empty", hint=EXPECTED_HEADERS_HINT, code="csv_empty")


def _columns(header: list[str]) -> tuple[list[Column | None], list[str]]:
    """The column each header cell names (``None``: ignored), and notices about the header."""
    columns: list[Column | None] = []
    notices: list[str] = []
    seen: set[str] = set()
    for title in header:
        column = _BY_KEY.get(" ".join(title.lower().split()))
        if column is None and title.strip():
            notices.append(f'unknown column "{printable(title.strip())}" ignored')
        if column is not None and column.field in seen:
            raise ConfigurationError(
                f'the CSV file has the column "{column.title}" twice',
                hint="keep one of them, so it is clear which value is meant",
                code="csv_duplicate_column",
            )
        if column is not None:
            seen.add(column.field)
        columns.append(column)
    missing = [f'"{c.title}"' for c in COLUMNS if c.need is Need.REQUIRED and c.field not in seen]
    either = [c for c in COLUMNS if c.need is Need.ONE_OF_CONTACT]
    if not any(c.field in seen for c in either):
        missing.append(" or ".join(f'"{c.title}"' for c in either))
    if missing:
        raise ConfigurationError(
            f"the CSV file has no {' and no '.join(missing)} column",
            hint=EXPECTED_HEADERS_HINT,
            code="csv_missing_column",
        )
    return columns, notices


def _record(row: list[str], columns: list[Column | None], width: int, line: int) -> SourceRecord:
    """One row as a source record; a bad cell becomes a problem of the row, never an exception."""
    attributes: dict[str, tuple[str, ...]] = {}
    problems: list[RecordProblem] = []
    for column, cell in zip(columns, row, strict=False):
        if column is None:
            continue
        byte = undecodable_byte(cell)
        if byte is not None:
            problems.append(RecordProblem(
                column.field, f'invalid UTF-8 (byte 0x{byte:02X}) in column "{column.title}"'))
            cell = printable(cell)
        attributes[column.field] = (_unguarded(cell),)
    for column in columns[len(row):]:
        if column is not None:
            attributes[column.field] = ("",)
    extra = row[width:]
    if any(cell.strip() for cell in extra):
        problems.append(RecordProblem(
            "row", f"the row has {len(row)} cells but the header names {width} columns"))
    return SourceRecord(attributes=attributes, line=line, problems=tuple(problems))


def _unguarded(cell: str) -> str:
    """A cell without the apostrophe a formula-safe export put before ``+1 415…`` or ``=…``."""
    if cell.startswith("'") and cell[1:2] in _FORMULA_STARTS:
        return cell[1:]
    return cell
