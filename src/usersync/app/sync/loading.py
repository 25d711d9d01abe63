"""From the database to the core's plain values: existing contacts, source state, policy.

One query per table, never one per record.
"""

from __future__ import annotations

from usersync.app.directory.models import Contact, ContactStatus, DirectoryObject, MessageRule, Source
from usersync.app.keys import hash_secret
from usersync.core.desired import Placement
from usersync.core.mapping import AttributeMapping
from usersync.core.planning import Policy
from usersync.core.records import CONTACT_FIELDS, ExistingContact, SourceState
from usersync.core.safeguards import Thresholds

#: Contact fields as the core names them → model columns.
MODEL_FIELDS = {name: ("pin_hash" if name == "pin" else name) for name in CONTACT_FIELDS}


def existing_contacts(organization_id: int) -> list[ExistingContact]:
    """Every contact of the organization, as the core sees it."""
    with_rules = set(
        MessageRule.objects.filter(contact__organization_id=organization_id)
        .values_list("contact_id", flat=True)
        .distinct()
    )
    columns = ["id", "status", "source_id", "anchor", "aliases", "location__identifier",
               *MODEL_FIELDS.values()]
    rows = Contact.objects.filter(organization_id=organization_id).values_list(*columns)
    contacts = []
    for row in rows.iterator(chunk_size=5000):
        contact_id, status, source_id, anchor, aliases, location, *values = row
        contacts.append(ExistingContact(
            id=contact_id,
            fields=dict(zip(MODEL_FIELDS, values)),
            location=location,
            active=status == ContactStatus.ACTIVE,
            source_id=source_id,
            anchor=anchor,
            aliases=tuple(aliases or ()),
            has_message_rules=contact_id in with_rules,
        ))
    return contacts


def source_state(source: Source) -> SourceState:
    """The admin's decisions about the source's directory objects."""
    objects = DirectoryObject.objects.filter(source=source)
    ignored = frozenset(objects.filter(ignored=True).values_list("anchor", flat=True))
    manual = dict(objects.filter(manual_contact__isnull=False).values_list("anchor", "manual_contact_id"))
    return SourceState(ignored=ignored, manual=manual)


def placement(source: Source) -> Placement:
    org = source.organization
    return Placement(
        locations=frozenset(org.locations.values_list("identifier", flat=True)),
        multi_location=org.multi_location,
        default_region=org.default_region,
    )


def policy(source: Source, mapping: AttributeMapping) -> Policy:
    return Policy(
        source_id=source.pk,
        mapping=mapping,
        placement=placement(source),
        archive_missing=source.archive_missing,
        archive_disabled=source.archive_disabled,
        contact_limit=source.organization.contact_limit,
        thresholds=Thresholds(
            percent=source.safeguard_percent,
            minimum=source.safeguard_minimum,
            maximum=source.safeguard_maximum,
        ),
        hash_secret=hash_secret,
        channels=frozenset(source.new_contact_channels),
    )
