"""Webhooks per organization: signed JSON events about contacts and syncs, written to an outbox in
the transaction of the change (``events``) and delivered by workers with retries (``delivery``).
See docs/webhooks.md."""
