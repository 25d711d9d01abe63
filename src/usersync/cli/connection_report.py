"""The text form of a connection report (``usersync source test`` without ``--json``).

The report is the connector's ``ConnectionReport.to_data()``: ``{"reachable", "server",
"ssl_status", "certificate": {"subject", "issuer", "sans", "not_after", "days_left", "trusted",
"hostname_match", "error"} | None, "tls": {"protocol", "cipher"} | None, "insecure",
"bind": {"ok", "error", "hint"}, "bases": [{"base", "location", "count"[, "error"]}],
"samples": […], "error": {"code", "message", "hint"} | None}``.
"""

from __future__ import annotations

from usersync.app.connection_reports import SSL_MEANINGS, connection_ok

def print_report(report: dict, urls: list[str] | tuple = ()) -> None:
    """``urls``: the source's servers, named when none answered."""
    server = report.get("server") or ", ".join(urls) or "no server"
    print(f"Server:       {server} — {'reachable' if report.get('reachable') else 'NOT reachable'}")
    status = report.get("ssl_status")
    if status:
        print(f"SSL status:   {status} ({SSL_MEANINGS.get(status, '')})".replace(" ()", ""))
    connection = report.get("tls") or {}
    if connection.get("protocol"):
        print(f"TLS:          {connection['protocol']} {connection.get('cipher') or ''}".rstrip())
    _certificate(report.get("certificate"))
    _bind(report.get("bind") or {})
    _error(report)
    bases = report.get("bases") or []
    if bases:
        print("Search bases:")
    for base in bases:
        where = base.get("location") or "all locations"
        count = base.get("count")
        found = f"{count} object(s)" if count is not None else f"error: {base.get('error', '?')}"
        print(f"  {base.get('base')} → {where}: {found}")
    samples = report.get("samples") or []
    if samples:
        print("Sample records, as they would map:")
    for sample in samples:
        print(f"  - {_sample(sample)}")
    print("The test changes nothing, in the directory or in usersync."
          if connection_ok(report) else "The source cannot be synced until this is fixed.")


def _error(report: dict) -> None:
    """What stopped the test early, unless the bind line already said it."""
    error = report.get("error")
    if not isinstance(error, dict) or not error.get("message"):
        return
    bind = report.get("bind") or {}
    if error["message"] == bind.get("error"):
        return
    print(f"Problem:      {error['message']}")
    if error.get("hint") and error["hint"] != bind.get("hint"):
        print(f"  What to do: {error['hint']}")


def _certificate(certificate: dict | None) -> None:
    if not certificate:
        return
    print(f"Certificate:  {certificate.get('subject', '?')}")
    print(f"  issuer:     {certificate.get('issuer', '?')}")
    if certificate.get("not_after"):
        days = certificate.get("days_left")
        left = f" ({days} days left)" if days is not None else ""
        print(f"  expires:    {certificate['not_after']}{left}")
    for key, label in (("trusted", "chain trusted"), ("hostname_match", "hostname matches")):
        if key in certificate:
            print(f"  {label + ':':11} {'yes' if certificate[key] else 'NO'}")
    if certificate.get("sans"):
        print(f"  names:      {', '.join(certificate['sans'])}")
    if certificate.get("error"):
        print(f"  problem:    {certificate['error']}")


def _bind(bind: dict) -> None:
    if bind.get("ok"):
        print("Bind:         ok")
        return
    print(f"Bind:         failed{': ' + bind['error'] if bind.get('error') else ''}")
    if bind.get("hint"):
        print(f"  What to do: {bind['hint']}")


def _sample(sample) -> str:
    if isinstance(sample, dict):
        return ", ".join(f"{key}: {_value(value)}" for key, value in sample.items()
                         if value not in (None, "", [], ()))
    return str(sample)


def _value(value) -> str:
    if isinstance(value, (list, tuple)):
        return " ".join(str(v) for v in value)
    if isinstance(value, dict):
        return _sample(value)
    return str(value)
