"""Delivery: the sender that claims outbox rows, its transports, and signed reply tokens."""
