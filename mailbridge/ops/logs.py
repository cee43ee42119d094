"""Log lines on stderr, plain or JSON, each naming the message and episode in hand.

The worker sets the inbound message id around processing a message, and the sender sets the
message and episode around each alert. A filter copies them onto every record, so a line
deep in routing or delivery can be traced to one message without passing ids around, and
without ever logging who the message was about.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import IO

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
FORMATS = ("plain", "json")
PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s%(context)s: %(message)s"
# Library chatter at INFO would drown the one line per message.
NOISY = ("mail.log", "aiosmtpd", "alembic", "apscheduler")

_message_id: ContextVar[int | None] = ContextVar("mailbridge_message_id", default=None)
_episode: ContextVar[str | None] = ContextVar("mailbridge_episode", default=None)


@contextmanager
def log_context(*, message_id: int | None = None, episode: str | None = None) -> Iterator[None]:
    """Lines logged inside carry this message id and episode reference."""
    message_token = _message_id.set(message_id)
    episode_token = _episode.set(episode)
    try:
        yield
    finally:
        _episode.reset(episode_token)
        _message_id.reset(message_token)


def set_episode(reference: str | None) -> None:
    """The episode became known inside a `log_context`; leaving that context forgets it."""
    _episode.set(reference)


def current() -> tuple[int | None, str | None]:
    return _message_id.get(), _episode.get()


class ContextFilter(logging.Filter):
    """Adds ``message_id``, ``episode`` and the plain ``context`` text to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        message_id, episode = current()
        record.message_id = message_id
        record.episode = episode
        parts = [f"msg {message_id}"] if message_id is not None else []
        if episode:
            parts.append(episode)
        record.context = f" [{' '.join(parts)}]" if parts else ""
        return True


def json_formatter() -> logging.Formatter:
    """One JSON object a line: time (UTC, ISO 8601), level, logger, message, ids, extras."""
    return JsonFormatter(
        "%(levelname)s %(name)s %(message)s %(message_id)s %(episode)s",
        rename_fields={"levelname": "level", "name": "logger"},
        reserved_attrs=[*RESERVED_ATTRS, "context"],
        timestamp="time",
        json_ensure_ascii=False,
    )


def make_handler(fmt: str, stream: IO[str] | None = None) -> logging.Handler:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(json_formatter() if fmt == "json" else logging.Formatter(PLAIN_FORMAT))
    handler.addFilter(ContextFilter())
    handler._mailbridge = True  # type: ignore[attr-defined]  # ours, replaced on a re-setup
    return handler


def parse_levels(entries: Sequence[str]) -> tuple[dict[str, str], list[str]]:
    """``["mailbridge.ingress.imap=DEBUG", ...]`` -> ({logger: LEVEL}, problems)."""
    levels: dict[str, str] = {}
    problems: list[str] = []
    for entry in entries:
        name, eq, level = entry.partition("=")
        name, level = name.strip(), level.strip().upper()
        if not eq or not name or any(c.isspace() for c in name):
            problems.append(f"{entry!r} is not LOGGER=LEVEL (e.g. mailbridge.ingress.imap=DEBUG)")
        elif level not in LEVELS:
            problems.append(f"{entry!r}: the level must be one of {', '.join(LEVELS)}")
        else:
            levels[name] = level
    return levels, problems


def setup_logging(
    level: str,
    fmt: str = "plain",
    levels: Mapping[str, str] | None = None,
    *,
    stream: IO[str] | None = None,
    force: bool = False,
) -> None:
    """The root level, per-logger levels, and one stderr handler (like `basicConfig`).

    As with `basicConfig`, a root logger that already has someone else's handlers (a test
    runner's) is left alone unless ``force``; levels are set either way.
    """
    root = logging.getLogger()
    ours = [h for h in root.handlers if getattr(h, "_mailbridge", False)]
    if force or len(ours) == len(root.handlers):
        for handler in ours:
            root.removeHandler(handler)
        root.addHandler(make_handler(fmt, stream))
    root.setLevel(level.upper())
    for noisy in NOISY:
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    for name, named_level in (levels or {}).items():
        logging.getLogger(name).setLevel(named_level)
