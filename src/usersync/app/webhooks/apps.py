from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "usersync.app.webhooks"
    label = "webhooks"
    verbose_name = "Webhooks"
