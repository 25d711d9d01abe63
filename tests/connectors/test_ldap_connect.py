"""Opening a connection, on a fake python-ldap object: the options of every connection,
StartTLS before the bind and never a fallback, failover only past servers that are down, and no
password in any message. (The same behaviours against real servers:
tests/integration/test_ldap_connector.py.)"""

import os
from datetime import UTC, datetime

import ldap
import pytest

from usersync.connectors import ldap_connect
from usersync.connectors.errors import ConfigurationError, ConnectionFailed
from usersync.connectors.ldap_settings import LdapSettings
from usersync.connectors.scope import Scope
from usersync.connectors.tls import CertificateReport

NOW = datetime(2025, 6, 1, tzinfo=UTC)

PASSWORD = "S3cret-pässword!"
CA = "-----BEGIN CERTIFICATE-----\nfake\n-----END CERTIFICATE-----\n"


class FakeLDAPObject:
    """Records every call; behaves as ``behaviour`` says: ``ok``, ``down``, ``tls`` (a TLS failure,
    which libldap also reports as SERVER_DOWN / CONNECT_ERROR), ``52e`` (wrong password)."""

    def __init__(self, url: str, behaviour: str, calls: list):
        self.url = url
        self.behaviour = behaviour
        self.calls = calls
        self.cafile_content = None

    def set_option(self, option, value):
        self.calls.append((self.url, "set_option", option, value))
        if option == ldap.OPT_X_TLS_CACERTFILE:
            with open(value, encoding="utf-8") as handle:
                self.cafile_content = handle.read()

    def get_option(self, option):
        return {ldap.OPT_X_TLS_VERSION: "TLS1.3", ldap.OPT_X_TLS_CIPHER: "AES-256-GCM"}[option]

    def start_tls_s(self):
        self.calls.append((self.url, "start_tls_s"))
        if self.behaviour == "down":
            raise ldap.SERVER_DOWN({"result": -1, "desc": "Can't contact LDAP server"})
        if self.behaviour == "tls":
            raise ldap.CONNECT_ERROR({"result": -11, "desc": "Connect error",
                                      "info": "(unknown error code)"})

    def simple_bind_s(self, who, cred):
        self.calls.append((self.url, "simple_bind_s", who, cred))
        if self.behaviour in ("down", "tls"):
            raise ldap.SERVER_DOWN({"result": -1, "desc": "Can't contact LDAP server"})
        if self.behaviour == "52e":
            raise ldap.INVALID_CREDENTIALS({
                "result": 49, "desc": "Invalid credentials",
                "info": "80090308: LdapErr: DSID-0C0904DC, comment: AcceptSecurityContext error, "
                        "data 52e, v1db1"})

    def unbind_ext_s(self):
        self.calls.append((self.url, "unbind_ext_s"))


@pytest.fixture
def directory(monkeypatch):
    """URLs → behaviour; returns the list of calls made."""
    calls: list = []
    behaviours: dict[str, str] = {}
    objects: list[FakeLDAPObject] = []

    def initialize(url, *args, **kwargs):
        host = url.split("//")[1].split(":")[0]
        made = FakeLDAPObject(url, behaviours.get(host, "ok"), calls)
        objects.append(made)
        return made

    monkeypatch.setattr(ldap_connect.ldap, "initialize", initialize)
    monkeypatch.setattr(ldap_connect.tls, "inspect", trusted)  # the ldaps:// pre-flight

    class Directory:
        pass

    d = Directory()
    d.calls, d.behaviours, d.objects = calls, behaviours, objects
    return d


def trusted(url, *args, **kwargs):
    return CertificateReport("CN=dc1", "CN=Acme CA", ("dc1",), NOW, 300, True, True, "TLSv1.3",
                             "x")


def settings(*urls, **overrides) -> LdapSettings:
    values = dict(kind="active_directory", urls=urls or ("ldaps://dc1",),
                  bind_dn="svc-sync@acme.example", password=PASSWORD,
                  scopes=(Scope("DC=acme,DC=example"),), ca_pem=CA)
    values.update(overrides)
    return LdapSettings(**values)


def options(calls, url):
    return [(call[2], call[3]) for call in calls if call[0] == url and call[1] == "set_option"]


def test_every_connection_gets_verified_tls_options_with_the_new_context_last(directory):
    session = ldap_connect.open_session(settings("ldaps://dc1:636", connect_timeout=4,
                                                 timeout=60), NOW)
    set_options = options(directory.calls, "ldaps://dc1:636")
    assert set_options[-1] == (ldap.OPT_X_TLS_NEWCTX, 0)
    assert dict(set_options) == {
        ldap.OPT_PROTOCOL_VERSION: 3,
        ldap.OPT_REFERRALS: 0,
        ldap.OPT_NETWORK_TIMEOUT: 4.0,
        ldap.OPT_TIMEOUT: 60.0,
        ldap.OPT_X_TLS_REQUIRE_CERT: ldap.OPT_X_TLS_DEMAND,
        ldap.OPT_X_TLS_CACERTFILE: dict(set_options)[ldap.OPT_X_TLS_CACERTFILE],
        ldap.OPT_X_TLS_PROTOCOL_MIN: 0x303,
        ldap.OPT_X_TLS_NEWCTX: 0,
    }
    # libldap read the CA bundle from a temporary file, deleted once the context was made.
    assert directory.objects[0].cafile_content == CA
    assert not os.path.exists(dict(set_options)[ldap.OPT_X_TLS_CACERTFILE])
    assert session.server == "ldaps://dc1:636" and session.tls == "TLS1.3 AES-256-GCM"


def test_without_a_ca_bundle_the_system_store_is_used(directory):
    ldap_connect.open_session(settings("ldaps://dc1", ca_pem=None), NOW)
    assert ldap.OPT_X_TLS_CACERTFILE not in dict(options(directory.calls, "ldaps://dc1"))
    assert dict(options(directory.calls, "ldaps://dc1"))[ldap.OPT_X_TLS_REQUIRE_CERT] == (
        ldap.OPT_X_TLS_DEMAND)


def test_ldap_urls_start_tls_before_the_bind(directory):
    ldap_connect.open_session(settings("ldap://dc1"), NOW)
    operations = [call[1] for call in directory.calls if call[1] != "set_option"]
    assert operations == ["start_tls_s", "simple_bind_s"]


def test_insecure_plain_ldap_binds_without_tls(directory):
    session = ldap_connect.open_session(settings("ldap://dc1", insecure=True), NOW)
    operations = [call[1] for call in directory.calls if call[1] != "set_option"]
    assert operations == ["simple_bind_s"]
    assert session.tls is None


def test_the_bind_uses_the_dn_or_upn_as_given(directory):
    ldap_connect.open_session(settings(), NOW)
    (bind,) = [call for call in directory.calls if call[1] == "simple_bind_s"]
    assert bind[2:] == ("svc-sync@acme.example", PASSWORD)


def unreachable(url, *args, **kwargs):
    raise ConnectionFailed(f"{url} cannot be reached", code="unreachable", server=url)


def test_failover_skips_servers_that_are_down(directory, monkeypatch):
    monkeypatch.setattr(ldap_connect.tls, "inspect", lambda url, *a, **k: (
        unreachable(url) if "dc3" not in url else trusted(url)))
    directory.behaviours.update({"dc1": "down", "dc2": "down"})
    session = ldap_connect.open_session(settings("ldaps://dc1", "ldap://dc2", "ldaps://dc3"), NOW)
    assert session.server == "ldaps://dc3"


def test_all_servers_down_is_a_connection_failure_naming_each(directory, monkeypatch):
    directory.behaviours.update({"dc1": "down", "dc2": "down"})
    monkeypatch.setattr(ldap_connect.tls, "inspect", unreachable)
    with pytest.raises(ConnectionFailed) as caught:
        ldap_connect.open_session(settings("ldaps://dc1", "ldap://dc2"), NOW)
    assert caught.value.code == "unreachable" and caught.value.retryable
    assert "ldaps://dc1" in caught.value.message and "ldap://dc2" in caught.value.message


def untrusted(url, *args, **kwargs):
    return CertificateReport("CN=dc1", "CN=Other CA", ("dc1",), NOW, 300, False, True, "TLSv1.3",
                             "x", "certificate verify failed: unable to get local issuer")


@pytest.mark.parametrize("url", ["ldap://dc1", "ldaps://dc1"])
def test_a_certificate_failure_is_a_tls_error_and_never_a_cleartext_bind(directory, monkeypatch,
                                                                         url):
    directory.behaviours["dc1"] = "tls"
    monkeypatch.setattr(ldap_connect.tls, "inspect", untrusted)
    with pytest.raises(ConfigurationError) as caught:
        ldap_connect.open_session(settings(url, "ldaps://dc2"), NOW)
    assert caught.value.code == "tls_untrusted"
    assert "CA" in caught.value.hint and caught.value.server == url
    if url.startswith("ldap://"):
        assert not [call for call in directory.calls if call[1] == "simple_bind_s"]
    # No failover either: dc2 is never contacted, the admin must fix the trust.
    assert not [call for call in directory.calls if call[0] == "ldaps://dc2"]


def test_a_refused_starttls_is_a_tls_error(directory, monkeypatch):
    def refuse(self):
        raise ldap.PROTOCOL_ERROR({"result": 2, "info": "unsupported extended operation"})

    monkeypatch.setattr(FakeLDAPObject, "start_tls_s", refuse)
    with pytest.raises(ConfigurationError) as caught:
        ldap_connect.open_session(settings("ldap://dc1"), NOW)
    assert caught.value.code == "tls_failed"
    assert not [call for call in directory.calls if call[1] == "simple_bind_s"]


def test_a_refused_bind_is_not_failed_over(directory):
    directory.behaviours["dc1"] = "52e"
    with pytest.raises(ConfigurationError) as caught:
        ldap_connect.open_session(settings("ldaps://dc1", "ldaps://dc2"), NOW)
    assert caught.value.code == "bind_wrong_password"
    assert "wrong password for the bind account" in caught.value.hint
    assert not [call for call in directory.calls if call[0] == "ldaps://dc2"]


def test_the_password_is_in_no_message_and_no_repr(directory, monkeypatch):
    monkeypatch.setattr(ldap_connect.tls, "inspect", untrusted)
    texts = [repr(settings())]
    for behaviour in ("52e", "tls", "down"):
        directory.behaviours["dc1"] = behaviour
        try:
            ldap_connect.open_session(settings("ldap://dc1"), NOW)
        except Exception as error:  # noqa: BLE001 — every error's text is checked
            texts += [str(error), repr(error), error.hint]
    assert len(texts) == 10
    assert not [text for text in texts if PASSWORD in text]


def test_an_ldaps_server_that_fails_the_bounded_preflight_is_skipped(directory, monkeypatch):
    """libldap never times out an ldaps:// handshake: a hung server is caught by the pre-flight
    handshake (bounded by the connect timeout) and never handed to libldap."""
    checked = []

    def inspect(url, ca_pem, timeout, now, insecure=False):
        checked.append((url, timeout))
        if url == "ldaps://hung":
            raise ConnectionFailed("ldaps://hung accepted the connection but did not answer",
                                   code="unreachable", server=url)
        return trusted(url)

    monkeypatch.setattr(ldap_connect.tls, "inspect", inspect)
    session = ldap_connect.open_session(settings("ldaps://hung", "ldaps://dc2",
                                                 connect_timeout=3), NOW)
    assert session.server == "ldaps://dc2"
    assert checked == [("ldaps://hung", 3), ("ldaps://dc2", 3)]
    assert [o.url for o in directory.objects] == ["ldaps://dc2"]


def test_starttls_urls_need_no_preflight(directory, monkeypatch):
    monkeypatch.setattr(ldap_connect.tls, "inspect", unreachable)  # would fail if called
    assert ldap_connect.open_session(settings("ldap://dc1"), NOW).server == "ldap://dc1"
