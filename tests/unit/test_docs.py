"""The docs agree with the code: the settings table is the model's, every documented command and
option exists, and every option says what it does."""

from __future__ import annotations

import argparse
import dataclasses
import functools
import re
from pathlib import Path

import pytest

from mailbridge.cli.root import build_parser
from mailbridge.settings import reference
from mailbridge.settings.config import _SECTIONS

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# `mailbridge ...` in a code span, or on a console line after the prompt.
_SPAN = re.compile(r"`(?:\.venv/bin/)?mailbridge ([^`]+)`")
_CONSOLE = re.compile(
    r"^\s*\$ (?:[A-Z_]+=\S+ )*(?:\.venv/bin/|docker compose exec \S+ )?mailbridge (.+)$"
)


def test_the_readme_settings_table_is_generated_from_the_model():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert reference.START in readme and reference.END in readme
    assert reference.replace_in(readme) == readme, (
        "README's settings table differs from the model: run scripts/settings_table.py --write"
    )


def test_every_setting_has_a_meaning_and_every_meaning_a_setting():
    keys = {f"{s}.{f.name}" for s, cls in _SECTIONS.items() for f in dataclasses.fields(cls)}
    assert set(reference.MEANINGS) == keys
    assert set(reference.DEFAULT_NOTES) <= keys and set(reference.ENV_NOTES) <= keys


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _invocations() -> list[tuple[str, str]]:
    found = []
    for path in DOCS:
        for line in path.read_text(encoding="utf-8").splitlines():
            for m in _SPAN.finditer(line):
                found.append((path.name, m.group(1)))
            console = _CONSOLE.match(line)
            if console:
                found.append((path.name, console.group(1)))
    return found


@functools.cache
def _parser() -> argparse.ArgumentParser:
    return build_parser()  # read only: one parser serves every invocation checked


def _check(words: str) -> list[str]:
    """What in one documented invocation the parser does not know."""
    parser = _parser()
    problems: list[str] = []
    tokens = re.split(r"\s+", re.sub(r"[\[\]{}()|]", " ", words).strip())
    skip_value = False
    for token in tokens:
        if token in ("<", ">", "2>&1", "&&", ";", "#", "...", "…") or token.startswith(("#", ">")):
            break
        if skip_value:
            skip_value = False
            continue
        if token.startswith("--"):
            name = token.split("=", 1)[0]
            action = parser._option_string_actions.get(name)
            if action is None:
                problems.append(f"{parser.prog}: no option {name}")
            elif action.nargs != 0 and "=" not in token:
                skip_value = True
            continue
        subs = _subparsers(parser)
        if subs:
            if token not in subs:
                if re.fullmatch(r"[a-z][a-z0-9-]*", token):
                    problems.append(f"{parser.prog}: no command {token!r}")
                break
            parser = subs[token]
    return problems


def test_every_documented_command_and_option_exists():
    invocations = _invocations()
    assert len(invocations) > 50  # the README and docs are full of them
    problems = [
        f"{doc}: `mailbridge {words}`: {p}" for doc, words in invocations for p in _check(words)
    ]
    assert problems == []


def test_the_checker_catches_what_does_not_exist():
    assert _check("messages --limit 5 --json") == []
    assert _check("messages --bogus") == ["mailbridge messages: no option --bogus"]
    assert _check("frobnicate now") == ["mailbridge: no command 'frobnicate'"]
    assert _check("--config x.toml directory import FILE.csv") == []


def _all_parsers() -> list[argparse.ArgumentParser]:
    out, todo = [], [build_parser()]
    while todo:
        parser = todo.pop()
        out.append(parser)
        todo.extend(_subparsers(parser).values())
    return out


@pytest.mark.parametrize("parser", _all_parsers(), ids=lambda p: p.prog)
def test_every_option_has_help(parser: argparse.ArgumentParser):
    missing = [
        "/".join(a.option_strings)
        for a in parser._actions
        if a.option_strings and not a.help and not isinstance(a, argparse._HelpAction)
    ]
    assert missing == [], f"{parser.prog}: options without help"
