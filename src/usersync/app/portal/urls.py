from django.contrib.auth import views as auth_views
from django.urls import path

from .views import api_keys, organization, organizations, runs, sources

app_name = "portal"
ORG = "orgs/<slug:slug>/"
SOURCE = ORG + "sources/<int:source_id>/"
RUN = ORG + "runs/<int:run_id>/"
USER = SOURCE + "directory-users/<int:object_id>/"
urlpatterns = [
    path("login/", auth_views.LoginView.as_view(template_name="portal/login.html",
                                                redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", organizations.organizations, name="home"),
    path(ORG, organization.organization, name="organization"),
    path(ORG + "locations/", organization.add_location, name="location-add"),
    path(ORG + "locations/<int:location_id>/remove/", organization.remove_location,
         name="location-remove"),
    path(ORG + "api-keys/", api_keys.api_keys, name="api-keys"),
    path(ORG + "api-keys/<int:key_id>/revoke/", api_keys.revoke, name="api-key-revoke"),
    path(RUN, runs.run_detail, name="run"),
    path(RUN + "export.csv", runs.run_export, name="run-export"),
    path(RUN + "approve/", runs.decide, {"decision": "approve"}, name="run-approve"),
    path(RUN + "reject/", runs.decide, {"decision": "reject"}, name="run-reject"),
    # The source page and the setup wizard (kind → connection → … → schedule) go here.
    path(SOURCE + "sync/", sources.sync_now, name="source-sync"),
    path(SOURCE + "remove/", sources.remove, name="source-remove"),
    path(SOURCE + "directory-users/", sources.directory_users, name="directory-users"),
    path(USER + "contacts/", sources.contact_picker, name="contact-picker"),
    path(USER + "map/", sources.decide, {"decision": "map"}, name="directory-user-map"),
    path(USER + "ignore/", sources.decide, {"decision": "ignore"}, name="directory-user-ignore"),
    path(USER + "unmap/", sources.decide, {"decision": "unmap"}, name="directory-user-unmap"),
]
