"""The REST API (django-ninja) under ``/api/v1``: one small module per resource.

Every endpoint finds its organization through ``usersync.app.accounts.access.require_org``, and
every query below it is filtered by that organization.
"""
