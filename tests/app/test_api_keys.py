"""/api/v1 API keys: created with a token shown once, stored hashed, scoped, revocable."""

from __future__ import annotations

import hashlib

import pytest

from usersync.app.accounts import api_keys
from usersync.app.accounts.models import ApiKey

from callers import Api, error_of, session_api

pytestmark = pytest.mark.django_db


def test_create_shows_the_token_once_and_stores_its_hash(acme_admin, acme):
    api = session_api(acme_admin)
    created = api.post("/organizations/acme/api-keys", {"name": "Kiosk",
                                                        "scopes": ["read_contacts"]})
    assert created.status_code == 201
    token = created.json()["token"]
    key = ApiKey.objects.get()
    assert token.startswith(key.prefix) and len(token) > 40
    assert key.secret_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(ApiKey.objects.values_list())
    listed = api.get("/organizations/acme/api-keys").json()
    assert listed[0]["prefix"] == key.prefix and "token" not in listed[0]
    assert Api(token=token).get("/organizations/acme/contacts").status_code == 200


def test_scopes_are_checked(acme_admin, acme):
    api = session_api(acme_admin)
    assert api.post("/organizations/acme/api-keys", {"name": "x", "scopes": []}).status_code == 422
    unknown = api.post("/organizations/acme/api-keys", {"name": "x", "scopes": ["root"]})
    assert unknown.status_code == 422 and error_of(unknown)["code"] == "invalid"


def test_a_revoked_key_stops_working(acme_admin, acme):
    key, token = api_keys.create_api_key(acme, "old", ["admin"])
    caller = Api(token=token)
    assert caller.get("/organizations").status_code == 200
    revoked = session_api(acme_admin).post(f"/organizations/acme/api-keys/{key.pk}/revoke")
    assert revoked.json()["active"] is False
    assert caller.get("/organizations").status_code == 401


def test_a_key_sees_only_its_organization(acme, globex):
    _, token = api_keys.create_api_key(acme, "k", ["admin"])
    caller = Api(token=token)
    assert [o["slug"] for o in caller.get("/organizations").json()] == ["acme"]
    assert caller.post("/organizations", {"slug": "x", "name": "X"}).status_code == 403


def test_session_writes_need_the_csrf_token(acme_admin, acme):
    api = session_api(acme_admin, enforce_csrf=True)
    refused = api.post("/organizations/acme/locations", {"identifier": "annex"})
    assert refused.status_code == 403 and error_of(refused)["code"] == "csrf_failed"
    api.client.get("/")  # sets the csrftoken cookie
    api.headers["X-CSRFToken"] = api.client.cookies["csrftoken"].value
    assert api.post("/organizations/acme/locations", {"identifier": "annex"}).status_code == 201


def test_a_wrong_secret_with_a_real_prefix_is_refused(acme):
    key, token = api_keys.create_api_key(acme, "k", ["admin"])
    forged = token[:len(key.prefix) + 1] + "A" * (len(token) - len(key.prefix) - 1)
    assert api_keys.authenticate(forged) is None
    assert api_keys.authenticate(token) == key
