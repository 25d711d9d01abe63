"""Tenants are walled off (DESIGN.md promise 8): every API endpoint and every portal page, called
with organization A's credentials on organization B's ids, answers 404 and changes nothing; a
viewer's writes and an under-scoped key's are refused (403) and change nothing either.

The endpoints and pages are enumerated from the OpenAPI document and the portal's URL patterns,
so a new one is covered the day it is added (and fails here until it has a sample body).
"""

from __future__ import annotations

import re

import pytest
from django.apps import apps
from django.core import serializers
from django.test import Client
from django.urls import URLPattern

from usersync.app.accounts.api_keys import create_api_key
from usersync.app.accounts.models import ApiKey, Membership, Role
from usersync.app.api.main import api as ninja_api
from usersync.app.directory.models import Contact, DirectoryObject, SyncRun
from usersync.app.orgs.services import add_location
from usersync.app.portal import urls as portal_urls
from usersync.app.webhooks.services import create_webhook

from callers import Api, make_user, session_api
from support.syncing import csv_bytes, import_csv, person

pytestmark = pytest.mark.django_db

#: A valid body for each write, so that the access check, not validation, is what answers.
BODIES = {
    ("post", "/organizations"): {"slug": "new-org", "name": "New"},
    ("patch", "/organizations/{org}"): {"name": "Renamed"},
    ("post", "/organizations/{org}/locations"): {"identifier": "annex"},
    ("post", "/organizations/{org}/contacts"): {"first_name": "X", "last_name": "Y",
                                                "email": "x@y.example", "location": "plant"},
    ("patch", "/organizations/{org}/contacts/{contact_id}"): {"title": "Changed"},
    ("post", "/organizations/{org}/api-keys"): {"name": "k", "scopes": ["admin"]},
    ("post", "/organizations/{org}/sources"): {"name": "hr", "kind": "csv", "settings": {},
                                               "schedule": "every_hours", "schedule_hours": 6,
                                               "welcome_email": True},
    ("patch", "/organizations/{org}/sources/{source_id}"): {"name": "Renamed",
                                                            "schedule": "after_last"},
    ("post", "/organizations/{org}/webhooks"): {"url": "https://hooks.example.com/usersync"},
    ("patch", "/organizations/{org}/webhooks/{webhook_id}"): {"enabled": False},
}
MAP = "/organizations/{org}/sources/{source_id}/directory-objects/{object_id}/map"
NO_ORG = {"/organizations"}  # lists only what the caller may see; creating is for operators


def operations():
    for path, methods in ninja_api.get_openapi_schema()["paths"].items():
        for method in methods:
            yield method, path.removeprefix("/api/v1")


@pytest.fixture
def tenants(acme, globex):
    """Organization B (globex) with one of everything; A (acme) with its admin."""
    add_location(globex, "plant")
    people = [person(n, "plant", email=f"p{n}@globex.example") for n in range(1, 31)]
    import_csv(globex, csv_bytes(*people))
    blocked = import_csv(globex, csv_bytes(*people[:5])).run
    key, _ = create_api_key(globex, "globex key", ["admin"])
    b = {"org": "globex", "contact_id": Contact.objects.filter(organization=globex).first().pk,
         "run_id": blocked.pk, "source_id": blocked.source_id,
         "object_id": DirectoryObject.objects.filter(source=blocked.source).first().pk,
         "location_id": globex.locations.get().pk, "key_id": key.pk,
         "webhook_id": create_webhook(globex, "https://hooks.globex.example/")[0].pk}
    import_csv(acme, csv_bytes(person(1)))
    return {"a": acme, "b": globex, "ids": b}


def snapshot() -> str:
    """Every row usersync stores (API keys without last use), serialized: nothing may change."""
    models = [m for m in apps.get_models()
              if m._meta.app_label in ("orgs", "directory", "accounts", "auth", "webhooks")]
    data = []
    for model in models:
        rows = model.objects.order_by("pk")
        if model is ApiKey:
            rows = rows.defer("last_used_at")
        data.append(serializers.serialize("json", rows, fields=[
            f.name for f in model._meta.fields if f.name != "last_used_at"]))
    return "".join(data)


def fill(path: str, ids: dict, org: str) -> str:
    return re.sub(r"{(\w+)}", lambda m: str(org if m[1] == "org" else ids[m[1]]), path)


def callers(tenants) -> dict[str, Api]:
    admin = make_user("a-admin", a=(tenants["a"], Role.ADMIN))
    _, token = create_api_key(tenants["a"], "a key", ["admin"])
    return {"session": session_api(admin), "api key": Api(token=token)}


def call(api: Api, method: str, path: str, body):
    if method == "get":
        return api.get(path)
    if method == "delete":
        return api.delete(path)
    return api.call(method.upper(), path, body if body is not None else {})


def test_every_endpoint_answers_404_on_another_organizations_ids(tenants):
    ids, b_id = tenants["ids"], tenants["b"].pk
    apis = callers(tenants)
    before = snapshot()
    for name, api in apis.items():
        for method, path in operations():
            if path in NO_ORG:
                continue
            body = BODIES.get((method, path))
            if path == MAP:
                body = {"contact_id": ids["contact_id"]}
            for org in ("globex", str(b_id), "acme"):  # B by slug, by id; A's path, B's ids
                if org == "acme" and path.count("{") == 1:
                    continue  # only the organization in the path: A's own
                response = call(api, method, fill(path, ids, org), body)
                assert response.status_code == 404, (name, method, path, org, response.content)
                assert response.json()["code"] == "not_found"
    assert snapshot() == before


def test_lists_never_show_another_organizations_rows(tenants):
    for api in callers(tenants).values():
        assert [o["slug"] for o in api.get("/organizations").json()] == ["acme"]
        contacts = api.get("/organizations/acme/contacts", limit=500).json()["items"]
        assert {c["email"] for c in contacts} == {"person1@acme.example"}
        runs = api.get("/organizations/acme/runs").json()["items"]
        assert all(SyncRun.objects.get(pk=r["id"]).organization == tenants["a"] for r in runs)
        assert api.get("/organizations/acme/runs",
                       source_id=tenants["ids"]["source_id"]).json()["count"] == 0
        assert all(k["name"] != "globex key"
                   for k in api.get("/organizations/acme/api-keys").json())


def test_mapping_to_another_organizations_contact_is_404(tenants):
    a_source = tenants["a"].sources.get()
    obj = DirectoryObject.objects.filter(source=a_source).first()
    apis = callers(tenants)
    before = snapshot()
    for api in apis.values():
        response = api.post(f"/organizations/acme/sources/{a_source.pk}/directory-objects/"
                            f"{obj.pk}/map", {"contact_id": tenants["ids"]["contact_id"]})
        assert response.status_code == 404
    assert snapshot() == before


def writes():
    return [(m, p) for m, p in operations() if m != "get" and p not in NO_ORG]


def a_ids(tenants) -> dict:
    a = tenants["a"]
    source = a.sources.get()
    return {"contact_id": Contact.objects.filter(organization=a).first().pk,
            "run_id": source.runs.first().pk, "source_id": source.pk,
            "object_id": DirectoryObject.objects.filter(source=source).first().pk,
            "location_id": a.locations.first().pk,
            "key_id": create_api_key(a, "victim", ["admin"])[0].pk,
            "webhook_id": create_webhook(a, "https://hooks.acme.example/")[0].pk}


def test_viewers_and_read_only_keys_cannot_write(tenants):
    viewer = make_user("a-viewer", a=(tenants["a"], Role.VIEWER))
    _, token = create_api_key(tenants["a"], "reader", ["read_contacts"])
    ids = a_ids(tenants)
    apis = {"viewer": session_api(viewer), "read_contacts key": Api(token=token)}
    before = snapshot()
    for name, api in apis.items():
        for method, path in writes():
            body = BODIES.get((method, path))
            if path == MAP:
                body = {"contact_id": ids["contact_id"]}
            response = call(api, method, fill(path, ids, "acme"), body)
            assert response.status_code == 403, (name, method, path, response.content)
            assert response.json()["code"] == "forbidden"
    assert snapshot() == before


def test_org_admins_cannot_create_organizations_nor_set_their_contact_limit(tenants):
    apis = callers(tenants)
    before = snapshot()
    for api in apis.values():
        assert api.post("/organizations", BODIES[("post", "/organizations")]).status_code == 403
        assert api.patch("/organizations/acme", {"contact_limit": 10}).status_code == 403
    assert snapshot() == before


# -- the portal ---------------------------------------------------------------------------------

def portal_pages():
    for pattern in portal_urls.urlpatterns:
        assert isinstance(pattern, URLPattern)
        route = str(pattern.pattern)
        if "<slug:slug>" in route:
            yield pattern.name, "/" + route


def fill_route(route: str, ids: dict, org: str) -> str:
    return re.sub(r"<(?:\w+:)?(\w+)>", lambda m: org if m[1] == "slug" else str(ids[m[1]]), route)


def test_every_portal_page_answers_404_on_another_organizations_ids(tenants):
    admin = make_user("a-admin", a=(tenants["a"], Role.ADMIN))
    client = Client()
    client.force_login(admin)
    ids = tenants["ids"]
    before = snapshot()
    for name, route in portal_pages():
        for org in ("globex", "acme"):
            if org == "acme" and route.count("<") == 1:
                continue
            url = fill_route(route, ids, org)
            posted = client.post(url, {"identifier": "annex", "name": "k", "scopes": ["admin"],
                                       "contact_id": ids["contact_id"]})
            assert posted.status_code == 404, (name, url, posted.status_code)
            assert client.get(url).status_code in (404, 405), (name, url)
    assert snapshot() == before


def test_portal_writes_by_a_viewer_are_refused(tenants):
    viewer = make_user("a-viewer", a=(tenants["a"], Role.VIEWER))
    client = Client()
    client.force_login(viewer)
    ids = a_ids(tenants)
    before = snapshot()
    for name, route in portal_pages():
        if name in ("organization", "run", "run-export", "directory-users", "contact-image"):
            continue  # read-only pages (they ignore POST data)
        url = fill_route(route, ids, "acme")
        posted = client.post(url, {"identifier": "annex", "name": "k", "scopes": ["admin"],
                                   "contact_id": ids["contact_id"]})
        assert posted.status_code == 403, (name, url, posted.status_code)
    assert snapshot() == before


def test_a_member_without_a_membership_sees_no_organization(tenants):
    loner = make_user("loner")
    client = Client()
    client.force_login(loner)
    assert "Acme" not in client.get("/").content.decode()
    assert client.get("/orgs/acme/").status_code == 404
    assert not Membership.objects.filter(user=loner).exists()
