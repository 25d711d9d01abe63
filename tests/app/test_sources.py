"""The source service: create, edit, remove; the connector's settings; runs of directory sources.

The LDAP connector itself is tested against real Samba and slapd servers (tests/integration);
here a fake stands in for it, to test our own wiring: what it is given, and what a run records.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.core.exceptions import ValidationError

from usersync.app import crypto
from usersync.app import sources as services
from usersync.app.directory.models import Contact, DirectoryObject, Source, SyncRun
from usersync.app.sync import readers, runs
from usersync.connectors.base import ConnectionInfo, Reading
from usersync.connectors.errors import ConfigurationError, ConnectionFailed
from usersync.core.records import Snapshot, SourceRecord

from support.syncing import csv_bytes, import_csv, person

PASSWORD = "Corr3ct-Horse-Battery"
HQ = "OU=Headquarters,DC=acme,DC=example"
WAREHOUSE = "OU=Warehouse,DC=acme,DC=example"
SETTINGS = {
    "urls": ["ldaps://dc1.acme.example", "ldaps://dc2.acme.example"],
    "bind_dn": "usersync@acme.example",
    "scopes": [{"base": HQ, "location": "headquarters"},
               {"base": WAREHOUSE, "location": "warehouse"}],
}


@pytest.fixture
def ad(acme):
    return services.create_source(acme, "corp-ad", "active_directory", SETTINGS, PASSWORD)


def test_the_password_is_stored_encrypted_and_the_settings_hold_no_secret(ad):
    stored = Source.objects.get(pk=ad.pk)

    assert stored.secret and PASSWORD not in stored.secret
    assert crypto.decrypt(stored.secret) == PASSWORD
    assert PASSWORD not in str(stored.settings)
    assert PASSWORD not in str(services.public_data(stored))
    assert services.public_data(stored)["password_set"] is True


def test_ldap_settings_hold_the_decrypted_password_and_the_scopes(ad):
    settings = services.ldap_settings(Source.objects.get(pk=ad.pk))

    assert settings.kind == "active_directory" and settings.password == PASSWORD
    assert settings.urls == ("ldaps://dc1.acme.example", "ldaps://dc2.acme.example")
    assert [(s.base, s.location) for s in settings.scopes] == [(HQ, "headquarters"),
                                                              (WAREHOUSE, "warehouse")]
    assert "email" in settings.mapping.fields and settings.page_size == 500
    assert PASSWORD not in repr(settings)


def test_a_directory_source_needs_a_password(acme):
    with pytest.raises(ValidationError, match="needs the password"):
        services.create_source(acme, "ad", "active_directory", SETTINGS)


@pytest.mark.parametrize("scopes, expected", [
    ([{"base": HQ, "location": "paris"}], "has no location 'paris'"),
    ([{"base": HQ}], "needs a location"),
])
def test_scope_locations_must_exist_in_a_multi_location_organization(acme, scopes, expected):
    with pytest.raises(ValidationError, match=expected):
        services.create_source(acme, "ad", "active_directory", {**SETTINGS, "scopes": scopes},
                               PASSWORD)
    assert not Source.objects.exists()


def test_a_global_organization_takes_scopes_without_locations(globex):
    scopes = [{"base": "DC=globex,DC=example"}]
    source = services.create_source(globex, "ldap", "ldap", {**SETTINGS, "scopes": scopes},
                                    PASSWORD)
    assert source.settings["scopes"] == scopes

    with pytest.raises(ValidationError, match="is global"):
        services.edit_source(source, settings={"scopes": [{"base": HQ, "location": "hq"}]})


def test_names_are_unique_per_organization(ad, acme):
    with pytest.raises(ValidationError, match="already has a source named 'corp-ad'"):
        services.create_source(acme, "corp-ad", "ldap", SETTINGS, PASSWORD)


def test_edit_changes_only_what_is_given_and_none_restores_the_default(ad):
    services.edit_source(ad, settings={"filter": "(department=Sales)", "groups": [
        "CN=Staff,DC=acme,DC=example"]}, archive_disabled=False)
    secret = Source.objects.get(pk=ad.pk).secret

    services.edit_source(ad, settings={"filter": None, "urls": ["ldaps://dc3.acme.example"]})

    stored = Source.objects.get(pk=ad.pk)
    assert "filter" not in stored.settings
    assert stored.settings["urls"] == ["ldaps://dc3.acme.example"]
    assert stored.settings["groups"] == ["CN=Staff,DC=acme,DC=example"]
    assert stored.settings["scopes"] == SETTINGS["scopes"]
    assert stored.archive_disabled is False
    assert stored.secret == secret  # no new password: the same token


def test_a_new_password_is_encrypted_again(ad):
    old = Source.objects.get(pk=ad.pk).secret

    services.edit_source(ad, password="N3w-Password")

    stored = Source.objects.get(pk=ad.pk)
    assert stored.secret != old and crypto.decrypt(stored.secret) == "N3w-Password"


def test_an_invalid_edit_changes_nothing(ad):
    with pytest.raises(ValidationError):
        services.edit_source(ad, settings={"urls": ["http://x"]}, password="other")

    stored = Source.objects.get(pk=ad.pk)
    assert stored.settings["urls"] == SETTINGS["urls"]
    assert crypto.decrypt(stored.secret) == PASSWORD


def test_a_password_that_cannot_be_decrypted_says_what_to_do(ad, monkeypatch):
    monkeypatch.setenv(crypto.ENV, crypto.new_key())

    with pytest.raises(crypto.SecretUnreadable) as raised:
        services.ldap_settings(ad)

    assert "the encryption keys changed; restore the old key or re-enter the password" in str(
        raised.value)
    assert "usersync source edit --org acme --name corp-ad --password-file" in raised.value.hint


# -- runs of a directory source, with a fake connector -----------------------------------------

@dataclass
class FakeConnector:
    """Stands in for LdapConnector: records its settings, returns a reading or raises."""

    settings: object
    now: object = None
    outcome: object = None
    seen: list = None

    def read(self, progress=None, incremental=None):
        FakeConnector.seen.append(self.settings)
        if isinstance(FakeConnector.outcome, Exception):
            raise FakeConnector.outcome
        return FakeConnector.outcome


def reading(settings, *names: str, tls: str | None = "TLS1.3 TLS_AES_256_GCM_SHA384",
            server: str = "ldaps://dc2.acme.example", notices: tuple = ()) -> Reading:
    records = [
        SourceRecord(attributes={"givenname": (name,), "sn": ("Doe",),
                                 "mail": (f"{name.lower()}@acme.example",)},
                     anchor=f"guid-{name.lower()}", dn=f"CN={name} Doe,{HQ}",
                     locations=("headquarters",))
        for name in names
    ]
    return Reading(Snapshot.full(records, complete=True), settings.mapping, notices,
                   ConnectionInfo(server, tls))


@pytest.fixture
def fake_connector(monkeypatch):
    FakeConnector.seen, FakeConnector.outcome = [], None
    monkeypatch.setattr(readers, "LdapConnector", FakeConnector)
    return FakeConnector


def test_a_run_reads_through_the_connector_and_records_the_connection(ad, fake_connector):
    fake_connector.outcome = reading(services.ldap_settings(ad), "Ada", "Grace")

    outcome = runs.sync(ad, readers.configured_reader(ad), trigger="cli")

    assert outcome.status == "succeeded" and outcome.plan.counts["created"] == 2
    assert fake_connector.seen[0].password == PASSWORD
    run = SyncRun.objects.get(pk=outcome.run.pk)
    connection = run.connection
    assert connection["server"] == "ldaps://dc2.acme.example" and connection["ok"] is True
    assert connection["tls"] == "TLS1.3 TLS_AES_256_GCM_SHA384" and connection["reason"] == ""
    assert connection["at"] and run.notices == []


def test_a_failed_read_records_the_server_and_why_and_archives_nothing(ad, fake_connector):
    fake_connector.outcome = reading(services.ldap_settings(ad), "Ada", "Grace")
    runs.sync(ad, readers.configured_reader(ad), trigger="cli")
    fake_connector.outcome = ConnectionFailed(
        "cannot reach ldaps://dc1.acme.example:636 or ldaps://dc2.acme.example:636",
        "check that the servers are up", code="unreachable", server="ldaps://dc2.acme.example")

    outcome = runs.sync(ad, readers.configured_reader(ad), trigger="schedule")

    assert outcome.status == "failed"
    run = SyncRun.objects.get(pk=outcome.run.pk)
    assert run.connection["ok"] is False
    assert run.connection["server"] == "ldaps://dc2.acme.example"
    assert run.connection["reason"].startswith("cannot reach")
    assert run.error_code == "unreachable" and run.error_hint == "check that the servers are up"
    assert Contact.objects.filter(status="active").count() == 2


def test_an_undecryptable_password_fails_the_run_with_the_hint(ad, fake_connector, monkeypatch):
    monkeypatch.setenv(crypto.ENV, crypto.new_key())

    outcome = runs.sync(ad, readers.configured_reader(ad), trigger="schedule")

    run = SyncRun.objects.get(pk=outcome.run.pk)
    assert run.status == "failed" and run.error_code == "secret_unreadable"
    assert "encryption keys changed" in run.error_message
    assert run.connection["ok"] is False and run.connection["server"] is None
    assert fake_connector.seen == []  # never got as far as connecting


def test_an_insecure_source_gets_a_notice_on_every_run(ad, fake_connector):
    services.edit_source(ad, settings={"insecure": True, "urls": ["ldap://dc1.acme.example"]})
    fake_connector.outcome = reading(
        services.ldap_settings(ad), "Ada", tls=None, server="ldap://dc1.acme.example",
        notices=("the connection to ldap://dc1.acme.example was not encrypted (insecure setting)",
                 "another notice"))

    succeeded = runs.sync(ad, readers.configured_reader(ad), trigger="cli")
    fake_connector.outcome = ConnectionFailed("connection lost", "retry")
    failed = runs.sync(ad, readers.configured_reader(ad), trigger="cli")

    assert succeeded.notices == [f"{runs.INSECURE_NOTICE}: ldap://dc1.acme.example",
                                 "another notice"]
    assert SyncRun.objects.get(pk=succeeded.run.pk).connection["tls"] is None
    assert SyncRun.objects.get(pk=failed.run.pk).notices == [runs.INSECURE_NOTICE]


def test_an_insecure_source_reached_over_tls_gets_no_notice(ad, fake_connector):
    services.edit_source(ad, settings={"insecure": True})
    fake_connector.outcome = reading(services.ldap_settings(ad), "Ada")

    assert runs.sync(ad, readers.configured_reader(ad), trigger="cli").notices == []


def test_file_runs_record_their_attempt_too(acme):
    outcome = import_csv(acme, csv_bytes(person(1)))

    connection = SyncRun.objects.get(pk=outcome.run.pk).connection
    assert connection["ok"] is True and connection["server"] is None


# -- removing a source keeps its contacts ------------------------------------------------------

def test_removing_a_source_keeps_its_contacts_unmanaged(ad, fake_connector):
    fake_connector.outcome = reading(services.ldap_settings(ad), "Ada", "Grace")
    runs.sync(ad, readers.configured_reader(ad), trigger="cli")
    ids = set(Contact.objects.values_list("pk", flat=True))

    removed = services.remove_source(ad)

    assert (removed.contacts_kept, removed.runs, removed.directory_objects) == (2, 1, 2)
    assert not Source.objects.exists() and not SyncRun.objects.exists()
    assert not DirectoryObject.objects.exists()
    kept = Contact.objects.all()
    assert set(kept.values_list("pk", flat=True)) == ids
    assert all(c.source is None and c.anchor is None and c.status == "active" for c in kept)


def test_a_source_with_a_run_in_progress_is_not_removed(ad):
    SyncRun.objects.create(organization=ad.organization, source=ad, trigger="cli",
                           status="running")

    with pytest.raises(ValidationError, match="run in progress"):
        services.remove_source(ad)
    assert Source.objects.filter(pk=ad.pk).exists()


def test_a_directory_kind_without_a_connector_setting_is_a_configuration_error(acme):
    source = Source.objects.create(organization=acme, name="broken", kind="ldap",
                                   settings={"urls": ["ldap://x"]})
    with pytest.raises(ConfigurationError, match="settings of source 'broken' are invalid"):
        services.ldap_settings(source)
