"""Who calls the portal and the API in tests: users with roles, and JSON clients of /api/v1."""

from __future__ import annotations

import json

from django.contrib.auth import get_user_model
from django.test import Client

from usersync.app.accounts.api_keys import create_api_key
from usersync.app.accounts.models import Membership


def make_user(username: str, staff: bool = False, **memberships):
    """A user with a role in each organization given as ``name=(org, role)``."""
    user = get_user_model().objects.create_user(username, password="pw-" + username,
                                                is_staff=staff)
    for org, role in memberships.values():
        Membership.objects.create(user=user, organization=org, role=role)
    return user


class Api:
    """A test client of /api/v1 speaking JSON, with a session or an API key."""

    def __init__(self, client: Client | None = None, token: str | None = None):
        self.client = client or Client()
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def call(self, method: str, path: str, body=None, **params):
        kwargs = {"headers": self.headers}
        if body is not None:
            kwargs.update(data=json.dumps(body), content_type="application/json")
        elif params:
            kwargs["data"] = params
        return getattr(self.client, method.lower())("/api/v1" + path, **kwargs)

    def get(self, path, **params):
        return self.call("GET", path, **params)

    def post(self, path, body=None):
        return self.call("POST", path, body if body is not None else {})

    def patch(self, path, body):
        return self.call("PATCH", path, body)

    def delete(self, path):
        return self.call("DELETE", path)


def session_api(user, enforce_csrf: bool = False) -> Api:
    client = Client(enforce_csrf_checks=enforce_csrf)
    client.force_login(user)
    return Api(client)


def key_api(org, *scopes: str) -> Api:
    _, token = create_api_key(org, "test key", scopes or ("admin",))
    return Api(token=token)


def error_of(response) -> dict:
    """The JSON error of a response, checked for the API's error shape."""
    body = response.json()
    assert set(body) >= {"code", "message", "hint"}, body
    assert "Traceback" not in response.content.decode()
    return body
