"""The settings schema of directory sources: what is accepted, and errors an admin can act on."""

from __future__ import annotations

import pytest
import trustme
from django.core.exceptions import ValidationError

from usersync.app.directory.source_settings import validated
from usersync.connectors import active_directory, openldap

BASE = {
    "urls": ["ldaps://dc1.acme.example"],
    "bind_dn": "CN=usersync,OU=Service Accounts,DC=acme,DC=example",
    "scopes": [{"base": "OU=HQ,DC=acme,DC=example", "location": "headquarters"}],
}


def problems(kind: str, **changes) -> str:
    with pytest.raises(ValidationError) as raised:
        validated(kind, {**BASE, **changes})
    return "; ".join(raised.value.messages)


def test_defaults_fill_in_per_kind():
    ad = validated("active_directory", BASE)
    ldap = validated("ldap", BASE)

    assert ad["mapping"] == active_directory.DEFAULT_MAPPING.to_data()
    assert ldap["mapping"] == openldap.DEFAULT_MAPPING.to_data()
    assert (ad["page_size"], ad["connect_timeout"], ad["timeout"]) == (500, 10.0, 120.0)
    assert ad["insecure"] is False and ad["groups"] == [] and ad["exclusions"] == []
    assert "filter" not in ad and "ca_pem" not in ad  # None: the kind's default, the system CAs


def test_urls_are_normalized_and_kept_in_failover_order():
    data = validated("ldap", {**BASE, "urls": [" LDAPS://DC2.Acme.example:636/ ", "ldap://dc1",
                                               "ldap://[::1]:3890"]})

    assert data["urls"] == ["ldaps://dc2.acme.example:636", "ldap://dc1", "ldap://[::1]:3890"]


@pytest.mark.parametrize("bind_dn", ["usersync@acme.example", "ACME\\usersync",
                                     "cn=usersync,dc=acme,dc=example"])
def test_a_bind_account_is_a_dn_a_upn_or_a_down_level_name(bind_dn):
    assert validated("active_directory", {**BASE, "bind_dn": bind_dn})["bind_dn"] == bind_dn


@pytest.mark.parametrize("changes, expected", [
    ({"urls": []}, "urls: give at least one"),
    ({"urls": ["https://dc1.acme.example"]}, "is not an LDAP server URL"),
    ({"urls": ["dc1.acme.example"]}, "is not an LDAP server URL"),
    ({"urls": ["ldap://dc1:99999"]}, "has no valid host and port"),
    ({"urls": ["ldap://dc1/OU=HQ,DC=x"]}, "give search bases as scopes"),
    ({"urls": ["ldaps://dc1", "LDAPS://DC1"]}, "the same server is listed twice"),
    ({"bind_dn": "usersync"}, "bind_dn: the bind account 'usersync' is not a distinguished name"),
    ({"bind_dn": ""}, "bind_dn:"),
    ({"scopes": []}, "scopes: give at least one"),
    ({"scopes": [{"base": "Headquarters"}]}, "a search base 'Headquarters' is not a "
                                             "distinguished name"),
    ({"scopes": [{"base": "OU=HQ,DC=x"}, {"base": "ou=hq, dc=x"}]}, "is listed twice"),
    ({"filter": "(department=Sales"}, "filter:"),
    ({"groups": ["Staff"]}, "a group 'Staff' is not a distinguished name"),
    ({"exclusions": ["svc-*"]}, "rule 'svc-*' is not attribute=pattern"),
    ({"exclusions": ["sAMAccountName="]}, "is not attribute=pattern"),
    ({"exclusions": ["bad attr=x"]}, "is not attribute=pattern"),
    ({"ca_pem": "hello"}, "ca_pem: the CA file is not a PEM certificate"),
    ({"page_size": 0}, "page_size: must be at least 1"),
    ({"page_size": 5000}, "page_size: must be at most 1000"),
    ({"timeout": 0}, "timeout: must be more than 0"),
    ({"mapping": ["email=mail", "badge=employeeID"]}, "mapping: unknown contact field 'badge'"),
    ({"mapping": ["email=mail|upper"]}, "unknown transform 'upper'"),
    ({"server": "dc1"}, "server: not a setting of this kind of source"),
])
def test_invalid_settings_say_where_and_what(changes, expected):
    assert expected in problems("active_directory", **changes)


def test_a_password_is_never_accepted_as_a_setting_nor_repeated():
    message = problems("active_directory", password="Sup3r-Secret")

    assert "a password is never a setting" in message and "Sup3r-Secret" not in message


def test_credentials_in_a_url_are_refused_without_repeating_them():
    message = problems("ldap", urls=["ldaps://admin:Sup3r-Secret@dc1.acme.example"])

    assert "holds credentials" in message and "Sup3r-Secret" not in message


def test_a_ca_bundle_is_kept_as_its_certificates():
    ca, other = trustme.CA(), trustme.CA()
    bundle = ca.cert_pem.bytes().decode() + "\n" + other.cert_pem.bytes().decode()

    data = validated("active_directory", {**BASE, "ca_pem": bundle})

    assert data["ca_pem"].count("BEGIN CERTIFICATE") == 2


def test_a_ca_file_with_a_private_key_is_refused():
    ca = trustme.CA()
    pem = ca.cert_pem.bytes().decode() + ca.private_key_pem.bytes().decode()

    assert "holds a private key" in problems("active_directory", ca_pem=pem)


def test_a_valid_filter_and_exclusions_are_kept():
    data = validated("ldap", {**BASE, "filter": "(&(objectClass=inetOrgPerson)(ou=Staff))",
                              "exclusions": [" uid = svc-* ", "uid=svc-*"],
                              "groups": ["CN=Staff,OU=Groups,DC=acme,DC=example"]})

    assert data["filter"] == "(&(objectClass=inetOrgPerson)(ou=Staff))"
    assert data["exclusions"] == ["uid=svc-*"]
    assert data["groups"] == ["CN=Staff,OU=Groups,DC=acme,DC=example"]


def test_file_sources_keep_their_schema():
    assert validated("csv", {"path": "/srv/people.csv"}) == {"path": "/srv/people.csv",
                                                            "scopes": []}
    with pytest.raises(ValidationError):
        validated("csv", {"urls": ["ldap://x"]})
