from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "usersync.app.accounts"
    label = "accounts"
    verbose_name = "Accounts and API keys"
