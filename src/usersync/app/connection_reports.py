"""What a connection report (``sources.test_connection``) means, in an admin's words: one
wording for the portal, the API and the command line."""

from __future__ import annotations

#: What each SSL status of a connection report means, in an admin's words.
SSL_MEANINGS = {
    "ok": "the certificate is trusted, matches the server's name and is not about to expire",
    "expiring": "the certificate expires within 30 days: renew it before syncs start failing",
    "invalid": "the certificate is not trusted, does not match the server's name, or has expired",
    "not encrypted": "the connection is plain LDAP (the insecure setting): the password crosses "
                     "the network in clear",
}


def connection_ok(report: dict) -> bool:
    """Whether a connection report says the source can be synced: reachable, bound, and every
    search base searchable."""
    bases_ok = all(base.get("count") is not None and not base.get("error")
                   for base in report.get("bases") or ())
    return bool(report.get("reachable")) and bool((report.get("bind") or {}).get("ok")) and bases_ok


def connection_verdict(report: dict) -> tuple[str, str]:
    """A connection report in one sentence, and what to do next: ``(message, hint)``."""
    bases = report.get("bases") or []
    if connection_ok(report):
        found = sum(base["count"] for base in bases)
        return (f"the connection works: {found:,} entr{'y' if found == 1 else 'ies'} in "
                f"{len(bases)} search base{'' if len(bases) == 1 else 's'}",
                "preview the sync to see what it would change")
    error = report.get("error") or {}
    if error.get("message"):
        return error["message"], error.get("hint") or ""
    bind = report.get("bind") or {}
    if not bind.get("ok"):
        return bind.get("error") or "the bind failed", bind.get("hint") or ""
    failing = next((b for b in bases if b.get("error") or b.get("count") is None), None)
    if failing is None:
        return "no server could be reached", "check the server URLs and the network"
    return (f"the search base {failing['base']!r} cannot be searched: "
            f"{failing.get('error') or 'no answer'}",
            "check that the search base exists and that the bind account may read it")


def explained(report: dict) -> dict:
    """The report with its verdict: ``ok`` (the source can be synced), ``message`` and ``hint``
    (one sentence, and what to do next), and what its SSL status means."""
    message, hint = connection_verdict(report)
    return {**report, "ok": connection_ok(report), "message": message, "hint": hint,
            "ssl_meaning": SSL_MEANINGS.get(report.get("ssl_status") or "", "")}
