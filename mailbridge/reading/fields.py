"""Pull the facts staff need out of a carer's message: who, when and where last seen, police, risk.

Two readers run over the new text: the council form ("Label: value" lines, see ``form.py``) and
free-text rules for the way carers actually write ("went to bed around 10 last night"). The form
wins where both answer. Times are read in the council's zone against the email's Date header
(or the receipt time when that header is missing or implausible) and stored in UTC. We use our
own rules for relative phrases because dateparser reads "last night around 10" as 10:00; it is
only a pinned fallback for odd absolute dates in form values. Nothing here raises.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Literal, TypeVar
from zoneinfo import ZoneInfo

from mailbridge.reading.context import Assertion, assertions, sentence_of
from mailbridge.reading.form import (
    RETURN_FACTS,
    field_of_line,
    form_sections,
    is_blank,
    parse_form_lines,
    without_form_furniture,
)
from mailbridge.reading.message import ReadMessage
from mailbridge.reading.police import find_police_reference

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

RiskLevel = Literal["high", "medium", "low"]
AbsenceType = Literal["M", "A"]
T = TypeVar("T")

MAX_SCAN = 20_000  # characters of text scanned by free-text rules; reports are short
DATE_SLACK_FUTURE = timedelta(minutes=15)
DATE_SLACK_PAST = timedelta(days=3)


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


# ---------------------------------------------------------------------------------------------
# time


def reference_time(msg_date: datetime | None, received_at: datetime, tz: ZoneInfo) -> datetime:
    """The "now" that carers' relative phrases mean, in the council zone.

    The Date header is the sender's clock, so it is right for "last night" even when delivery
    was slow; but when it is missing, in the future or days before receipt, receipt time wins.
    """
    received = received_at if received_at.tzinfo else received_at.replace(tzinfo=UTC)
    if msg_date is not None:
        sent = msg_date if msg_date.tzinfo else msg_date.replace(tzinfo=UTC)
        if received - DATE_SLACK_PAST <= sent <= received + DATE_SLACK_FUTURE:
            return sent.astimezone(tz)
    return received.astimezone(tz)


_MONTHS = {"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8,
           "sep": 9, "oct": 10, "nov": 11, "dec": 12}
_MONTH = (r"(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
          r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)")
_WORDNUM = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
            "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12}
_NUM = r"(\d{1,2}|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)"
_WEEKDAYS = {"monday": 0, "tuesday": 1, "wednesday": 2, "thursday": 3, "friday": 4,
             "saturday": 5, "sunday": 6, "mon": 0, "tue": 1, "tues": 1, "wed": 2, "thu": 3,
             "thur": 3, "thurs": 3, "fri": 4, "sat": 5, "sun": 6}

_ISO_DATE = re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b")
_NUM_DATE = re.compile(r"(?<![\d/.:])(\d{1,2})([/.-])(\d{1,2})(?:\2(\d{4}|\d{2}))?(?![\d/:]|\.\d)")
_DMY_WORDS = re.compile(
    rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH}\b\.?(?:,?\s+(\d{{4}}))?", re.IGNORECASE)
_MDY_WORDS = re.compile(
    rf"\b{_MONTH}\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?\b(?:,?\s+(\d{{4}}))?", re.IGNORECASE)
_WEEKDAY = re.compile(
    r"\b(monday|tuesday|wednesday|thursday|friday|saturday|sunday|"
    r"(?:mon|tues?|wed|thu(?:rs?)?|fri|sat|sun)(?=\.?\s+\d))\b", re.IGNORECASE)
_HHMM = re.compile(r"(?<![\d/])([01]?\d|2[0-3])[:.]([0-5]\d)(?![\d/])\s*(a\.?m\b\.?|p\.?m\b\.?)?",
                   re.IGNORECASE)
_HAMPM = re.compile(r"(?<![\d:.])(\d{1,2})\s*(a\.?m\b\.?|p\.?m\b\.?)", re.IGNORECASE)
_HRS = re.compile(r"(?<![\d:.])([01]\d|2[0-3])([0-5]\d)\s*(?:hrs|hours|h)\b", re.IGNORECASE)
_MINWORDS = {"five": 5, "ten": 10, "quarter": 15, "twenty": 20, "twenty five": 25,
             "twenty-five": 25, "half": 30}
_HALF = re.compile(
    rf"\b(half|quarter|five|ten|twenty(?:[\s-]five)?|\d{{1,2}}(?:\s*min(?:ute)?s)?)\s+(past|to|after)"
    rf"\s+(midnight|noon|midday|{_NUM[1:-1]})\b",
    re.IGNORECASE)
# British "half eight" is 8:30 ("half an hour" and "half past" are not)
_HALF_BRIT = re.compile(rf"\bhalf\s+{_NUM}\b(?!\s*(?:hours?|mins?|minutes?))", re.IGNORECASE)
# times of day without a clock, read as the usual hour (the words stay in the provenance)
_DAYPART = re.compile(r"\b(tea\s?time|before\s+school|after\s+school|(?:in\s+)?the\s+early\s+hours|"
                      r"first\s+thing)\b", re.IGNORECASE)
_DAYPART_HOURS = {"teatime": (17, 0), "tea time": (17, 0), "before school": (8, 0),
                  "after school": (15, 30), "early hours": (3, 0), "first thing": (7, 0)}
_OCLOCK = re.compile(rf"\b{_NUM}\s*(?:o'?\s*clock|ish)\b", re.IGNORECASE)
_BARE = re.compile(
    rf"\b(?:at|around|about|approx(?:imately|\.)?|roughly|circa|gone|after|before|until|till|"
    rf"til|since|just after|just before|~)\s+(?:about\s+|around\s+|approx\.?\s+)?{_NUM}\b"
    r"(?!\s*(?:[/:.]\d|years?|yrs?|y/?o\b|mins?|minutes?|hours?|hrs?|days?|weeks?|months?|%|"
    r"miles?|people|times?|of\b|st\b|nd\b|rd\b|th\b))",
    re.IGNORECASE,
)
_HOUR_4 = re.compile(r"^\s*([01]\d|2[0-3])([0-5]\d)\s*$")


def _num(token: str) -> int:
    return _WORDNUM.get(token.lower(), 0) if not token.isdigit() else int(token)


def _year(token: str | None, base: datetime) -> int | None:
    if not token:
        return None
    y = int(token)
    if y < 100:
        y += 2000 if y <= (base.year % 100) + 1 else 1900
    return y


def _find_date(text: str, base: datetime) -> tuple[date | None, bool, tuple[int, int] | None]:
    """(date, year_given, span) for the first absolute date in text."""
    for m in _ISO_DATE.finditer(text):
        try:
            return date(int(m.group(1)), int(m.group(2)), int(m.group(3))), True, m.span()
        except ValueError:
            continue
    for m in _NUM_DATE.finditer(text):
        sep, year_token = m.group(2), m.group(4)
        if sep != "/" and not year_token:
            continue  # "21.30" and "9-10" are times or ranges, not dates
        d, mo = int(m.group(1)), int(m.group(3))
        y = _year(year_token, base) or base.year
        try:
            return date(y, mo, d), bool(year_token), m.span()
        except ValueError:
            continue
    for rx, day_group, month_group in ((_DMY_WORDS, 1, 2), (_MDY_WORDS, 2, 1)):
        for m in rx.finditer(text):
            mo = _MONTHS[m.group(month_group)[:3].lower()]
            y = _year(m.group(3), base) or base.year
            try:
                return date(y, mo, int(m.group(day_group))), bool(m.group(3)), m.span()
            except ValueError:
                continue
    return None, False, None


def _blank(text: str, span: tuple[int, int] | None) -> str:
    if span is None:
        return text
    return text[: span[0]] + " " * (span[1] - span[0]) + text[span[1] :]


@dataclass
class _Clock:
    hour: int
    minute: int
    explicit: bool  # 24-hour clock or am/pm given: no guessing
    minutes: bool = False  # written "h:mm": read as the 24-hour clock when the day is past


def _find_clock(text: str) -> _Clock | None:
    """The first time of day in text, leftmost match across the supported styles."""
    found: list[tuple[int, _Clock]] = []
    if m := _HHMM.search(text):
        h, mi, ampm = int(m.group(1)), int(m.group(2)), m.group(3)
        if ampm:
            found.append((m.start(), _Clock(_ampm(h, ampm), mi, True)))
        else:
            explicit = h == 0 or h > 12 or m.group(1).startswith("0")
            found.append((m.start(), _Clock(h, mi, explicit, minutes=True)))
    if m := _HAMPM.search(text):
        h = int(m.group(1))
        if 1 <= h <= 12:
            found.append((m.start(), _Clock(_ampm(h, m.group(2)), 0, True)))
    if m := _HRS.search(text):
        found.append((m.start(), _Clock(int(m.group(1)), int(m.group(2)), True)))
    if m := _HALF.search(text):
        word = " ".join(m.group(1).lower().replace("-", " ").split())
        mins = _MINWORDS.get(word) or int(re.sub(r"\D", "", word) or 0)
        target = m.group(3).lower()
        explicit = target in {"midnight", "noon", "midday"}
        h = 0 if target == "midnight" else 12 if explicit else _num(target)
        if 0 < mins < 60 and (explicit or 1 <= h <= 12):
            if m.group(2).lower() in ("past", "after"):
                found.append((m.start(), _Clock(h, mins, explicit)))
            else:
                prev = (h - 1) % 24 if explicit else (h - 1) % 12 or 12
                found.append((m.start(), _Clock(prev, 60 - mins, explicit)))
    elif m := _HALF_BRIT.search(text):
        h = _num(m.group(1))
        if 1 <= h <= 12:
            found.append((m.start(), _Clock(h, 30, False)))
    if m := _OCLOCK.search(text):
        h = _num(m.group(1))
        if 1 <= h <= 12:
            found.append((m.start(), _Clock(h, 0, False)))
    if (m := re.search(r"\bmidnight\b", text, re.IGNORECASE)) and not _HALF.search(text):
        found.append((m.start(), _Clock(0, 0, True)))
    if m := re.search(r"\b(?:midday|noon|lunch ?time)\b", text, re.IGNORECASE):
        found.append((m.start(), _Clock(12, 0, True)))
    if m := _BARE.search(text):
        h = _num(m.group(1))
        if 1 <= h <= 12 or (13 <= h <= 23):
            found.append((m.start(1), _Clock(h, 0, h > 12)))
    if not found and (m := _DAYPART.search(text)):
        key = " ".join(m.group(1).lower().replace("in the ", "").replace("the ", "").split())
        hour, minute = _DAYPART_HOURS.get(key, _DAYPART_HOURS.get(key.replace(" ", ""), (0, 0)))
        if hour:
            found.append((m.start(), _Clock(hour, minute, True)))
    if not found:
        return None
    found.sort(key=lambda f: f[0])
    return found[0][1]


def _ampm(hour: int, marker: str) -> int:
    pm = marker.lower().startswith("p")
    if hour == 12:
        return 12 if pm else 0
    return hour + 12 if pm else hour


_PERIOD = re.compile(
    r"\b(last night|early hours|tonight|this morning|this afternoon|this evening|yesterday morning|"
    r"yesterday afternoon|yesterday evening|morning|afternoon|evening|night|bed ?time|bed|"
    r"dinner|tea ?time|supper|after school|breakfast)\b",
    re.IGNORECASE,
)


def parse_when(text: str, base: datetime) -> datetime | None:
    """Read a carer's time phrase against ``base`` (aware, in the council zone).

    Returns an aware datetime in base's zone, or None when no time of day is stated: a day
    alone ("yesterday") is not a time staff can act on, so we leave it in ``*_text``. A time
    that would be after ``base`` is never returned (see ``read_when``).
    """
    return read_when(text, base)[0]


def read_when(text: str, base: datetime) -> tuple[datetime | None, str | None]:
    """``parse_when`` and, when a stated time was dropped, why (for needs_confirmation).

    "at 8.15" in mail sent at 06:00 is read as the previous evening, because the words allow
    it; "at 8.15 this morning" or "today 19:30" in mail sent earlier that day cannot have
    happened yet, so no time is stored and the reason says what to check.
    """
    try:
        result = _parse_when(text[:500], base)
    except Exception:  # rules over hostile text must not raise
        return None, None
    if result is not None and result > base + DATE_SLACK_FUTURE:
        local = result.strftime("%d/%m %H:%M")
        return None, f"a time ({local}) later than the email was sent"
    return result, None


def _parse_when(text: str, base: datetime) -> datetime | None:
    tz = base.tzinfo
    low = text.lower()
    day, year_given, span = _find_date(low, base)
    rest = _blank(low, span)
    m4 = _HOUR_4.match(rest)
    clock = _Clock(int(m4.group(1)), int(m4.group(2)), True) if m4 else _find_clock(rest)
    if clock is None:
        return None
    period_m = _PERIOD.search(rest)
    period = period_m.group(1).lower() if period_m else ""
    hint: str | None = None
    if "morning" in period or period in ("breakfast", "early hours"):
        hint = "am"
    elif period in {"after school", "dinner", "tea time", "teatime", "supper"} or (
            "afternoon" in period):
        hint = "pm"
    elif period:
        hint = "night"

    base_day = base.date()
    implied_day = False
    if day is None:
        if re.search(r"\bday before yesterday\b", rest):
            day = base_day - timedelta(days=2)
        elif "last night" in rest:
            day = base_day - timedelta(days=1)
            hint = "night"
        elif re.search(r"\byesterday\b", rest):
            day = base_day - timedelta(days=1)
        elif re.search(r"\b(?:today|tonight|this (?:morning|afternoon|evening))\b", rest):
            day = base_day
        elif wm := _WEEKDAY.search(rest):
            wanted = _WEEKDAYS[wm.group(1).lower()[:5].rstrip(".")] if wm.group(1).lower()[
                :5].rstrip(".") in _WEEKDAYS else _WEEKDAYS[wm.group(1).lower()[:3]]
            back = (base_day.weekday() - wanted) % 7
            day = base_day - timedelta(days=back)
        else:
            day = base_day
            implied_day = True

    hour, minute = clock.hour, clock.minute
    if not clock.explicit:
        if hint == "am":
            hour = 0 if hour == 12 else hour
        elif hint == "pm":
            hour = hour + 12 if hour < 12 else hour
        elif hint == "night":
            if hour == 12:  # "midnight-ish at 12 last night" is the start of the next day
                hour, day = 0, day + timedelta(days=1) if "last night" in rest else day
            elif hour <= 5:
                # "last night at 2" is the small hours of the following day
                day = day + timedelta(days=1) if "last night" in rest else day
            else:
                hour += 12
        elif day < base_day:
            hour = hour if clock.minutes else hour + 12 if 1 <= hour < 12 else hour
        else:
            # today, no hint: the latest of h / h+12 that is not in the future
            cand_pm = datetime(day.year, day.month, day.day, (hour % 12) + 12, minute, tzinfo=tz)
            cand_am = datetime(day.year, day.month, day.day, hour % 12, minute, tzinfo=tz)
            if cand_pm <= base + DATE_SLACK_FUTURE:
                hour = cand_pm.hour
            elif cand_am <= base + DATE_SLACK_FUTURE:
                hour = cand_am.hour
            else:
                hour, day = cand_pm.hour, day - timedelta(days=1)
    elif "last night" in rest and hour < 6:
        day = day + timedelta(days=1)  # "1am last night" means early today

    result = datetime(day.year, day.month, day.day, hour, minute, tzinfo=tz)
    if result > base + DATE_SLACK_FUTURE:
        if implied_day:
            result = result - timedelta(days=1)
        elif span is not None and not year_given:
            try:
                result = result.replace(year=result.year - 1)
            except ValueError:
                return None
        elif _WEEKDAY.search(rest) and span is None and not re.search(r"\btoday\b", rest):
            result = result - timedelta(days=7)
    return result


def _dateparser_fallback(text: str, base: datetime) -> datetime | None:
    """Pinned dateparser for form values our rules cannot read; day-first, past, base-relative."""
    if not re.search(r"\d", text) or len(text) > 80:
        return None
    try:
        import dateparser  # noqa: PLC0415  # slow import, only needed for odd values

        key = getattr(base.tzinfo, "key", "UTC")
        parsed = dateparser.parse(
            text,
            languages=["en"],
            settings={
                "DATE_ORDER": "DMY",
                "PREFER_DATES_FROM": "past",
                "RELATIVE_BASE": base.replace(tzinfo=None),
                "TIMEZONE": key,
                "TO_TIMEZONE": key,
                "RETURN_AS_TIMEZONE_AWARE": True,
                "REQUIRE_PARTS": ["day", "month"],
                "STRICT_PARSING": True,
            },
        )
    except Exception:
        return None
    if not isinstance(parsed, datetime) or parsed.tzinfo is None:
        return None
    if parsed.hour == 0 and parsed.minute == 0 and not re.search(r"00|midnight", text):
        return None  # a date alone: no time stated
    return parsed


def parse_date_only(text: str, base: datetime | None = None) -> date | None:
    """A date such as a DOB: "14/03/2011", "14.3.11", "14th March 2011", "2011-03-14"."""
    try:
        now = base or datetime.now(UTC)
        found, _year_given, _span = _find_date(text[:200].lower(), now)
        if found is None or not 1900 <= found.year <= now.year + 1:
            return None
        return found
    except Exception:
        return None


# ---------------------------------------------------------------------------------------------
# free-text rules

_NAME_WORD = r"(?<![\w'’-])[^\W\d_][\w'’-]{0,30}(?![\w'’-])"  # whole words only: no backtracking
_NAME = rf"{_NAME_WORD}(?:[ \t]+{_NAME_WORD}){{0,3}}"
_STOP_WORDS = (
    """i we he she they it you our my his her their the this that there these those a an and or
    but hi hello dear morning afternoon evening good hope please thanks thank regards kind best
    police missing child children young person yp urgent report update returned return found
    re fw fwd fwd: today tonight yesterday last night monday tuesday wednesday thursday friday
    saturday sunday january february march april may june july august september october november
    december just also still then when where what who why how as at in on of to for from with
    sorry ok okay yes no not all both carer carers foster placement home house staff team duty
    social worker manager email mail call phone mobile id ref dob name subject sent date wrote
    absent awol absconded back safe well has have had is was were been being did does do will
    would can could should must mum dad mother father sister brother nan gran grandma aunt uncle
    hasnt havent didnt isnt wasnt went left gone came ran risk high medium low nothing none
    officers officer out of office automatic reply auto"""
)
_STOP = frozenset(_STOP_WORDS.split())


def _clean_name(candidate: str | None) -> str | None:
    if not candidate:
        return None
    words = [w.strip("'’-") for w in candidate.split()]
    while words and (words[0].lower() in _STOP or not words[0][:1].isupper()):
        words.pop(0)
    kept: list[str] = []
    for w in words:
        if w.lower() in _STOP or not w[:1].isupper() or len(w) > 30:
            break
        kept.append(w)
    if not kept or len(kept) > 4:
        return None
    if all(w.isupper() and len(w) > 1 for w in kept) and len(kept) == 1:
        return None  # "URGENT", "CSE"
    return " ".join(w if not w.isupper() else w.title() for w in kept)


def _strip_subject(subject: str) -> str:
    s = subject
    for _ in range(5):
        s2 = re.sub(r"^\s*(?:re|fw|fwd|aw|wg|sv)\s*(?:\[\d+\])?\s*:\s*", "", s, flags=re.IGNORECASE)
        s2 = re.sub(r"^\s*\[[^\]]*\]\s*", "", s2)
        if s2 == s:
            break
        s = s2
    return s.strip()


_SUBJ_KEY = (r"missing|absent|returned|return|found|update|report|awol|absconded|"
             r"missing from (?:care|home|placement)|is back|back home|back|has returned|safe")


def _name_from_subject(subject: str) -> str | None:
    s = _strip_subject(subject)
    s = re.sub(r"[\(\[]\s*(?:id\s*)?\d{4,9}\s*[\)\]]", " ", s, flags=re.IGNORECASE)
    s = re.sub(r"\b(?:child\s*)?id\s*:?\s*\d{4,9}\b", " ", s, flags=re.IGNORECASE)
    s = re.sub(r"\bMB-\d{4}-\d+\b", " ", s)
    s = re.sub(r"(?<![\d/])\d{5,8}(?![\d/])", " ", s)
    patterns = [
        rf"(?:{_SUBJ_KEY})\s*(?:child|young person|yp|person)?\s*(?:[:\-–—]|-\s)\s*(?P<n>{_NAME})",
        rf"(?:missing|returned|found)\s+(?!from\b|since\b|again\b|from\s)(?:child|young person|yp)?"
        rf"\s*(?P<n>{_NAME})",
        rf"(?P<n>{_NAME})\s*[:\-–—,]?\s*(?:is|has|now)?\s*(?:{_SUBJ_KEY})\b",
        rf"^\W*(?:urgent|important|re)?\W*(?P<n>{_NAME})\W*$",  # the subject is just the name
    ]
    for p in patterns:
        for m in re.finditer(p, s, re.IGNORECASE):
            name = _clean_name(m.group("n"))
            if name:
                return name
    return None


_BODY_NAME_PATTERNS = (
    rf"(?P<n>{_NAME})\s*\(\s*(?:id\s*:?\s*)?\d{{5,8}}\s*\)",
    rf"\b(?:called|named|known as)\s+(?P<n>{_NAME})",
    rf"(?:child(?:'s|s)?|young person(?:'s|s)?|yp(?:'s)?)\s+name\s*(?:is|:|-)\s*(?P<n>{_NAME})",
    rf"\b(?:foster (?:child|son|daughter|placement)|young person|child|yp|our|my)\s+"
    rf"(?P<n>{_NAME})\s+(?:\(|has|hasn|is|was|went|left|did|didn|ran|absconded|failed|never|"
    rf"came|returned|walked|got|arrived|isn|wasn|hasn't|didn't)",
    rf"(?P<n>{_NAME})\s*\(?\s*(?:dob|d\.o\.b|born|date of birth)\b",
    rf"(?:^|[.!?,;]\s+|\n)\s*(?P<n>{_NAME})(?:\s*\([^)\n]{{0,30}}\))?,?\s+"
    rf"(?:has(?:n't| not)?|is(?:n't| not)?|was(?:n't| not)?|went|left|did(?:n't| not)|ran|"
    rf"absconded|failed|never|came|returned|walked|got|arrived|still|hasnt|didnt|isnt|who)\b",
)


def _name_from_text(text: str) -> str | None:
    for p in _BODY_NAME_PATTERNS:
        for m in re.finditer(p, text[:MAX_SCAN], re.IGNORECASE | re.MULTILINE):
            name = _clean_name(m.group("n"))
            if name:
                return name
    return None


_CHILD_ID = (
    re.compile(r"\b(?:child(?:'s)?|young person(?:'s)?|yp|mosaic|lcs|client)\s*"
               r"(?:id|ref(?:erence)?|number|no\.?)\s*(?:no\.?|number|#)?\s*[:#\-]?\s*(\d{5,8})\b",
               re.IGNORECASE),
    re.compile(r"(?<![\w/-])id\s*(?:no\.?|number|#)?\s*[:#\-]?\s*(\d{5,8})\b", re.IGNORECASE),
)


def _child_id(subject: str, text: str, form_value: str | None) -> str | None:
    if form_value:
        m = re.search(r"\d{4,9}", form_value)
        if m:
            return m.group(0)
    for rx in _CHILD_ID:
        for source in (subject, text[:MAX_SCAN]):
            m = rx.search(source)
            if m:
                return m.group(1)
    m = re.search(r"[\(\[]\s*(\d{5,8})\s*[\)\]]", subject) or re.search(
        r"[\(\[]\s*(\d{6})\s*[\)\]]", text[:MAX_SCAN])
    if m:
        return m.group(1)
    bare = re.findall(r"(?<![\d/.:-])(\d{6})(?![\d/.:-])", _strip_subject(subject))
    if len(bare) == 1 and not re.search(r"\b(?:log|cad|ref|crime|incident)\b", subject, re.I):
        return str(bare[0])
    return None


_PHONE = re.compile(r"(?<![\d+])(?:\+44\s?\(?0?\)?\s?|\(?0)\d(?:[\s-]?\(?\)?\d){8,9}(?!\d)")


def _phone(text: str) -> str | None:
    for m in _PHONE.finditer(text):
        digits = re.sub(r"\D", "", m.group(0))
        if digits.startswith("44"):
            digits = "0" + digits[2:].lstrip("0")
        if len(digits) in (10, 11) and digits.startswith("0"):
            return re.sub(r"\s+", " ", m.group(0)).strip()
    return None


_SENTENCE_END = re.compile(r"(?<!\d)[.!?](?!\d)(?=\s|$)|\n")
_CLAUSE_END = re.compile(r"(?<!\d)[.!?;](?!\d)(?=\s|$)|\n|\s(?:but|and then|and|so|when)\s",
                         re.IGNORECASE)


def _sentence_around(text: str, start: int, end: int) -> tuple[int, int]:
    left = 0
    for m in _SENTENCE_END.finditer(text, 0, start):
        left = m.end()
    m2 = _SENTENCE_END.search(text, end)
    right = m2.start() if m2 else len(text)
    return left, right


def _time_near(
    text: str, start: int, end: int, base: datetime, stop: int | None = None
) -> tuple[datetime | None, str, str | None]:
    """Read a time in the clause after a trigger phrase, else in its whole sentence.

    ``stop`` cuts both short where another fact begins ("missing since Thursday, has come back
    at 6pm": 6pm is the return, not the last sighting).
    """
    m = _CLAUSE_END.search(text, end)
    clause = text[start : m.start() if m else len(text)]
    # a few words of context before the trigger count too ("Last night at 10 Jo went to bed")
    s_left, s_right = _sentence_around(text, start, end)
    sentence = text[s_left:s_right]
    if stop is not None and stop >= end:
        clause = clause[: max(0, stop - start)]
        sentence = sentence[: max(0, stop - s_left)]
    dropped: str | None = None
    for candidate in (clause, sentence):
        when, why = read_when(candidate, base)
        dropped = dropped or why
        if when is not None:
            return when, " ".join(sentence.split()), None
    return None, " ".join(sentence.split()), dropped


_NEG = re.compile(r"(?:\bnot|n't|\bnever|\bno longer|\byet to|\bfailed to|\bdue to)\s+(?:\w+\s+)?$",
                  re.IGNORECASE)

_LAST_SEEN: tuple[re.Pattern[str], ...] = tuple(
    re.compile(p, re.IGNORECASE)
    for p in (
        r"\blast\s+seen\b|\blast\s+saw\b|\bmissing\s+since\b|\bnobody\s+has\s+seen\s+\w+\s+since\b|"
        r"\bnot\s+(?:been\s+)?seen\s+(?:\w+\s+)?since\b|\blost\s+sight\s+of\b",
        r"\bwent\s+(?:up\s+)?to\s+(?:bed|(?:his|her|their)\s+room|sleep)\b",
        r"\b(?:left|walked\s+out\s+of|ran\s+(?:out\s+of|off\s+from|away\s+from)|went\s+out\s+of|"
        r"absconded\s+from|stormed\s+out\s+of)\s+(?:the\s+)?(?:house|home|placement|school|unit|"
        r"property|premises|college|address)\b|\b(?:went|gone|popped|going)\s+out\b|"
        r"\b(?:left|absconded|ran\s+off|stormed\s+out|walked\s+out|climbed\s+out|gone)\b",
        r"\bwent\s+(?:out\s+)?to\s+(?:the\s+|a\s+|his\s+|her\s+|their\s+)?\w+|"
        r"\b(?:was|were)\s+due\s+(?:back|home|in)\b|\bcurfew\b|"
        r"\b(?:has\s+not|hasn't|hasnt|didn't|didnt|did\s+not|failed\s+to|not)\s+"
        r"(?:returned|come\s+(?:back|home)|came\s+(?:back|home)|return(?:ed)?)\b",
    )
)

_PREP = re.compile(r"\b(at|in|near|outside|on|by|around|from|walking\s+(?:towards|along|down|up)|"
                   r"heading\s+(?:towards|to|for))\s+", re.IGNORECASE)
_LOC_END = re.compile(
    r",|;|\.(?=\s|$)|\n|\s(?:at|around|about|approx\w*|yesterday|today|tonight|last\s+night|"
    r"this\s+(?:morning|afternoon|evening)|wearing|when|who|but|and\s+(?:he|she|they|has|was|"
    r"hasn't|didn't|did|went|then)|with\s+(?:a|his|her|their)|before|after|since)\b",
    re.IGNORECASE,
)
_NOT_PLACE = re.compile(
    r"^(?:\d|about|around|approx|roughly|midnight|noon|midday|half|quarter|"
    r"(?:mon|tues|wednes|thurs|fri|satur|sun)day|yesterday|today|tonight|last|this|the\s+"
    r"(?:morning|afternoon|evening|night|weekend)|night|morning|evening|afternoon|bed|"
    r"(?:\w+\s+)?o'?clock|(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|"
    r"twelve)\b|home\s+time|school\s+time|tea\s+time|(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|"
    r"nov|dec)\w*\s)",
    re.IGNORECASE,
)


def _location_after(text: str) -> str | None:
    for m in _PREP.finditer(text[:300]):
        rest = text[m.end() :]
        if _NOT_PLACE.match(rest):
            continue
        end = _LOC_END.search(rest)
        loc = rest[: end.start() if end else len(rest)].strip(" .,-")
        if 2 <= len(loc) <= 120 and re.search(r"[A-Za-z]", loc):
            prep = m.group(1).lower()
            keep = prep in {"near", "outside", "by", "around"} or prep.startswith(("walk", "head"))
            return f"{m.group(1)} {loc}" if keep else loc
    return None


def _risk_level(value: str) -> RiskLevel | None:
    m = re.search(r"\b(high|medium|med|moderate|low|standard)\b", value, re.IGNORECASE)
    if not m:
        return None
    word = m.group(1).lower()
    if word == "high":
        return "high"
    if word in {"medium", "med", "moderate"}:
        return "medium"
    return "low"


_RISK_FREE = re.compile(
    r"\b(high|medium|low)[\s-]+risk\b|\brisk\s*(?:level|assessment|rating)?\s*"
    r"(?:is|was|:|-|=|of)?\s*(?:(?:assessed|graded|rated)\s+(?:as\s+)?)?(?:a\s+)?"
    r"(high|medium|low)\b",
    re.IGNORECASE,
)
_CONCERN = re.compile(
    r"\b(?:concern(?:ed|s)?|worried|worry|vulnerab\w*|cse|cce|exploit\w*|self[\s-]?harm\w*|"
    r"medication|diabetic|diabetes|inhaler|asthma\w*|epilep\w*|county lines|older (?:men|males|"
    r"boyfriend)|suicid\w*|drugs?|alcohol|groomed|grooming)\b",
    re.IGNORECASE,
)
_DESC = re.compile(
    r"\b(?:\d\s*(?:ft|foot|')\s*\d*|\d\.\d+\s*m\b|tall|short|slim|stocky|build|hair|eyes|"
    r"complexion|freckles|tattoo|piercing|glasses|height)\b",
    re.IGNORECASE,
)


def _sentences_matching(text: str, rx: re.Pattern[str], limit: int = 3) -> str | None:
    parts = [s.strip() for s in re.split(r"(?<!\d)[.!?](?!\d)\s+|\n", text[:MAX_SCAN])]
    found = [p for p in parts if p and rx.search(p) and len(p) < 400]
    return ". ".join(found[:limit]) or None


_SIGNOFF = re.compile(
    r"^\s*(?:many\s+thanks|thanks(?:\s+again)?|thank\s+you|kind\s+regards|best\s+regards|"
    r"warm\s+regards|regards|best\s+wishes|best|cheers|yours\s+sincerely|yours\s+faithfully|"
    r"thx|ta|speak\s+soon|with\s+thanks)\s*[,.!]*\s*(?P<same>[^\W\d_][\w'’ -]{0,40})?$",
    re.IGNORECASE | re.MULTILINE,
)


def _reporter_from_signoff(text: str) -> str | None:
    lines = text[:MAX_SCAN].split("\n")
    for i, line in enumerate(lines):
        m = _SIGNOFF.match(line)
        if not m:
            continue
        if m.group("same"):
            name = _clean_reporter(m.group("same"))
            if name:
                return name
        for nxt in lines[i + 1 : i + 3]:
            if nxt.strip():
                name = _clean_reporter(nxt.strip())
                if name:
                    return name
                break
    return None


def _clean_reporter(value: str) -> str | None:
    value = re.sub(r"\s*[\(,].*$", "", value.strip())
    words = value.split()
    if not 1 <= len(words) <= 4 or not all(w[:1].isupper() for w in words):
        return None
    if any(w.lower() in {"police", "missing", "urgent", "sent", "from"} for w in words):
        return None
    return value


def _display_name(name: str | None) -> str | None:
    if not name:
        return None
    name = name.strip().strip('"')
    if "," in name:  # "Carter, Sue" from Outlook address books
        last, _, first = name.partition(",")
        name = f"{first.strip()} {last.strip()}"
    return _clean_reporter(name)


def _guard(fn: Callable[[], T], default: T) -> T:
    try:
        return fn()
    except Exception:  # one bad rule must not lose the other fields
        return default


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


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


# ---------------------------------------------------------------------------------------------
# the reader


def extract_fields(msg: ReadMessage, *, tz: ZoneInfo, received_at: datetime) -> ReportFields:
    """Read every field we know from the form and the free text of ``msg``; never raises."""
    try:
        return _extract(msg, tz, received_at)
    except Exception:
        return ReportFields()


def _extract(msg: ReadMessage, tz: ZoneInfo, received_at: datetime) -> ReportFields:
    base = reference_time(msg.date, received_at, tz)
    text = _nfc(msg.text[:MAX_SCAN]).replace("’", "'").replace("‘", "'")
    subject = _nfc(msg.subject[:1000]).replace("’", "'")
    # The form's labels and instructions are the form talking: free-text rules read the rest.
    free = _guard(lambda: without_form_furniture(text), text)
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

    said: list[Assertion] = _guard(lambda: assertions(free), [])
    returns = [a for a in said if a.said == "returned"]
    # "found him at the park but he would not get in the car ... still out": a return that the
    # same words take back gives no return time
    contested = any(a.said == "still_missing" for a in said)

    # --- last seen
    last_seen_at: datetime | None = None
    last_seen_text: str | None = None
    location = fv("last_seen_location")
    seen_value = fv("last_seen")
    if seen_value:
        last_seen_text = seen_value
        last_seen_at, why = read_when(seen_value, base)
        if last_seen_at is None and why is None:
            last_seen_at = _dateparser_fallback(seen_value, base)
        if why:
            doubts.append(f"last seen: {why}")
        if location is None:
            location = _guard(lambda: _location_after(seen_value), None)
    if last_seen_at is None and seen_value is None:
        # the state machine and staff want the earliest fact: first trigger with a time wins
        no_time: tuple[datetime | None, str | None, str | None] = (None, None, None)
        last_seen_at, found_text, why = _guard(
            lambda: _last_seen_free(free, base, returns), no_time)
        last_seen_text = last_seen_text or found_text
        if found_text and last_seen_at is not None:
            sources["last_seen"] = found_text
        if why:
            doubts.append(f"last seen: {why}")
    seen_at = last_seen_at
    if seen_at is not None and sources.get("last_seen"):
        other = _guard(lambda: _other_time(sources["last_seen"], base, seen_at), None)
        if other:
            doubts.append(f"two possible last-seen times ({other}); the earlier one is shown")
    if location is None:
        m2 = re.search(r"\blast\s+(?:seen|saw)\b", free, re.IGNORECASE)
        if m2:
            location = _guard(lambda: _location_after(free[m2.end() : m2.end() + 300]), None)

    # --- returns
    returned_at: datetime | None = None
    rv = fv("returned_at")
    if rv:
        returned_at, why = read_when(rv, base)
        if returned_at is None and why is None:
            returned_at = _dateparser_fallback(rv, base)
        if why:
            doubts.append(f"return time: {why}")
    if returned_at is None and rv is None and not contested:
        times: list[tuple[datetime, str]] = []
        for a in returns[:10]:
            when, sentence, why = _time_near(free, a.start, a.end, base)
            if why:
                doubts.append(f"return time: {why}")
            if when is not None:
                times.append((when, sentence))
                break
        if times:
            returned_at, sources["returned_at"] = times[0]
    returned_by = fv("returned_by")
    if returned_by is None and returns:
        returned_by = _guard(lambda: _returned_by(free), None)

    safe: bool | None = None
    sw = fv("safe_and_well")
    if sw:
        if re.match(r"\s*(?:y|yes|yeah|safe|true|ok|fine|well)\b", sw, re.IGNORECASE):
            safe = True
        elif re.match(r"\s*(?:n|no|not|false)\b", sw, re.IGNORECASE):
            safe = False
    if safe is None and (returns or rv):
        safe = _guard(lambda: _safe_and_well(free), None)

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

    risk_value = fv("risk_level")
    risk = _risk_level(risk_value) if risk_value else None
    risk_notes = fv("risk_notes")
    if risk is None:
        m = _RISK_FREE.search(free)
        if m:
            risk = _risk_level(m.group(1) or m.group(2) or "")
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
    if reporter_name is None and msg.forwarded and msg.forwarded_from:
        # a forward's reporter is the carer who wrote it, not the agency that passed it on
        reporter_name = _display_name(msg.forwarded_from.split("<", 1)[0])
    if reporter_name is None:
        reporter_name = _guard(lambda: _reporter_from_signoff(free), None)
    if reporter_name is None:
        reporter_name = _display_name(msg.from_name)
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
    received = received_at if received_at.tzinfo else received_at.replace(tzinfo=UTC)
    latest = max(received, base) + DATE_SLACK_FUTURE
    if last_seen_at is not None and last_seen_at > latest:
        doubts.append("last seen: a time later than the email was received")
        last_seen_at = None
    if returned_at is not None and returned_at > latest:
        doubts.append("return time: a time later than the email was received")
        returned_at = None
    if returned_at is not None and last_seen_at is not None and returned_at < last_seen_at:
        doubts.append("the return time given is before the last sighting")
        returned_at = None
        sources.pop("returned_at", None)
    if last_seen_at is None:
        sources.pop("last_seen", None)
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


# form answers that only a report would carry ("From:" and "Phone:" lines are everywhere)
_REPORT_LABELS = frozenset({"child_id", "full_name", "date_of_birth", "last_seen",
                            "last_seen_location", "police_reference", "risk_level", "clothing",
                            "returned_at", "returned_by", "safe_and_well", "report_type"})


def _last_seen_free(
    text: str, base: datetime, returns: Sequence[Assertion] = ()
) -> tuple[datetime | None, str | None, str | None]:
    """The first trigger phrase, in order of trust, that has a time near it, and any time dropped.

    A time that belongs to a return phrase after the trigger is the return time, not a sighting.
    """
    first_sentence: str | None = None
    dropped: str | None = None
    for rx in _LAST_SEEN:
        for m in list(rx.finditer(text))[:10]:
            if _HISTORY_NEAR.search(text[max(0, m.start() - 40) : m.end() + 60]):
                continue  # "went missing last month": not this episode's sighting
            stop = next((r.start for r in returns if r.start >= m.end()), None)
            when, sentence, why = _time_near(text, m.start(), m.end(), base, stop)
            first_sentence = first_sentence or sentence[:300] or None
            dropped = dropped or why
            if when is not None:
                return when, sentence[:300], None
    return None, first_sentence, dropped


_ALTERNATIVE = re.compile(r"\s(?:but|or|although|though|whereas)\s|;", re.IGNORECASE)


def _other_time(sentence: str, base: datetime, chosen: datetime) -> str | None:
    """"left at 19:00, but the CCTV shows him at 20:15", "at 8 or 9": the times, else None."""
    either = re.search(r"\b(\d{1,2}(?:[:.]\d\d)?\s*(?:am|pm)?)\s+or\s+(?:about\s+)?"
                       r"(\d{1,2}(?:[:.]\d\d)?\s*(?:am|pm)?)\b", sentence, re.IGNORECASE)
    if either:  # "at 8 or 9"
        return f"{either.group(1).strip()} or {either.group(2).strip()}"
    parts = _ALTERNATIVE.split(sentence)
    if len(parts) < 2:
        return None
    tz = base.tzinfo
    found = {t for part in parts if (t := read_when(part, base)[0]) is not None}
    found.add(chosen.astimezone(tz))
    if len(found) < 2:
        return None
    return " and ".join(t.astimezone(tz).strftime("%H:%M") for t in sorted(found))


_HISTORY_NEAR = re.compile(r"\b(?:last\s+(?:month|year|week|time)|in\s+the\s+past|previously|"
                           r"used\s+to|since\s+the\s+\w+|twice|both\s+times)\b", re.IGNORECASE)


def _returned_by(text: str) -> str | None:
    m = re.search(
        r"\b(?:brought|returned|found|located|collected|picked\s+up|dropped)\s+(?:\w+\s+)?"
        r"(?:back\s+|home\s+|off\s+)?by\s+(?P<who>[^.,;\n]{2,60}?)(?=\s+(?:at|around|about|on|"
        r"in|this|last|yesterday|and)\b|[.,;\n]|$)",
        text, re.IGNORECASE)
    if m:
        return m.group("who").strip()
    m = re.search(
        r"\b(?P<who>(?:the\s+)?police|officers|(?:his|her|their)\s+\w+|[A-Z][a-z]+(?:\s+[A-Z][a-z]+)?)"
        r"\s+(?:brought|drove|dropped|returned|found)\s+(?:him|her|them)\b",
        text)
    if m:
        who = m.group("who")
        return who
    return None


def _safe_and_well(text: str) -> bool | None:
    m = re.search(r"\b(?:safe\s*(?:and|&|n)\s*(?:well|sound)|unharmed|unhurt|no\s+injuries|"
                  r"seems?\s+(?:fine|well|ok))\b", text, re.IGNORECASE)
    if m:
        before = text[max(0, m.start() - 20) : m.start()]
        return not re.search(r"\b(?:not|isn't|n't)\s+(?:\w+\s+)?$", before, re.IGNORECASE)
    if re.search(r"\b(?:injur(?:ed|ies|y)|in\s+hospital|taken\s+to\s+(?:a&e|hospital)|"
                 r"assaulted|hurt|bleeding)\b", text, re.IGNORECASE):
        return False
    return None
