from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "usersync.app.portal"
    label = "portal"
    verbose_name = "Portal"
