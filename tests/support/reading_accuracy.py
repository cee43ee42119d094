"""Score the reading core against tests/fixtures/reports (not a test module; run it directly).

Each NAME.eml has NAME.expected.json: ``kind``, ``category``, ``fields`` (the ReportFields that
matter for that case, dates as ISO strings), optional ``message`` checks, optional
``received_at`` and ``known_misses`` (fields we know we get wrong; still scored as wrong).

    .venv/bin/python -m tests.support.reading_accuracy   # the accuracy table of docs/reading.md
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from mailbridge.reading import classify, extract_fields, read_message
from mailbridge.reading.message import ReadMessage

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "reports"
LONDON = ZoneInfo("Europe/London")


@dataclass
class Check:
    """One expected value compared with what was read."""

    name: str
    expected: Any
    actual: Any

    @property
    def ok(self) -> bool:
        return bool(self.expected == self.actual)


@dataclass
class Result:
    """Every check for one fixture."""

    name: str
    category: str
    checks: list[Check] = field(default_factory=list)
    known_misses: list[str] = field(default_factory=list)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _message_checks(msg: ReadMessage, spec: dict[str, Any]) -> list[Check]:
    checks: list[Check] = []
    for key, expected in spec.items():
        if key == "text_contains":
            for s in expected:
                checks.append(Check(f"text contains {s!r}", True, s in msg.text))
        elif key == "text_not_contains":
            for s in expected:
                checks.append(Check(f"text lacks {s!r}", True, s not in msg.text))
        elif key == "attachment_names":
            checks.append(Check(key, expected, [a.name for a in msg.attachments]))
        elif key == "attachment_sizes":
            checks.append(Check(key, expected, [a.size for a in msg.attachments]))
        else:
            checks.append(Check(f"message.{key}", expected, getattr(msg, key)))
    return checks


def received_for(msg: ReadMessage, spec: dict[str, Any]) -> datetime:
    """The receipt time a fixture is read against: given, else two minutes after its Date."""
    if "received_at" in spec:
        return datetime.fromisoformat(spec["received_at"])
    assert msg.date is not None, "fixture needs a Date header or received_at"
    return msg.date + timedelta(minutes=2)


def score(path: Path) -> Result:
    """Read one fixture and compare it with its expected JSON."""
    spec = json.loads(path.with_suffix(".expected.json").read_text(encoding="utf-8"))
    msg = read_message(path.read_bytes())
    fields = extract_fields(msg, tz=LONDON, received_at=received_for(msg, spec))
    kind = classify(msg, fields).kind
    result = Result(path.stem, spec.get("category", "other"),
                    known_misses=list(spec.get("known_misses", [])))
    result.checks.append(Check("kind", spec["kind"], kind))
    for name, expected in spec.get("fields", {}).items():
        result.checks.append(Check(name, expected, _plain(getattr(fields, name))))
    result.checks.extend(_message_checks(msg, spec.get("message", {})))
    return result


def all_results() -> list[Result]:
    """Score every fixture, in name order."""
    return [score(p) for p in sorted(FIXTURES.glob("*.eml"))]


def table(results: list[Result]) -> str:
    """A Markdown accuracy table: checks right / total per category, and kinds right."""
    per: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    for r in results:
        row = per[r.category]
        row[0] += 1
        for c in r.checks:
            if c.name == "kind":
                row[3] += c.ok
                row[4] += 1
            else:
                row[1] += c.ok
                row[2] += 1
    lines = ["| category | fixtures | fields right / total | kind right / total |",
             "|---|---|---|---|"]
    tot = [0, 0, 0, 0, 0]
    for cat in sorted(per):
        n, fr, ft, kr, kt = per[cat]
        lines.append(f"| {cat} | {n} | {fr} / {ft} | {kr} / {kt} |")
        tot = [a + b for a, b in zip(tot, per[cat], strict=True)]
    lines.append(f"| **all** | {tot[0]} | {tot[1]} / {tot[2]} | {tot[3]} / {tot[4]} |")
    return "\n".join(lines)


def main() -> None:
    """Print the table and every miss."""
    results = all_results()
    print(table(results))
    for r in results:
        for c in r.checks:
            if not c.ok:
                known = " (known miss)" if c.name in r.known_misses else ""
                print(f"MISS {r.name}: {c.name}: expected {c.expected!r}, got {c.actual!r}{known}")


if __name__ == "__main__":
    main()
