"""`--help` says what each command does: every command and subcommand has a description (not
only its usage line), every argument has help, and `serve --help` names each part that
runtime/serve.py starts."""

from __future__ import annotations

import argparse
import inspect
import re

import pytest

from mailbridge.cli.root import build_parser
from mailbridge.runtime import serve as runtime_serve


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _all_parsers() -> list[argparse.ArgumentParser]:
    out, todo = [], [build_parser()]
    while todo:
        parser = todo.pop()
        out.append(parser)
        todo.extend(_subparsers(parser).values())
    return out


PARSERS = _all_parsers()


def test_the_tree_is_walked_whole():
    progs = {p.prog for p in PARSERS}
    assert len(PARSERS) > 45
    assert {"mailbridge serve", "mailbridge users totp", "mailbridge episode link"} <= progs


@pytest.mark.parametrize("parser", PARSERS, ids=lambda p: p.prog)
def test_every_command_has_a_description(parser: argparse.ArgumentParser):
    description = (parser.description or "").strip()
    assert description, f"{parser.prog} --help shows only its usage"
    assert len(description.split()) >= 4, f"{parser.prog}: {description!r} says too little"


@pytest.mark.parametrize("parser", PARSERS, ids=lambda p: p.prog)
def test_every_argument_has_help(parser: argparse.ArgumentParser):
    missing = [
        "/".join(a.option_strings) or a.dest
        for a in parser._actions
        if not a.help
        and not isinstance(
            a, argparse._HelpAction | argparse._VersionAction | argparse._SubParsersAction
        )
    ]
    assert missing == [], f"{parser.prog}: arguments without help"


# What serve's source starts -> the words `serve --help` must use for it. A part added to
# runtime/serve.serve() without a line here fails the test below: name it in the help too.
SERVE_PARTS = {
    "Listener": "SMTP listener",
    "start_watcher": "IMAP watcher",
    "start_graph_reader": "Graph reader",
    "make_workers": "workers",
    "worker_processes": "worker_processes",
    "sender.start": "sender",
    "start_scheduler": "timers",
    "start_http": "/metrics /healthz",
    "start_web": "web app",
}
SCHEDULER_PARTS = {
    "run_due": "escalations, reminders",
    "refusals.record": "SMTP refusal notice",
    "triage.summarise": "triage summaries",
    "retention.schedule": "purge",
    "send_digests": "digests",
}


def _started(source: str, known: dict[str, str]) -> set[str]:
    calls = set(re.findall(r"(?<!def )\b((?:[a-z_]+\.)?[A-Za-z_]+)\(", source))
    return {c for c in calls if c in known or c.startswith("start_")}


def test_serve_help_names_every_part_serve_starts():
    started = _started(inspect.getsource(runtime_serve.serve), SERVE_PARTS)
    assert started >= {"Listener", "start_watcher", "start_http", "start_web"}
    scheduled = _started(inspect.getsource(runtime_serve.start_scheduler), SCHEDULER_PARTS)
    assert scheduled >= {"retention.schedule", "triage.summarise"}
    unnamed = sorted((started - set(SERVE_PARTS)) | (scheduled - set(SCHEDULER_PARTS)))
    assert unnamed == [], "serve starts parts this test (and so perhaps the help) does not name"
    text = " ".join(_serve_help().split())
    missing = [
        words
        for call, words in {**SERVE_PARTS, **SCHEDULER_PARTS}.items()
        if call in started | scheduled and " ".join(words.split()) not in text
    ]
    assert missing == []


def _serve_help() -> str:
    return _subparsers(build_parser())["serve"].format_help()
