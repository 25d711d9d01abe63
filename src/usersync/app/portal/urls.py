from django.contrib.auth import views as auth_views
from django.urls import path

from . import views

app_name = "portal"
urlpatterns = [
    path("login/", auth_views.LoginView.as_view(template_name="portal/login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", views.home, name="home"),
    path("orgs/<slug:slug>/", views.organization, name="organization"),
    path("orgs/<slug:slug>/runs/<int:run_id>/", views.run_detail, name="run"),
]
