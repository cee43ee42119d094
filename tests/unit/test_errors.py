"""Errors are named: every expected failure is a subclass of the one root, so a caller that must
tell cases apart (not found, a bad request, a file, the database, start-up) can catch the one it
means, and the CLI still turns any of them into one line."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from mailbridge import errors

PACKAGE = Path(__file__).resolve().parents[2] / "mailbridge"

#: modules still raising the bare root, each with the reason; the goal is an empty dict
BARE_ROOT_ALLOWED: dict[str, str] = {}


def test_every_error_is_a_named_subclass_of_the_root() -> None:
    members = inspect.getmembers(errors, inspect.isclass)
    classes = [c for _, c in members if c.__module__ == errors.__name__]
    assert errors.MailbridgeError in classes
    for cls in classes:
        assert issubclass(cls, errors.MailbridgeError), cls
        assert cls.__doc__, f"{cls.__name__} says when it is raised"


def test_no_module_raises_the_bare_root() -> None:
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel in BARE_ROOT_ALLOWED:
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"\braise MailbridgeError\(", line):
                offenders.append(f"{rel}:{n}")
    assert offenders == [], "raise a named subclass of MailbridgeError instead"


def test_the_allow_list_names_only_real_offenders() -> None:
    for rel in BARE_ROOT_ALLOWED:
        assert "raise MailbridgeError(" in (PACKAGE / rel).read_text(), rel
