"""Telling people and apps what happened: summary and failure emails, webhooks (see announce)."""
