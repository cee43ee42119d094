"""The shipped carer form, filled in as a carer does it (issue 13 tests)."""

from __future__ import annotations

from pathlib import Path

FORM = Path(__file__).resolve().parents[2] / "templates" / "carer-report-form.txt"


def filled(part: str, answers: dict[str, str], text: str) -> str:
    """``text`` with the labels of one part (MISSING or RETURN) answered; the rest as shipped."""
    out, inside = [], False
    for line in text.splitlines():
        if line.startswith("--- "):
            inside = line.startswith(f"--- {part}")
        key = line.strip()
        out.append(f"{key} {answers[key]}" if inside and key in answers else line)
    return "\n".join(out) + "\n"
