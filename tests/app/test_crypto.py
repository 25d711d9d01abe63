"""Secrets at rest: Fernet tokens under rotatable keys from the environment or a key file."""

from __future__ import annotations

import stat

import pytest
from cryptography.fernet import Fernet

from usersync.app import crypto
from usersync.app import sources as services
from usersync.app.directory.models import Source
from usersync.app.webhooks import services as webhook_services
from usersync.app.webhooks.models import Webhook


@pytest.fixture
def key_home(tmp_path, monkeypatch):
    """A home folder of its own, so these tests create and rotate their own key file."""
    monkeypatch.setenv("USERSYNC_HOME", str(tmp_path))
    monkeypatch.delenv(crypto.ENV, raising=False)
    return tmp_path


def file_keys(home) -> list[str]:
    return (home / crypto.FILE_NAME).read_text().split()


def test_round_trip_and_the_key_file_is_created_private_on_first_use(key_home):
    token = crypto.encrypt("pässword \n with spaces")

    assert token != "pässword \n with spaces" and "pässword" not in token
    assert crypto.decrypt(token) == "pässword \n with spaces"
    path = key_home / crypto.FILE_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(file_keys(key_home)) == 1


def test_two_encryptions_of_the_same_password_differ(key_home):
    assert crypto.encrypt("secret") != crypto.encrypt("secret")


def test_keys_from_the_environment_win_and_the_file_is_not_created(key_home, monkeypatch):
    newest, older = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    old_token = Fernet(older).encrypt(b"old secret").decode()
    monkeypatch.setenv(crypto.ENV, f"{newest}, {older}")

    token = crypto.encrypt("new secret")

    assert Fernet(newest).decrypt(token.encode()) == b"new secret"  # the first key encrypts
    assert crypto.decrypt(old_token) == "old secret"  # every key decrypts
    assert not (key_home / crypto.FILE_NAME).exists()


def test_a_token_no_key_can_read_says_the_keys_changed(key_home, monkeypatch):
    token = crypto.encrypt("secret")
    monkeypatch.setenv(crypto.ENV, Fernet.generate_key().decode())

    with pytest.raises(crypto.SecretUnreadable) as raised:
        crypto.decrypt(token)

    assert "the encryption keys changed; restore the old key or re-enter the password" in str(
        raised.value)


@pytest.mark.parametrize("value", ["not-a-key", "short", Fernet.generate_key().decode() + ",x"])
def test_a_malformed_key_is_refused_without_repeating_it(key_home, monkeypatch, value):
    monkeypatch.setenv(crypto.ENV, value)

    with pytest.raises(crypto.EncryptionKeyError) as raised:
        crypto.encrypt("secret")

    assert "is not a Fernet key" in raised.value.message
    assert all(part not in str(raised.value) for part in value.split(","))


def test_an_emptied_key_file_is_an_error_not_a_new_key(key_home):
    (key_home / crypto.FILE_NAME).write_text("\n")

    with pytest.raises(crypto.EncryptionKeyError, match="holds no encryption key"):
        crypto.encrypt("secret")


# -- rotation: every Source.secret re-encrypted in one transaction ----------------------------

@pytest.fixture
def directory_sources(key_home, acme, globex):
    settings = {"urls": ["ldaps://dc1.acme.example"], "bind_dn": "usersync@acme.example",
                "scopes": [{"base": "OU=HQ,DC=acme,DC=example", "location": "headquarters"}]}
    first = services.create_source(acme, "ad", "active_directory", settings, "first-password")
    settings = {**settings, "scopes": [{"base": "DC=globex,DC=example"}]}
    second = services.create_source(globex, "ldap", "ldap", settings, "second-password")
    return first, second


def test_rotation_adds_a_key_and_re_encrypts_every_secret(directory_sources, key_home):
    before = {s.pk: s.secret for s in Source.objects.all()}
    old_key = file_keys(key_home)[0]

    rotation = services.rotate_secrets()

    keys = file_keys(key_home)
    assert rotation.reencrypted == 2 and rotation.new_key and rotation.dropped == 0
    assert len(keys) == 2 and keys[1] == old_key  # the new key first, the old one kept
    for source in Source.objects.all():
        assert source.secret != before[source.pk]
        Fernet(keys[0]).decrypt(source.secret.encode())  # encrypted with the new key
    # A token from before the rotation (a backup) still decrypts while the old key is kept.
    assert crypto.decrypt(before[directory_sources[0].pk]) == "first-password"
    assert stat.S_IMODE((key_home / crypto.FILE_NAME).stat().st_mode) == 0o600


def test_drop_old_removes_the_old_keys_and_secrets_still_decrypt(directory_sources, key_home):
    old_key = file_keys(key_home)[0]
    old_token = Source.objects.get(name="ad").secret

    rotation = services.rotate_secrets(drop_old=True)

    assert rotation.dropped == 1 and len(file_keys(key_home)) == 1
    assert old_key not in file_keys(key_home)
    passwords = {s.name: services.ldap_settings(s).password for s in Source.objects.all()}
    assert passwords == {"ad": "first-password", "ldap": "second-password"}
    with pytest.raises(crypto.SecretUnreadable):
        crypto.decrypt(old_token)


def test_an_unreadable_secret_stops_the_rotation_before_anything_changes(directory_sources,
                                                                        key_home):
    Source.objects.filter(name="ldap").update(
        secret=Fernet(Fernet.generate_key()).encrypt(b"lost").decode())
    before = {s.pk: s.secret for s in Source.objects.all()}
    keys = file_keys(key_home)

    with pytest.raises(crypto.SecretUnreadable, match="globex/ldap"):
        services.rotate_secrets(drop_old=True)

    assert file_keys(key_home) == keys
    assert {s.pk: s.secret for s in Source.objects.all()} == before


def test_keys_from_the_environment_are_never_written_to_a_file(directory_sources, key_home,
                                                                monkeypatch):
    keys = file_keys(key_home)
    newest = Fernet.generate_key().decode()
    monkeypatch.setenv(crypto.ENV, f"{newest},{keys[0]}")  # the operator put a new key first

    with pytest.raises(crypto.EncryptionKeyError, match="does not change them"):
        services.rotate_secrets(new_key=True)
    rotation = services.rotate_secrets(new_key=False, drop_old=True)

    assert rotation.reencrypted == 2 and rotation.from_environment and rotation.dropped == 0
    assert file_keys(key_home) == keys  # untouched
    for source in Source.objects.all():
        Fernet(newest).decrypt(source.secret.encode())


def test_rotation_re_encrypts_webhook_secrets_too(directory_sources, key_home, acme):
    webhook, secret = webhook_services.create_webhook(acme, "https://hooks.acme.example/usersync")

    rotation = services.rotate_secrets(drop_old=True)

    assert rotation.reencrypted == 3  # two bind passwords and the webhook's signing secret
    webhook.refresh_from_db()
    assert Fernet(file_keys(key_home)[0]).decrypt(webhook.secret.encode()).decode() == secret


def test_an_unreadable_webhook_secret_stops_the_rotation(directory_sources, key_home, acme):
    webhook, _ = webhook_services.create_webhook(acme, "https://hooks.acme.example/usersync")
    Webhook.objects.filter(pk=webhook.pk).update(
        secret=Fernet(Fernet.generate_key()).encrypt(b"lost").decode())
    keys = file_keys(key_home)

    with pytest.raises(crypto.SecretUnreadable, match="hooks.acme.example"):
        services.rotate_secrets(drop_old=True)

    assert file_keys(key_home) == keys
