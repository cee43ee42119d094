"""Shared test helpers: the only modules that tests import from one another."""
