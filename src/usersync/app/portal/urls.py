from django.contrib.auth import views as auth_views
from django.urls import path

from usersync.app.webhooks import views as webhooks

from .views import (
    api_keys,
    directory_users,
    images,
    organization,
    org_settings,
    organizations,
    runs,
    sources,
    wizard,
)

app_name = "portal"
ORG = "orgs/<slug:slug>/"
SOURCE = ORG + "sources/<int:source_id>/"
RUN = ORG + "runs/<int:run_id>/"
USER = SOURCE + "directory-users/<int:object_id>/"
WEBHOOK = ORG + "webhooks/<int:webhook_id>/"
urlpatterns = [
    path("login/", auth_views.LoginView.as_view(template_name="portal/login.html",
                                                redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", organizations.organizations, name="home"),
    path(ORG, organization.organization, name="organization"),
    path(ORG + "settings/", org_settings.organization_settings, name="organization-settings"),
    path(ORG + "locations/", organization.add_location, name="location-add"),
    path(ORG + "locations/<int:location_id>/remove/", organization.remove_location,
         name="location-remove"),
    path(ORG + "contacts/<int:contact_id>/image/", images.contact_image, name="contact-image"),
    path(ORG + "api-keys/", api_keys.api_keys, name="api-keys"),
    path(ORG + "api-keys/<int:key_id>/revoke/", api_keys.revoke, name="api-key-revoke"),
    path(ORG + "webhooks/", webhooks.webhooks, name="webhooks"),
    path(WEBHOOK, webhooks.webhook, name="webhook"),
    path(WEBHOOK + "test/", webhooks.send_test, name="webhook-test"),
    path(WEBHOOK + "rotate-secret/", webhooks.rotate_secret, name="webhook-rotate"),
    path(WEBHOOK + "remove/", webhooks.remove, name="webhook-remove"),
    path(RUN, runs.run_detail, name="run"),
    path(RUN + "export.csv", runs.run_export, name="run-export"),
    path(RUN + "approve/", runs.decide, {"decision": "approve"}, name="run-approve"),
    path(RUN + "reject/", runs.decide, {"decision": "reject"}, name="run-reject"),
    path(ORG + "sources/new/", wizard.wizard, name="source-new"),
    path(SOURCE, sources.source, name="source"),
    path(SOURCE + "edit/", wizard.wizard, name="source-edit"),
    path(SOURCE + "sync/", sources.sync_now, name="source-sync"),
    path(SOURCE + "remove/", sources.remove, name="source-remove"),
    path(SOURCE + "directory-users/", directory_users.directory_users,
         name="directory-users"),
    path(USER + "contacts/", directory_users.contact_picker, name="contact-picker"),
    path(USER + "map/", directory_users.decide, {"decision": "map"},
         name="directory-user-map"),
    path(USER + "ignore/", directory_users.decide, {"decision": "ignore"},
         name="directory-user-ignore"),
    path(USER + "unmap/", directory_users.decide, {"decision": "unmap"},
         name="directory-user-unmap"),
]
