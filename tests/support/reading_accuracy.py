"""Score the reading core against tests/fixtures/reports (not a test module; run it directly).

Each NAME.eml has NAME.expected.json: ``kind``, ``category``, ``fields`` (the ReportFields that
matter for that case, dates as ISO strings), optional ``message`` checks, optional
``received_at`` and ``known_misses`` (fields we know we get wrong; still scored as wrong), and
optional ``needs_confirmation`` (true/false: whether reading raised a doubt, in the fields or the
classification, that flags the episode for confirmation).

    .venv/bin/python -m tests.support.reading_accuracy   # the accuracy table of docs/reading.md
    ... --batch 5            # one held-out batch only
    ... --batch 5 --no-misses  # its table only: score a held-out batch without reading its misses
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from mailbridge.directory import csv_file
from mailbridge.directory import records as directory
from mailbridge.reading import classify, extract_fields, read_message
from mailbridge.reading.children import ChildReading, read_each_child
from mailbridge.reading.match import match_child
from mailbridge.reading.message import ReadMessage

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "reports"
# The children the corpus reports are about (siblings, known-as names, shared placements).
DIRECTORY = Path(__file__).resolve().parents[1] / "fixtures" / "reports-directory.csv"
LONDON = ZoneInfo("Europe/London")


@dataclass
class Check:
    """One expected value compared with what was read."""

    name: str
    expected: Any
    actual: Any

    @property
    def ok(self) -> bool:
        if self.name == "kind" and self.expected == "not_a_report":
            # Machine mail (an out-of-office, a bounce, a list) is not a report either: the
            # reader names which machine it was, and intake ignores it with that reason.
            return self.actual in ("not_a_report", *MACHINE_KINDS)
        if (self.name == "reporter_name" and isinstance(self.expected, str)
                and isinstance(self.actual, str) and " " not in self.expected.strip()
                and self.actual.split()[:1] == [self.expected.strip()]):
            # signed "Pat", read "Pat Owens" from the sender's own From header: the same person,
            # named more fully (a different first name is still a miss)
            return True
        return bool(_instant(self.expected) == _instant(self.actual))


REPORT_KINDS = ("missing", "returned", "info")
# What only a return says: in an email about several children, the returned child's own.
_RETURN_FACTS = ("returned_at", "returned_by", "safe_and_well")

# Kinds the reader gives mail that no person wrote as a report (reading/classify.py).
MACHINE_KINDS = ("auto_reply", "bounce", "list")


def _instant(value: Any) -> Any:
    """A time with a UTC offset as the moment it names: 22:50+01:00 is 21:50+00:00, so an
    expectation written in local time scores the same as one written in UTC."""
    if isinstance(value, str) and len(value) >= 19 and value[10:11] == "T":
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return value
        return moment.astimezone(UTC) if moment.tzinfo is not None else value
    return value


@dataclass
class Result:
    """Every check for one fixture."""

    name: str
    category: str
    checks: list[Check] = field(default_factory=list)
    known_misses: list[str] = field(default_factory=list)
    # 0: written while the rules changed; 1, 2...: the batch of held-out reports, each written
    # and scored before the rules were changed for it
    held_out: int = 0

    @property
    def unsafe(self) -> int:
        """Checks where a child still missing was read as returned (that stops a search)."""
        bad = 0
        for c in self.checks:
            if c.name == "kind" and c.expected in ("missing", "info") and c.actual == "returned":
                bad += 1
            if c.name.startswith("child ") and c.expected == "missing" and c.actual == "returned":
                bad += 1
        return bad


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


_CHILDREN: list[directory.ChildRecord] = []


def corpus_children() -> list[directory.ChildRecord]:
    """The corpus directory as matching sees it (parsed once)."""
    if not _CHILDREN:
        parsed = csv_file.read_directory_file(DIRECTORY)
        _CHILDREN.extend(
            directory.ChildRecord(r.child_id, r.first_name, r.last_name, r.date_of_birth,
                                  r.placement_name, r.placement_type, r.carer_emails,
                                  dict(r.attributes))
            for r in parsed.rows
        )
    return _CHILDREN


def _children_read(msg: ReadMessage, fields: Any, kind: str,
                   each: list[ChildReading] | None) -> dict[str, str]:
    """{child_id or "?": kind} for each child the message reports on."""
    if each:  # as processing does: no child reported on among several is the one-child path
        return {r.child_id: r.classification.kind for r in each}
    if kind not in ("missing", "returned", "info"):
        return {}
    m = match_child(subject=msg.subject, text=msg.text, fields=fields, sender=msg.from_addr,
                    children=corpus_children(), forwarded_from=msg.forwarded_from)
    return {m.child_id or "?": kind}


def score(path: Path) -> Result:
    """Read one fixture and compare it with its expected JSON."""
    spec = json.loads(path.with_suffix(".expected.json").read_text(encoding="utf-8"))
    msg = read_message(path.read_bytes())
    received = received_for(msg, spec)
    fields = extract_fields(msg, tz=LONDON, received_at=received)
    classification = classify(msg, fields)
    kind = classification.kind
    result = Result(path.stem, spec.get("category", "other"),
                    known_misses=list(spec.get("known_misses", [])),
                    held_out=int(spec.get("held_out") or 0))
    result.checks.append(Check("kind", spec["kind"], kind))
    # An email about several children is recorded child by child (processing narrows the
    # reading to each): the return facts are those of the one child who came back, and the
    # flag is raised when any child's own reading has a doubt, as the episodes would show.
    each = read_each_child(msg, fields, sender=msg.from_addr, children=corpus_children(),
                           tz=LONDON, received_at=received)
    back = [r for r in each or [] if r.classification.kind == "returned"]
    for name, expected in spec.get("fields", {}).items():
        source = back[0].fields if len(back) == 1 and name in _RETURN_FACTS else fields
        result.checks.append(Check(name, expected, _plain(getattr(source, name, "<not read>"))))
    result.checks.extend(_message_checks(msg, spec.get("message", {})))
    if "needs_confirmation" in spec:
        # a message that is no report opens nothing, so nothing is flagged
        doubted = (any(r.fields.doubts or r.classification.doubts for r in each) if each
                   else bool(fields.doubts or classification.doubts)) and kind in REPORT_KINDS
        result.checks.append(Check("needs_confirmation", spec["needs_confirmation"], doubted))
    if "children" in spec:
        got = _children_read(msg, fields, kind, each)
        want = {c["child_id"]: c["kind"] for c in spec["children"]}
        for cid, k in want.items():
            result.checks.append(Check(f"child {cid}", k, got.pop(cid, None)))
        for cid, k in got.items():  # a child reported that the message is not about
            result.checks.append(Check(f"child {cid}", None, k))
    return result


def all_results() -> list[Result]:
    """Score every fixture, in name order."""
    return [score(p) for p in sorted(FIXTURES.glob("*.eml"))]


def table(results: list[Result]) -> str:
    """A Markdown accuracy table per category: facts right (fields, kinds, per-child kinds),
    and the unsafe errors (a missing child read as returned)."""
    per: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0, 0])
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
        row[5] += r.unsafe
    lines = ["| category | fixtures | fields right / total | kind right / total | unsafe |",
             "|---|---|---|---|---|"]
    tot = [0, 0, 0, 0, 0, 0]
    for cat in sorted(per):
        n, fr, ft, kr, kt, bad = per[cat]
        lines.append(f"| {cat} | {n} | {fr} / {ft} | {kr} / {kt} | {bad} |")
        tot = [a + b for a, b in zip(tot, per[cat], strict=True)]
    facts_right, facts = tot[1] + tot[3], tot[2] + tot[4]
    lines.append(f"| **all** | {tot[0]} | {tot[1]} / {tot[2]} | {tot[3]} / {tot[4]} | {tot[5]} |")
    lines.append("")
    lines.append(f"Facts right: {facts_right} / {facts} "
                 f"({100 * facts_right / max(facts, 1):.1f}%), unsafe errors: {tot[5]}")
    return "\n".join(lines)


def main() -> None:
    """Print the table (all fixtures, then the held-out subset) and every miss."""
    import sys

    results = all_results()
    if "--corpus13" in sys.argv:
        results = [r for r in results if r.name.startswith("c13_")]
    if "--batch" in sys.argv:
        wanted = int(sys.argv[sys.argv.index("--batch") + 1])
        results = [r for r in results if r.held_out == wanted]
    print(table(results))
    for batch in sorted({r.held_out for r in results} - {0}):
        print(f"\nHeld-out batch {batch}:\n")
        print(table([r for r in results if r.held_out == batch]))
    if "--no-misses" in sys.argv:
        return
    for r in results:
        for c in r.checks:
            if not c.ok:
                known = " (known miss)" if c.name in r.known_misses else ""
                print(f"MISS {r.name}: {c.name}: expected {c.expected!r}, got {c.actual!r}{known}")


if __name__ == "__main__":
    main()
