"""The Test connection report: its JSON shape, and how each failure shows in it (fake directory;
the real servers: tests/integration/test_ldap_connector.py)."""

import json
from datetime import UTC, datetime, timedelta

import ldap
import pytest

from usersync.connectors import active_directory, ldap_read, ldap_report
from usersync.connectors.errors import ConfigurationError, ConnectionFailed
from usersync.connectors.ldap import LdapConnector, LdapSettings
from usersync.connectors.ldap_report import BaseCount, BindResult, ConnectionReport
from usersync.connectors.ldap_search import Session
from usersync.connectors.scope import Scope
from usersync.connectors.tls import CertificateReport

from test_ldap_read import HQ, WAREHOUSE, FakeDirectory, ad_user

NOW = datetime(2025, 6, 1, tzinfo=UTC)
PASSWORD = "never-in-a-report-7"
CERT = CertificateReport("CN=dc1.acme.example", "CN=Acme CA", ("dc1.acme.example",),
                         NOW + timedelta(days=10), 10, True, True, "TLSv1.3",
                         "TLS_AES_256_GCM_SHA384")
TOP_KEYS = {"reachable", "server", "ssl_status", "certificate", "bind", "bases", "samples"}
CERT_KEYS = {"subject", "issuer", "not_after", "days_left", "trusted", "hostname_match"}


def settings(**overrides) -> LdapSettings:
    values = dict(kind="active_directory", urls=("ldaps://dc1.acme.example",),
                  bind_dn="svc@acme.example", password=PASSWORD,
                  scopes=(Scope(HQ, "headquarters"), Scope(WAREHOUSE, "warehouse")),
                  mapping=active_directory.DEFAULT_MAPPING.from_data(
                      [*active_directory.DEFAULT_MAPPING.to_data(), "pin=employeeNumber"]))
    values.update(overrides)
    return LdapSettings(**values)


@pytest.fixture
def directory(monkeypatch):
    state = {"directory": FakeDirectory(dict(
        [ad_user(n, HQ, employeeNumber=f"{1000 + n}") for n in range(7)]
        + [ad_user(9, WAREHOUSE)])), "error": None}

    def open_session(settings, now):
        if state["error"]:
            raise state["error"]
        return Session(state["directory"], settings.urls[0], "TLS1.3 AES-256-GCM", 30.0)

    monkeypatch.setattr(ldap_report, "open_session", open_session)
    monkeypatch.setattr(ldap_read, "open_session", open_session)
    monkeypatch.setattr(ldap_report.tls, "inspect", lambda *a, **k: CERT)
    return state


def test_a_working_source_reports_everything_in_the_agreed_shape(directory):
    data = LdapConnector(settings(), now=lambda: NOW).test().to_data()
    json.dumps(data)  # plain JSON data
    assert TOP_KEYS <= set(data)
    assert data["reachable"] is True and data["server"] == "ldaps://dc1.acme.example"
    assert data["ssl_status"] == "expiring"
    assert CERT_KEYS <= set(data["certificate"])
    assert data["certificate"]["days_left"] == 10
    assert data["certificate"]["not_after"] == (NOW + timedelta(days=10)).isoformat()
    assert data["bind"] == {"ok": True, "error": None, "hint": None}
    assert data["bases"] == [{"base": HQ, "location": "headquarters", "count": 7},
                             {"base": WAREHOUSE, "location": "warehouse", "count": 1}]
    assert len(data["samples"]) == 5
    assert data["samples"][0]["email"] == "user0@acme.example"
    assert data["samples"][0]["aliases"] == ["u0@old.example"]
    assert all("pin" not in sample for sample in data["samples"])
    assert data["tls"] == {"protocol": "TLSv1.3", "cipher": "TLS_AES_256_GCM_SHA384"}
    assert data["insecure"] is False and data["error"] is None
    assert PASSWORD not in json.dumps(data)


def test_samples_come_from_one_small_page(directory):
    LdapConnector(settings(), now=lambda: NOW).test(samples=3)
    sample_searches = [s for s in directory["directory"].searches if s[3] != ["1.1"]]
    assert len(sample_searches) == 1
    counts = [s for s in directory["directory"].searches if s[3] == ["1.1"]]
    assert [s[0] for s in counts] == [HQ, WAREHOUSE]


def test_an_unreachable_directory(directory):
    directory["error"] = ConnectionFailed("no directory server could be reached: …",
                                          hint="check …", code="unreachable")
    data = LdapConnector(settings(), now=lambda: NOW).test().to_data()
    assert data["reachable"] is False and data["server"] is None
    assert data["certificate"] is None and data["ssl_status"] == "unknown"
    assert data["bind"]["ok"] is False
    assert data["error"]["code"] == "unreachable"
    assert data["bases"] == [] and data["samples"] == []


def test_a_refused_bind_shows_its_hint(directory):
    directory["error"] = ConfigurationError("the bind … was refused (data 52e)",
                                            hint="wrong password for the bind account",
                                            code="bind_wrong_password",
                                            server="ldaps://dc1.acme.example")
    data = LdapConnector(settings(), now=lambda: NOW).test().to_data()
    assert data["reachable"] is True and data["server"] == "ldaps://dc1.acme.example"
    assert data["bind"] == {"ok": False, "error": "the bind … was refused (data 52e)",
                            "hint": "wrong password for the bind account"}
    assert data["ssl_status"] == "expiring"


def test_an_untrusted_certificate_is_invalid_and_no_bind_is_tried(directory, monkeypatch):
    untrusted = CertificateReport("CN=dc1", "CN=Other", (), NOW + timedelta(days=300), 300,
                                  False, True, "TLSv1.3", "x", "certificate verify failed")
    monkeypatch.setattr(ldap_report.tls, "inspect", lambda *a, **k: untrusted)
    directory["error"] = ConfigurationError("the certificate … is not trusted",
                                            hint="upload the CA",
                                            code="tls_untrusted", server="ldaps://dc1.acme.example")
    data = LdapConnector(settings(), now=lambda: NOW).test().to_data()
    assert data["ssl_status"] == "invalid"
    assert data["certificate"]["trusted"] is False
    assert data["bind"]["ok"] is False and data["bind"]["error"].startswith("not attempted")
    assert data["error"]["code"] == "tls_untrusted"


def test_insecure_plain_ldap_is_flagged(directory, monkeypatch):
    monkeypatch.setattr(ldap_report.tls, "inspect", lambda *a, **k: None)
    data = LdapConnector(settings(urls=("ldap://dc1.acme.example",), insecure=True),
                         now=lambda: NOW).test().to_data()
    assert data["ssl_status"] == "not encrypted" and data["insecure"] is True
    assert data["certificate"] is None


def test_a_missing_base_is_reported_on_that_base(directory):
    gone = "OU=Gone,DC=acme,DC=example"
    fake = directory["directory"]
    answer = fake.result3

    def result3(msgid, timeout=-1):
        if fake.searches[msgid - 1][0] == gone:
            raise ldap.NO_SUCH_OBJECT({"result": 32, "matched": "DC=acme,DC=example"})
        return answer(msgid, timeout)

    fake.result3 = result3
    data = LdapConnector(settings(scopes=(Scope(HQ, "headquarters"), Scope(gone, "gone"))),
                         now=lambda: NOW).test().to_data()
    assert data["bases"][0] == {"base": HQ, "location": "headquarters", "count": 7}
    assert data["bases"][1]["count"] is None
    assert "does not exist" in data["bases"][1]["error"]


def test_invalid_settings_are_reported_not_raised(directory):
    data = LdapConnector(settings(filter="(cn=x"), now=lambda: NOW).test().to_data()
    assert data["error"]["code"] == "invalid_filter"
    assert data["reachable"] is False


def test_report_data_of_a_hand_made_report():
    report = ConnectionReport(True, "ldaps://dc1", "ok", CERT, BindResult(True),
                              (BaseCount("OU=x", None, None, "does not exist"),), ({"a": "b"},))
    data = report.to_data()
    assert data["bases"] == [{"base": "OU=x", "location": None, "count": None,
                              "error": "does not exist"}]
    assert data["samples"] == [{"a": "b"}]
