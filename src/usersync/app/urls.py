from django.urls import include, path

urlpatterns = [
    path("", include("usersync.app.portal.urls")),
]
