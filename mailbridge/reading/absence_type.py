"""The SSDA903 code asked for (M missing, A away from placement), read only from a form line or
a phrase about the classification itself.

A wrong flip changes the national return, so a stray "away" or "absent", a negated phrase, or
a message asking for both codes says nothing.
"""

from __future__ import annotations

import re
from typing import Literal

from mailbridge.reading.form import (
    field_of_line,
)
from mailbridge.reading.phrases import MAX_SCAN

AbsenceType = Literal["M", "A"]

# ---------------------------------------------------------------------------------------------
# absence type (SSDA903 M / A)
#
# Staff and carers reclassify an episode in words. A wrong flip changes the national return, so
# only a form line ("Absence type: A") or a phrase that is about the classification itself counts
# ("reclassify as missing", "away from placement, not missing"); "he is away at his nan's" or
# "missing" alone never do. A message that asks for both, or negates the phrase, says nothing.

_ABS_A = r"(?:away(?:\s+from\s+(?:the\s+|his\s+|her\s+|their\s+)?placement)?|absen(?:t|ce))"
_ABS_AWAY = r"(?:away\s+from\s+(?:the\s+|his\s+|her\s+|their\s+)?placement|absen(?:t|ce))"
_ABS_WHO = r"(?:it|this|that|the\s+episode|this\s+episode|him|her|them|(?-i:[A-Z][a-z]+))\s+"
# "reclassify" and "classify" are about the record whatever follows; "record", "change" and
# "amend" are everyday words ("school recorded him as absent"), so with them only "an absence"
# or "away (from placement)" count, and only for A.
_ABS_STRONG = r"(?:re-?classif(?:y|ied|ying|ication)|classif(?:y|ied|ying|ication))"
_ABS_WEAK = r"(?:record(?:ed)?|chang(?:e|ed)|amend(?:ed)?)"


def _abs_rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


_ABSENCE_PHRASES: tuple[tuple[AbsenceType, re.Pattern[str]], ...] = (
    # "reclassify as away", "classified as an absence", "reclassify this as missing"
    ("A", _abs_rx(rf"\b{_ABS_STRONG}\s+(?:{_ABS_WHO})?(?:as|to)\s+(?:an?\s+)?{_ABS_A}\b")),
    ("M", _abs_rx(rf"\b{_ABS_STRONG}\s+(?:{_ABS_WHO})?(?:as|to)\s+(?:a\s+)?missing\b")),
    # "please record this as an absence", "change it to away from placement"
    ("A", _abs_rx(rf"\b{_ABS_WEAK}\s+(?:{_ABS_WHO})?(?:as|to)\s+(?:an\s+absence|away)\b")),
    # "this was an absence", "this is away from placement"
    ("A", _abs_rx(rf"\bthis\s+(?:was|is)\s+(?:an?\s+)?(?:absence|{_ABS_AWAY})\b")),
    # "away from placement, not missing", "absent rather than missing", "not missing but absent"
    ("A", _abs_rx(rf"\b{_ABS_AWAY}\s*[,;/–-]?\s*(?:and\s+|but\s+)?(?:not|rather\s+than)\s+"
                  r"(?:a\s+)?missing\b")),
    ("A", _abs_rx(rf"\bnot\s+(?:a\s+)?missing\s*[,;:–-]?\s*(?:but|just|only|merely)?\s*"
                  rf"(?:an?\s+)?{_ABS_AWAY}\b")),
    # "missing, not away", "missing rather than absent", "this is not an absence"
    ("M", _abs_rx(rf"\bmissing\s*[,;/–-]?\s*(?:and\s+|but\s+)?(?:not|rather\s+than)\s+"
                  rf"(?:an?\s+)?{_ABS_A}\b")),
    ("M", _abs_rx(r"\b(?:this|it)\s+(?:was|is)\s+not\s+(?:just\s+)?an\s+absence\b")),
)
_ABS_NEGATED = re.compile(
    r"(?:\bnot|n't|\bnever|\bno\s+need\s+to|\bwithout)\s+(?:\w+\s+){0,2}$", re.IGNORECASE
)


def absence_type_of(value: str) -> AbsenceType | None:
    """A form value ("A", "Away", "Missing", "away from placement, not missing") as M or A."""
    v = re.sub(r"[^a-z ]+", " ", value.lower())
    v = re.sub(r"\s+", " ", v).strip()
    if re.fullmatch(r"(?:code )?m|missing(?: from (?:care|placement|home))?(?: episode)?", v):
        return "M"
    if re.fullmatch(
        r"(?:code )?a|away|absent|absence|an absence|unauthorised absence|"
        r"away from (?:the )?placement(?: without (?:authorisation|authorization|permission))?",
        v,
    ):
        return "A"
    return _absence_phrase(value)[0]


def _absence_phrase(text: str) -> tuple[AbsenceType | None, list[tuple[int, int]]]:
    """The classification the text asks for, and the spans that ask; None when unclear."""
    found: set[str] = set()
    spans: list[tuple[int, int]] = []
    for code, rx in _ABSENCE_PHRASES:
        for m in rx.finditer(text[:MAX_SCAN]):
            if _ABS_NEGATED.search(text[max(0, m.start() - 30) : m.start()]):
                continue
            found.add(code)
            spans.append(m.span())
    if len(found) != 1:
        return None, spans
    return ("M" if "M" in found else "A"), spans


def _absence_type(text: str, form_value: str | None) -> AbsenceType | None:
    if form_value is not None:
        return absence_type_of(form_value)  # the form wins; an unreadable value says nothing
    return _absence_phrase(text)[0]


def without_absence_type(text: str) -> str:
    """``text`` with the classification phrases and form lines blanked.

    Classification reads this in a reply that only reclassifies an episode: "reclassify as
    missing" is about the record, not a child gone again.
    """
    try:
        _code, spans = _absence_phrase(text)
        for start, end in spans:
            text = text[:start] + " " * (end - start) + text[end:]
        lines = text.split("\n")
        i = 0
        while i < len(lines):
            if field_of_line(lines[i]) != "absence_type":
                i += 1
                continue
            answered = lines[i].split(":", 1)[-1].strip() if ":" in lines[i] else ""
            lines[i] = ""
            i += 1
            # an answer on the lines below the label, as parse_form reads it
            while not answered and i < len(lines) and lines[i].strip():
                if field_of_line(lines[i]) is not None:
                    break
                lines[i] = ""
                i += 1
        return "\n".join(lines)
    except Exception:
        return text
