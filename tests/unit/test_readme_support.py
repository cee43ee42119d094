"""The README walkthrough reader (tests/support/readme.py) can tell a match from a mismatch."""

from __future__ import annotations

from pathlib import Path

from tests.support.readme import matches, normalise, patch_script, walkthrough

ROOT = Path(__file__).resolve().parents[2]


def test_only_the_runs_own_clock_and_random_ids_are_hidden() -> None:
    assert normalise("opened 2026-11-26T10:07  last seen 2026-11-25T19:00") == (
        "opened 2026-11-26T10:MM  last seen 2026-11-25T19:00"
    )
    assert normalise("2026-11-26T10:41:13.847484+00:00") == "2026-11-26T10:MM+00:00"
    assert normalise("returned:    2026-11-26T08:15:00+00:00").endswith("T08:15:00+00:00")
    assert normalise("<mb.7d38ae2494eb4c1cb0bf5a0baa08b0ff@localhost>") == "<mb.ID@localhost>"
    assert normalise("missing+a1.mb-2026-00001.sw.7xcg4kdtqoaxd7hp@localhost") == (
        "missing+a1.mb-2026-00001.sw.SIG@localhost"
    )
    assert normalise("listener: 127.0.0.1:8025 for x") == "listener: 127.0.0.1:8025 for x"


def test_ellipsis_lines_stand_for_any_lines_and_nothing_else_differs() -> None:
    assert matches(["a", "...", "d"], ["a", "b", "c", "d"])
    assert matches(["a", "...", "d"], ["a", "d"])
    assert not matches(["a", "...", "d"], ["a", "b", "c"])
    assert not matches(["last seen 2026-11-25T19:00"], ["last seen 2026-11-25T18:00"])
    assert not matches(["1 message(s)"], ["1 message(s)", "an extra line"])


def test_a_changed_script_replaces_its_headers_and_body() -> None:
    script = (
        'msg["Subject"] = "Missing"\nmsg["Message-ID"] = "<1@x>"\n'
        'msg.set_content(\n    "gone\\n"\n)\nsend(msg)\n'
    )
    patched = patch_script(
        script, 'msg["Message-ID"] = "<2@x>"\nmsg["In-Reply-To"] = "<1@x>"\n'
        'msg.set_content(\n    "back\\n"\n)\n',
    )
    assert patched == (
        'msg["Subject"] = "Missing"\nmsg["Message-ID"] = "<2@x>"\n'
        'msg["In-Reply-To"] = "<1@x>"\nmsg.set_content(\n    "back\\n"\n)\nsend(msg)\n'
    )


def test_the_readme_walkthrough_has_commands_scripts_and_a_changed_script() -> None:
    steps = walkthrough(ROOT / "README.md")
    kinds = {s.kind for s in steps}
    assert kinds == {"command", "script", "patch"}
    assert steps[0].text == "scripts/serve"
    # "Run the same script a second time": the first script runs twice.
    assert steps[3].kind == steps[4].kind == "script" and steps[3].text == steps[4].text
