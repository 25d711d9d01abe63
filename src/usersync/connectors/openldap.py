"""Defaults for OpenLDAP and other RFC 4519 / inetOrgPerson directories."""

from __future__ import annotations

from usersync.core.mapping import AttributeMapping

#: People as the standard schema describes them (RFC 2798).
DEFAULT_FILTER = "(objectClass=inetOrgPerson)"
#: The operational attribute that identifies an entry for life (RFC 4530); DNs change on renames.
ANCHOR_ATTRIBUTE = "entryUUID"

DEFAULT_MAPPING = AttributeMapping.from_data(
    [
        "first_name=givenName",
        "last_name=sn",
        "email=mail",
        "sms_phone=mobile",
        "title=title",
        "department=departmentNumber",
        "identification=employeeNumber",
    ]
)
