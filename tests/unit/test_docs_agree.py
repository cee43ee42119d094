"""What the user-facing docs say agrees with the code: the alert lease, the shipped example
config, and no pointer to files or issues a council does not have.

User-facing: README.md, docs/*.md (docs/architecture.md is for developers), the --help text of
every command, config/mailbridge.toml and templates/.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import tomllib
from pathlib import Path

from mailbridge.cli.root import build_parser
from mailbridge.delivery.sender import COMMANDS_PER_ALERT, alert_lease
from mailbridge.settings.config import _SECTIONS
from mailbridge.settings.sections import RelaySettings

ROOT = Path(__file__).resolve().parents[2]
DOCS = [
    ROOT / "README.md",
    *sorted(p for p in (ROOT / "docs").glob("*.md") if p.name != "architecture.md"),
]
CONFIG = ROOT / "config" / "mailbridge.toml"


def _all_parsers() -> list[argparse.ArgumentParser]:
    out, todo = [], [build_parser()]
    while todo:
        parser = todo.pop()
        out.append(parser)
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                todo.extend(action.choices.values())
    return out


def _help_texts() -> dict[str, str]:
    return {p.prog: p.format_help() for p in _all_parsers()}


def _user_facing() -> dict[str, str]:
    texts = {str(p.relative_to(ROOT)): p.read_text(encoding="utf-8") for p in DOCS}
    texts[str(CONFIG.relative_to(ROOT))] = CONFIG.read_text(encoding="utf-8")
    for path in sorted((ROOT / "templates").rglob("*")):
        if path.is_file():
            texts[str(path.relative_to(ROOT))] = path.read_text(encoding="utf-8")
    texts.update({f"{prog} --help": text for prog, text in _help_texts().items()})
    return texts


def _paragraphs(text: str) -> list[str]:
    """Paragraphs, list items and table rows, each joined into one line."""
    out: list[str] = []
    for block in re.split(r"\n\s*\n", text):
        current: list[str] = []
        for line in block.splitlines():
            stripped = line.strip().lstrip("#").strip()
            if line.lstrip().startswith(("|", "- ", "* ")) and current:
                out.append(" ".join(current))
                current = []
            current.append(stripped)
        if current:
            out.append(" ".join(current))
    return out


# -- the alert lease -----------------------------------------------------------------------

_NUMBER = {"two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "one": 1}


def _lease_claims() -> list[tuple[str, str]]:
    """Every paragraph of the user-facing text that speaks of the alert lease."""
    found = []
    for name, text in _user_facing().items():
        for para in _paragraphs(text):
            timeout = "lease" in para.lower() and "relay.timeout_seconds" in para
            if timeout or re.search(
                r"alert lease|alerts? (?:it|they) had claimed|alert is leased for", para
            ):
                found.append((name, para))
    return found


_FACTOR = re.compile(
    r"(\d+) ?[×x] ?(?:`?relay\.timeout_seconds|this\b)|relay\.timeout_seconds`? ?[×x] ?(\d+)"
)


def _lease_problems(para: str) -> list[str]:
    expected_minutes = alert_lease(RelaySettings().timeout_seconds).total_seconds() / 60
    problems = []
    for m in _FACTOR.finditer(para):
        factor = int(m.group(1) or m.group(2))
        if factor != COMMANDS_PER_ALERT:
            problems.append(f"{factor} × relay.timeout_seconds (the code: {COMMANDS_PER_ALERT} ×)")
    for m in re.finditer(r"\b(\d+|one|two|three|four|five|six) min(?:ute)?s? by default", para):
        minutes = _NUMBER.get(m.group(1)) or int(m.group(1))
        if minutes != expected_minutes:
            problems.append(f"{m.group(0)} (the code: {expected_minutes:g} minutes)")
    return problems


def test_the_alert_lease_is_the_same_everywhere_and_is_the_codes():
    assert alert_lease(RelaySettings().timeout_seconds).total_seconds() == 180
    claims = _lease_claims()
    # README (twice and in the settings table), docs/alerts.md, faults.md, multi-instance.md
    # and the example config all give it.
    assert {n for n, _ in claims} >= {
        "README.md",
        "docs/alerts.md",
        "docs/faults.md",
        "docs/multi-instance.md",
        "config/mailbridge.toml",
    }
    assert len([p for _, p in claims if _FACTOR.search(p)]) >= 7
    problems = [
        f"{name}: {p}: {para[:120]}" for name, para in claims for p in _lease_problems(para)
    ]
    assert problems == []


def test_the_lease_check_catches_a_wrong_figure():
    assert _lease_problems("leased for 4 × `relay.timeout_seconds` (2 minutes by default)") == [
        f"4 × relay.timeout_seconds (the code: {COMMANDS_PER_ALERT} ×)",
        "2 minutes by default (the code: 3 minutes)",
    ]
    assert _lease_problems("`relay.timeout_seconds × 6`, three minutes by default") == []
    assert _lease_problems("A claimed alert is leased for 4 × this") == [
        f"4 × relay.timeout_seconds (the code: {COMMANDS_PER_ALERT} ×)"
    ]


# -- no pointer to what a council does not have ----------------------------------------------

# "issue 16", "(issue #18)", "the issue-13 corpus", "DESIGN.md", "DESIGN invariant 1"; a link's
# target (an anchor in bench/RESULTS.md) is not read.
_INTERNAL = re.compile(r"\bissues? ?[-#]? ?\d+|\bDESIGN(?:\.md\b| invariant)", re.IGNORECASE)
_LINK_TARGET = re.compile(r"\]\([^)]*\)")


def _internal_references(text: str) -> list[str]:
    return [m.group(0) for m in _INTERNAL.finditer(_LINK_TARGET.sub("]()", text))]


def test_no_user_facing_text_names_an_issue_or_design_md():
    texts = _user_facing()
    assert "README.md" in texts and "mailbridge serve --help" in texts
    assert any(n.startswith("templates/alerts/") for n in texts)
    found = [
        f"{name}: {ref!r}" for name, text in texts.items() for ref in _internal_references(text)
    ]
    assert found == []


def test_the_internal_reference_check_catches_them():
    assert _internal_references(
        "see DESIGN.md; (issue 16) in the web app; the issue-13 corpus; Issue #18; "
        "DESIGN invariant 1; [x](../bench/RESULTS.md#rollups-issue-18); an issue with mail"
    ) == ["DESIGN.md", "issue 16", "issue-13", "Issue #18", "DESIGN invariant"]


# -- the shipped example config ------------------------------------------------------------


def _model_defaults() -> dict[str, object]:
    out: dict[str, object] = {}
    for section, cls in _SECTIONS.items():
        for f in dataclasses.fields(cls):
            if f.default is not dataclasses.MISSING:
                value = f.default
            else:
                assert f.default_factory is not dataclasses.MISSING
                value = f.default_factory()
            out[f"{section}.{f.name}"] = list(value) if isinstance(value, tuple) else value
    return out


def _config_keys(text: str) -> dict[str, object]:
    """Every key the example gives, set or commented out ("# key = value"), with its value."""
    found: dict[str, object] = {}
    section = ""
    for line in text.splitlines():
        if m := re.fullmatch(r"\[(\w+)\]\s*", line):
            section = m.group(1)
        elif m := re.fullmatch(r"#? ?(\w+) = (.+)", line):
            try:
                found[f"{section}.{m.group(1)}"] = tomllib.loads(line.lstrip("# "))[m.group(1)]
            except tomllib.TOMLDecodeError:
                continue  # prose that happens to contain " = "
    return found


def test_the_example_config_lists_every_setting_with_its_default():
    text = CONFIG.read_text(encoding="utf-8")
    listed = _config_keys(text)
    defaults = _model_defaults()
    assert sorted(set(defaults) - set(listed)) == [], "settings missing from the example"
    assert sorted(set(listed) - set(defaults)) == [], "keys the model does not have"
    wrong = {k: (v, defaults[k]) for k, v in listed.items() if v != defaults[k]}
    assert wrong == {}, "example value != built-in default (the header says they are the same)"
    tomllib.loads(text)  # and it parses


def test_the_config_check_sees_a_missing_or_commented_key():
    keys = _config_keys('[relay]\n# a comment = not a key\nurl = ""\n# batch_size = 50\n')
    assert keys == {"relay.url": "", "relay.batch_size": 50}
