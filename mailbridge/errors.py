"""One root exception, so the CLI can turn any expected failure into a clear message."""

from __future__ import annotations


class MailbridgeError(Exception):
    """An expected failure with a message fit for an operator; never a traceback."""


class ConfigError(MailbridgeError):
    """The settings are invalid; ``problems`` names every key at fault."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid configuration:\n" + "\n".join(f"  - {p}" for p in problems))


class SchemaBehindError(MailbridgeError):
    """The database schema is older than this code; an operator must migrate on purpose."""


class StorageError(MailbridgeError):
    """The store could not commit; ingress answers 'try again later'."""


class CaseworkRefused(MailbridgeError):
    """A person's casework operation makes no sense for this episode; the text says why."""
