"""When and where the child was last seen, and when, by whom and how well they came back.

Why a module of its own: the two times are the facts an episode turns on (it opens at the last
sighting and closes at the return), and reading them is the most careful part of a report: the
form's answer first, else the free text's first trigger with a time; a return the same words
take back, or that the writer is unsure of, gives no return time; a clock time said later beats
a part of the day; and no time after the email was received, none a year before it, and no
return before the last sighting. What the reader could not settle is said in ``doubts``; where
each fact was read from goes in ``sources``. ``fields.py`` reads the other facts and calls these
in its order (the order in which the form's answers are looked up, and so of ``sources``).

Pure: plain text in, plain values out; nothing here raises past :func:`~rule_guard.guard`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from zoneinfo import ZoneInfo

from mailbridge.reading.context import Assertion
from mailbridge.reading.cues import FIND_ONLY
from mailbridge.reading.phrases import (
    _last_seen_free,
    _location_after,
    _other_time,
    _returned_by,
    _safe_and_well,
    _time_near,
)
from mailbridge.reading.rule_guard import guard as _guard
from mailbridge.reading.times import _dateparser_fallback, read_when, said_as_daypart

# A form answer by its field name, None when the form leaves it blank (``fields.py``).
FormValue = Callable[[str], str | None]

# how a child arrives back, in the sentence after "X is back"
_ARRIVAL = re.compile(
    r"\b(?:dropped|brought|bring|brings|drove|driven|arrived|arriving|walked\s+in|came\s+in|"
    r"came\s+through|got\s+in|got\s+out\s+of|taxi)\b", re.IGNORECASE)
_NEXT_SENTENCE = re.compile(r"(?:[.!?](?=\s|$)|\n)\s*")


def _arrival_after(text: str, end: int, base: datetime) -> tuple[datetime | None, str, str | None]:
    """The time in the one sentence after a return that tells how the child arrived."""
    stop = _NEXT_SENTENCE.search(text, end)
    if stop is None:
        return None, "", None
    start = stop.end()
    nxt = _NEXT_SENTENCE.search(text, start)
    sentence = text[start : nxt.start() if nxt else len(text)]
    if not _ARRIVAL.search(sentence) or _NOT_THE_CHILD.search(sentence):
        return None, "", None
    when, why = read_when(sentence, base)
    return when, " ".join(sentence.split()), why


# a sentence about someone else's arrival: "Police arrived at 2 to take a statement"
_NOT_THE_CHILD = re.compile(r"\b(?:police|officers?|staff|i|we)\s+(?:arrived|came\s+in|got\s+in)\b",
                            re.IGNORECASE)


def outside_history(returns: list[Assertion], risk_notes: str | None) -> list[Assertion]:
    """The returns not told in the form's risk notes: "Risk notes: went missing 31/03 and came
    back at 2am" is the child's past, not this return."""
    history = " ".join((risk_notes or "").split())
    if not history:
        return returns
    return [a for a in returns if " ".join(a.clause.text.split()).rstrip(".") not in history]


def held_after_return(returns: Sequence[Assertion], located: Sequence[Assertion]) -> bool:
    """Found or held, not back, told after the last return to the placement: "police have found
    her and are bringing her home". A find alone is no return to the placement, so "Officers have
    located Reuben ... He is currently with officers ... Reuben was found at this address" is
    still held; "... bringing her back. Brooke is home now" is back (the later news)."""
    # ("He is safe and well" is how the child is, not where: "currently with officers ... He is
    # safe and well" is still held)
    back = [a for a in returns if not FIND_ONLY.search(a.cue)
            and not re.match(r"safe\b", a.cue, re.IGNORECASE)]
    return bool(located) and (not back or max(a.start for a in located) > back[-1].start)


# how far before the email a last sighting may be and still be read as one
_TOO_LONG_AGO = timedelta(days=365)

_FOUND_CUE = re.compile(r"\b(?:found|located|traced|picked\s+\w+\s+up)\b", re.IGNORECASE)


def last_seen(
    fv: FormValue,
    free: str,
    base: datetime,
    *,
    returns: list[Assertion],
    sources: dict[str, str],
    doubts: list[str],
) -> tuple[datetime | None, str | None, str | None]:
    """(when last seen, the words it was read from, where), from the form or the free text."""
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
    if last_seen_at is not None and last_seen_at < base - _TOO_LONG_AGO:
        # a date of birth or an old episode's date taken for the sighting: no fact
        doubts.append(f"last seen: a time ({last_seen_at:%d/%m/%Y %H:%M}) more than a year "
                      "before the email")
        last_seen_at = None
        sources.pop("last_seen", None)
    seen_at = last_seen_at
    if seen_at is not None and sources.get("last_seen"):
        other = _guard(lambda: _other_time(sources["last_seen"], base, seen_at), None)
        if other:
            doubts.append(f"two possible last-seen times ({other}); the earlier one is shown")
    if location is None:
        m2 = re.search(r"\blast\s+(?:seen|saw)\b", free, re.IGNORECASE)
        if m2:
            location = _guard(lambda: _location_after(free[m2.end() : m2.end() + 300]), None)
    return last_seen_at, last_seen_text, location


def the_return(
    fv: FormValue,
    free: str,
    base: datetime,
    *,
    said: list[Assertion],
    returns: list[Assertion],
    contested: bool,
    sources: dict[str, str],
    doubts: list[str],
) -> tuple[datetime | None, str | None, bool | None]:
    """(when back, who brought them back, safe and well), from the form or the free text;
    ``contested``: the words take the return back, or the writer is not sure of it."""
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
        # the time the child was back at the placement: "dropped him back at twenty to ten"
        # and "arriving 02:25" beat "found at 21:10" and "located at 01:40"
        # "has asked me to let you know that Reece returned to placement at 19:40. He was
        # dropped back by police": the time may be in the words passed on
        passed_on = [a for a in said if a.said == "reported_return"] if returns else []
        for a in sorted([*returns[:10], *passed_on[:5]],
                        key=lambda r: (r.said != "returned", bool(_FOUND_CUE.search(r.cue)))):
            when, sentence, why = _time_near(free, a.start, a.end, base)
            if why:
                doubts.append(f"return time: {why}")
            if when is not None:
                times.append((when, sentence))
                if not said_as_daypart(sentence):
                    break
                # "came home in the early hours ... brought him back at about 4.20am": a clock
                # time said later beats a part of the day
        if not times and returns:
            # "Kane's back. A taxi dropped him at the front at 1.10": no time beside any
            # return, so the arrival told in the sentence after the first one
            nothing: tuple[datetime | None, str, str | None] = (None, "", None)
            when, sentence, why = _guard(partial(_arrival_after, free, returns[0].end, base),
                                         nothing)
            if why:
                doubts.append(f"return time: {why}")
            if when is not None:
                times.append((when, sentence))
        times.sort(key=lambda t: said_as_daypart(t[1]))
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
    return returned_at, returned_by, safe


def settle_times(
    last_seen_at: datetime | None,
    returned_at: datetime | None,
    *,
    received_at: datetime,
    sources: dict[str, str],
    doubts: list[str],
    tz: ZoneInfo,
) -> tuple[datetime | None, datetime | None]:
    """The two times without a fact after the email, nor a return before the last sighting."""
    # the receipt, exactly: a sender's clock ahead of ours (the Date header) is no licence for a
    # time we have not reached yet
    latest = received_at if received_at.tzinfo else received_at.replace(tzinfo=UTC)
    if last_seen_at is not None and last_seen_at > latest:
        doubts.append("last seen: a time later than the email was received")
        last_seen_at = None
    if returned_at is not None and returned_at > latest:
        doubts.append("return time: a time later than the email was received")
        returned_at = None
    if returned_at is not None and last_seen_at is not None and returned_at < last_seen_at:
        returned_at = _after_midnight(returned_at, last_seen_at, latest, tz)
    if returned_at is not None and last_seen_at is not None and returned_at < last_seen_at:
        returned_at = _in_the_evening(returned_at, last_seen_at, latest, sources.get("returned_at"))
    if returned_at is not None and last_seen_at is not None and returned_at < last_seen_at:
        doubts.append("the return time given is before the last sighting")
        returned_at = None
        sources.pop("returned_at", None)
    if last_seen_at is None:
        sources.pop("last_seen", None)
    return last_seen_at, returned_at


def _after_midnight(
    returned_at: datetime, last_seen_at: datetime, latest: datetime, tz: ZoneInfo
) -> datetime:
    """"Went out at 22:10 last night ... came back at 02:20", "last seen 16:00 yesterday, Friday
    ... came back home at 00:50": a return in the small hours read on the day of an afternoon or
    evening sighting is the next morning, when that is within 12 hours of the sighting and not
    after the email. Anything else stays before the sighting (a conflict, never a return)."""
    back, seen = returned_at.astimezone(tz), last_seen_at.astimezone(tz)
    if back.hour >= 6 or seen.hour < 12:
        return returned_at
    rolled = datetime.combine(back.date() + timedelta(days=1), back.time(),
                              tzinfo=tz)
    if last_seen_at < rolled <= latest and rolled - last_seen_at <= timedelta(hours=12):
        return rolled
    return returned_at


def _in_the_evening(
    returned_at: datetime, last_seen_at: datetime, latest: datetime, said: str | None
) -> datetime:
    """"Went out about half 7 tonight ... dropped her back at 11.50", sent at 00:35: a clock
    time with no am or pm that reads before the sighting is the evening's, when that falls
    between the sighting and the email. A time said as morning stays (a conflict)."""
    if returned_at.hour >= 12 or (said and _MORNING_SAID.search(said)):
        return returned_at
    later = returned_at + timedelta(hours=12)
    return later if last_seen_at < later <= latest else returned_at


# (a 24-hour time with its leading zero, "02:00", "0200hrs", is the small hours too)
_MORNING_SAID = re.compile(r"\d\s*(?:am|a\.m\.?)|\bmorning\b|\bbreakfast\b|\b0\d[:.]\d\d\b|"
                           r"\b0\d{3}\s*hrs\b", re.IGNORECASE)
