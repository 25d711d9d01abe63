from django.apps import AppConfig


class DirectoryConfig(AppConfig):
    name = "usersync.app.directory"
    label = "directory"
    verbose_name = "Directory"
