"""The messages of content sync (RFC 4533) that come once per entry or id, decoded without pyasn1:
the sync info message (syncInfoValue) and the sync state control of each entry (syncStateValue).

An incremental read of OpenLDAP receives one intermediate message per id that left the content
(and a sync state control per entry written). python-ldap's ``SyncInfoMessage`` decodes each
through pyasn1, ~0.25 ms a message: with one search per base (as usersync once read), a 1 % day at
100,000 people was ~29,000 messages and most of the incremental run. The messages have
four fixed shapes, decoded here directly from their BER bytes into the same values. Anything
this decoder does not recognize (an indefinite length, an unexpected tag, trailing bytes, an
empty sequence) goes to ``SyncInfoMessage``, so that what the server sent means the same either
way, and a malformed message fails the same way. The same for the sync state control that comes
with each written entry (``SyncState``, a ``SyncStateControl`` decoded here).

    syncInfoValue ::= CHOICE {
        newcookie      [0] syncCookie,
        refreshDelete  [1] SEQUENCE { cookie syncCookie OPTIONAL, refreshDone BOOLEAN DEFAULT TRUE },
        refreshPresent [2] SEQUENCE { cookie syncCookie OPTIONAL, refreshDone BOOLEAN DEFAULT TRUE },
        syncIdSet      [3] SEQUENCE { cookie syncCookie OPTIONAL,
                                      refreshDeletes BOOLEAN DEFAULT FALSE,
                                      syncUUIDs SET OF syncUUID } }
    syncStateValue ::= SEQUENCE { state ENUMERATED { present (0), add (1), modify (2), delete (3) },
                                  entryUUID syncUUID, cookie syncCookie OPTIONAL }
"""

from __future__ import annotations

from dataclasses import dataclass

from ldap.controls import KNOWN_RESPONSE_CONTROLS
from ldap.syncrepl import SyncInfoMessage, SyncStateControl

NEW_COOKIE, REFRESH_DELETE, REFRESH_PRESENT, SYNC_ID_SET = 0x80, 0xA1, 0xA2, 0xA3
OCTET_STRING, BOOLEAN, ENUMERATED, SET, SEQUENCE = 0x04, 0x01, 0x0A, 0x31, 0x30
#: pyasn1 turns an OCTET STRING into ``str`` with this encoding (python-ldap's ``str(cookie)``).
COOKIE_ENCODING = "iso-8859-1"


@dataclass(frozen=True, slots=True)
class SyncInfo:
    """The values of ``SyncInfoMessage``: one of the four is set, as python-ldap sets it."""

    newcookie: str | None = None
    refreshDelete: dict | None = None
    refreshPresent: dict | None = None
    syncIdSet: dict | None = None


class _Unrecognized(Exception):
    pass


class SyncState(SyncStateControl):
    """python-ldap's sync state control, decoded here when it has the usual shape."""

    def decodeControlValue(self, encodedControlValue: bytes) -> None:
        try:
            self.state, self.entryUUID, self.cookie = _state(encodedControlValue)
        except _Unrecognized:
            super().decodeControlValue(encodedControlValue)


#: The response controls of a sync search: python-ldap's, with ``SyncState`` for the state.
SYNC_RESPONSE_CONTROLS = {**KNOWN_RESPONSE_CONTROLS, SyncState.controlType: SyncState}


def decode_sync_info(value: bytes) -> SyncInfo:
    """The sync info message in ``value``; python-ldap's decoder for what is not recognized."""
    try:
        return _decode(value)
    except _Unrecognized:
        message = SyncInfoMessage(value)
        return SyncInfo(message.newcookie, message.refreshDelete, message.refreshPresent,
                        message.syncIdSet)


def _decode(value: bytes) -> SyncInfo:
    kind, start, end = _element(value, 0)
    if end != len(value):
        raise _Unrecognized
    if kind == NEW_COOKIE:
        return SyncInfo(newcookie=value[start:end].decode(COOKIE_ENCODING))
    if kind not in (REFRESH_DELETE, REFRESH_PRESENT, SYNC_ID_SET) or start == end:
        raise _Unrecognized
    fields: dict = {}
    at = start
    tag, first, after = _element(value, at)
    if tag == OCTET_STRING:
        fields["cookie"] = value[first:after].decode(COOKIE_ENCODING)
        at = after
    flag = kind != SYNC_ID_SET  # the defaults: refreshDone TRUE, refreshDeletes FALSE
    if at < end:
        tag, first, after = _element(value, at)
        if tag == BOOLEAN:
            if after - first != 1:
                raise _Unrecognized
            flag, at = value[first] != 0, after
    if kind != SYNC_ID_SET:
        if at != end:
            raise _Unrecognized
        fields["refreshDone"] = flag
        return SyncInfo(**{"refreshDelete" if kind == REFRESH_DELETE else "refreshPresent": fields})
    if at == end:
        raise _Unrecognized
    tag, first, after = _element(value, at)
    if tag != SET or after != end:
        raise _Unrecognized
    uuids = []
    while first < after:
        tag, first, item_end = _element(value, first)
        if tag != OCTET_STRING or item_end - first != 16:
            raise _Unrecognized
        uuids.append(_uuid(value[first:item_end]))
        first = item_end
    fields["syncUUIDs"], fields["refreshDeletes"] = uuids, flag
    return SyncInfo(syncIdSet=fields)


def _state(value: bytes) -> tuple[str, str, str | None]:
    kind, start, end = _element(value, 0)
    if kind != SEQUENCE or end != len(value):
        raise _Unrecognized
    tag, first, at = _element(value, start)
    if tag != ENUMERATED or at - first != 1 or value[first] >= len(SyncStateControl.opnames):
        raise _Unrecognized
    state = SyncStateControl.opnames[value[first]]
    tag, first, after = _element(value, at)
    if tag != OCTET_STRING or after - first != 16:
        raise _Unrecognized
    uuid, cookie = _uuid(value[first:after]), None
    if after < end:
        tag, first, after = _element(value, after)
        if tag != OCTET_STRING or after != end:
            raise _Unrecognized
        cookie = value[first:after].decode(COOKIE_ENCODING)
    return state, uuid, cookie


def _uuid(raw: bytes) -> str:
    """``str(UUID(bytes=raw))``, without building the UUID."""
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _element(value: bytes, at: int) -> tuple[int, int, int]:
    """The one-byte tag of the element at ``at``, where its contents start and end (definite
    lengths only)."""
    if at + 2 > len(value):
        raise _Unrecognized
    tag, length = value[at], value[at + 1]
    if tag & 0x1F == 0x1F:  # a multi-byte tag: none in this message
        raise _Unrecognized
    start = at + 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or start + count > len(value):  # 0: indefinite length
            raise _Unrecognized
        length = int.from_bytes(value[start:start + count], "big")
        start += count
    end = start + length
    if end > len(value):
        raise _Unrecognized
    return tag, start, end
