"""Pull the facts staff need out of a carer's message: who, when and where last seen, police, risk.

Two readers run over the new text: the council form ("Label: value" lines, see ``form.py``) and
free-text rules for the way carers actually write ("went to bed around 10 last night"). The form
wins where both answer. Times are read in the council's zone against the email's Date header
(or the receipt time when that header is missing or implausible) and stored in UTC. We use our
own rules for relative phrases because dateparser reads "last night around 10" as 10:00; it is
only a pinned fallback for odd absolute dates in form values. Nothing here raises.

This module reads who the child is, who reported, police, risk and description, and puts the
facts together; when and where the child was last seen and when they came back are read by
``seen_and_returned.py``, called here in turn (the order the form's answers are looked up in
is the order of ``sources``). Every rule runs through ``rule_guard.guard``.
"""

from __future__ import annotations

import email.utils
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from mailbridge.reading.absence_type import (
    AbsenceType,
    _absence_type,
    absence_type_of,
    without_absence_type,
)
from mailbridge.reading.context import (
    Assertion,
    assertions,
    news_of,
    sentence_of,
    without_told_absence,
)
from mailbridge.reading.form import (
    RETURN_FACTS,
    form_sections,
    is_blank,
    parse_form_lines,
    without_form_furniture,
)
from mailbridge.reading.message import ReadMessage
from mailbridge.reading.names import (
    _child_id,
    _display_name,
    _name_from_subject,
    _name_from_text,
    _phone,
    _reporter_from_last_lines,
    _reporter_from_signoff,
    first_name_signed,
    is_team_name,
    name_without_role,
    reporter_from_signature,
    signed_in_full,
)
from mailbridge.reading.phrases import (
    _CONCERN,
    _DESC,
    _REPORT_LABELS,
    _RISK_FREE,
    MAX_SCAN,
    RiskLevel,
    _risk_level,
    _sentences_matching,
)
from mailbridge.reading.police import find_police_reference
from mailbridge.reading.rule_guard import guard as _guard
from mailbridge.reading.seen_and_returned import (
    held_after_return,
    last_seen,
    outside_history,
    settle_times,
    the_return,
)
from mailbridge.reading.times import (
    _MONTHS,
    parse_date_only,
    parse_when,
    read_when,
    reference_time,
)

__all__ = [
    "AbsenceType",
    "ReportFields",
    "absence_type_of",
    "extract_fields",
    "parse_date_only",
    "parse_when",
    "read_when",
    "reference_time",
    "without_absence_type",
]


@dataclass(frozen=True)
class ReportFields:
    """The facts read from one message; None means "not stated", never "no"."""

    child_id: str | None = None
    full_name: str | None = None
    first_name: str | None = None
    date_of_birth: date | None = None
    last_seen_at: datetime | None = None
    last_seen_text: str | None = None
    last_seen_location: str | None = None
    police_reference: str | None = None
    risk_level: RiskLevel | None = None
    risk_notes: str | None = None
    description: str | None = None
    clothing: str | None = None
    reporter_name: str | None = None
    reporter_phone: str | None = None
    returned_at: datetime | None = None
    returned_by: str | None = None
    safe_and_well: bool | None = None
    placement: str | None = None
    form_report_type: Literal["missing", "returned"] | None = None
    form_used: bool = False
    # SSDA903 classification asked for: "M" missing, "A" away from placement without
    # authorisation; None when the message does not say (never guessed from a stray word)
    absence_type: AbsenceType | None = None
    # where each fact came from: field name -> the sentence or form line it was read from
    sources: Mapping[str, str] = field(default_factory=dict)
    # what the reader could not settle, in plain English ("a time later than the email was
    # sent"); any doubt keeps an episode open and asks staff to confirm
    doubts: tuple[str, ...] = ()

    def has_report_facts(self) -> bool:
        """True when the message carries facts only a report would (police ref, last seen...)."""
        if self.police_reference or self.risk_level or self.form_used:
            return True
        who = self.child_id or self.full_name
        return bool(who and (self.last_seen_at or self.last_seen_location or self.clothing
                             or self.returned_at))


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


# ---------------------------------------------------------------------------------------------
# the reader


# a pasted text or WhatsApp line's own stamp, "[22:40] Gary: ..." or "16/01/2027, 22:40 - Gary:
# ...": when the message was typed, not a time the carer wrote about
_CHAT_STAMP = re.compile(
    r"(?m)^[ \t]*(?:\[\s*(?:\d{1,2}/\d{1,2}/\d{2,4},?\s*)?\d{1,2}:\d\d(?::\d\d)?\s*(?:[ap]m)?\s*\]|"
    r"(?:\d{1,2}/\d{1,2}/\d{2,4},?\s*)\d{1,2}:\d\d\s*(?:[ap]m)?\s+-)[ \t]*",
    re.IGNORECASE,
)


def extract_fields(msg: ReadMessage, *, tz: ZoneInfo, received_at: datetime) -> ReportFields:
    """Read every field we know from the form and the free text of ``msg``; never raises."""
    try:
        return _extract(msg, tz, received_at)
    except Exception:
        return ReportFields()


def _forward_base(msg: ReadMessage, base: datetime, tz: ZoneInfo) -> datetime:
    """When the forwarded message was written, if that is within three days before ``base`` and
    the forwarder's own words tell no time of their own (a note with news later than the
    forward, "she came in at 22:45", keeps ``base``); else ``base``."""
    if re.search(r"\d{1,2}[:.]\d{2}|\d\s*(?:am|pm)\b", msg.added_text, re.IGNORECASE):
        return base
    when = _written_time(msg.forwarded_sent or "")
    if when is None:
        return base
    when = when.replace(tzinfo=tz) if when.tzinfo is None else when.astimezone(tz)
    return when if base - timedelta(days=3) <= when <= base else base


_WRITTEN_DMY = re.compile(r"(?:[a-z]+,?\s+)?(\d{1,2})\s+([a-z]{3})[a-z]*,?\s+(\d{4})(?:\s+at)?\s+"
                          r"(\d{1,2})[:.](\d{2})(?::\d{2})?\s*([ap]\.?m\.?)?", re.IGNORECASE)
_WRITTEN_MDY = re.compile(r"(?:[a-z]+,?\s+)?([a-z]{3})[a-z]*\s+(\d{1,2}),?\s+(\d{4})(?:\s+at)?\s+"
                          r"(\d{1,2})[:.](\d{2})(?::\d{2})?\s*([ap]\.?m\.?)?", re.IGNORECASE)
_WRITTEN_NUMERIC = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})\s+(\d{1,2})[:.](\d{2})(?::\d{2})?\s*"
                              r"([ap]\.?m\.?)?", re.IGNORECASE)


def _written_time(sent: str) -> datetime | None:
    """A forward's "Sent:"/"Date:" line as a time: RFC 5322, "Fri, 22 Aug 2031 at 18:02",
    "21 November 2032 22:16", "Wednesday, March 8, 2028 9:31 PM", "22/05/2027 22:08" (day
    first, as in the UK); None for anything else."""
    for rx, order in ((_WRITTEN_DMY, "dmy"), (_WRITTEN_MDY, "mdy"), (_WRITTEN_NUMERIC, "num")):
        m = rx.search(sent)
        if not m:
            continue
        if not m.group(6) and rx is _WRITTEN_DMY and re.search(r"[+-]\d{4}\b", sent):
            break  # "Fri, 22 Aug 2031 18:02:00 +0100": RFC 5322, with its zone
        a, b, year, hour, minute, half = m.groups()
        if order == "num":
            day, month = int(a), int(b)
        else:
            day, name = (int(a), b) if order == "dmy" else (int(b), a)
            month = _MONTHS.get(name[:3].lower(), 0)
        h = int(hour)
        if half:
            h = h % 12 + (12 if half.lower().startswith("p") else 0)
        try:
            return datetime(int(year), month, day, h, int(minute))
        except ValueError:
            return None
    try:  # (it reads "9:31 PM" as 09:31, so only after the written forms)
        return email.utils.parsedate_to_datetime(sent)
    except (TypeError, ValueError, IndexError):
        return None


def _extract(msg: ReadMessage, tz: ZoneInfo, received_at: datetime) -> ReportFields:
    base = reference_time(msg.date, received_at, tz)
    if msg.forwarded and msg.forwarded_sent:
        # a forward's report says "tonight" of the night it was written ("Sent: 21 November
        # 2032 22:16", forwarded the next morning): its own time is the "now" of its words
        base = _guard(lambda: _forward_base(msg, base, tz), base)
    text = _nfc(msg.text[:MAX_SCAN]).replace("’", "'").replace("‘", "'")
    subject = _nfc(msg.subject[:1000]).replace("’", "'")
    # The form's labels and instructions are the form talking: free-text rules read the rest.
    free = _guard(lambda: _CHAT_STAMP.sub("", without_form_furniture(text)), text)
    lined: dict[str, tuple[str, str]] = _guard(lambda: parse_form_lines(text), {})
    sections = _guard(lambda: form_sections(text), None)
    if sections is not None:
        # The shipped form: a part with no answer of its own is absent, so a RETURN part left
        # blank says nothing, and its shared labels (name, ID, reporter) never override.
        lined = dict(sections.missing)
        for name, value in sections.returned.items():
            if name in RETURN_FACTS or name not in lined:
                lined[name] = value
        if not sections.return_filled:
            lined = {k: v for k, v in lined.items() if k not in RETURN_FACTS}
    form = {name: value for name, (value, _line) in lined.items()}
    sources: dict[str, str] = {}
    doubts: list[str] = []

    def fv(name: str) -> str | None:
        value = form.get(name)
        if value and not is_blank(value):
            sources.setdefault(name, lined[name][1])
            return value
        return None

    child_id = _guard(lambda: _child_id(subject, free, fv("child_id")), None)

    full_name = fv("full_name")
    if full_name:
        full_name = re.sub(r"\s*[\(\[].*$", "", full_name).strip() or None
        full_name = re.sub(r"\s*,?\s*(?:dob|d\.o\.b|born)\b.*$", "", full_name or "",
                           flags=re.IGNORECASE).strip() or None
    if not full_name and fv("first_name") and fv("last_name"):
        full_name = f"{fv('first_name')} {fv('last_name')}"
    if not full_name:
        # the subject is the carer's headline, but often only has a first name: prefer a full one
        in_subject = _guard(lambda: _name_from_subject(subject), None)
        in_text = _guard(lambda: _name_from_text(free), None)
        candidates = [n for n in (in_subject, in_text) if n]
        full_name = next((n for n in candidates if len(n.split()) > 1), None) or (
            candidates[0] if candidates else None)
    first_name = fv("first_name") or (full_name.split()[0] if full_name else None)
    if full_name and len(full_name.split()) < 2:
        full_name = None
    if first_name:
        first_name = first_name.split()[0]

    dob_text = fv("date_of_birth")
    if dob_text is None:
        m = re.search(r"\b(?:dob|d\.o\.b\.?|date of birth|born(?:\s+on)?)\s*[:\-]?\s*(.{6,30})",
                      free, re.IGNORECASE)
        dob_text = m.group(1) if m else None
    dob = parse_date_only(dob_text, base) if dob_text else None

    said: list[Assertion] = _guard(lambda: without_told_absence(assertions(free)), [])
    if msg.forwarded:
        said = _guard(lambda: news_of(said, free, _nfc(msg.added_text).replace("’", "'")), said)
    returns = outside_history([a for a in said if a.said == "returned"], fv("risk_notes"))
    # "found him at the park but he would not get in the car ... still out": a return that the
    # same words take back, or that the writer is not sure of, gives no return time
    contested = any(a.said in ("still_missing", "unsure_return") for a in said) or (
        held_after_return(returns, [a for a in said if a.said == "located"]))

    # --- last seen
    last_seen_at, last_seen_text, location = last_seen(
        fv, free, base, returns=returns, sources=sources, doubts=doubts)

    # --- returns
    returned_at, returned_by, safe = the_return(
        fv, free, base, said=said, returns=returns, contested=contested, sources=sources,
        doubts=doubts)

    # --- police, risk, description
    police_ignore = [child_id] if child_id else []
    police = None
    pv = fv("police_reference")
    if pv:
        police = find_police_reference(f"police ref {pv}", ignore=police_ignore)
        if police is None and re.search(r"\d", pv) and len(pv) <= 40:
            police = pv.strip()
    if police is None:
        police = find_police_reference(free, ignore=police_ignore)
        if police is not None:
            digits = re.sub(r"\D", "", police)[:4]
            at = free.find(digits) if digits else -1
            sources["police_reference"] = sentence_of(free, at, at + 1) if at >= 0 else police
    if police is None:
        police = find_police_reference(subject, ignore=police_ignore)
        if police is not None:
            sources["police_reference"] = subject
    if police is None and msg.quoted_text:
        # a reply: "same log number", "police aware" over the report it answers, whose
        # reference is this episode's
        police = find_police_reference(_nfc(msg.quoted_text)[:20_000], ignore=police_ignore)
        if police is not None:
            sources["police_reference"] = "the earlier message quoted below the reply"

    risk_value = fv("risk_level")
    risk = _risk_level(risk_value) if risk_value else None
    risk_notes = fv("risk_notes")
    if risk is None:
        # a forward: the forwarder's own words are the later grading ("now graded her high")
        own = _nfc(msg.added_text) if msg.forwarded else ""
        m = (_RISK_FREE.search(own) if own else None) or _RISK_FREE.search(free)
        if m:
            risk = _risk_level(next((g for g in m.groups() if g), ""))
            sources["risk_level"] = sentence_of(free, m.start(), m.end())
    if risk_notes is None and risk_value:
        rest = re.sub(r"^\s*(?:high|medium|med|moderate|low|standard)\b\s*(?:risk)?\s*[-–:,.]*\s*",
                      "", risk_value, flags=re.IGNORECASE).strip()
        risk_notes = rest or None
    if risk_notes is None:
        risk_notes = _guard(lambda: _sentences_matching(free, _CONCERN), None)

    clothing = fv("clothing")
    if clothing is None:
        m = re.search(r"\b(?:wearing|dressed\s+in|had\s+on|last\s+seen\s+in\s+(?=a\b|an\b|his\b|"
                      r"her\b|their\b|black|blue|grey|white|red|green))\s+(?P<c>[^.;\n]{3,200})",
                      free, re.IGNORECASE)
        clothing = m.group("c").strip() if m else None
    description = fv("description") or _guard(lambda: _sentences_matching(free, _DESC, 2), None)

    reporter_name = fv("reporter_name")
    if reporter_name is not None:
        reporter_name = name_without_role(reporter_name) or None
    if reporter_name is None and msg.forwarded and msg.forwarded_from:
        # a forward's reporter is the carer who wrote it, not the agency that passed it on
        reporter_name = _display_name(msg.forwarded_from.split("<", 1)[0])
    if reporter_name is None:
        reporter_name = _guard(lambda: _reporter_from_signoff(free), None)
    if reporter_name is None:
        reporter_name = _guard(lambda: reporter_from_signature(msg.quoted_text), None)
    if reporter_name is None:
        reporter_name = _guard(lambda: _reporter_from_last_lines(free), None)
    if reporter_name is None and (not msg.from_name or is_team_name(msg.from_name)):
        reporter_name = _guard(lambda: first_name_signed(free), None)
    if reporter_name is None:
        reporter_name = _display_name(msg.from_name)
    elif not msg.forwarded:
        reporter_name = signed_in_full(reporter_name, free, msg.from_name, msg.from_addr)
    phone_value = fv("reporter_phone")
    reporter_phone = (_phone(phone_value) or phone_value) if phone_value else _phone(free)

    report_type: Literal["missing", "returned"] | None = None
    rt = fv("report_type")
    if rt:
        if re.search(r"\b(?:return|returned|back|found|located)\b", rt, re.IGNORECASE):
            report_type = "returned"
        elif re.search(r"\b(?:missing|absent|awol|absconded)\b", rt, re.IGNORECASE):
            report_type = "missing"
    elif sections is not None:
        if sections.return_filled:
            report_type = "returned"
        elif sections.missing_filled:
            report_type = "missing"

    absence = _guard(lambda: _absence_type(text, fv("absence_type")), None)

    # --- no fact after the email, and no return before the last sighting
    last_seen_at, returned_at = settle_times(
        last_seen_at, returned_at, received_at=received_at, sources=sources, doubts=doubts, tz=tz)
    for name in ("returned_at", "returned_by", "safe_and_well"):
        if sections is not None and name in sources and name not in form:
            sources.pop(name)

    return ReportFields(
        child_id=child_id,
        full_name=full_name,
        first_name=first_name,
        date_of_birth=dob,
        last_seen_at=last_seen_at.astimezone(UTC) if last_seen_at else None,
        last_seen_text=last_seen_text,
        last_seen_location=location,
        police_reference=police,
        risk_level=risk,
        risk_notes=risk_notes,
        description=description,
        clothing=clothing,
        reporter_name=reporter_name,
        reporter_phone=reporter_phone,
        returned_at=returned_at.astimezone(UTC) if returned_at else None,
        returned_by=returned_by,
        safe_and_well=safe,
        placement=fv("placement"),
        form_report_type=report_type,
        form_used=len(form.keys() & _REPORT_LABELS) >= 2,
        absence_type=absence,
        sources=sources,
        doubts=tuple(dict.fromkeys(doubts)),
    )


