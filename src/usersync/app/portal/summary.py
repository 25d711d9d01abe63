"""What the portal says about a source's settings and its connection report, in an admin's
words (never a secret: the password is only said to be set, from ``sources.public_data``)."""

from __future__ import annotations

from cryptography import x509

from usersync.app import connection_reports, sources
from usersync.app.directory.models import Source
from usersync.connectors.ldap_filters import default_filter
from usersync.connectors.ldap_settings import default_mapping
from usersync.core.desired import FIELD_LABELS


def summary(source: Source) -> list[tuple[str, list[str]]]:
    """(label, lines) rows."""
    return [(label, value if isinstance(value, list) else [value])
            for label, value in _rows(source)]


def _rows(source: Source) -> list[tuple[str, str | list[str]]]:
    data = sources.public_data(source)
    settings = data["settings"]
    rows: list[tuple[str, str | list[str]]] = []
    if source.kind in sources.DIRECTORY_KINDS:
        rows += [
            ("Servers", settings.get("urls", [])),
            ("Security", security(settings)),
            ("Bind account", settings.get("bind_dn", "")),
            ("Password", "set (stored encrypted)" if data["password_set"] else "not set"),
            ("CA certificate", ca_summary(settings.get("ca_pem"))),
            ("Search bases", [f"{s['base']} → {s['location']}" if s.get("location")
                              else s["base"] for s in settings.get("scopes", [])]),
            ("Filter", settings.get("filter") or f"{default_filter(source.kind)} (default)"),
            ("Groups", settings.get("groups") or "any (no group required)"),
            ("Exclusions", settings.get("exclusions") or "none"),
            ("Mapping", settings.get("mapping") or default_mapping(source.kind).to_data()),
        ]
    elif settings.get("path"):
        rows.append(("File read at each run", settings["path"]))
    else:
        rows.append(("Files", "uploaded (usersync import-csv / import-ldif, or the API)"))
    rows += [
        ("Contacts no longer in the directory", "archived" if data["archive_missing"] else "kept"),
        ("Disabled accounts", "archived" if data["archive_disabled"] else "kept"),
        ("Welcome email", "sent to new contacts" if source.welcome_email else "not sent"),
        ("Safeguard", f"a run that would archive more than {data['safeguard_percent']:g} % "
                      f"(and at least {data['safeguard_minimum']}) or more than "
                      f"{data['safeguard_maximum']} contacts waits for approval"),
    ]
    return rows


def security(settings: dict) -> str:
    if settings.get("insecure"):
        return "plain LDAP — insecure, not encrypted"
    urls = settings.get("urls", [])
    return "LDAPS" if urls and all(u.startswith("ldaps://") for u in urls) else "StartTLS"


def ca_summary(pem: str | None) -> str:
    if not pem:
        return "the system's trusted certificates"
    certificates = x509.load_pem_x509_certificates(pem.encode("ascii"))
    first = certificates[0]
    more = f" (+{len(certificates) - 1} more)" if len(certificates) > 1 else ""
    return (f"{first.subject.rfc4514_string()}, valid until "
            f"{first.not_valid_after_utc:%Y-%m-%d}{more}")


def connection_report(report: dict) -> dict:
    """A connection report (``sources.test_connection``) as a page shows it: a verdict and what
    to do, what the SSL status means, and the sample entries as a table."""
    columns = list(dict.fromkeys(name for sample in report["samples"] for name in sample))
    report = connection_reports.explained(report)
    return {"report": report, "verdict": (report["message"], report["hint"]), "ok": report["ok"],
            "ssl_meaning": report["ssl_meaning"],
            "sample_columns": [FIELD_LABELS.get(c, c) for c in columns],
            "sample_rows": [[", ".join(v) if isinstance(v, list) else v
                             for v in (sample.get(c, "") for c in columns)]
                            for sample in report["samples"]]}
