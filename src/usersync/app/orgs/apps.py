from django.apps import AppConfig


class OrgsConfig(AppConfig):
    name = "usersync.app.orgs"
    label = "orgs"
    verbose_name = "Organizations"
