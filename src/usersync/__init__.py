"""usersync: keeps an application's contacts in step with an organization's directory."""

__version__ = "0.1.0"
