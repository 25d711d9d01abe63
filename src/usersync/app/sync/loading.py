"""From the database to the core's plain values: existing contacts, source state, policy.

A query per table or per look-up, never one per record.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace

from django.db.models import Count, F, Q

from usersync.app.directory.lookups import Statement, probe, probing, statement
from usersync.app.directory.models import (
    Contact,
    ContactAlias,
    ContactStatus,
    DirectoryObject,
    MessageRule,
    Source,
)
from usersync.app.keys import hash_secret
from usersync.core import delta
from usersync.core.delta import Totals
from usersync.core.desired import Placement
from usersync.core.mapping import AttributeMapping
from usersync.core.planning import Built, Policy
from usersync.core.records import (
    CONTACT_FIELDS,
    ExistingContact,
    Snapshot,
    SnapshotKind,
    SourceState,
)
from usersync.core.safeguards import Thresholds

from .aside import aside

#: Contact fields as the core names them → model columns.
MODEL_FIELDS = {name: ("pin_hash" if name == "pin" else name) for name in CONTACT_FIELDS}
_COLUMNS = ("id", "status", "source_id", "anchor", "aliases", "location__identifier",
            *MODEL_FIELDS.values())


def existing_contacts(organization_id: int) -> list[ExistingContact]:
    """Every contact of the organization, as the core sees it."""
    with_rules = set(
        MessageRule.objects.filter(contact__organization_id=organization_id)
        .values_list("contact_id", flat=True)
        .distinct()
    )
    rows = Contact.objects.filter(organization_id=organization_id).values_list(*_COLUMNS)
    return [_existing(row, with_rules) for row in rows.iterator(chunk_size=5000)]


@dataclass(frozen=True)
class Asked:
    """What a delta's plan needs that was asked for while its records were built
    (``asked_aside``): the organization's totals, and the source's contacts of the anchors
    its read names (``anchors``, looked up: the ids of ``found``)."""

    totals: Totals
    anchors: frozenset[str]
    found: frozenset[int]


@contextmanager
def asked_aside(source: Source, snapshot: Snapshot) -> Iterator[Callable[[], Asked | None]]:
    """For a delta (``snapshot.narrowed``), what its plan needs before its records are built,
    asked for aside (``aside``) while they are: the counts over the organization and the
    contacts of the anchors its records and removals name. What is given waits for it; None for
    a full read, whose plan loads every contact."""
    if not snapshot.narrowed:
        yield lambda: None
        return
    anchors = frozenset(snapshot.removed).union(
        record.anchor for record in snapshot.records if record.anchor)
    by_anchor = probing(Contact, "id", "anchor", anchors, source_id=source.pk)
    with aside([_counts(source), *([by_anchor] if by_anchor else [])]) as answers:
        def asked() -> Asked:
            counted, *found = answers()
            return Asked(_totals(counted), anchors,
                         frozenset(row[0] for rows in found for row in rows))
        yield asked


def contacts_to_plan(source: Source, snapshot: Snapshot, built: Built, state: SourceState,
                     asked: Asked | None = None) -> list[ExistingContact]:
    """The contacts ``planning.plan`` compares ``snapshot`` (its records ``built``) with: a delta
    loads only what it names (``delta.needs``), so that an incremental run of a few changes
    does not read the whole organization; its plan then needs the ``totals``. What was
    ``asked`` for already (``asked_aside``) is not looked up again."""
    needs = delta.needs(snapshot, built, state)
    if needs is None:
        return existing_contacts(source.organization_id)
    if snapshot.kind is SnapshotKind.FULL:  # with unchanged records: add what it may archive
        needs = replace(needs, anchors=needs.anchors | _unkept_anchors(source, snapshot))
    return _needed_contacts(source, needs, asked)


def _unkept_anchors(source: Source, snapshot: Snapshot) -> set[str]:
    """The anchors of the source's active contacts that no unchanged record keeps: those a
    full read archives when no built record claims them either. Their ids first, then the
    anchors of the few not kept (the anchors of 100,000 contacts took 20 ms more to read)."""
    kept = {u.contact_id for u in snapshot.unchanged.values()}
    managed = Contact.objects.order_by().filter(source=source, status=ContactStatus.ACTIVE,
                                                anchor__isnull=False).exclude(anchor="")
    unkept = [contact_id for contact_id in managed.values_list("id", flat=True)
              if contact_id not in kept]
    return set(managed.filter(id__among=unkept).values_list("anchor", flat=True))


def settled(source: Source) -> dict[str, tuple[str, int]]:
    """The digests of the source's settled directory objects, with their anchor and contact
    (``connectors.ldap_unchanged``): present, neither ignored nor mapped by hand, and their
    contact is active, still linked to them and not written since it was synced from them.
    Read at once, not through a server-side cursor: on PostgreSQL its round trips took 40 ms
    more for 100,000 (the rows' tuples, 7 MB, are dropped as soon as the dict is made)."""
    objects = DirectoryObject.objects.order_by().filter(  # unordered: a dict of 100,000
        source=source, present=True, ignored=False, manual_contact__isnull=True,
        contact__status=ContactStatus.ACTIVE, contact__source_id=F("source_id"),
        contact__anchor=F("anchor"), contact__updated_at__lte=F("synced_at"),
    ).exclude(digest="")
    rows = objects.values_list("digest", "anchor", "contact_id")
    return {digest: (anchor, contact_id) for digest, anchor, contact_id in rows}


def _needed_contacts(source: Source, needs: delta.Needs,
                     asked: Asked | None) -> list[ExistingContact]:
    """The contacts a narrowed plan looks at: the ids of those each need names (the source's
    anchors, each key, email aliases through their own rows: ``ContactAlias``; manual mappings
    name their ids), then their columns, in the order of every contact's load (planning breaks
    ties by it). Each look-up costs what its values cost (``lookups.probe``), not what the
    organization holds."""
    org = source.organization_id
    ids = set(needs.contact_ids)  # a set: one contact often matches several look-ups
    anchors = needs.anchors
    if asked is not None:
        ids.update(asked.found)
        anchors = anchors - asked.anchors
    ids.update(probe(Contact, "id", "anchor", anchors, source_id=source.pk))
    for key, values in needs.keys.items():
        ids.update(probe(Contact, "id", key, values, organization_id=org))
    ids.update(probe(ContactAlias, "contact_id", "address", needs.keys["email"],
                     organization_id=org))
    rows = list(Contact.objects.filter(organization_id=org, id__among=ids).values_list(*_COLUMNS))
    with_rules = set(probe(MessageRule, "contact_id", "contact_id", [row[0] for row in rows]))
    return [_existing(row, with_rules) for row in rows]


def _counts(source: Source) -> Statement:
    """The query of the counts over the organization that a plan made from part of its contacts
    needs (a delta's: ``contacts_to_plan``): one row, none for an organization with no active
    contact."""
    # the contacts planning counts as managed: linked to an anchor of this source
    managed = Q(source_id=source.pk, anchor__isnull=False) & ~Q(anchor="")
    active = Contact.objects.order_by().filter(organization_id=source.organization_id,
                                               status=ContactStatus.ACTIVE)
    counted = (active.values("organization_id")  # one group: the organization's contacts
               .annotate(managed=Count("id", filter=managed), everyone=Count("id"))
               .values_list("managed", "everyone"))
    return statement(counted)


def _totals(counted: list[tuple[int, int]]) -> Totals:
    """The rows of ``_counts`` as the plan takes them."""
    managed, everyone = counted[0] if counted else (0, 0)
    return Totals(managed_active=managed, organization_active=everyone)


def _existing(row: tuple, with_rules: set[int]) -> ExistingContact:
    contact_id, status, source_id, anchor, aliases, location, *values = row
    return ExistingContact(
        id=contact_id,
        fields=dict(zip(MODEL_FIELDS, values)),
        location=location,
        active=status == ContactStatus.ACTIVE,
        source_id=source_id,
        anchor=anchor,
        aliases=tuple(aliases or ()),
        has_message_rules=contact_id in with_rules,
    )


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
