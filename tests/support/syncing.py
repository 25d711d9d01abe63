"""Builders for tests that run the sync service against the database (SQLite or PostgreSQL)."""

from __future__ import annotations

from usersync.app.directory.models import Contact, SourceKind
from usersync.app.sync import readers, runs

HEADER = "First Name,Last Name,Email,SMS Phone,Department,Location Slug,Identification,PIN"


def csv_bytes(*rows: str, header: str = HEADER) -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode()


def person(n: int, location: str = "headquarters", **overrides) -> str:
    values = {
        "first": f"First{n}", "last": f"Last{n}", "email": f"person{n}@acme.example",
        "sms": "", "dept": "Sales", "loc": location, "ident": f"E{n:04d}", "pin": "",
    }
    values.update(overrides)
    return ",".join(values[k] for k in ("first", "last", "email", "sms", "dept", "loc", "ident", "pin"))


def import_csv(org, data: bytes, preview: bool = False, source_name: str | None = None):
    source = readers.import_source(org, SourceKind.CSV, source_name)
    return runs.sync(source, readers.file_reader(source, data), trigger="upload", preview=preview)


def active(org):
    return Contact.objects.filter(organization=org, status="active")
