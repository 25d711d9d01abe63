"""python-ldap errors translated into ours: AD's bind codes in plain language, typed search
errors."""

import ldap
import pytest

from usersync.connectors.errors import ConfigurationError, ConnectionFailed, IncompleteRead
from usersync.connectors.ldap_errors import (
    AD_BIND_CODES,
    TLS_REQUIRED_HINT,
    ad_data_code,
    bind_error,
    search_error,
)

SERVER = "ldaps://dc1.acme.example"
BIND = "svc-sync@acme.example"


def ad_refusal(code: str) -> ldap.INVALID_CREDENTIALS:
    """What AD (and Samba AD DC) send for a refused simple bind."""
    return ldap.INVALID_CREDENTIALS({
        "msgtype": 97, "msgid": 1, "result": 49, "desc": "Invalid credentials", "ctrls": [],
        "info": f"80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, "
                f"data {code}, v4563\x00",
    })


@pytest.mark.parametrize(
    "code, code_name, words",
    [
        ("52e", "bind_wrong_password", "wrong password for the bind account"),
        ("525", "bind_user_not_found", "does not exist"),
        ("530", "bind_logon_hours", "at this time"),
        ("531", "bind_workstation", "from this computer"),
        ("532", "bind_password_expired", "password has expired"),
        ("533", "bind_account_disabled", "disabled"),
        ("701", "bind_account_expired", "has expired"),
        ("773", "bind_must_change_password", "must change its password"),
        ("775", "bind_account_locked", "locked out"),
    ],
)
def test_ad_bind_codes_become_plain_language_hints(code, code_name, words):
    error = bind_error(ad_refusal(code), SERVER, BIND)
    assert isinstance(error, ConfigurationError)
    assert error.code == code_name
    assert words in error.hint
    assert words in error.message and f"data {code}" in error.message
    assert error.server == SERVER
    assert BIND in error.message


def test_every_documented_ad_code_has_a_hint():
    assert set(AD_BIND_CODES) == {"525", "52e", "530", "531", "532", "533", "701", "773", "775"}


@pytest.mark.parametrize(
    "message, expected",
    [
        ("80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data 52e, v4563",
         "52e"),
        ("... DATA 775, v1db1", "775"),
        ("invalid credentials", None),
        ("", None),
        ("metadata 12", None),
    ],
)
def test_the_data_code_is_read_from_the_diagnostic(message, expected):
    assert ad_data_code(message) == expected


def test_invalid_credentials_without_a_code_name_both_suspects():
    error = bind_error(ldap.INVALID_CREDENTIALS({"result": 49, "desc": "Invalid credentials"}),
                       SERVER, "cn=sync,dc=example,dc=org")
    assert error.code == "bind_invalid_credentials"
    assert "wrong bind DN or wrong password" in error.hint


@pytest.mark.parametrize("exception", [ldap.CONFIDENTIALITY_REQUIRED, ldap.STRONG_AUTH_REQUIRED])
def test_a_server_that_insists_on_tls_says_so(exception):
    refusal = exception({"result": 8, "info": "BindSimple: Transport encryption required."})
    error = bind_error(refusal, SERVER, BIND)
    assert error.code == "tls_required"
    assert error.hint == TLS_REQUIRED_HINT
    assert "use ldaps:// or" in error.hint
    assert "Transport encryption required" in error.message


@pytest.mark.parametrize(
    "exception, code",
    [
        (ldap.INVALID_DN_SYNTAX, "bind_invalid_dn"),
        (ldap.UNWILLING_TO_PERFORM, "bind_refused"),
        (ldap.INAPPROPRIATE_AUTH, "bind_inappropriate"),
        (ldap.OTHER, "bind_failed"),
    ],
)
def test_other_bind_refusals_have_their_own_code(exception, code):
    error = bind_error(exception({"result": 1, "desc": "x"}), SERVER, BIND)
    assert isinstance(error, ConfigurationError) and error.code == code and error.hint


@pytest.mark.parametrize(
    "exception, kind, code",
    [
        (ldap.NO_SUCH_OBJECT, ConfigurationError, "no_such_base"),
        (ldap.REFERRAL, ConfigurationError, "referral"),
        (ldap.SIZELIMIT_EXCEEDED, IncompleteRead, "size_limit"),
        (ldap.TIMELIMIT_EXCEEDED, IncompleteRead, "time_limit"),
        (ldap.TIMEOUT, IncompleteRead, "time_limit"),
        (ldap.ADMINLIMIT_EXCEEDED, IncompleteRead, "admin_limit"),
        (ldap.SERVER_DOWN, ConnectionFailed, "connection_lost"),
        (ldap.CONNECT_ERROR, ConnectionFailed, "connection_lost"),
        (ldap.INSUFFICIENT_ACCESS, ConfigurationError, "access_denied"),
        (ldap.FILTER_ERROR, ConfigurationError, "invalid_filter"),
        (ldap.UNAVAILABLE_CRITICAL_EXTENSION, ConfigurationError, "paging_unsupported"),
        (ldap.BUSY, ConnectionFailed, "server_busy"),
        (ldap.OTHER, IncompleteRead, "search_failed"),
    ],
)
def test_search_failures_are_typed_errors(exception, kind, code):
    error = search_error(exception({"result": 1, "desc": "x"}), SERVER, "OU=Staff,DC=acme", 1000)
    assert type(error) is kind
    assert error.code == code
    assert error.server == SERVER
    assert error.hint


def test_an_incomplete_read_says_how_far_it_got():
    error = search_error(ldap.SIZELIMIT_EXCEEDED({"result": 4}), SERVER, "OU=Staff,DC=acme", 1000)
    assert "after 1000 entries" in error.message and "incomplete" in error.message
    lost = search_error(ldap.SERVER_DOWN({"result": -1}), SERVER, "OU=Staff,DC=acme", 0)
    assert "before any entry" in lost.message and lost.retryable


def test_a_missing_base_names_the_part_that_exists():
    error = search_error(ldap.NO_SUCH_OBJECT({"result": 32, "matched": "DC=acme,DC=example"}),
                         SERVER, "OU=Gone,DC=acme,DC=example", 0)
    assert "'OU=Gone,DC=acme,DC=example' does not exist" in error.message
    assert "DC=acme,DC=example" in error.message
