"""The decision between a full and a delta read, the state saved after a read, and the decoding
of the sync info messages of a content-sync read (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from ldap.syncrepl import SyncInfoMessage, SyncStateControl
from pyasn1.error import PyAsn1Error

from usersync.connectors import active_directory, ldap_sync_info, openldap
from usersync.connectors.ldap_roots import common_parent
from usersync.connectors.ldap_incremental import (
    CONTENT_SYNC,
    MAX_WATERMARKS,
    STATE_VERSION,
    USN,
    Delta,
    Full,
    decide,
    fingerprint,
    next_state,
)
from usersync.connectors.scope import Scope, within
from usersync.core.mapping import AttributeMapping

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
DAY = timedelta(hours=24)
DC1, DC2 = "8cd0a6f2-0000-4000-8000-000000000001", "8cd0a6f2-0000-4000-8000-000000000002"
SCOPES = (Scope("OU=Staff,DC=example,DC=com", "hq"),)
FILTER = active_directory.DEFAULT_FILTER
PRINT = fingerprint("active_directory", SCOPES, FILTER, active_directory.DEFAULT_MAPPING)


def saved(**changes) -> dict:
    state = {"version": STATE_VERSION, "method": USN, "fingerprint": PRINT,
             "full_at": (NOW - timedelta(hours=3)).isoformat(),
             "read_at": (NOW - timedelta(hours=1)).isoformat(), "server": DC1,
             "usn": {DC1: 4200}}
    state.update(changes)
    return state


def ad(state, **overrides):
    args = {"method": USN, "server": DC1, "fingerprint": PRINT, "now": NOW, "reconcile_every": DAY}
    args.update(overrides)
    return decide(state, **args)


def test_a_delta_from_the_watermark_of_the_same_domain_controller():
    assert ad(saved()) == Delta(4200, NOW - timedelta(hours=1))


@pytest.mark.parametrize(("state", "overrides", "reason"), [
    ({}, {}, "first read"),
    (saved(version=STATE_VERSION - 1), {}, "first read"),
    (saved(method=CONTENT_SYNC), {}, "first read"),
    (saved(full_at=None), {}, "first read"),
    (saved(full_at="not a time"), {}, "first read"),
    (saved(full_at=(NOW + timedelta(hours=1)).isoformat()), {}, "first read"),  # a clock jump
    (saved(fingerprint="other"), {}, "changed since the last read"),
    (saved(), {"server": DC2}, f"another domain controller answered (invocationId {DC2})"),
    (saved(usn={DC1: "4200"}), {}, "another domain controller"),
    (saved(), {"force_full": True}, "a full read was asked for"),
    (saved(), {"method": None}, "cannot report what changed"),
    (saved(full_at=(NOW - DAY).isoformat()), {},
     "the periodic full reconcile is due (last full read 2026-03-01 12:00 UTC)"),
])
def test_a_full_read_and_why(state, overrides, reason):
    decision = ad(state, **overrides)

    assert isinstance(decision, Full)
    assert reason in decision.reason


def test_the_full_reconcile_interval_is_the_sources():
    state = saved(full_at=(NOW - timedelta(hours=5)).isoformat())

    assert isinstance(ad(state, reconcile_every=timedelta(hours=4)), Full)
    assert isinstance(ad(state, reconcile_every=timedelta(hours=6)), Delta)


def test_a_group_scoped_source_is_read_in_full_where_membership_is_walked_here():
    state = saved(method=CONTENT_SYNC, server="ldap://a", cookies={"ou=x": "rid=000,csn=1"})

    decision = ad(state, method=CONTENT_SYNC, server="ldap://a", group_scoped=True)

    assert isinstance(decision, Full) and "limited to groups" in decision.reason


def test_content_sync_cookies_are_used_only_on_the_server_that_gave_them():
    state = saved(method=CONTENT_SYNC, server="ldap://a", cookies={"ou=x": "rid=000,csn=1"})

    assert ad(state, method=CONTENT_SYNC, server="ldap://a") == Delta(
        {"ou=x": "rid=000,csn=1"}, NOW - timedelta(hours=1))
    other = ad(state, method=CONTENT_SYNC, server="ldap://b")
    assert isinstance(other, Full) and "another server answered (ldap://b)" in other.reason


def test_the_fingerprint_follows_what_is_read_and_how_it_maps_not_how_it_is_reached():
    def print_of(**changes):
        args = {"kind": "active_directory", "scopes": SCOPES, "filterstr": FILTER,
                "mapping": active_directory.DEFAULT_MAPPING, "context": ""}
        args.update(changes)
        return fingerprint(**args)

    assert print_of() == PRINT
    # the same base spelled differently is the same scope
    assert print_of(scopes=(Scope("ou=staff, dc=example,dc=com", "hq"),)) == PRINT
    different = [
        print_of(kind="ldap"),
        print_of(scopes=(Scope("OU=Staff,DC=example,DC=com", "warehouse"),)),
        print_of(scopes=(*SCOPES, Scope("OU=Other,DC=example,DC=com", "hq"))),
        print_of(filterstr=f"(&{FILTER}(!(title=Intern)))"),  # an exclusion or a group
        print_of(mapping=AttributeMapping.from_data(["first_name=givenName", "last_name=sn"])),
        print_of(mapping=openldap.DEFAULT_MAPPING),
        print_of(context='{"archive_disabled": false}'),
    ]
    assert len({PRINT, *different}) == len(different) + 1


def test_after_a_full_read_the_watermark_and_the_time_of_the_full_read_are_saved():
    state = next_state(saved(), Full("due"), method=USN, server=DC1, fingerprint=PRINT, now=NOW,
                       watermark=5000)

    assert state == {"version": STATE_VERSION, "method": USN, "fingerprint": PRINT,
                     "full_at": NOW.isoformat(), "read_at": NOW.isoformat(), "server": DC1,
                     "usn": {DC1: 5000}}
    assert ad(state, now=NOW + timedelta(minutes=5)) == Delta(5000, NOW)


def test_after_a_delta_the_last_full_read_is_kept_and_other_dcs_watermarks_too():
    before = saved(usn={DC2: 900, DC1: 4200})

    state = next_state(before, Delta(4200), method=USN, server=DC1, fingerprint=PRINT, now=NOW,
                       watermark=4300)

    assert state["full_at"] == before["full_at"] and state["read_at"] == NOW.isoformat()
    assert state["usn"] == {DC2: 900, DC1: 4300}
    assert ad(state, server=DC2) == Delta(900, NOW)  # a failover back to DC2: still a delta


def test_watermarks_of_a_different_fingerprint_are_dropped_and_only_a_few_dcs_are_kept():
    many = {f"dc-{n}": n for n in range(20)}

    changed = next_state(saved(fingerprint="old", usn=many), Full("changed"), method=USN,
                         server=DC1, fingerprint=PRINT, now=NOW, watermark=1)
    kept = next_state(saved(usn=many), Full("due"), method=USN, server=DC1, fingerprint=PRINT,
                      now=NOW, watermark=1)

    assert changed["usn"] == {DC1: 1}
    assert len(kept["usn"]) == MAX_WATERMARKS and kept["usn"][DC1] == 1
    assert "dc-19" in kept["usn"] and "dc-0" not in kept["usn"]  # the most recent stay


def test_content_sync_state_holds_the_cookie_of_each_search_root():
    cookies = {"ou=people,dc=x": "rid=000,csn=2", "ou=partners,dc=y": "rid=000,csn=2"}

    state = next_state({}, Full("first"), method=CONTENT_SYNC, server="ldap://a",
                       fingerprint=PRINT, now=NOW, watermark=cookies)

    assert state["cookies"] == cookies and state["server"] == "ldap://a" and "usn" not in state
    assert ad(state, method=CONTENT_SYNC, server="ldap://a",
              now=NOW + timedelta(hours=1)) == Delta(cookies, NOW)


@pytest.mark.parametrize(("bases", "parent"), [
    (["ou=HQ,ou=People,dc=x"], "ou=HQ,ou=People,dc=x"),
    (["ou=HQ,ou=People,dc=x", "ou=WH,ou=People,dc=x"], "ou=People,dc=x"),
    # compared parsed (case, spaces, escapes), spelled as the first base
    (["OU=HQ, OU=People,DC=X", "ou=wh,ou=people,dc=x"], "OU=People,DC=X"),
    (["ou=A\\2C B,ou=People,dc=x", "ou=a\\, b,ou=people,dc=x"], "ou=A\\, B,ou=People,dc=x"),
    (["ou=People,dc=x", "ou=Eng,ou=HQ,ou=People,dc=x"], "ou=People,dc=x"),  # nested
    (["ou=HQ,dc=x", "ou=HQ,dc=y"], ""),  # nothing in common
    # a parent that may not exist: which is why bases are first grouped by naming context
    (["ou=People,dc=example,dc=com", "ou=People,dc=other,dc=com"], "dc=com"),
])
def test_the_common_parent_of_search_bases(bases, parent):
    found = common_parent(bases)

    assert found == parent
    assert not found or all(within(base, found) for base in bases)


# --- the sync info messages of an incremental OpenLDAP read (ldap_sync_info) ---


def tlv(tag: int, content: bytes, long_length: bool = False) -> bytes:
    """One BER element (definite length; the long form when asked, as some servers send)."""
    if len(content) < 0x80 and not long_length:
        return bytes([tag, len(content)]) + content
    size = len(content).to_bytes(max(1, (len(content).bit_length() + 7) // 8), "big")
    return bytes([tag, 0x80 | len(size)]) + size + content


COOKIE = tlv(0x04, b"rid=000,csn=20261122005537.084609Z#000000#000#000000")
UUIDS = [bytes(range(i, i + 16)) for i in range(0, 48, 16)]


def id_set(uuids, *, cookie=COOKIE, flag: bytes | None = b"\xff", long_length=False) -> bytes:
    boolean = tlv(0x01, flag) if flag is not None else b""
    items = b"".join(tlv(0x04, u) for u in uuids)
    return tlv(0xA3, cookie + boolean + tlv(0x31, items, long_length), long_length)


RECOGNIZED = {
    "one id with cookie (what slapd sends)": id_set(UUIDS[:1]),
    "ids, refreshDeletes false": id_set(UUIDS, flag=b"\x00"),
    "ids, refreshDeletes absent (default false)": id_set(UUIDS, flag=None),
    "ids without a cookie": id_set(UUIDS, cookie=b""),
    "no ids": id_set([]),
    "long lengths": id_set(UUIDS, long_length=True),
    "many ids (a long set)": id_set([bytes([i % 256]) * 16 for i in range(300)]),
    "an empty cookie": id_set(UUIDS[:1], cookie=tlv(0x04, b"")),
    "newcookie": tlv(0x80, b"rid=000,csn=20261122005537.084609Z#000000#000#000000"),
    "refreshDelete done": tlv(0xA1, COOKIE + tlv(0x01, b"\xff")),
    "refreshDelete not done": tlv(0xA1, COOKIE + tlv(0x01, b"\x00")),
    "refreshDelete, default done": tlv(0xA1, COOKIE),
    "refreshPresent without a cookie": tlv(0xA2, tlv(0x01, b"\x00")),
}
UNRECOGNIZED = {
    "empty refreshDelete": tlv(0xA1, b""),
    "trailing bytes": id_set(UUIDS[:1]) + b"\x00",
    "indefinite length": b"\xa3\x80" + COOKIE + tlv(0x31, tlv(0x04, UUIDS[0])) + b"\x00\x00",
    "a uuid of 15 bytes": id_set([b"x" * 15]),
    "no set of ids": tlv(0xA3, COOKIE + tlv(0x01, b"\xff")),
}


def _values(message) -> tuple:
    return (message.newcookie, message.refreshDelete, message.refreshPresent, message.syncIdSet)


@pytest.mark.parametrize("value", RECOGNIZED.values(), ids=RECOGNIZED.keys())
def test_sync_info_messages_decode_to_what_python_ldap_decodes(value):
    fast = ldap_sync_info._decode(value)  # decoded here, not handed to python-ldap
    assert _values(fast) == _values(SyncInfoMessage(value))
    assert ldap_sync_info.decode_sync_info(value) == fast


@pytest.mark.parametrize("value", UNRECOGNIZED.values(), ids=UNRECOGNIZED.keys())
def test_unrecognized_sync_info_messages_go_to_python_ldap(value):
    with pytest.raises(ldap_sync_info._Unrecognized):
        ldap_sync_info._decode(value)
    try:
        expected = _values(SyncInfoMessage(value))
    except PyAsn1Error as error:  # malformed: it fails as python-ldap fails
        with pytest.raises(type(error)):
            ldap_sync_info.decode_sync_info(value)
    else:
        assert _values(ldap_sync_info.decode_sync_info(value)) == expected


def test_a_sync_info_message_slapd_sent_decodes_to_its_id():
    sent = bytes.fromhex(
        "a37d04647269643d3030302c63736e3d32303236313132323030353533372e3038343630395a2330303030"
        "303023303030233030303030302c64656c63736e3d32303236313132323030353632352e3430333236385a"
        "2330303030303023303030233030303030300101ff311204102589de2e7a5b104192101338526e5359")
    info = ldap_sync_info.decode_sync_info(sent)
    assert info.syncIdSet["syncUUIDs"] == ["2589de2e-7a5b-1041-9210-1338526e5359"]
    assert info.syncIdSet["refreshDeletes"] is True
    assert info.syncIdSet["cookie"].startswith("rid=000,csn=20261122005537.084609Z")


STATES = {
    "add with a cookie": tlv(0x30, tlv(0x0A, b"\x01") + tlv(0x04, UUIDS[0]) + COOKIE),
    "modify without a cookie": tlv(0x30, tlv(0x0A, b"\x02") + tlv(0x04, UUIDS[1])),
    "delete": tlv(0x30, tlv(0x0A, b"\x03") + tlv(0x04, UUIDS[2])),
    "present, long lengths": tlv(0x30, tlv(0x0A, b"\x00") + tlv(0x04, UUIDS[0], True), True),
    "an empty cookie": tlv(0x30, tlv(0x0A, b"\x01") + tlv(0x04, UUIDS[0]) + tlv(0x04, b"")),
}


@pytest.mark.parametrize("value", STATES.values(), ids=STATES.keys())
def test_sync_state_controls_decode_to_what_python_ldap_decodes(value):
    fast, slow = ldap_sync_info.SyncState(), SyncStateControl()
    fast.decodeControlValue(value)
    slow.decodeControlValue(value)

    assert ldap_sync_info._state(value) == (fast.state, fast.entryUUID, fast.cookie)
    assert (fast.state, fast.entryUUID, fast.cookie) == (slow.state, slow.entryUUID, slow.cookie)


def test_an_unusual_sync_state_control_goes_to_python_ldap():
    value = tlv(0x30, tlv(0x0A, b"\x01") + tlv(0x04, UUIDS[0]) + COOKIE + b"\x05\x00")

    with pytest.raises(ldap_sync_info._Unrecognized):
        ldap_sync_info._state(value)
    with pytest.raises(PyAsn1Error):  # as python-ldap fails on it
        ldap_sync_info.SyncState().decodeControlValue(value)
