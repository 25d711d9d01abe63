"""The Django shell: models, services that run read → plan → apply, the portal and the API."""
