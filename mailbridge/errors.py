"""One root exception, so the CLI can turn any expected failure into a clear message.

Callers that must tell failures apart catch the named subclasses; the CLI catches the root and
prints one line (exit 1), or a ``ConfigError`` (exit 2).
"""

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


class NotFoundError(MailbridgeError):
    """A record the operator named does not exist: an episode reference, a child, a message."""


class InvalidRequestError(MailbridgeError):
    """The request makes no sense as asked: a bad date, an unknown event, a missing option."""


class FileAccessError(MailbridgeError):
    """A file the operator named cannot be read or written (or would be overwritten)."""


class DatabaseUnavailableError(MailbridgeError):
    """The database cannot be reached; nothing was changed."""


class StartupError(MailbridgeError):
    """`serve` cannot start a part (listen, TLS, HTTP); what had started is stopped again."""


class CaseworkRefused(MailbridgeError):
    """A person's casework operation makes no sense for this episode; the text says why."""


class DirectoryError(MailbridgeError):
    """A directory CSV that cannot be read or is malformed as a whole; nothing is imported."""


class RelayError(MailbridgeError):
    """The outbound relay cannot be reached, secured or logged in to."""
