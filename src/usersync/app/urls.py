from django.urls import include, path, re_path

from usersync.app.api.main import api
from usersync.app.api.views import unknown_endpoint

urlpatterns = [
    path("api/v1/", api.urls),
    re_path(r"^api/", unknown_endpoint),
    path("", include("usersync.app.portal.urls")),
]
