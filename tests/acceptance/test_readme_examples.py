"""Every ``console`` block of the README prints what the README shows.

The walkthrough's blocks (``## Walkthrough``) are run, in order and with its mail, by
test_readme_walkthrough.py. This test runs every other one: the directory's import errors and
``directory show``, the report form's ``inject``, and ``reprocess``. A README block that neither
test knows fails :func:`test_every_console_block_is_run`, so a new sample cannot go unchecked.

How it runs, as the README says: the files git tracks are copied to a temporary folder (a fresh
checkout); each command runs there with ``bash``, from the repository root, on the embedded
defaults (SQLite in ``var/``, alerts to ``var/outbox/``, no MAILBRIDGE_* variable), stdout and
stderr together. ``.venv/bin/mailbridge`` is a two-line stand-in for what ``scripts/serve``
installs (the walkthrough test runs the real install), running this checkout's code with this
interpreter. Before each block, ``var/`` is emptied and the block's setup makes what its prose
describes (the example directory imported, messages stored before); the files the commands
read are the ones the README names, shipped in docs/examples/ (a ``bad.csv`` with a bad date and
a bad address, a ``short.csv``, a ``report.eml`` with the form's MISSING part filled in, checked to
be the shipped form whole); the commands and the output are the README's.

The clock: each block runs under libfaketime from Thu 26 Nov 2026 09:25:00 UTC (in office
hours), the morning the samples show, and takes seconds, so dates and times compare exactly.
Nothing else is hidden beyond tests/support/readme.normalise (random ids and the like).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.support.readme import Block, Step, console_blocks, matches

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
WALKTHROUGH = "Walkthrough: a child goes missing and comes back"
FAKETIME_LIBS = (
    Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"),
    Path("/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1"),
)
WHEN = datetime(2026, 11, 26, 9, 25, tzinfo=UTC)


@dataclass
class Checkout:
    root: Path
    env: dict[str, str]

    def run(self, command: str) -> tuple[int, list[str]]:
        done = subprocess.run(
            ["bash", "-c", command], cwd=self.root, env=self.env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, timeout=300, check=False,
        )  # fmt: skip
        return done.returncode, done.stdout.decode("utf-8", "replace").splitlines()

    def setup(self, command: str) -> None:
        code, out = self.run(command)
        assert code == 0, f"setup `{command}` failed:\n" + "\n".join(out)

    def write(self, name: str, text: str) -> None:
        (self.root / name).write_text(text, encoding="utf-8")


def _git_files() -> list[str]:
    out = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=ROOT, capture_output=True, check=True,
    ).stdout  # fmt: skip
    return [f for f in out.decode().split("\0") if f and (ROOT / f).is_file()]


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Checkout:
    lib = next((p for p in FAKETIME_LIBS if p.exists()), None)
    if lib is None:
        pytest.skip("libfaketime is not installed (Debian package faketime; .ci/run installs it)")
    root = tmp_path_factory.mktemp("readme") / "mailbridge"
    for name in _git_files():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes((ROOT / name).read_bytes())
        target.chmod((ROOT / name).stat().st_mode)
    stand_in = root / ".venv" / "bin" / "mailbridge"
    stand_in.parent.mkdir(parents=True)
    stand_in.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m mailbridge "$@"\n')
    stand_in.chmod(0o755)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("MAILBRIDGE_") and k not in ("VIRTUAL_ENV", "PYTHONPATH")
    }
    env.update(
        PYTHONPATH=str(root),
        LD_PRELOAD=str(lib),
        FAKETIME_DONT_FAKE_MONOTONIC="1",
        TZ="UTC",
        PYTHONDONTWRITEBYTECODE="1",
    )
    return Checkout(root, env)


# -- what each block's prose describes -------------------------------------------------------

HEADER = (
    "child_id,first_name,last_name,date_of_birth,placement_name,carer_emails,social_worker_name,"
    "social_worker_email,iro_name,iro_email,team_manager_email,placement_type,locality\n"
)
STAFF = "Sam Patel,sam.patel@council.example"


def _directory(c: Checkout) -> None:
    c.setup(".venv/bin/mailbridge directory import tests/fixtures/directory.csv")


def _bad_csv(c: Checkout) -> None:
    """docs/examples/bad.csv follows the example directory: a bad date (line 2), a bad address
    (line 3), and a good new child at a known placement with no IRO on record (line 4)."""
    _directory(c)
    text = (c.root / "docs/examples/bad.csv").read_text(encoding="utf-8")
    assert text.startswith(HEADER) and "2012-02-30" in text and "not-an-address" in text


def _short_csv(c: Checkout) -> None:
    """docs/examples/short.csv: a header of two columns, one row."""
    assert (c.root / "docs/examples/short.csv").read_text(encoding="utf-8").count("\n") == 2


def _new_social_worker(c: Checkout) -> None:
    """The example directory, then again with Jordan's social worker changed."""
    _directory(c)
    text = (c.root / "tests/fixtures/directory.csv").read_text(encoding="utf-8")
    jordan = next(line for line in text.splitlines() if line.startswith("100231,"))
    c.write(
        "directory-new.csv",
        text.replace(jordan, jordan.replace(STAFF, "Priya Shah,priya.shah@council.example")),
    )
    c.setup(".venv/bin/mailbridge directory import directory-new.csv")


FILLED = {
    "Child ID:": "100231",
    "Child's name:": "Jordan Carter",
    "Date of birth:": "14/03/2011",
    "Placement:": "Oakview House",
    "Date and time last seen:": "26/11/2026 08:40",
    "Where last seen:": "the bus stop on Mill Lane",
    "Police informed:": "yes",
    "Risk level:": "High",
    "Reported by:": "Sue Carter",
    "Phone:": "07700 900123",
}


def form_report(form: str, message_id: str = "form-1") -> str:
    """The shipped form whole, its MISSING part filled in, sent from the home's address: what
    docs/examples/report.eml holds."""
    missing, sep, rest = form.partition("--- RETURN")
    filled = "\n".join(
        f"{line} {FILLED[line]}" if line in FILLED else line for line in missing.splitlines()
    )
    return (
        "From: Oakview House <oakview@homes.example>\nTo: missing@localhost\n"
        f"Subject: Missing child report\nMessage-ID: <{message_id}@homes.example>\n"
        "Date: Thu, 26 Nov 2026 09:20:00 +0000\nContent-Type: text/plain; charset=utf-8\n\n"
        + filled
        + "\n"
        + sep
        + rest
    )


def _form_report(c: Checkout, name: str, message_id: str) -> None:
    form = (c.root / "templates/carer-report-form.txt").read_text(encoding="utf-8")
    c.write(name, form_report(form, message_id))


def test_the_example_report_is_the_shipped_form_filled_in() -> None:
    """docs/examples/report.eml is the form as templates/ ships it today, whole."""
    form = (ROOT / "templates/carer-report-form.txt").read_text(encoding="utf-8")
    assert (ROOT / "docs/examples/report.eml").read_text(encoding="utf-8") == form_report(form)


def _report_eml(c: Checkout) -> None:
    _directory(c)


def _four_messages(c: Checkout) -> None:
    """Message 1 a report, 2 its duplicate, 3 another report, 4 an out-of-office reply."""
    _report_eml(c)
    c.setup(".venv/bin/mailbridge inject docs/examples/report.eml"
            " && .venv/bin/mailbridge inject docs/examples/report.eml")
    _form_report(c, "second.eml", "form-2")
    c.write(
        "ooo.eml",
        "From: Sam Patel <sam.patel@council.example>\nTo: missing@localhost\n"
        "Subject: Automatic reply: Missing child report\nMessage-ID: <ooo-1@council.example>\n"
        "Auto-Submitted: auto-replied\nDate: Thu, 26 Nov 2026 09:21:00 +0000\n\n"
        "I am out of the office until Monday.\n",
    )
    c.setup(".venv/bin/mailbridge inject second.eml && .venv/bin/mailbridge inject ooo.eml")


# The first command of each block -> what its prose says is there before it.
SETUPS: dict[str, Callable[[Checkout], None]] = {
    ".venv/bin/mailbridge directory import docs/examples/bad.csv": _bad_csv,
    ".venv/bin/mailbridge directory import docs/examples/short.csv": _short_csv,
    ".venv/bin/mailbridge directory show 100231": _new_social_worker,
    ".venv/bin/mailbridge inject docs/examples/report.eml": _report_eml,
    ".venv/bin/mailbridge reprocess 1": _four_messages,
}


def _blocks() -> list[Block]:
    return [b for b in console_blocks(README) if b.heading != WALKTHROUGH]


def test_every_console_block_is_run() -> None:
    blocks = console_blocks(README)
    walkthrough = [b for b in blocks if b.heading == WALKTHROUGH]
    assert len(walkthrough) > 10  # run by test_readme_walkthrough.py
    others = _blocks()
    unknown = [
        f"README line {b.line}: $ {b.steps[0].text}"
        for b in others
        if b.steps[0].text not in SETUPS
    ]
    assert unknown == [], "a README console block no test runs: add its setup to SETUPS"
    assert len(others) == len(SETUPS)


def _refused(expected: list[str]) -> bool:
    """A block whose output says the command fails (exit non-zero)."""
    return any("error:" in e or e.startswith("line ") for e in expected)


@pytest.mark.parametrize("block", _blocks(), ids=lambda b: f"line{b.line}")
def test_the_block_prints_what_the_readme_shows(checkout: Checkout, block: Block) -> None:
    for leftover in ("var", "second.eml", "ooo.eml", "directory-new.csv"):
        path = checkout.root / leftover
        if path.is_dir():
            subprocess.run(["rm", "-rf", str(path)], check=True)
        elif path.exists():
            path.unlink()
    # The clock runs from 09:25:00 for this block (a few seconds): later steps are later.
    checkout.env["FAKETIME"] = f"{int(WHEN.timestamp() - time.time()):+d}s"
    SETUPS[block.steps[0].text](checkout)
    failures = []
    for step in block.steps:
        failures.extend(_run(checkout, step))
    assert failures == [], "\n\n".join(failures)


def _run(c: Checkout, step: Step) -> list[str]:
    code, out = c.run(step.text)
    problems = []
    if (code != 0) != _refused(step.expected):
        problems.append(f"exit {code}")
    if not matches(step.expected, out):
        problems.append(
            "--- README shows\n"
            + "\n".join(step.expected)
            + "\n--- the run printed\n"
            + "\n".join(out)
        )
    return [f"README line {step.line}: $ {step.text}\n" + "\n".join(problems)] if problems else []


def test_the_front_door_scripts_are_there() -> None:
    """The README's two commands on a fresh machine (scripts/serve is run by the walkthrough
    test, scripts/test by CI)."""
    text = README.read_text(encoding="utf-8")
    assert "scripts/serve    #" in text and "scripts/test     #" in text
    for script in ("scripts/serve", "scripts/test"):
        assert os.access(ROOT / script, os.X_OK), script
