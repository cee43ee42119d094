"""Alerts: pure rendering of templates, and the outbox rows of an event."""
