"""One email about several children: who is named, and what the email says about each.

A night-staff handover ("Callum is back ... Jasmine is still out ... Connor settled") or siblings
("Sam and Ellie are not back") is several reports in one message. Each child named and matched
gets their own reading: the clauses that name the child, and the clauses after them until
another child is named ("Jasmine is still out. Last seen at the park at 20:30" is Jasmine's).
Clauses before any name ("Night handover, staff on: Lee") belong to every child named.

A child is "named" by a full name (or known-as name and surname) anywhere, by initials with
the date of birth, or by a first or known-as name when the sender is a carer at the child's
placement (the same trust as single-child matching in match.py). Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from zoneinfo import ZoneInfo

from mailbridge.reading.classify import Classification, classify
from mailbridge.reading.context import clauses
from mailbridge.reading.fields import ReportFields, extract_fields
from mailbridge.reading.match import (
    DirectoryChild,
    fold,
    full_names,
    given_names,
    initials_with_dob,
)
from mailbridge.reading.message import ReadMessage

__all__ = ["ChildReading", "children_named", "read_each_child", "split_by_child"]

REPORT_KINDS = ("missing", "returned", "info")
# facts about the whole message that a child's own clauses may not repeat
_SHARED = ("police_reference", "reporter_name", "reporter_phone", "placement")


@dataclass(frozen=True)
class ChildReading:
    """What one message says about one child."""

    child_id: str
    text: str
    fields: ReportFields
    classification: Classification


def _spans(haystack: str, name: str) -> list[tuple[int, int]]:
    """Where the folded ``name`` occurs as whole words in folded ``haystack``."""
    return [m.span() for m in re.finditer(rf"(?<!\w){re.escape(name)}(?!\w)", haystack)]


def _mentions(
    haystack: str, children: Sequence[DirectoryChild], address: str
) -> dict[str, int]:
    """{child_id: first position} of the children ``haystack`` (folded) names.

    A full name (or known-as name with the surname) counts anywhere; a first or known-as name
    alone counts when the sender is a carer of the child's placement, and only where it is not
    part of another child's full name: "Oliver Turner" at a home with two Olivers names one.
    """
    full: dict[str, list[tuple[int, int]]] = {}
    for c in children:
        spans = [sp for n in full_names(c) for sp in _spans(haystack, n)]
        if spans:
            full[c.child_id] = spans
    found = {cid: min(s for s, _e in spans) for cid, spans in full.items()}
    for c in children:
        if c.child_id in found or not address or address not in {
                a.lower() for a in c.carer_emails}:
            continue
        others = [sp for cid, spans in full.items() if cid != c.child_id for sp in spans]
        alone = [s for n in given_names(c) for s, e in _spans(haystack, n)
                 if not any(os <= s and e <= oe for os, oe in others)]
        if alone:
            found[c.child_id] = min(alone)
    return found


def children_named(
    subject: str,
    text: str,
    fields: ReportFields,
    sender: str | None,
    children: Sequence[DirectoryChild],
) -> list[DirectoryChild]:
    """The directory children the message names, in order of first mention."""
    folded = fold(f"{subject}\n{text}")
    by_id = {c.child_id: c for c in children}
    found = _mentions(folded, children, (sender or "").lower())
    for c in initials_with_dob(f"{subject}\n{text}", fields.date_of_birth, children):
        found.setdefault(c.child_id, len(folded))
    return [by_id[cid] for cid, _pos in sorted(found.items(), key=lambda f: (f[1], f[0]))]


def split_by_child(
    text: str, named: Sequence[DirectoryChild], sender: str | None
) -> dict[str, str]:
    """{child_id: the clauses about that child}, joined by new lines."""
    address = (sender or "").lower()
    parts: dict[str, list[str]] = {c.child_id: [] for c in named}
    current: list[str] = []
    preamble: list[str] = []
    for clause in clauses(text):
        here = list(_mentions(fold(clause.text), named, address))
        if re.search(r"\b(?:both|all\s+(?:three|of\s+them|the\s+children)|neither|none\s+of)\b",
                     clause.text, re.IGNORECASE) and not here and len(current) < 2:
            here = list(parts)  # "both of them": the children last named together, else all
        if here:
            current = here
        if not current:
            preamble.append(clause.text)
            continue
        for cid in current:
            parts[cid].append(clause.text)
    return {cid: "\n".join([*preamble, *lines]) for cid, lines in parts.items()}


def read_each_child(
    msg: ReadMessage,
    whole: ReportFields,
    *,
    sender: str | None,
    children: Sequence[DirectoryChild],
    tz: ZoneInfo,
    received_at: datetime,
) -> list[ChildReading] | None:
    """A reading per child when the message names two or more; None for a one-child message.

    Only children the message reports on (missing, returned, or report facts) are returned;
    "Connor settled, no issues" in a handover names Connor but reports nothing about him.
    """
    try:
        named = children_named(msg.subject, msg.text, whole, sender, children)
        if len(named) < 2:
            return None
        texts = split_by_child(msg.text, named, sender)
        out: list[ChildReading] = []
        for child in named:
            in_subject = _mentions(fold(msg.subject), named, (sender or "").lower())
            subject = msg.subject if not in_subject or child.child_id in in_subject else ""
            own = replace(msg, text=texts[child.child_id], subject=subject)
            fields = extract_fields(own, tz=tz, received_at=received_at)
            cls = classify(own, fields)
            if cls.kind not in REPORT_KINDS or (cls.kind == "info"
                                                and not fields.has_report_facts()):
                continue  # named, but nothing reported about this child
            shared = {n: getattr(whole, n) for n in _SHARED
                      if getattr(fields, n) is None and getattr(whole, n) is not None}
            fields = replace(fields, child_id=child.child_id, **shared)
            out.append(ChildReading(child.child_id, own.text, fields, cls))
        return out
    except Exception:  # a reader must never raise: fall back to the one-child path
        return None
