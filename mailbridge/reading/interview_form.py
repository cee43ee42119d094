"""The return home interview outcome form: one "Label: value" per line, read like the carer form.

A worker records the outcome of a return home interview by replying to the reminder or by sending
``templates/return-interview-form.txt``. This module reads that text into an ``InterviewOutcome``
and applies the quality rules, so the caller can send an incomplete outcome back to the worker
naming what is missing:

* every outcome needs a result (offered / accepted / declined / completed) and a date;
* a completed interview also needs who did it, the reasons for going missing (at least one
  recognised code), the risks identified and the actions agreed;
* a declined or not-held interview needs the reason it was not held.

"None" is an answer ("Risks identified: none"); "N/A", "tbc" or "-" are not. Labels are matched
with the carer form's normaliser (case, accents and punctuation do not matter; a hint in brackets
after the label is ignored). Reasons for going missing are read against a configurable code list
(code -> synonyms); items that match no code are kept in ``unknown_reasons``.

Pure: no I/O, no clock (``today`` is passed in). ``parse_interview_outcome`` never raises.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal

from mailbridge.reading.fields import parse_date_only
from mailbridge.reading.form import normalise_label
from mailbridge.routing.reason_codes import DEFAULT_REASON_CODES

__all__ = [
    "DEFAULT_REASON_CODES",
    "INTERVIEW_FIELDS",
    "InterviewOutcome",
    "Result",
    "filled_fields",
    "match_reason_codes",
    "parse_interview_outcome",
]

Result = Literal["offered", "accepted", "declined", "completed"]


#: field name -> label variants (written naturally; normalised when the table is built)
INTERVIEW_FIELDS: Mapping[str, tuple[str, ...]] = {
    "reference": (
        "Reference", "Ref", "Episode reference", "Episode ref", "Missing episode reference",
        "Missing episode", "Episode", "MB reference", "Our reference", "Our ref", "Your reference",
        "Your ref",
    ),
    "result": (
        "Result", "Outcome", "Interview result", "Interview outcome", "RHI outcome", "RHI result",
        "Return interview outcome", "Return home interview outcome", "Return interview",
        "Return home interview", "Interview", "RHI",
    ),
    "date": (
        "Date", "Date held", "Date offered", "Date of interview", "Interview date",
        "Date completed", "Date declined", "Date of offer", "Date offered or held",
        "Date offered/held", "Date held/offered", "When", "Held on", "Offered on", "Completed on",
    ),
    "reason_not_held": (
        "Reason not held", "Reason not completed", "Reason interview not held", "Reason declined",
        "Reason for declining", "Reason for decline", "Reasons not held", "Why not held",
        "Why not completed", "Why declined", "If not held why", "If not held, why",
        "If declined, why",
    ),
    "interviewer": (
        "Interviewer", "Completed by", "Interview completed by", "Conducted by", "Held by",
        "Done by", "Carried out by", "Interviewed by", "Name of interviewer", "Offered by",
        "Worker", "Practitioner", "Who did it", "Who completed it",
    ),
    "reasons": (
        "Reasons for going missing", "Reason for going missing", "Reasons for missing",
        "Reason for missing", "Reasons missing", "Why did they go missing",
        "Why did the child go missing", "Why went missing", "Why missing", "Missing reasons",
        "Reasons", "Reason codes", "Push and pull factors", "Push/pull factors",
        "Push pull factors", "Push factors", "Pull factors",
    ),
    "reason_notes": (
        "Reason notes", "Reasons notes", "Notes on reasons", "Notes", "What the child said",
        "What the young person said", "Child's account", "Child's views", "Child's voice",
        "Voice of the child", "Comments", "Details",
    ),
    "risks": (
        "Risks identified", "Risk identified", "Risks", "Risk", "Risks and concerns",
        "Risks/concerns", "Concerns", "Concerns identified", "Risk factors",
        "Safeguarding concerns", "Risks found",
    ),
    "actions": (
        "Actions agreed", "Action agreed", "Agreed actions", "Actions", "Action", "Action plan",
        "Actions taken", "Next steps", "Follow up", "Follow-up", "Follow up actions", "Plan",
    ),
}

_LABELS: Mapping[str, str] = {
    normalise_label(variant): name
    for name, variants in INTERVIEW_FIELDS.items()
    for variant in variants
}
_BARE_REASON = "reason"  # "Reason: ..." means "not held" or "for going missing" by the result

#: free-text fields take the following lines too, up to a blank line or the next label
_MULTILINE = frozenset({"reasons", "reason_notes", "risks", "actions", "reason_not_held"})
_LINE = re.compile(r"^[ \t>*•·\-]*(?P<label>[^:\n?\t]{1,120}?)\s*[:\t?]\s*(?P<value>.*)$")
_NON_ANSWERS = frozenset(
    {
        "",
        "na",
        "n a",
        "tbc",
        "tba",
        "x",
        "to follow",
        "to be confirmed",
        "not applicable",
        "see below",
    }
)
_REFERENCE = re.compile(r"\bMB[\s/_-]?(\d{4})[\s/_-]?(\d{5,9})\b", re.IGNORECASE)
_MAX_VALUE = 4000

_DECLINED = re.compile(
    r"\b(?:declin\w*|refus\w*|reject\w*|cancel+ed|disengaged|no[\s-]?show|dna|said\s+no|"
    r"not\s+(?:held|completed?|accepted|taken\s+place|take\s+place|happen\w*|done|carried\s+out|"
    r"engag\w*|attend\w*|wanted|want\w*|seen|possible|interested)|"
    r"(?:did|does|would|was|has|could|is|were|will)\s*(?:not|n'?t)\s+(?:\w+\s+)?"
    r"(?:attend|engage|want|take\s+place|happen|turn\s+up|show|go\s+ahead|agree|accept|wish)|"
    r"won'?t\s+(?:\w+\s+)?(?:attend|engage|agree|accept)|"
    r"unable\s+to\s+(?:complete|hold|engage|contact|meet))\b",
    re.IGNORECASE,
)
_COMPLETED = re.compile(
    r"(?<!in)\b(?:complet\w*|done|held|took\s+place|taken\s+place|carried\s+out|conducted|"
    r"happened|undertaken|finished|interviewed)\b",
    re.IGNORECASE,
)
_ACCEPTED = re.compile(r"\b(?:accept\w*|agreed)\b", re.IGNORECASE)
_OFFERED = re.compile(
    r"\b(?:offer\w*|arranged|booked|scheduled|planned|invited|invitation)\b", re.IGNORECASE
)
_NOT_YET = re.compile(r"\bnot\s+yet\s+\w+", re.IGNORECASE)
_YEAR_WRITTEN = re.compile(r"\b\d{4}\b|\d{1,2}\s*[/.-]\s*\d{1,2}\s*[/.-]\s*\d{2}\b")


@dataclass(frozen=True)
class InterviewOutcome:
    """One return home interview outcome as the worker wrote it, with what it still lacks.

    ``missing_parts`` names, in words fit to send back to the worker, what must be added before
    the outcome counts ("result", "date", "interviewer", "reason not held", "reasons",
    "risks identified", "actions agreed", or "date (not in the future)").
    """

    reference: str | None = None
    result: Result | None = None
    date: date | None = None
    reason_not_held: str | None = None
    interviewer: str | None = None
    reason_codes: tuple[str, ...] = ()
    unknown_reasons: tuple[str, ...] = ()
    reason_notes: str | None = None
    risks: str | None = None
    actions: str | None = None
    missing_parts: tuple[str, ...] = ("result", "date")

    @property
    def complete(self) -> bool:
        """True when nothing required is missing (whatever the result)."""
        return self.result is not None and not self.missing_parts

    @property
    def counts_as_completed(self) -> bool:
        """True only for a completed interview with every required part."""
        return self.result == "completed" and not self.missing_parts


# ---------------------------------------------------------------------------------------------
# lines and labels


def _label_of(raw: str) -> str | None:
    key = normalise_label(raw)
    if key == _BARE_REASON:
        return _BARE_REASON
    if key in _LABELS:
        return _LABELS[key]
    key = re.sub(r"^(?:please (?:give|state|enter|provide|list) |the )", "", key)
    return _LABELS.get(key)


def _is_non_answer(value: str) -> bool:
    return normalise_label(value) in _NON_ANSWERS or not re.search(r"[^\W_]", value)


def _read_lines(text: str) -> dict[str, str]:
    """{field: raw value}; the first filled-in value of a field wins (as on the carer form)."""
    out: dict[str, str] = {}
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")[:5000]
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if len(line) > 5000:
            continue
        m = _LINE.match(line)
        if not m:
            continue
        name = _label_of(m.group("label"))
        if name is None:
            continue
        parts = [m.group("value").strip()]
        if not parts[0] or name in _MULTILINE or name == _BARE_REASON:
            while i < len(lines) and lines[i].strip() and len(parts) < 30:
                nxt = _LINE.match(lines[i])
                if nxt and _label_of(nxt.group("label")):
                    break
                parts.append(lines[i].strip().lstrip(">").strip())
                i += 1
        cleaned = [p.strip().strip("[]_").strip() for p in parts]
        value = "\n".join(p for p in cleaned if p)
        if _is_non_answer(value) or name in out:
            continue
        out[name] = value[:_MAX_VALUE]
    return out


def filled_fields(text: str) -> frozenset[str]:
    """The interview-form fields that carry an answer in ``text``; never raises."""
    try:
        found = _read_lines(text)
    except Exception:
        return frozenset()
    return frozenset(name for name in found if name != _BARE_REASON)


# ---------------------------------------------------------------------------------------------
# values


def _one_line(value: str | None) -> str | None:
    if value is None:
        return None
    text = re.sub(r"\s+", " ", value).strip()
    return text or None


def _lines(value: str | None) -> str | None:
    """Free text: spaces tidied, the worker's line breaks kept (numbered actions stay a list)."""
    if value is None:
        return None
    kept = [re.sub(r"[ \t\f\v]+", " ", line).strip() for line in value.split("\n")]
    text = "\n".join(line for line in kept if line)
    return text or None


def _reference(value: str | None, text: str) -> str | None:
    for source in (value or "", text[:20_000]):
        m = _REFERENCE.search(source)
        if m:
            return f"MB-{m.group(1)}-{m.group(2)}"
    return None


def _result(value: str | None) -> Result | None:
    if not value:
        return None
    low = _NOT_YET.sub(" ", value.lower().replace("’", "'")[:500])
    if _DECLINED.search(low):
        return "declined"
    if _COMPLETED.search(low):
        return "completed"
    if _ACCEPTED.search(low):
        return "accepted"
    if _OFFERED.search(low):
        return "offered"
    return None


def _date(value: str | None, today: date) -> date | None:
    if not value:
        return None
    low = value.lower()[:200]
    if re.search(r"\btoday\b", low):
        return today
    if re.search(r"\byesterday\b", low):
        return today - timedelta(days=1)
    if re.search(r"\btomorrow\b", low):
        return today + timedelta(days=1)
    base = datetime(today.year, today.month, today.day)
    found = parse_date_only(low, base)
    if found is None:
        return None
    if _YEAR_WRITTEN.search(low):
        return found
    # no year written: the year that puts the date nearest to today
    best = found
    for year in (found.year - 1, found.year + 1):
        try:
            candidate = found.replace(year=year)
        except ValueError:
            continue
        if abs((candidate - today).days) < abs((best - today).days):
            best = candidate
    return best


def _split_items(value: str) -> list[str]:
    items = re.split(r"[,;\n•]|\s+-\s+|^\s*-\s*", value)
    out: list[str] = []
    for item in items:
        cleaned = re.sub(r"^\s*(?:\d{1,2}[.)]|[-*>])\s*", "", item).strip().strip(".")
        if cleaned:
            out.append(cleaned[:200])
    return out


def _synonym_table(codes: Mapping[str, Sequence[str]]) -> list[tuple[str, str]]:
    """(normalised synonym, code), longest first so "child sexual exploitation" beats "cse"."""
    table: list[tuple[str, str]] = []
    for code, synonyms in codes.items():
        words = [synonyms] if isinstance(synonyms, str) else list(synonyms)
        for word in [code, code.replace("_", " "), *words]:
            key = normalise_label(str(word))
            if key:
                table.append((key, code))
    table.sort(key=lambda pair: -len(pair[0]))
    return table


def _codes_in(item: str, table: list[tuple[str, str]]) -> list[str]:
    key = normalise_label(item)
    if not key:
        return []
    for synonym, code in table:
        if key == synonym:
            return [code]
    found: list[str] = []
    taken = key
    for synonym, code in table:
        pattern = _as_words(synonym)
        if pattern.search(taken):
            if code not in found:
                found.append(code)
            taken = pattern.sub(" ", taken)
    return found


@functools.lru_cache(maxsize=4096)
def _as_words(synonym: str) -> re.Pattern[str]:
    """A synonym as whole words, compiled once (the table is searched for every item)."""
    return re.compile(rf"(?<![a-z0-9]){re.escape(synonym)}(?![a-z0-9])")


def match_reason_codes(
    value: str, codes: Mapping[str, Sequence[str]] = DEFAULT_REASON_CODES
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(recognised codes, unrecognised items) from a comma/semicolon/line separated list.

    An item matches a code by its code ("exploitation_cse"), by a synonym ("CSE"), or by holding
    a synonym as whole words ("wanted to see mum at the weekend"). Never raises.
    """
    try:
        table = _synonym_table(codes)
        found: list[str] = []
        unknown: list[str] = []
        for item in _split_items(value)[:50]:
            hits: list[str] = []
            for part in [item, *re.split(r"\s*(?:/|&|\+|\band\b)\s*", item)]:
                hits = _codes_in(part, table) if part.strip() else []
                if hits:
                    break
            for code in hits:
                if code not in found:
                    found.append(code)
            if not hits and item not in unknown:
                unknown.append(item)
        return tuple(found), tuple(unknown)
    except Exception:
        return (), ()


# ---------------------------------------------------------------------------------------------
# the outcome


def _missing(
    *,
    result: Result | None,
    when: date | None,
    today: date,
    interviewer: str | None,
    reason_not_held: str | None,
    reason_codes: tuple[str, ...],
    risks: str | None,
    actions: str | None,
) -> tuple[str, ...]:
    missing: list[str] = []
    if result is None:
        missing.append("result")
    if when is None:
        missing.append("date")
    elif result in {"completed", "declined"} and when > today:
        missing.append("date (not in the future)")
    if result == "completed":
        if interviewer is None:
            missing.append("interviewer")
        if not reason_codes:
            missing.append("reasons")
        if risks is None:
            missing.append("risks identified")
        if actions is None:
            missing.append("actions agreed")
    elif result == "declined" and reason_not_held is None:
        missing.append("reason not held")
    return tuple(missing)


def _parse_outcome(text: str, codes: Mapping[str, Sequence[str]], today: date) -> InterviewOutcome:
    found = _read_lines(text)
    result_value = found.get("result")
    result = _result(result_value)
    bare = found.pop(_BARE_REASON, None)
    if bare is not None:
        if result == "declined" and "reason_not_held" not in found:
            found["reason_not_held"] = bare
        elif result != "declined" and "reasons" not in found:
            found["reasons"] = bare
    when = _date(found.get("date"), today) or _date(result_value, today)
    reason_codes, unknown = match_reason_codes(found.get("reasons", ""), codes)
    interviewer = _one_line(found.get("interviewer"))
    reason_not_held = _lines(found.get("reason_not_held"))
    risks = _lines(found.get("risks"))
    actions = _lines(found.get("actions"))
    return InterviewOutcome(
        reference=_reference(found.get("reference"), text),
        result=result,
        date=when,
        reason_not_held=reason_not_held,
        interviewer=interviewer,
        reason_codes=reason_codes,
        unknown_reasons=unknown,
        reason_notes=_lines(found.get("reason_notes")),
        risks=risks,
        actions=actions,
        missing_parts=_missing(
            result=result,
            when=when,
            today=today,
            interviewer=interviewer,
            reason_not_held=reason_not_held,
            reason_codes=reason_codes,
            risks=risks,
            actions=actions,
        ),
    )


def parse_interview_outcome(
    text: str,
    *,
    codes: Mapping[str, Sequence[str]] = DEFAULT_REASON_CODES,
    today: date,
) -> InterviewOutcome:
    """Read a return home interview outcome from the new text of an email; never raises.

    ``codes`` is the council's reason-code list (code -> synonyms); ``today`` (in the council's
    zone) resolves "today"/"yesterday", a date written without a year, and rejects a completed
    or declined interview dated in the future.
    """
    try:
        return _parse_outcome(str(text), codes, today)
    except Exception:  # a reader must never raise; the worker is asked for everything again
        return InterviewOutcome()
