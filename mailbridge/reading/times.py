"""Times in carers' words: "half eight", "last night around 10", "26/11", to an aware datetime.

Our own rules, because dateparser reads "last night around 10" as 10:00; dateparser (pinned,
strict, day-first) is only a fallback for odd absolute dates in form values. ``read_when`` never
gives a time after the email: a stated time that would be is dropped with the reason, which the
caller records as a doubt. Pure; nothing here raises out of the public functions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

DATE_SLACK_FUTURE = timedelta(minutes=15)
DATE_SLACK_PAST = timedelta(days=3)

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
             "thur": 3, "thurs": 3, "fri": 4, "sat": 5, "sun": 6, "weds": 2}

_ISO_DATE = re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b")
_NUM_DATE = re.compile(r"(?<![\d/.:])(\d{1,2})([/.-])(\d{1,2})(?:\2(\d{4}|\d{2}))?(?![\d/:]|\.\d)")
_DMY_WORDS = re.compile(
    rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH}\b\.?(?:,?\s+(\d{{4}}))?", re.IGNORECASE)
_MDY_WORDS = re.compile(
    rf"\b{_MONTH}\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?\b(?:,?\s+(\d{{4}}))?", re.IGNORECASE)
_WEEKDAY = re.compile(
    r"\b(monday|tuesday|wednesday|thursday|friday|saturday|sunday|"
    # an abbreviation only before a date or a part of the day: "Sat night", "Weds 2nd"
    r"(?:mon|tues?|weds?|thu(?:rs?)?|fri|sat|sun)(?=\.?\s+(?:\d|night|morning|afternoon|evening|"
    r"eve)\b))\b", re.IGNORECASE)
# "on the 14th", a day of this month (or last month's, when that is still to come)
_ORDINAL_DAY = re.compile(r"\bthe\s+(\d{1,2})(?:st|nd|rd|th)\b(?!\s+(?:of\s+)?(?:time|floor|"
                          r"birthday|episode|missing|jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|"
                          r"dec))", re.IGNORECASE)
_HHMM = re.compile(r"(?<![\d/])([01]?\d|2[0-3])[:.]([0-5]\d)(?![\d/])\s*(a\.?m\b\.?|p\.?m\b\.?)?",
                   re.IGNORECASE)
_HAMPM = re.compile(r"(?<![\d:.])(\d{1,2})\s*(a\.?m\b\.?|p\.?m\b\.?)", re.IGNORECASE)
_HRS = re.compile(r"(?<![\d:.])([01]\d|2[0-3])([0-5]\d)\s*(?:hrs|hours|h)\b", re.IGNORECASE)
# the 24-hour clock without "hrs" after a time word: "came home at 0230", "about 2130" (not
# "since 2019", a year, nor "log 2204 of", a reference)
_MILITARY = re.compile(r"\b(?:at|around|about|approx(?:imately|\.)?|gone|just\s+(?:after|before)|"
                       r"(?:walked|came|got)\s+in|back)"
                       r"\s+([01]\d|2[0-3])([0-5]\d)\b(?!\s*(?:of\b|[/:.]\d))", re.IGNORECASE)
_MINWORDS = {"five": 5, "ten": 10, "quarter": 15, "twenty": 20, "twenty five": 25,
             "twenty-five": 25, "half": 30}
_HALF = re.compile(
    rf"\b(half|quarter|(?:five|ten|twenty(?:[\s-]five)?|\d{{1,2}})(?:\s*min(?:ute)?s)?)\s+(past|to|after)"
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


_BIRTH_BEFORE = re.compile(r"(?:\bdob|\bd\.o\.b\.?|\bborn(?:\s+on)?|\bbirth)\W*$", re.IGNORECASE)


def _find_date(text: str, base: datetime) -> tuple[date | None, bool, tuple[int, int] | None]:
    """(date, year_given, span) for the first absolute date in text."""
    for m in _ISO_DATE.finditer(text):
        try:
            return date(int(m.group(1)), int(m.group(2)), int(m.group(3))), True, m.span()
        except ValueError:
            continue
    for m in _NUM_DATE.finditer(text):
        if _BIRTH_BEFORE.search(text[max(0, m.start() - 20) : m.start()]):
            continue  # "KM dob 02/09/12 awol from 1400hrs": a birthday, not the day it happened
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
    for m in _ORDINAL_DAY.finditer(text):
        d = int(m.group(1))
        month_start = base.date().replace(day=1)
        for first in (month_start, (month_start - timedelta(days=1)).replace(day=1)):
            try:
                found = first.replace(day=d)
            except ValueError:
                continue
            if found <= base.date():
                return found, False, m.span()
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
    if m := _HRS.search(text) or _MILITARY.search(text):
        found.append((m.start(1), _Clock(int(m.group(1)), int(m.group(2)), True)))
    if m := _HALF.search(text):
        # "ten minutes to nine" is "ten to nine"
        word = " ".join(m.group(1).lower().replace("-", " ").split())
        word = re.sub(r"\s*min(?:ute)?s$", "", word)
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
    if m := re.search(r"\b(?:midday|noon)\b", text, re.IGNORECASE):
        found.append((m.start(), _Clock(12, 0, True)))
    if not found and (m := re.search(r"\blunch ?time\b", text, re.IGNORECASE)):
        found.append((m.start(), _Clock(12, 0, True)))  # "at lunchtime (12.30)": the clock wins
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


ROLL_BACK_LIMIT = timedelta(hours=20)  # how far "at 8.15" may reach back into the day before


def said_as_daypart(text: str) -> bool:
    """A time said only as a part of the day ("in the early hours"), with no clock time: a
    clock time said of the same event elsewhere is the better one."""
    return bool(_DAYPART.search(text)) and not re.search(
        r"\d|\b(?:half|quarter|o'?\s?clock|midnight|noon)\b", text, re.IGNORECASE)


def read_when(text: str, base: datetime) -> tuple[datetime | None, str | None]:
    """``parse_when`` and, when a stated time was dropped, why (for needs_confirmation).

    "at 8.15" in mail sent at 06:00 is read as the previous evening, because the words allow
    it; "at 8.15 this morning" or "today 19:30" in mail sent earlier that day cannot have
    happened yet, so no time is stored and the reason says what to check.
    """
    if len(text) > 500:  # cut at a space: "14/10/2026" cut to "14/10/20" is another year
        text = text[:500].rsplit(None, 1)[0]
    try:
        result = _parse_when(text, base)
    except Exception:  # rules over hostile text must not raise
        return None, None
    # compared as instants: in the hour the clocks go back, "01:50 GMT" (fold=1) is after an
    # email sent at 01:55 BST, which a wall-clock comparison in one zone would not see
    if result is not None and result.astimezone(UTC) > base.astimezone(UTC) + DATE_SLACK_FUTURE:
        local = result.strftime("%d/%m %H:%M")
        return None, f"a time ({local}) later than the email was sent"
    return result, None


# "10 mins ago", "about an hour ago", "half an hour ago": before the email was written
_AGO = re.compile(r"\b(\d{1,3}|an?|one|two|three|four|five|ten|twenty|half\s+an?)\s*"
                  r"(mins?|minutes?|hours?|hrs?)\s+ago\b")
_AGO_WORDS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "ten": 10,
              "twenty": 20}


def _ago(low: str, base: datetime) -> datetime | None:
    m = _AGO.search(low)
    if m is None:
        return None
    amount = m.group(1)
    count = 0.5 if amount.startswith("half") else _AGO_WORDS.get(amount) or int(amount)
    minutes = count * (60 if m.group(2).startswith("h") else 1)
    if not 0 < minutes <= 24 * 60:
        return None
    return (base - timedelta(minutes=minutes)).replace(second=0, microsecond=0)


# Scots and northern spellings of the words times are built from: "aboot hauf eleven", "last
# neet", "the nicht"
_DIALECT = re.compile(r"\b(?:aboot|abaht|hauf|the\s+neet|the\s+nicht|neet|nicht|roond|"
                      r"today\s+morning|(?<=\d\s)the\s+night)\b")
_DIALECT_WORDS = {"aboot": "about", "abaht": "about", "hauf": "half", "neet": "night",
                  "nicht": "night", "roond": "round", "the neet": "tonight", "the nicht": "tonight",
                  "today morning": "this morning", "the night": "tonight"}


_NEXT_DAY = re.compile(r"\b(?:the\s+)?(?:next|following)\s+(?:morning|day|afternoon)\b")


def _parse_when(text: str, base: datetime) -> datetime | None:
    tz = base.tzinfo
    low = _DIALECT.sub(lambda m: _DIALECT_WORDS[" ".join(m.group(0).split())], text.lower())
    # "since last Monday - a week today": the weekday says the day, "today" only repeats it
    low = re.sub(r"\ba\s+week\s+(?:ago\s+)?(?:today|tonight)\b", " ", low)
    day, year_given, span = _find_date(low, base)
    rest = _blank(low, span)
    m4 = _HOUR_4.match(rest)
    clock = _Clock(int(m4.group(1)), int(m4.group(2)), True) if m4 else _find_clock(rest)
    if clock is None:
        # "10 mins ago": only when no clock time is written beside it ("walked in 5 mins ago
        # about 10 past 9" is 21:10, the time the writer gives)
        return _ago(low, base)
    period_m = _PERIOD.search(rest)
    period = period_m.group(1).lower() if period_m else ""
    hint: str | None = None
    if "morning" in period or period in ("breakfast", "early hours"):
        hint = "am"
    elif period in {"after school", "dinner", "tea time", "teatime", "supper"} or (
            "afternoon" in period or "evening" in period):
        # "quarter to six this evening" is 17:45; only "night" reaches into the small hours
        hint = "pm"
    elif period:
        hint = "night"

    base_day = base.date()
    implied_day = False
    evening_gone = False
    if day is None:
        if re.search(r"\bday before yesterday\b", rest):
            day = base_day - timedelta(days=2)
        elif "last night" in rest:
            day = base_day - timedelta(days=1)
            hint = "night"
        elif re.search(r"\byesterday\b", rest):
            day = base_day - timedelta(days=1)
        elif re.search(r"\b(?:tonight|this evening)\b", rest) and base.hour < 5:
            # "went out at 11pm tonight" in mail sent at 00:20: the evening just gone
            day = base_day - timedelta(days=1)
            evening_gone = True
        elif re.search(r"\b(?:today|tonight|this (?:morning|afternoon|evening))\b", rest):
            day = base_day
        elif wm := _WEEKDAY.search(rest):
            wanted = _WEEKDAYS[wm.group(1).lower()[:5].rstrip(".")] if wm.group(1).lower()[
                :5].rstrip(".") in _WEEKDAYS else _WEEKDAYS[wm.group(1).lower()[:3]]
            back = (base_day.weekday() - wanted) % 7
            if re.search(r"\blast\s+week\b", rest):
                # "Thursday last week": that day of the calendar week before this one
                back = base_day.weekday() + 7 - wanted
            elif back == 0 and re.search(r"\blast\s+" + re.escape(wm.group(1).lower()), rest):
                back = 7  # "last Monday", written on a Monday: a week ago
            day = base_day - timedelta(days=back)
        else:
            day = base_day
            implied_day = True
    if not implied_day and day < base_day and _NEXT_DAY.search(rest):
        # "went missing on the 14th ... came back the next morning about 9"
        day = day + timedelta(days=1)
        hint = hint or ("am" if "morning" in rest else None)

    hour, minute = clock.hour, clock.minute
    if not clock.explicit:
        if hint == "am":
            hour = 0 if hour == 12 else hour
        elif hint == "pm":
            hour = hour + 12 if hour < 12 else hour
        elif hint == "night":
            if hour == 12:  # "midnight-ish at 12 last night" is the start of the next day
                hour, day = 0, (day + timedelta(days=1) if "last night" in rest or evening_gone
                                else day)
            elif hour in (4, 5) and re.search(r"\btonight\b", rest) and datetime(
                    day.year, day.month, day.day, hour + 12, minute, tzinfo=tz) <= base + \
                    DATE_SLACK_FUTURE:
                hour += 12  # "went out about 5 o'clock tonight": the evening, not 05:00
            elif hour <= 5:
                # "last night at 2" is the small hours of the following day
                day = day + timedelta(days=1) if "last night" in rest or evening_gone else day
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

    # the hour the clocks go back happens twice: "01:50 - that's GMT", "01:35 NEW time" is the
    # second (standard time); "BST", "old time" or nothing said, the first
    fold = 1 if (said := _CLOCK_SAID.search(rest)) and said.group(1) else 0
    result = datetime(day.year, day.month, day.day, hour, minute, tzinfo=tz, fold=fold)
    if result > base + DATE_SLACK_FUTURE:
        if implied_day:
            # "at 23:40" in mail sent at 00:10 is last night; "walked in at 7.45pm" in mail sent
            # at 19:05 is not yesterday evening, nearly a day before the news: a time after the
            # email, which the caller drops with a doubt
            earlier = result - timedelta(days=1)
            if base - earlier <= ROLL_BACK_LIMIT:
                result = earlier
        elif span is not None and not year_given:
            try:
                result = result.replace(year=result.year - 1)
            except ValueError:
                return None
        elif _WEEKDAY.search(rest) and span is None and not re.search(r"\btoday\b", rest):
            result = result - timedelta(days=7)
    return result


# which clock a time was told on, the first said: (GMT, new time) or (BST, old time)
_CLOCK_SAID = re.compile(r"\b(?:(gmt|utc|new\s+time|winter\s+time|after\s+the\s+clocks?\s+"
                         r"(?:had\s+|have\s+)?(?:gone|went)\s+back)|bst|old\s+time|summer\s+time|"
                         r"before\s+the\s+clocks?\s+(?:had\s+|have\s+)?(?:gone|went)\s+back)\b")


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
