"""Planning: what one run would do to the contacts, operation by operation."""

import json
import time

import pytest
from builders import (
    MULTI,
    NO_SAFEGUARDS,
    OTHER_SOURCE,
    contact,
    fake_hash,
    managed,
    only,
    ops,
    record,
    row,
    run,
    sync,
)

from usersync.core.mapping import AttributeMapping
from usersync.core.plan import WRITES, Change, Op
from usersync.core.records import Snapshot

ADA = dict(email="ada@example.com")
BOB = dict(first_name="Bob", last_name="Babbage", email="bob@example.com")


def csv_rows():
    return [
        row(2, email="ada@example.com", pin="1234"),
        row(3, first_name="Bob", last_name="B", email="bob@example.com", pin="12"),
        row(4, first_name="Cy", last_name="C", sms_phone="650 253 0000"),
    ]


# -- create ------------------------------------------------------------------------------------


def test_a_csv_row_with_a_bad_pin_is_reported_with_line_and_field_and_the_others_still_create():
    result = run(csv_rows())
    error = only(result, Op.ERROR)
    assert (error.line, error.field, error.label) == (3, "pin", "line 3")
    assert "PIN must be 4 to 6 digits" in error.reason
    assert [o.line for o in result.of(Op.CREATE)] == [2, 4]
    assert result.counts["created"] == 2 and result.counts["errors"] == 1


def test_a_created_contact_carries_every_mapped_field_and_its_message_channels():
    result = run([record(anchor="g1", email="ADA@example.com", sms_phone="650 253 0000",
                         slack="@ada", title=" Countess ", dn="CN=Ada,OU=Staff")])
    create = only(result, Op.CREATE)
    assert create.fields["email"] == "ada@example.com"
    assert create.fields["sms_phone"] == "+16502530000"
    assert create.fields["title"] == "Countess"
    assert create.channels == ("email", "sms", "slack")
    assert (create.anchor, create.dn, create.location) == ("g1", "CN=Ada,OU=Staff", None)


@pytest.mark.parametrize(
    "keys, channels",
    [({"email": "a@x.io"}, ("email",)), ({"sms_phone": "650 253 0000"}, ("sms",)),
     ({"email": "a@x.io", "slack": "ada"}, ("email", "slack"))],
)
def test_new_contacts_get_message_rules_for_what_they_have(keys, channels):
    assert only(run([record(**keys)]), Op.CREATE).channels == channels


@pytest.mark.parametrize(
    "allowed, channels",
    [({"email", "sms", "slack"}, ("email", "sms", "slack")), ({"sms"}, ("sms",)), (set(), ())],
)
def test_the_source_chooses_how_new_contacts_are_notified(allowed, channels):
    """The source's "defaults for new contacts": only the chosen channels, and only those the
    contact has a value for; a contact whose rules an admin set keeps them."""
    everything = dict(email="a@x.io", sms_phone="650 253 0000", slack="ada")
    assert only(run([record(**everything)], channels=frozenset(allowed)),
                Op.CREATE).channels == channels
    assert only(run([record(email="a@x.io")], channels=frozenset({"sms"})),
                Op.CREATE).channels == ()


def test_plans_never_contain_the_plain_pin():
    existing = [managed(5, "g2", **BOB, pin=fake_hash("9999"))]
    result = run([record(anchor="g1", **ADA, pin="424242"),
                  record(anchor="g2", **{**BOB, "pin": "135790"})], existing)
    text = json.dumps(result.to_data())
    assert "424242" not in text and "135790" not in text and "9999" not in text
    assert only(result, Op.CREATE).fields["pin"] == fake_hash("424242")
    [change] = only(result, Op.UPDATE).changes
    assert change.shown() == ("••••", "••••")


# -- update, unchanged, link -------------------------------------------------------------------


def test_an_update_lists_each_changed_field_with_before_and_after():
    existing = [managed(5, "g1", email="ada@example.com", title="Analyst", department="R&D")]
    result = run([record(anchor="g1", **ADA, title="Countess", department="R&D")], existing)
    update = only(result, Op.UPDATE)
    assert update.contact_id == 5 and not update.link
    assert Change("title", "Analyst", "Countess") in update.changes
    assert {c.field for c in update.changes} == {"title"}


def test_a_record_that_did_not_change_is_unchanged():
    existing = [managed(5, "g1", email="ada@example.com")]
    assert ops(run([record(anchor="g1", **ADA)], existing)) == [Op.UNCHANGED]


def test_fields_the_mapping_does_not_manage_are_never_diffed():
    mapping = AttributeMapping.from_data(["first_name=first_name", "last_name=last_name",
                                          "email=email"])
    existing = [managed(5, "g1", **ADA, title="Set in the app", pin=fake_hash("1234"))]
    result = run([record(anchor="g1", **ADA, title="From AD")], existing, mapping=mapping)
    assert ops(result) == [Op.UNCHANGED]


def test_taking_over_an_identical_unmanaged_contact_is_a_link():
    result = run([record(anchor="g1", **ADA)], [contact(5, **ADA)])
    link = only(result, Op.LINK)
    assert (link.contact_id, link.link, link.anchor, link.matched_by) == (5, True, "g1", "email")
    assert link.op in WRITES


def test_an_existing_contact_without_message_rules_gets_them_once():
    existing = [managed(5, "g1", **ADA, has_message_rules=False)]
    first, store = sync([record(anchor="g1", **ADA)], existing)
    assert only(first, Op.UPDATE).channels == ("email",)
    assert only(first, Op.UPDATE).changes == ()
    again, _ = sync([record(anchor="g1", **ADA)], store)
    assert ops(again) == [Op.UNCHANGED]


def test_an_existing_contact_with_message_rules_gets_no_new_ones():
    existing = [managed(5, "g1", email="old@example.com")]
    assert only(run([record(anchor="g1", **ADA)], existing), Op.UPDATE).channels == ()


# -- locations ---------------------------------------------------------------------------------


def test_a_record_in_two_mapped_scopes_gets_one_contact_per_location():
    existing = [managed(5, "g1", **ADA, location="hq")]
    result = run([record(anchor="g1", **ADA, locations=["hq", "warehouse"])], existing,
                 placement=MULTI)
    assert [(o.op, o.location, o.contact_id) for o in result.operations] == [
        (Op.UNCHANGED, "hq", 5), (Op.CREATE, "warehouse", None),
    ]


def test_moved_between_mapped_ous_keeps_the_contact_and_changes_location():
    existing = [managed(5, "g1", **ADA, location="hq")]
    result = run([record(anchor="g1", **ADA, locations=["warehouse"])], existing, placement=MULTI)
    update = only(result, Op.UPDATE)
    assert update.contact_id == 5
    assert update.changes == (Change("location", "hq", "warehouse"),)
    assert not result.of(Op.CREATE, Op.ARCHIVE)


def test_leaving_one_of_two_scopes_archives_only_that_locations_contact():
    existing = [managed(5, "g1", **ADA, location="hq"),
                managed(6, "g1", **ADA, location="warehouse")]
    result = run([record(anchor="g1", **ADA, locations=["hq"])], existing, placement=MULTI)
    archive = only(result, Op.ARCHIVE)
    assert archive.contact_id == 6 and archive.reason == "no longer in this location's scope"


def test_a_global_organization_keeps_contacts_in_no_location():
    result = run([record(anchor="g1", **ADA, locations=["hq"])])
    assert only(result, Op.CREATE).location is None


# -- archive and reactivate --------------------------------------------------------------------


def test_a_complete_full_snapshot_archives_managed_contacts_it_no_longer_contains():
    existing = [managed(5, "g1", **ADA), managed(6, "g2", **BOB)]
    result = run([record(anchor="g1", **ADA)], existing)
    archive = only(result, Op.ARCHIVE)
    assert (archive.contact_id, archive.anchor, archive.label) == (6, "g2", "Bob Babbage")
    assert archive.reason == "no longer in the directory scope"


@pytest.mark.parametrize(
    "snapshot, overrides",
    [
        (Snapshot.full([record(anchor="g1", **ADA)], complete=False), {}),
        (Snapshot.full([record(anchor="g1", **ADA)]), {"archive_missing": False}),
        (Snapshot.delta([record(anchor="g1", **ADA)]), {}),
    ],
    ids=["incomplete", "archive_missing off", "delta without removals"],
)
def test_missing_contacts_are_kept_unless_a_complete_full_read_says_so(snapshot, overrides):
    existing = [managed(5, "g1", **ADA), managed(6, "g2", **BOB)]
    result = run(snapshot, existing, **overrides)
    assert not result.of(Op.ARCHIVE)


def test_contacts_the_source_never_matched_stay_untouched():
    existing = [contact(5, **BOB), contact(6, **ADA, source_id=OTHER_SOURCE, anchor="g9"),
                managed(7, "g3", first_name="Cy", email="cy@example.com")]
    result = run([record("Dee", anchor="g4", email="dee@example.com")], existing)
    assert [(o.op, o.contact_id) for o in result.operations] == [(Op.CREATE, None),
                                                                (Op.ARCHIVE, 7)]


def test_an_already_archived_contact_is_not_archived_again():
    existing = [managed(5, "g1", **ADA, active=False)]
    assert run([record(anchor="g2", **BOB)], existing).of(Op.ARCHIVE) == []


def test_a_delta_archives_only_the_anchors_it_names_as_removed():
    existing = [managed(5, "g1", **ADA), managed(6, "g2", **BOB),
                managed(7, "g3", first_name="Cy", email="cy@example.com")]
    result = run(Snapshot.delta([record(anchor="g1", **ADA, title="Countess")], removed={"g2"}),
                 existing)
    assert [(o.op, o.contact_id) for o in result.operations] == [(Op.UPDATE, 5), (Op.ARCHIVE, 6)]
    assert result.of(Op.ARCHIVE)[0].reason == "removed from the directory"


def test_a_delta_does_not_archive_when_archive_missing_is_off():
    existing = [managed(6, "g2", **BOB)]
    assert ops(run(Snapshot.delta([], removed={"g2"}), existing, archive_missing=False)) == []


def test_a_contact_that_returns_is_reactivated_with_the_same_id():
    existing = [managed(5, "g1", **ADA, title="Analyst", active=False)]
    result = run([record(anchor="g1", **ADA, title="Countess")], existing)
    reactivate = only(result, Op.REACTIVATE)
    assert reactivate.contact_id == 5
    assert reactivate.changes == (Change("title", "Analyst", "Countess"),)
    assert not result.of(Op.CREATE)


def test_an_archived_unmanaged_contact_found_by_email_is_reactivated_and_linked():
    result = run([record(anchor="g1", **ADA)], [contact(5, **ADA, active=False)])
    reactivate = only(result, Op.REACTIVATE)
    assert (reactivate.contact_id, reactivate.link, reactivate.anchor) == (5, True, "g1")


# -- disabled accounts -------------------------------------------------------------------------


def test_a_disabled_account_archives_its_linked_contact():
    existing = [managed(5, "g1", **ADA)]
    archive = only(run([record(anchor="g1", **ADA, disabled=True)], existing), Op.ARCHIVE)
    assert (archive.contact_id, archive.reason) == (5, "disabled in the directory")


def test_a_disabled_account_never_seen_is_not_created():
    result = run([record(anchor="g1", **ADA, disabled=True)])
    skip = only(result, Op.SKIP)
    assert "disabled" in skip.reason and not result.changes_anything


def test_a_disabled_account_leaves_an_unmanaged_contact_it_matches_alone():
    result = run([record(anchor="g1", **ADA, disabled=True)], [contact(5, **ADA)])
    assert ops(result) == [Op.SKIP] and not result.changes_anything


def test_a_reenabled_account_is_reactivated():
    existing = [managed(5, "g1", **ADA, active=False)]
    assert only(run([record(anchor="g1", **ADA)], existing), Op.REACTIVATE).contact_id == 5
    assert ops(run([record(anchor="g1", **ADA, disabled=True)], existing)) == [Op.UNCHANGED]


def test_with_archive_disabled_off_a_known_disabled_account_syncs_but_a_new_one_is_not_created():
    existing = [managed(5, "g1", **ADA, title="Analyst")]
    result = run([record(anchor="g1", **ADA, title="Countess", disabled=True),
                  record(anchor="g2", **BOB, disabled=True)], existing, archive_disabled=False)
    assert ops(result) == [Op.UPDATE, Op.SKIP]


def test_an_incomplete_read_does_not_archive_disabled_accounts_either():
    existing = [managed(5, "g1", **ADA)]
    snapshot = Snapshot.full([record(anchor="g1", **ADA, disabled=True)], complete=False)
    result = run(snapshot, existing)
    assert not result.of(Op.ARCHIVE)
    assert "disabled" in only(result, Op.SKIP).reason


def test_a_disabled_account_does_not_keep_a_departed_persons_contact_alive():
    # g1 left the directory; a disabled account g2 happens to share the address
    existing = [managed(5, "g1", **ADA)]
    result = run([record(anchor="g2", **ADA, disabled=True)], existing)
    assert only(result, Op.ARCHIVE).contact_id == 5
    assert not result.of(Op.LINK, Op.UPDATE, Op.CREATE)


def test_a_disabled_old_account_sharing_an_address_does_not_block_the_new_one():
    # a leaver's account stays disabled with its mail; the new hire gets the same address
    for order in ([0, 1], [1, 0]):
        records = [record(anchor="old", **ADA, disabled=True), record(anchor="new", **ADA)]
        existing = [managed(5, "old", **ADA)]
        result = run([records[i] for i in order], existing)
        assert only(result, Op.ARCHIVE).contact_id == 5
        assert only(result, Op.CREATE).anchor == "new"
        assert not result.of(Op.ERROR)


# -- rejected records and duplicates -----------------------------------------------------------


def test_a_rejected_directory_record_never_archives_its_contact():
    existing = [managed(5, "g1", **ADA)]
    result = run([record(anchor="g1", **ADA, pin="12")], existing)
    assert ops(result) == [Op.ERROR]


def test_a_rejected_csv_row_never_archives_the_contact_its_keys_point_to():
    existing = [managed(5, "email:ada@example.com", **ADA, location=None),
                managed(6, "identification:E2", identification="E2", email="bob@example.com")]
    result = run([row(2, **ADA, image_url="ftp://x"),
                  row(3, identification="E2", email="bob@example.com", sms_phone="12")], existing)
    assert ops(result) == [Op.ERROR, Op.ERROR]


@pytest.mark.parametrize(
    "second, words",
    [
        (dict(email="ADA@example.com"), "duplicate Email: ada@example.com is also on line 2"),
        (dict(email="bob@example.com", aliases=["ada@example.com"]),
         "duplicate Email: ada@example.com is also on line 2"),
        (dict(email="bob@example.com", identification="E1"),
         "duplicate Identification: E1 is also on line 2"),
    ],
)
def test_a_duplicate_in_one_snapshot_is_an_error_on_the_later_row(second, words):
    result = run([row(2, **ADA, identification="E1"), row(3, first_name="Bob", **second),
                  row(4, **BOB | {"email": "cy@example.com"})])
    error = only(result, Op.ERROR)
    assert error.line == 3 and words in error.reason
    assert [o.line for o in result.of(Op.CREATE)] == [2, 4]


def test_the_same_anchor_twice_in_a_location_is_a_duplicate():
    result = run([record(anchor="g1", **ADA, dn="CN=Ada"), record(anchor="g1", **BOB, dn="CN=B")])
    error = only(result, Op.ERROR)
    assert error.dn == "CN=B" and "also on CN=Ada" in error.reason


def test_the_same_email_in_different_locations_is_not_a_duplicate():
    result = run([row(2, **ADA, location="hq"), row(3, **ADA, location="warehouse")],
                 placement=MULTI)
    assert [o.location for o in result.of(Op.CREATE)] == ["hq", "warehouse"]


def test_a_duplicate_row_does_not_archive_its_own_contact():
    existing = [managed(5, "identification:E1", identification="E1", **ADA),
                managed(6, "identification:E2", identification="E2", **BOB)]
    result = run([row(2, identification="E1", **ADA),
                  row(3, identification="E2", **{**BOB, "email": "ada@example.com"})], existing)
    assert sorted(ops(result)) == sorted([Op.UNCHANGED, Op.ERROR])


# -- the contact limit -------------------------------------------------------------------------


def test_creates_beyond_the_contact_limit_are_per_record_errors():
    existing = [contact(1, email="x@example.com"), contact(2, email="y@example.com", active=False)]
    result = run([row(2, **ADA), row(3, **BOB), row(4, first_name="Cy", email="cy@x.io")],
                 existing, contact_limit=3)
    assert ops(result) == [Op.CREATE, Op.CREATE, Op.ERROR]  # the archived contact does not count
    error = result.operations[2]
    assert (error.line, error.field) == (4, "contact_limit")
    assert "allows 3 active contacts" in error.reason


def test_contacts_archived_by_the_same_run_make_room():
    existing = [managed(1, "g0", email="x@example.com")]
    result = run([record(anchor="g1", **ADA)], existing, contact_limit=1)
    assert sorted(ops(result)) == sorted([Op.CREATE, Op.ARCHIVE])


# -- twice -------------------------------------------------------------------------------------


def test_the_same_snapshot_twice_the_second_plan_has_no_writes():
    snapshot = [record(anchor="g1", **ADA, sms_phone="650 253 0000", pin="1234",
                       aliases=["a.l@example.com"], locations=["hq", "warehouse"]),
                record(anchor="g2", **BOB, locations=["hq"]),
                record(anchor="g3", first_name="Cy", email="bad", locations=["hq"]),
                record(anchor="g4", first_name="Dee", email="dee@example.com", disabled=True,
                       locations=["hq"])]
    existing = [contact(9, **BOB, location="hq", has_message_rules=False),
                managed(10, "g4", first_name="Dee", email="dee@example.com", location="hq")]
    first, store = sync(snapshot, existing, placement=MULTI)
    assert first.changes_anything
    second, _ = sync(snapshot, store, placement=MULTI)
    assert not second.changes_anything, [o.to_data() for o in second.operations]
    assert second.counts["unchanged"] == 4 and second.counts["errors"] == 1


# -- scale -------------------------------------------------------------------------------------


def test_a_large_run_with_many_bad_rows_stays_linear():
    """Thousands of rejected rows (a wrong default region, say) must not make planning quadratic."""
    n = 6000
    existing = [managed(i, f"identification:E{i}", identification=f"E{i}", email=f"p{i}@x.io")
                for i in range(n)]
    good = [row(i + 2, identification=f"E{i}", email=f"p{i}@x.io") for i in range(0, n, 2)]
    bad = [row(i + 2, identification=f"E{i}", email=f"p{i}@x.io", sms_phone="12")
           for i in range(1, n, 4)]
    started = time.perf_counter()
    result = run(good + bad, existing, thresholds=NO_SAFEGUARDS)
    assert time.perf_counter() - started < 8  # was ~30 s before the protect/archive indexes
    assert result.counts["unchanged"] == n // 2 and result.counts["errors"] == n // 4
    assert result.counts["archived"] == n // 4  # the other odd rows are not in the file at all
