"""python-ldap's exceptions translated into ours, with a hint an organization admin can act on.

Translation happens here, once, at the boundary: the rest of the connector raises only
``usersync.connectors.errors``. Active Directory explains a failed bind in the diagnostic message
(``80090308: LdapErr: DSID-…, comment: AcceptSecurityContext error, data 52e, v4563``); the
``data`` code says *why* the credentials were refused, which is what an admin needs to know.
Samba AD DC sends the same codes. No message ever contains the bind password: none is built from
anything but the server's answer, the URL, the bind name and the search base.
"""

from __future__ import annotations

import re

import ldap

from .errors import ConfigurationError, ConnectionFailed, IncompleteRead, SourceError

#: AD's ``data`` codes of a refused bind (Win32 error numbers, in hex) → (code, plain language).
AD_BIND_CODES: dict[str, tuple[str, str]] = {
    "525": ("bind_user_not_found",
            "the bind account does not exist: check the bind DN or user@domain name"),
    "52e": ("bind_wrong_password",
            "wrong password for the bind account: enter the current password of the sync account"),
    "530": ("bind_logon_hours",
            "the bind account may not log on at this time (logon hours): allow it around the "
            "clock"),
    "531": ("bind_workstation",
            "the bind account may not log on from this computer (Log On To… workstations): "
            "allow it on every computer or add this server"),
    "532": ("bind_password_expired",
            "the bind account's password has expired: set a new password (and make it never "
            "expire for a service account), then enter it here"),
    "533": ("bind_account_disabled",
            "the bind account is disabled: enable it in Active Directory Users and Computers"),
    "701": ("bind_account_expired",
            "the bind account has expired (its account expiry date has passed): extend it"),
    "773": ("bind_must_change_password",
            "the bind account must change its password at next logon: set a password and clear "
            "'User must change password at next logon'"),
    "775": ("bind_account_locked",
            "the bind account is locked out (too many wrong passwords): unlock it, then check "
            "that no other system uses an old password for it"),
}
_DATA_CODE = re.compile(r"\bdata ([0-9a-f]{1,8})\b", re.IGNORECASE)
TLS_REQUIRED_HINT = (
    "the server requires TLS: use ldaps:// or ldap:// with StartTLS (turn off the insecure setting)"
)
CA_BUNDLE_HINT = (
    "upload the CA certificate (PEM) that issued the server's certificate as the source's CA "
    "bundle, and use the host name the certificate names"
)


def diagnostic(error: ldap.LDAPError) -> str:
    """The server's (or libldap's) own explanation, if it gave one."""
    details = error.args[0] if error.args and isinstance(error.args[0], dict) else {}
    info = details.get("info") or ""
    if isinstance(info, bytes):
        info = info.decode("utf-8", "replace")
    return " ".join(str(info).replace("\x00", " ").split())


def result_code(error: ldap.LDAPError) -> int | None:
    details = error.args[0] if error.args and isinstance(error.args[0], dict) else {}
    return details.get("result")


def ad_data_code(message: str) -> str | None:
    """The ``data`` code of an AD bind diagnostic (``…, data 52e, v4563`` → ``52e``)."""
    found = _DATA_CODE.search(message or "")
    return found.group(1).lower() if found else None


def _said(error: ldap.LDAPError) -> str:
    info = diagnostic(error)
    return f" (the server said: {info})" if info and info != "(unknown error code)" else ""


def bind_error(error: ldap.LDAPError, server: str, bind_dn: str) -> SourceError:
    """A refused simple bind, as an error that says which credential to fix."""
    who = f"{bind_dn!r} on {server}"
    if isinstance(error, ldap.INVALID_CREDENTIALS):
        code = ad_data_code(diagnostic(error))
        if code in AD_BIND_CODES:
            name, hint = AD_BIND_CODES[code]
            what = hint.split(":")[0]
            return ConfigurationError(f"the bind as {who} was refused (data {code}): {what}",
                                      hint=hint, code=name, server=server)
        return ConfigurationError(
            f"the bind as {who} was refused: invalid credentials{_said(error)}",
            hint="wrong bind DN or wrong password for the bind account: check both "
            "(OpenLDAP needs the full DN, e.g. cn=sync,ou=services,dc=example,dc=org)",
            code="bind_invalid_credentials", server=server)
    if isinstance(error, (ldap.CONFIDENTIALITY_REQUIRED, ldap.STRONG_AUTH_REQUIRED)):
        return ConfigurationError(f"{server} refused a bind without TLS{_said(error)}",
                                  hint=TLS_REQUIRED_HINT, code="tls_required", server=server)
    if isinstance(error, ldap.INVALID_DN_SYNTAX):
        return ConfigurationError(
            f"{server} does not accept {bind_dn!r} as a bind name{_said(error)}",
            hint="give the bind account's full DN (cn=…,dc=…); a user@domain name works only "
            "with Active Directory", code="bind_invalid_dn", server=server)
    if isinstance(error, ldap.INAPPROPRIATE_AUTH):
        return ConfigurationError(
            f"{server} refused a simple bind as {who}{_said(error)}",
            hint="the account has no password it can bind with: give it one, or use another "
            "account", code="bind_inappropriate", server=server)
    if isinstance(error, ldap.UNWILLING_TO_PERFORM):
        return ConfigurationError(
            f"{server} is unwilling to perform the bind as {who}{_said(error)}",
            hint="the server refuses this kind of bind (empty password, or an account it does "
            "not let bind): check the bind account and the server's bind policy",
            code="bind_refused", server=server)
    return ConfigurationError(f"the bind as {who} failed: {_describe(error)}",
                              hint="check the bind DN and password", code="bind_failed",
                              server=server)


def referred_entry(error: ldap.LDAPError, server: str, dn: str) -> SourceError:
    """An entry the read must see (a group of the scope, or a member of one) is on another
    server: who belongs to the groups cannot be known, so the read cannot be complete."""
    return ConfigurationError(
        f"{server} does not hold {dn!r}, a group of the scope or a member of one, and referred "
        f"its read elsewhere{_said(error)}: who belongs to the groups cannot be known, so the "
        "run changed nothing",
        hint="sync from a server that holds every group and member, or take that member out "
        "of the group (referrals are not followed)",
        code="member_referral", server=server)


def search_error(error: ldap.LDAPError, server: str, base: str, read: int) -> SourceError:
    """A search (or one page of it) that did not end in success: the read is not complete."""
    so_far = f"after {read} {'entry' if read == 1 else 'entries'}" if read else "before any entry"
    where = f"the search of {base!r} on {server}"
    if isinstance(error, ldap.NO_SUCH_OBJECT):
        return ConfigurationError(
            f"the search base {base!r} does not exist on {server}{_matched(error)}",
            hint="the OU was renamed, moved or deleted, or the base DN is misspelled: correct the "
            "search base", code="no_such_base", server=server)
    if isinstance(error, ldap.REFERRAL):
        return ConfigurationError(
            f"{server} does not hold the search base {base!r} and referred the search "
            f"elsewhere{_said(error)}",
            hint="point the source at a domain controller of the domain that holds this base, or "
            "correct the base DN (referrals are not followed)", code="referral", server=server)
    if isinstance(error, ldap.SIZELIMIT_EXCEEDED):
        return IncompleteRead(
            f"{where} hit the server's size limit {so_far}: the read is incomplete",
            hint="raise the size limit of the bind account on the server (OpenLDAP: a limits "
            "directive with size.prtotal; AD: the query policy), or narrow the scope",
            code="size_limit", server=server)
    if isinstance(error, (ldap.TIMELIMIT_EXCEEDED, ldap.TIMEOUT)):
        return IncompleteRead(
            f"{where} hit a time limit {so_far}: the read is incomplete",
            hint="the server took too long: raise the operation timeout, lower the page size "
            "or narrow the scope", code="time_limit", server=server)
    if isinstance(error, ldap.ADMINLIMIT_EXCEEDED):
        return IncompleteRead(
            f"{where} hit an administrative limit {so_far}: the read is incomplete",
            hint="lower the page size, or raise the server's limits (AD: MaxPageSize)",
            code="admin_limit", server=server)
    if isinstance(error, (ldap.SERVER_DOWN, ldap.CONNECT_ERROR)):
        return ConnectionFailed(
            f"the connection to {server} was lost during the search of {base!r} {so_far}: "
            "the read is incomplete",
            hint="the server stopped or the network failed: the next run will try again",
            code="connection_lost", server=server)
    if isinstance(error, ldap.INSUFFICIENT_ACCESS):
        return ConfigurationError(f"{where} was denied{_said(error)}",
                                  hint="give the bind account read access to the search base",
                                  code="access_denied", server=server)
    if isinstance(error, (ldap.FILTER_ERROR, ldap.INAPPROPRIATE_MATCHING)):
        return ConfigurationError(f"{server} rejected the search filter{_said(error)}",
                                  hint="correct the filter", code="invalid_filter", server=server)
    if isinstance(error, ldap.UNAVAILABLE_CRITICAL_EXTENSION):
        return ConfigurationError(
            f"{server} does not support paged results (RFC 2696){_said(error)}",
            hint="usersync reads only with paged results, so a read can be proven complete: "
            "use a server that supports them", code="paging_unsupported", server=server)
    if isinstance(error, ldap.OPERATIONS_ERROR):
        return ConfigurationError(f"{where} failed: {_describe(error)}",
                                  hint="check that the bind account may search the directory",
                                  code="search_failed", server=server)
    if isinstance(error, (ldap.BUSY, ldap.UNAVAILABLE)):
        return ConnectionFailed(f"{server} is busy or unavailable: {_describe(error)}",
                                hint="the next run will try again", code="server_busy",
                                server=server)
    return IncompleteRead(f"{where} failed {so_far}: {_describe(error)}",
                          hint="the read is incomplete; the next run will try again",
                          code="search_failed", server=server)


def _matched(error: ldap.LDAPError) -> str:
    details = error.args[0] if error.args and isinstance(error.args[0], dict) else {}
    matched = details.get("matched")
    return f" (the deepest existing part is {matched!r})" if matched else ""


def _describe(error: ldap.LDAPError) -> str:
    details = error.args[0] if error.args and isinstance(error.args[0], dict) else {}
    text = details.get("desc") or type(error).__name__
    return f"{text}{_said(error)}"
