"""Free-text phrase rules: the sentence around a trigger, a time near it, a location, risk,
description, who brought a child back and whether they are safe and well.

Each rule reads the carer's own words (form furniture already removed) and returns None when
the words do not say; "not stated" is never turned into "no".
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Literal

from mailbridge.reading.context import Assertion
from mailbridge.reading.times import read_when

RiskLevel = Literal["high", "medium", "low"]

MAX_SCAN = 20_000  # characters of text scanned by free-text rules; reports are short

# "at 5.30. I was looking": a full stop after a time ends the sentence when a capital follows
_SENTENCE_END = re.compile(r"(?<!\d)[.!?](?!\d)(?=\s|$)|(?<=\d)\.(?=\s+[A-Z])|\n")
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
    text: str, start: int, end: int, base: datetime, stop: int | None = None, *,
    words_before: bool = True, calls: bool = True,
) -> tuple[datetime | None, str, str | None]:
    """Read a time in the clause after a trigger phrase, else in its whole sentence.

    ``words_before``: the trigger's clause with the words just before it comes next, for a
    sighting ("at 3.20 he ran out"), not for when the child was missed ("when I went to shout
    him in about 5 he was gone": the earlier "out in the garden at twenty to 5" is the sighting).

    ``stop`` cuts both short where another fact begins ("missing since Thursday, has come back
    at 6pm": 6pm is the return, not the last sighting).

    ``calls``: whether the time of a call may be read; not for a sighting ("Her mum rang me at 6
    to say ... Demi was seen getting into a car this afternoon": 6 is when the mum rang).
    """
    m = _CLAUSE_END.search(text, end)
    clause = text[start : m.start() if m else len(text)]
    # a few words of context before the trigger count too ("Last night at 10 Jo went to bed")
    s_left, s_right = _sentence_around(text, start, end)
    # a message typed without stops is one "sentence": the words near the trigger first, then
    # a little further (the nearest time before the trigger is the one its story tells)
    windows = [(max(s_left, start - 80), min(s_right, end + 120)),
               (max(s_left, start - 160), min(s_right, end + 160))] \
        if s_right - s_left > 250 else [(s_left, s_right)]
    s_left, s_right = windows[-1]
    sentence = text[s_left:s_right]
    near = [text[a:b] for a, b in windows[:-1]]
    if stop is not None and stop >= end:
        clause = clause[: max(0, stop - start)]
        sentence = sentence[: max(0, stop - s_left)]
        near = [w[: max(0, stop - a)] for w, (a, _b) in zip(near, windows, strict=False)]
    dropped: str | None = None
    # "Mo went missing on Sat night. He was last seen at 23:15": a sentence with a time but no
    # day takes the day the sentences just before it named
    anchor = "" if _DAY_WORDS.search(sentence) else _day_before(text, s_left, base.year)
    # the trigger's own clause with the words just before it: "I was talking to his teacher and
    # at 3.20 he ran out the gate" (not the 3.15 earlier in the sentence)
    own_left = max((c.end() for c in _CLAUSE_END.finditer(text, s_left, start)), default=s_left)
    own = [text[own_left : start] + clause] if words_before else []
    # "Ellis left the house at half past four. That was the last time I saw him.": the sentence
    # before tells the time
    before = []
    if _THAT_WAS_THE_LAST.match(text, s_left) and s_left > 0:
        p_left, _p_right = _sentence_around(text, max(0, s_left - 2), max(0, s_left - 2))
        before = [text[p_left:s_left]]
    for words in (clause, *own, *near, sentence, *before):
        candidate = words if calls else _CALL_TIME.sub(lambda c: " " * len(c.group(0)), words)
        when, why = read_when(f"{anchor} {candidate}" if anchor else candidate, base)
        if (when is not None and when.hour < 6 and re.search(r"night|evening", anchor, re.I)
                and not re.search(r"last\s+night", anchor, re.I)
                and when + timedelta(days=1) <= base):
            when += timedelta(days=1)  # "missing yesterday evening ... back at 02:40": next day
        if when is None and anchor:
            when, why = read_when(candidate, base)
        dropped = dropped or why
        if when is not None:
            return when, " ".join(sentence.split()), None
    return None, " ".join(sentence.split()), dropped


# when someone rang, texted or reported: "rang me at 6", "I rang 101 at 20:50", "reported her to
# the police at 7.10"
_CALL_TIME = re.compile(
    r"\b(?:rang|rung|called|phoned|texted|messaged|emailed|contacted|reported\s+(?:[\w']+\s+){0,3}?"
    r"to\s+(?:the\s+)?(?:police|101))\b(?:\s+[\w']+){0,3}?\s+at\s+(?:about\s+|around\s+|approx\w*\s+)?"
    r"\d{1,2}(?:[:.]\d{2})?\s*(?:am|pm|hrs)?", re.IGNORECASE)

_THAT_WAS_THE_LAST = re.compile(r"\s*(?:that|this|which)\s+(?:was|is|'s)\s+the\s+last\s+time\b",
                                re.IGNORECASE)

# words that name the day a time is on
_DAY_WORDS = re.compile(
    r"\b(?:(?:mon|tues|wednes|thurs|fri|satur|sun)day|(?:mon|tues?|weds?|thu(?:rs?)?|fri|sat|sun)"
    r"\.?\s+(?:night|morning|afternoon|evening|eve)|today|tonight|"
    r"yesterday(?:\s+(?:morning|afternoon|evening))?|last\s+night|"
    r"this\s+(?:morning|afternoon|evening)|the\s+\d{1,2}(?:st|nd|rd|th)\b|\d{1,2}(?:st|nd|rd|th)?\s+"
    r"(?:of\s+)?(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*|\d{1,2}/\d{1,2}(?:/\d{2,4})?"
    r"|\d{4}-\d\d-\d\d)", re.IGNORECASE)


def _day_before(text: str, start: int, base_year: int | None = None) -> str:
    """The day named beside the absence in the 400 characters before ``start`` (at most two
    paragraphs back): "went missing on Sat night", "on the 14th (Monday) ... went missing";
    a day said of something else ("came to us yesterday", "DOB 11/03/2010") is not taken."""
    window = text[max(0, start - 400) : start]
    window = "\n\n".join(window.split("\n\n")[-2:])
    for m in reversed(list(_DAY_WORDS.finditer(window))):
        if _RELATIVE_DAY.match(m.group(0)):
            if re.match(r"(?:today|tonight|this\s)", m.group(0), re.IGNORECASE) and (
                    _ABSENCE_NEAR.search(window[max(0, m.start() - 40) : m.end() + 40])
                    or re.search(r"\bgone\s+again\b", window[m.end() : m.end() + 40], re.I)):
                # "You'll have had my email on Tuesday night ... Tonight she's gone again. She
                # went back out at about quarter to 9": today's absence, not Tuesday's
                return ""
            continue  # "yesterday", "tonight": the sentence's own reading counts from the email
        if re.search(r"\b(?:dob|d\.o\.b|born|birth)\W*$", window[max(0, m.start() - 15): m.start()],
                     re.IGNORECASE):
            continue
        year = re.search(r"\b((?:19|20)\d\d)\b", m.group(0))
        if year and base_year is not None and int(year.group(1)) < base_year - 1:
            continue  # "Shanice Okwuosa (02/09/2011) ... missing": a date of birth
        near = window[max(0, m.start() - 40) : m.end() + 40]
        if _ABSENCE_NEAR.search(near):
            return m.group(0)
    return ""


_RELATIVE_DAY = re.compile(r"(?:today|tonight|yesterday|last\s+night|this\s+)", re.IGNORECASE)
_ABSENCE_NEAR = re.compile(r"\b(?:missing|went\s+out|gone\s+out|left|ran\s+off|run\s+off|"
                           r"absconded|awol|did(?:\s+not|n't)\s+come|not\s+come|located|found|"
                           r"returned|came\s+back|(?:last\s+)?seen)\b", re.IGNORECASE)


_NEG = re.compile(r"(?:\bnot|n't|\bnever|\bno longer|\byet to|\bfailed to|\bdue to)\s+(?:\w+\s+)?$",
                  re.IGNORECASE)

_TO_BED_PATTERN = r"\bwent\s+(?:up\s+)?to\s+(?:bed|(?:his|her|their)\s+room|sleep)\b"
_LAST_SEEN: tuple[re.Pattern[str], ...] = tuple(
    re.compile(p, re.IGNORECASE)
    for p in (
        r"\blast\s+seen\b|\blast\s+saw\b|\bmissing\s+since\b|\bnobody\s+has\s+seen\s+\w+\s+since\b|"
        r"\blast\s+time\s+(?:anyone|anybody|someone|we|i|staff|they)\s+(?:actually\s+|really\s+|"
        r"properly\s+)?(?:saw|see|seen|had\s+seen|spoke)\b|"
        r"\bwent\s+(?:missing|awol|a\.w\.o\.l\.?)\s+(?:from\s+\w+\s+)?(?=at\b|around\b|about\b|after\b|\d)|"
        r"\bnot\s+(?:been\s+)?seen\s+(?:\w+\s+)?since\b|\blost\s+sight\s+of\b",
        # a later sighting beats when the child left: "went out at 6, was seen in town at 9"
        # a check that found the child there: "Dean checked on him at 00:50 and he was in bed"
        r"\b(?:checked|looked\s+in)\s+on\s+(?:him|her|them)\b(?=[^.!?\n]{0,50}\b(?:in\s+bed|asleep|"
        r"in\s+(?:his|her|their)\s+(?:room|bed)|was\s+there|were\s+there|fine)\b)|"
        # "At the 10pm room check Marcus was in his room" (not "At the 11pm check his room was
        # empty"): the last time staff saw the child
        r"\bat\s+the\s+[\w:.]+\s+(?:room\s+|bed\s+|night\s+|welfare\s+)?checks?\b(?=[^.!?\n]{0,60}"
        r"\b(?:was|were)\s+(?:in\s+(?:his|her|their)\s+(?:room|bed)|in\s+bed|asleep|there)\b)|"
        r"(?<!\bnot\s)(?<!\bnever\s)\b(?:was|were)\s+(?:then\s+|also\s+|last\s+)?(?:seen|spotted)\b"
        r"(?!\s+(?:since|by\s+(?:a\s+)?(?:doctor|gp|nurse)))|\bspotted\s+(?:him|her|them)\b|"
        # a sighting told with the child as object: "Jamie saw Shannon at 16:45 today"
        r"(?<!\bnot\s)(?<!\bnever\s)(?<!n't\s)\b(?:saw|spotted|seen)\s+(?:him|her|them|"
        r"(?-i:[A-Z][\w'-]+))(?:\s+(?:myself|ourselves|too|again|briefly))?(?=\s+(?:at|around|"
        r"about|just|outside|in|on|near|by|walking|getting|going)\b)",
        _TO_BED_PATTERN,
        r"\b(?:left|walked\s+out\s+of|ran\s+(?:out\s+of|off\s+from|away\s+from)|went\s+out\s+of|"
        r"absconded\s+from|stormed\s+out\s+of)\s+(?:the\s+)?(?:house|home|placement|school|unit|"
        r"property|premises|college|address)\b|\b(?:went|gone|popped|going)\s+(?:back\s+)?(?:out|oot)\b|"
        # ESOL present for past: "Tayla go out at 14:05", "She is go out yesterday"
        r"\b(?:she|he|is|(?-i:[A-Z][\w'-]+))\s+go\s+out\b|"
        # "mum say Oliwia leave mum house at 19:00"; "went off with some boys at about half 4"
        r"\b(?:she|he|(?-i:[A-Z][\w'-]+))\s+leave\s+(?!it\b)|\bwent\s+off\s+(?:with|on|in)\b|"
        # slang and the signing-out book: "did a runner", "did one", "legged it", "signed out at 2"
        r"\bdid\s+a\s+(?:runner|bunk|legger)\b|\bdid\s+one\b(?!\s+of)|\blegged\s+it\b|"
        r"\btook\s+off\b|\bsigned\s+(?:(?:him|her|them)sel(?:f|ves)\s+)?out\b(?!\s+(?:of|by|for))|"
        # "at 3.20 he ran out the gate", "she walked off towards Pitsea", "has run off"
        r"\bran\s+out\s+(?:of\s+)?(?:the\s+)?(?:(?:front|back|school|side)\s+)?(?:gates?|door)\b|"
        r"\b(?:has|had|'s)\s+run\s+(?:off|away)\b|"
        r"\b(?:left|absconded|ran\s+off|(?:stormed|slammed)\s+out|walked\s+(?:out|off)|climbed\s+out|"
        # not "it's now gone 11": past the hour
        # (not "after the clocks had gone back")
        r"(?<!clocks\shad\s)(?<!clocks\shave\s)(?<!clock\shad\s)(?<!clocks\s)"
        r"gone(?!\s+(?:\d|half\b|quarter\b|midnight\b|one\b|two\b|three\b|four\b|five\b|six\b|"
        r"seven\b|eight\b|nine\b|ten\b|eleven\b|twelve\b)))\b|"
        r"\b(?:saw|watched|seen)\s+(?:him|her|them|(?-i:[A-Z][\w'-]+))\s+(?:leave|walk|go|head|run|"
        r"get)\b",
        r"\bwent\s+(?:out\s+)?(?:in)?to\s+(?:the\s+|a\s+|his\s+|her\s+|their\s+)?\w+|"
        r"\b(?:has\s+not|hasn't|hasnt|didn't|didnt|did\s+not|failed\s+to|not)\s+"
        r"(?:returned|come\s+(?:to\s+)?(?:back|home)|came\s+(?:back|home)|return(?:ed)?)\b",
        # least trusted: the time a child was due back is when they were missed, not seen
        r"\b(?:was|were)\s+due\s+(?:back|home|in)\b|\bcurfew\b",
    )
)

_TO_BED = next(rx for rx in _LAST_SEEN if rx.pattern == _TO_BED_PATTERN)
# "last seen" and a later sighting are of equal standing ("I last saw her at 2 ... my neighbour
# saw Macy at about half past eight": the later is the last sighting); the rest in order of trust
_TIERS: tuple[tuple[re.Pattern[str], ...], ...] = ((_LAST_SEEN[0], _LAST_SEEN[1]),
                                                   *((rx,) for rx in _LAST_SEEN[2:]))

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
    # "graded him medium", "have graded her as high", "put her down as medium"
    r"\b(?:graded?|assess(?:ed)?|rated?|classed|classified|put\s+(?:him|her|them)\s+down)\s+"
    r"(?:(?:him|her|them|it)\s+)?(?:as\s+)?(?:a\s+)?(high|medium|low)\b|"
    # "we agreed the risk as MEDIUM"
    r"\b(?:agreed|set|put|recorded|logged)\s+(?:the\s+|her\s+|his\s+)?risk\s+(?:level\s+)?(?:as|at)\s+"
    r"(?:a\s+)?(high|medium|low)\b|"
    # "MFH risk: Med" (a police form's shorthand)
    r"\brisk\s*[:\-=]\s*(med)\b|"
    # "risk level has been raised to HIGH", "risk level is now high", "risk now medium"
    r"\brisk\s*(?:level|rating|grading|grade)?\s+(?:for\s+(?:[\w-]+\s+){1,3}?)?(?:has\s+been\s+|"
    r"have\s+been\s+|was\s+|is\s+|now\s+)?(?:now\s+)?(?:raised|increased|upgraded|escalated|"
    r"lowered|reduced|downgraded|changed|"
    r"moved|gone\s+(?:up|down))\s+to\s+(?:a\s+)?(high|medium|low)\b|"
    r"\brisk\s*(?:level|rating|grading|grade)?\s+(?:is\s+)?now\s+(high|medium|low)\b|"
    r"\b(high|medium|low)[\s-]+risk\b|\brisk\s*(?:level|assessment|rating|grading|grade)?\s*"
    r"(?:(?:per|in|on|from)\s+(?:his|her|their|the)\s+(?:plan|risk\s+assessment)\s*)?"
    r"(?:is|was|:|-|=|of)?\s*(?:(?:has\s+been\s+|have\s+been\s+|is\s+|was\s+|been\s+)?"
    r"(?:assessed|graded|rated)\s+(?:by\s+(?:[\w'-]+\s+){1,5}?)?(?:as\s+)?)?(?:a\s+)?"
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
    for tier in _TIERS:
        found: list[tuple[datetime, str, bool]] = []
        for m in [m for rx in tier for m in list(rx.finditer(text))[:10]]:
            s_left, s_right = _sentence_around(text, m.start(), m.end())
            if _HISTORY_NEAR.search(text[max(s_left, m.start() - 40) : min(s_right, m.end() + 60)]):
                continue  # "went missing last month": not this episode's sighting
            if re.search(r"\b(?:seen|saw|spotted)\b", m.group(0), re.IGNORECASE) and \
                    _REFUTED.search(text[s_left : _sentence_around(text, s_right + 1,
                                                                   s_right + 1)[1]]):
                continue  # "said he'd seen Kieran ... checked and it wasn't him"
            if _TO_BED.search(m.group(0)) and any(r.end <= m.start() for r in returns):
                continue  # "brought back at 01:35 ... had a sandwich and went to bed": after it
            stop = next((r.start for r in returns if r.start >= m.end()), None)
            missed = m.group(0).lower().startswith("gone")
            when, sentence, why = _time_near(text, m.start(), m.end(), base, stop,
                                             words_before=not missed, calls=False)
            first_sentence = first_sentence or sentence[:300] or None
            dropped = dropped or why
            if when is not None:
                found.append((when, sentence[:300], missed))
        if found:
            # "She left here about 4 ... Mia's mum says Lily left theirs at 7": the last sighting
            # of equal standing is the last seen ("checked at 21:50 and she was gone" is when
            # she was missed, not seen)
            seen = [f for f in found if not f[2]] or found
            when, sentence, _missed = max(seen, key=lambda f: f[0])
            return when, sentence, None
    return None, first_sentence, dropped


# a sighting taken back: "Staff went straight out and checked and it wasn't him"
_REFUTED = re.compile(r"\b(?:it\s+)?(?:was(?:n't|n’t|nt|\s+not)\s+(?:him|her|them)\b|"
                      r"turned\s+out\s+not\s+to\s+be\s+(?:him|her|them)\b|(?:was|were)\s+someone\s+else\b|"
                      r"false\s+alarm\b|mistaken\s+identity\b|not\s+(?:him|her)\s+after\s+all\b|"
                      # "I cannot say for certain that it was Ellis": no sighting to go on
                      r"(?:cannot|can't|can\s+not|couldn't|could\s+not)\s+(?:say|be)\s+(?:for\s+)?"
                      r"(?:certain|sure)\s+(?:that\s+)?it\s+was\b|"
                      r"not\s+(?:certain|sure)\s+(?:that\s+|if\s+)?it\s+was\b)",
                      re.IGNORECASE)


_ALTERNATIVE = re.compile(r"\s(?:but|or|although|though|whereas)\s|;", re.IGNORECASE)


def _other_time(sentence: str, base: datetime, chosen: datetime) -> str | None:
    """"left at 19:00, but the CCTV shows him at 20:15", "at 8 or 9": the times, else None."""
    # "at 7.30, not 5.30": the writer corrects the time; the other is not an alternative
    sentence = re.sub(r",?\s+not\s+(?:at\s+)?\d{1,2}(?:[:.]\d\d)?\s*(?:am|pm)?\b", "", sentence,
                      flags=re.IGNORECASE)
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


_HISTORY_NEAR = re.compile(r"\b(?:(?<!day\s)last\s+(?:month|year|week|"
                           r"time(?!\s+(?:anyone|anybody|someone|we|i|staff|they)\s))|in\s+the\s+past|previously|"
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
    m = re.search(r"\b(?:safe\s*(?:and|&|n)\s*(?:well|sound)|s\s?&\s?w\b|unharmed|unhurt|"
                  r"(?:no|nee|nae)\s+(?:injuries|marks)|"
                  r"seems?\s+(?:fine|well|ok)|otherwise\s+(?:fine|ok|well)|not\s+a\s+mark\s+on\s+"
                  r"(?:him|her|them)|(?:she|he)'s\s+grand|"
                  # dialect and idiom: "she were reet as rain, nowt wrong wi' her"
                  r"(?:right|reet)\s+as\s+rain|(?:nowt|nothing)\s+wrong\s+wi(?:th|')?\s+"
                  r"(?:him|her|them)|"
                  # "He's fine", "she is absolutely fine", "they're ok": said of a child back
                  r"(?:(?:he|she|they)(?:'s|'re|\s+is|\s+are|\s+was|\s+seems|\s+looks)|hes|shes|"
                  r"theyre)\s+"
                  r"(?:absolutely\s+|totally\s+|completely\s+|perfectly\s+|all\s+|really\s+)?"
                  r"(?:fine|ok|okay|alright|all\s+right|well|sound|grand|"
                  # "she's safe," said of a child back (not "safe at her friend's": located)
                  r"safe(?!\s+(?:at|with|in|there|where|somewhere|for\s+now)\b))"
                  r"(?!\s+(?:known|aware|off))"
                  r")\b", text, re.IGNORECASE)
    if m is None:  # "Both fine.", "both are ok", "back 10.40 all good": said after a return
        m = re.search(r"\bboth\s+(?:are\s+|seem\s+|look\s+)?(?:fine|ok|okay|well|safe|alright)\b|"
                      r"\ball\s+(?:good|ok|okay|fine|well)\b|"
                      # a word on its own after the return: "door 10 past 11, fine, just sulking"
                      r"\bbut\s+(?:ok|okay|fine|well|alright|safe(?!\s+(?:at|with|in|there)\b))\b|"
                      r"(?:^|[,.;]\s*)(?:fine|unhurt|ok|okay)\s*(?=[,.;!]|$|just\b|but\b|"
                      r"apart\b|a\s+bit\b)", text,
                      re.IGNORECASE | re.MULTILINE)
    if m:
        before = text[max(0, m.start() - 20) : m.start()]
        return not re.search(r"\b(?:not|isn't|n't)\s+(?:\w+\s+)?$", before, re.IGNORECASE)
    if re.search(r"\b(?:injur(?:ed|ies|y)|in\s+hospital|taken\s+(?:\w+\s+)?to\s+(?:the\s+)?"
                 r"(?:a&e|hospital|walk-in|minor\s+injur)|walk-in\s+centre|"
                 r"(?:a|some)\s+(?:cut|cuts|bruises?|wound)\s+(?:on|to)\b|bruis(?:ed|ing)|"
                 r"assaulted|hurt|bleeding)\b", text, re.IGNORECASE):
        return False
    return None
