"""What each sentence of a carer's words asserts: the child is back, is missing, or neither.

"has come back", "due back at 9", "said she would come back", "came back both times last month"
all carry return words; only the first says the child is back now. This is the ConText idea from
clinical text (a cue, then modifiers that negate it, make it hypothetical, or put it in the past)
written as rules for carers' English. medspacy and negspacy were measured against these rules on
the report corpus (docs/reading.md, "Context rules"): they need entity patterns for every cue and
did worse on phone-typed text without punctuation, so the rules stay.

Pure and total: every function returns something for any text and never raises.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, replace
from typing import Literal

from mailbridge.reading.cues import (
    AHEAD,
    AS_PLANNED_AFTER,
    CALLED_BEFORE,
    COPULA,
    DAY_AHEAD,
    DONE,
    DOUBTED_RETURN,
    FETCHED,
    HISTORY,
    HYPOTHETICAL_BEFORE,
    MISS_A_THING,
    MISSING_AS_NAME,
    MISSING_CUES,
    NEGATED_MISSING,
    NEGATION_BEFORE,
    NOT_BACK_YET,
    OUTING_AFTER,
    OWN_CLAUSE,
    OWN_MOVE,
    PAST_ACT,
    QUESTION,
    REPORTED_BEFORE,
    RETURN_CUES,
    ROUTINE_AFTER,
    SEEN_HOME,
    SOMEONE,
    SPEECH_VERB,
    STILL_CUES,
    THING_BEFORE,
    THIRD_PARTY,
    UNSURE_RETURN,
    WE_TOLD,
    WITH_CHILD,
    WRITER_JUST_BEFORE,
    WRITER_OUT,
)

__all__ = ["Assertion", "Clause", "assertions", "clauses",
           "denies_missing", "news_of", "sentence_of"]

# "reported_return": someone else's word that the child is back ("her friend's mum says she is
# back at theirs"); "unsure_return": the writer's own hedge ("I think she might be back"). Neither
# closes an episode; staff are asked to confirm
Said = Literal["returned", "missing", "still_missing", "reported_return", "unsure_return",
               "located"]

MAX_TEXT = 20_000


@dataclass(frozen=True)
class Clause:
    """A sentence, or part of one joined by "but"/";", with its place in the text."""

    start: int
    end: int
    text: str


@dataclass(frozen=True)
class Assertion:
    """One cue that holds now (not negated, hypothetical, reported or past), and its clause."""

    said: Said
    cue: str
    clause: Clause
    start: int  # the cue's offsets in the whole text
    end: int


# -- splitting ---------------------------------------------------------------------------------

# sentence ends: ". " "! " "? " (not "8.15", "e.g."), a line end, a bullet
_SENT_END = re.compile(r"(?<!\s[A-Za-z])(?<!^[A-Za-z])(?<!\.[A-Za-z])[.!?]+(?=\s|$)|\n")
# clause breaks inside a sentence: "X is back but Y is still out"
_CLAUSE_BREAK = re.compile(r";|\s(?:but|whereas|while|however|although)\s|,\s(?:and|but)\s",
                           re.IGNORECASE)


def clauses(text: str) -> list[Clause]:
    """The clauses of ``text`` in order, with their offsets."""
    out: list[Clause] = []
    text = text[:MAX_TEXT]
    pos = 0
    for m in [*_SENT_END.finditer(text), None]:
        end = m.end() if m is not None else len(text)
        _split_clauses(text, pos, end, out)
        pos = end
    return out


def _split_clauses(text: str, start: int, end: int, out: list[Clause]) -> None:
    pos = start
    for m in _CLAUSE_BREAK.finditer(text, start, end):
        _add(text, pos, m.start(), out)
        pos = m.start()
    _add(text, pos, end, out)


def _add(text: str, start: int, end: int, out: list[Clause]) -> None:
    piece = text[start:end]
    stripped = piece.strip()
    if len(re.sub(r"\W", "", stripped)) < 2:
        return
    lead = len(piece) - len(piece.lstrip())
    out.append(Clause(start + lead, start + lead + len(stripped), stripped))


def sentence_of(text: str, start: int, end: int) -> str:
    """The whole sentence around [start, end), for provenance ("from: 'left about half eight'")."""
    left = 0
    for m in _SENT_END.finditer(text, 0, start):
        left = m.end()
    m2 = _SENT_END.search(text, end)
    right = m2.end() if m2 else len(text)
    return " ".join(text[left:right].split())[:300]



def _own_move(clause: str, start: int, end: int) -> bool:
    """"(I got back at 10.50)", "I've been round the estate, got back home at 10": the writer's
    own coming back, told while looking for the child, is not the child's return ("I collected
    her and we got home at 8.40" is)."""
    if not OWN_MOVE.match(clause[start:end]) or WITH_CHILD.match(clause[end:]):
        return False
    before = clause[:start]
    if FETCHED.search(before):
        return False
    if WRITER_JUST_BEFORE.search(before):
        return True
    # "I've been back and forth to the park ..., got back"; "Maisie has had a good half-term, we
    # went to my sister's ... and came back Thursday"
    starts = list(WRITER_OUT.finditer(before))
    return bool(starts) and not SOMEONE.search(before[starts[-1].end():])


# another person who was not in: "she went to her mum's but mum wasn't in"
_SOMEONE_ELSE_OUT = re.compile(
    r"\b(?:mum|dad|mother|father|nan|nana|gran|grandma|grandad|auntie|aunt|uncle|friend|mate|"
    r"nobody|no\s+one|no-one)\s+$|"
    # a thing, not a child: "Lounge fire door alarm went off again at 02:00"
    r"\b(?:alarms?|bells?|sirens?|buzzers?|sensors?|detectors?|phones?|lights?|power|heating|"
    r"boiler|fuses?|electrics?|wi-?fi|internet|router|tv|telly|car|engine|smoke|"
    # "his bike has gone missing"
    r"bikes?|scooter|wallet|purse|bag|money|keys|coat|jacket|trainers|laptop|ipad|tablet|meds|"
    r"medication|passport|charger)\s+$",
    re.IGNORECASE)


def _in_quoted_speech(clause: str, start: int) -> bool:
    """The cue stands inside a quotation opened after a verb of speech in its clause."""
    before = clause[:start]
    opened = max(before.rfind("\u201c"), before.rfind('"') if before.count('"') % 2 else -1)
    if opened < 0 or "\u201d" in before[opened:]:
        return False
    return SPEECH_VERB.search(before[:opened]) is not None


def _modified(clause: str, start: int, end: int) -> str | None:
    """Why a cue at [start, end) of ``clause`` does not hold now, or None when it does."""
    before = clause[max(0, start - 60) : start]
    if re.match(r"\s*in\s+(?:contact|touch)\b", clause[end:], re.IGNORECASE):
        return "contact"  # "Chantelle is back in contact": heard from, not back
    if MISSING_AS_NAME.match(clause[start:]):
        return "label"  # "Dear Missing Children Team", "missing from care training": a name
    if re.search(r"\b(?:is|are|was|were)\s+(?:now\s+)?being\s+$", before, re.IGNORECASE):
        return "hypothetical"  # "He is being conveyed back to the home address": not there yet
    if re.match(r"[^.!?\n]{0,30}?\bthrough\s+(?:the\s+)?reception\b|\s+(?:to|at)\s+"
                r"(?:school|college)\b", clause[end:], re.IGNORECASE):
        return "routine"  # "He came in on his own through reception" (a school's)
    if re.match(r"missing\s+(?:log|register|records?)\b", clause[start:], re.IGNORECASE) and (
            re.search(r"\b(?:the|our|your)\s+$", before, re.IGNORECASE)):
        return "label"  # "For the missing log:" (not "shes missing log number 2234")
    if re.match(r"['’]s\b", clause[start:end]) and re.search(
            r"\b(?:at|to|from|in|into|near|outside|round|around|by|leaving|left|of)\s+"
            r"(?:(?-i:[A-Z])[\w'-]+\s+)?(?-i:[A-Z])[\w-]+$", before, re.IGNORECASE):
        return "thing"  # "the interview is at Yvonne's home.": her house, not a return
    if MISS_A_THING.match(clause[start:]):
        return "verb"  # "the delivery came, missing the oat milk again": to miss a thing
    if re.search(r"\bas\s+(?:normal|usual)\s+(?:and\s+)?$", before, re.IGNORECASE):
        return "routine"  # "Tia got off as normal and is home": not a return from missing
    if re.match(r"back\b", clause[start:end], re.IGNORECASE) and CALLED_BEFORE.search(before):
        return "callback"  # "he rang me back at 7.20": a phone call, not a return
    if re.search(r"\bback$", clause[start:end], re.IGNORECASE) and re.match(
            r"\s+to\s+(?:me|us|you)\b", clause[end:], re.IGNORECASE) and re.search(
            r"\b(?:nobody|no\s+one|anyone|anybody|team|duty|worker|manager|office|council)\b",
            before, re.IGNORECASE):
        return "callback"  # "nobody from the duty team has come back to me yet": an answer
    if re.search(r"\bclocks?\s+(?:went|go|goes|going|have\s+gone|had\s+gone|will\s+go|"
                 r"changed?)\s+$", before, re.IGNORECASE):
        return "thing"  # "the clocks went back at 2 tonight"
    if re.search(r"\bwithout\s+(?:him|her|them)(?=\s*(?:[.,;:!?)]|$|\s(?:and|but|so|as|who|"
                 r"because)\b))", clause[end:], re.IGNORECASE) or re.search(
            r"(?<!\band\s)(?<!&\s)\b(?:his|her|their|the\s+other|(?-i:[A-Z])[\w-]+['’]s)\s+"
            r"(?:little\s+|big\s+|older\s+|younger\s+)?(?:sister|"
            r"brother|friend|mate|cousin|boyfriend|girlfriend|pal|girl|boy|lad)s?\s+"
            # "his brother mason came back at half 4": the relation, then their name
            r"(?:(?!(?:and|&|has|had|just|who|was|is)\b)[A-Za-z][\w'-]+\s+)?(?:has\s+|had\s+|"
            r"just\s+)?$", before, re.IGNORECASE):
        return "other"  # "Her sister came back at 23:10 without her": someone else's return
    if re.search(r"\b(?:a|an|another|some)\s+(?:girl|boy|lad|lass|young\s+(?:person|man|woman|"
                 r"lad)|kid|child|teenager|teen|man|woman|person)\b[^,.;!?]{0,40}$|"
                 r"\b(?:someone|somebody)\b[^,.;!?]{0,30}$", before, re.IGNORECASE):
        return "other"  # "a girl matching her description came in, bought a drink": not her
    if AS_PLANNED_AFTER.match(clause[end:]):
        return "routine"  # "came home at 7 on his own, like he was supposed to"
    if _in_quoted_speech(clause, start):
        return "reported"  # 'told his key worker he would run off "and not come back"'
    if DONE.match(clause[start:end]) and OUTING_AFTER.match(clause[end:]):
        return "routine"  # "came back with staff at 11.45pm from the family party"
    if re.match(r"(?:.*\b)?(?:found|located)$", clause[start:end], re.IGNORECASE) and re.match(
            r"\s+(?:his|her|their|the)\s+(?:bed|room|door|window|phone|bag|coat|bike|note)\b",
            clause[end:], re.IGNORECASE):
        return "thing"  # "I found his bed empty at 7": found a thing, not the child
    if DONE.match(clause[start:end]) and ROUTINE_AFTER.match(clause[end:]):
        return "routine"  # "came in from school at 4 as normal": a day's routine, not a return
    if COPULA.match(clause[start:end]) and THING_BEFORE.search(before):
        return "thing"  # "Jay's bike is back in the garage", "her phone is back on"
    if _own_move(clause, start, end):
        return "self"
    if re.search(r"/\s*$", before) or re.match(r"\s*/", clause[end:]):
        return "label"  # a table's or form's heading: "Last seen / returned"
    if re.match(r"'s\s+(?-i:Home)", clause[start:end]) or re.search(
            r"\b(?:children|people|women|men|boys|girls)$", before, re.IGNORECASE):
        return "label"  # "Riverside Children's Home": a place's name
    if NEGATION_BEFORE.search(before):
        return "negated"
    # "messaged to say she is back", "rang to let us know": reporting, not an intention
    before = re.sub(r"\b(?:(?:has|have|had)\s+)?(?:asked|wants|wanted)\s+(?:me|us)\s+to\s+(?:let\s+"
                    r"\w+\s+know|tell\s+\w+|say|pass\s+(?:it\s+)?on)\b|\bto\s+(?:say|tell\s+\w+|"
                    r"let\s+\w+\s+know)\b", " ", before, flags=re.IGNORECASE)
    # a plan's words reach no further than its own clause: in "we haven't spoken to Mira and
    # she is not answering", "to" is about speaking, and "she is not answering" is now
    hypothetical = HYPOTHETICAL_BEFORE.search(OWN_CLAUSE.split(before)[-1])
    if (hypothetical and PAST_ACT.match(clause[start:end])
            and re.match(r"(?:when|until|till|til)\b", hypothetical.group(0), re.IGNORECASE)
            and not AHEAD.search(clause[:start])):
        hypothetical = None  # "not until gone 11 when the police dropped her off": it happened
    if hypothetical or re.search(r"\b(?:if|unless|in\s+case)\b", clause[:start], re.IGNORECASE):
        return "hypothetical"
    if (REPORTED_BEFORE.search(clause[:start]) and not WE_TOLD.search(clause[:start])) or \
            THIRD_PARTY.search(clause[:start]):
        return "reported"
    after = clause[end : end + 20]
    if re.match(r"\s*(?:yet\b|by\s+\d|by\s+(?:ten|nine|eleven|midnight|\w+\s+o'?clock)|"
                r"later|tomorrow|soon)", after, re.IGNORECASE):
        return "hypothetical"
    if DAY_AHEAD.match(after) and not DONE.match(clause[start:end]):
        # "she's back Sunday", "back home on the 31st": a plan; "came back on the 3rd": done
        return "hypothetical"
    if HISTORY.search(_near(clause, start, end)):
        return "history"
    if QUESTION.search(clause):
        return "question"
    return None


def assertions(text: str) -> list[Assertion]:
    """Every cue that holds now, clause by clause, in text order."""
    return list(_assertions_of(text))


# The fields and the classification of one message each ask what its words assert, most often of
# the same text: it is read once. The answer depends on the text alone and is immutable (frozen
# dataclasses in a tuple), so a cache changes nothing but the time; it is bounded by count.
@functools.lru_cache(maxsize=64)
def _assertions_of(text: str) -> tuple[Assertion, ...]:
    try:
        return tuple(_assertions(text))
    except Exception:  # rules over hostile text must not raise
        return ()


def _assertions(text: str) -> list[Assertion]:
    out: list[Assertion] = []
    own_moves: list[Assertion] = []
    for clause in clauses(text):
        c = clause.text
        # 'he said he will run off "and not come back this time"': the words of someone else,
        # quoted, are no absence now (the clause's other cues still count)
        still = [m for m in STILL_CUES.finditer(c)
                 if not _history_or_question(c, m.start(), m.end())
                 and not _in_quoted_speech(c, m.start())
                 and not _SOMEONE_ELSE_OUT.search(c[max(0, m.start() - 30): m.start()])]
        taken: list[tuple[int, int]] = []
        for m in still:
            if _BARE_GONE.match(m.group(0)) and NEGATION_BEFORE.search(
                    c[max(0, m.start() - 40): m.start()]):
                continue  # "Josh hasn't gone missing since December": no absence now
            if re.match(r"(?:wasn't|weren't|wasnt|werent|was\s+not|were\s+not|hadn't|had\s+not|"
                        r"didn't|did\s+not)\b", m.group(0), re.I) and re.search(
                    r"\b(?:when|once|after|as)\s+(?:he|she|they|(?-i:[A-Z])[\w'-]+)\s+$",
                    c[max(0, m.start() - 30): m.start()], re.I):
                continue  # "When they weren't back by half 4 I rang round": the story told
            if re.search(r"\babout\s+(?:him|her|them|(?-i:[A-Z])[\w'-]+)\s+$",
                         c[max(0, m.start() - 30): m.start()], re.I):
                continue  # "my mum emailed you earlier about him not coming back": the topic
            if re.search(r"\b(?:no\s+one|nobody|none\s+of\s+them|no\s+young\s+(?:person|people)|"
                         r"no\s+child(?:ren)?)\s+$", c[max(0, m.start() - 24): m.start()], re.I):
                continue  # "No one is currently missing"
            if REPORTED_BEFORE.search(c[: m.start()]) and not re.search(
                    r"\b(?:still|not|never|no\s+sign)\b", m.group(0), re.IGNORECASE):
                # "one of the kids told me Jasmine is missing": second-hand, but a report of a
                # child gone is taken (the safe direction), as a plain missing cue
                out.append(_at("missing", m, clause))
                taken.append(m.span())
                continue
            # "if he has not returned by 10, call the police": a plan, not a report
            # (a space after the words before: the cue may start inside one, "If she's not back")
            if (HYPOTHETICAL_BEFORE.search(c[max(0, m.start() - 40): m.start()] + " ")
                    and not m.group(0).lower().startswith(("still", "no sign"))
                    and re.search(r"\b(?:if|unless|in\s+case)\b", c[: m.start()], re.IGNORECASE)):
                continue
            out.append(_at("still_missing", m, clause))
            taken.append(m.span())
        for m in RETURN_CUES.finditer(c):
            if any(s <= m.start() < e or m.start() <= s < m.end() for s, e in taken):
                continue
            why = _modified(c, m.start(), m.end())
            if why is None:
                out.append(_at("returned", m, clause))
            elif why == "self":
                own_moves.append(_at("returned", m, clause))
            elif why == "reported" and not NEGATION_BEFORE.search(c[max(0, m.start() - 60):
                                                                     m.start()]):
                out.append(_at("reported_return", m, clause))
        for m in NOT_BACK_YET.finditer(c):
            if NEGATION_BEFORE.search(c[max(0, m.start() - 60): m.start()]):
                continue
            if _AFTER_A_RETURN_ONLY.search(m.group(0)) and (
                    any(a.said == "returned" for a in out) or HISTORY.search(_near(c, m.start(),
                                                                                   m.end()))):
                # "Dana returned at 22:10. Officers have spoken with her", "She was arrested last
                # month": a check after the return, or history; not a find that keeps her out
                continue
            out.append(_at("located", m, clause))
            break
        for m in UNSURE_RETURN.finditer(c):
            if not NEGATION_BEFORE.search(c[max(0, m.start() - 60): m.start()]) and not (
                    re.search(r"\b(?:if|unless|in\s+case|when)\b", c[: m.start()], re.IGNORECASE)):
                out.append(_at("unsure_return", m, clause))
        for m in DOUBTED_RETURN.finditer(c):  # the doubt is in the words: no negation check
            out.append(_at("unsure_return", m, clause))
        if not still and not NEGATED_MISSING.search(c):
            for m in MISSING_CUES.finditer(c):
                if _history_or_question(c, m.start(), m.end()):
                    continue
                why = _modified(c, m.start(), m.end())
                past_plan = why == "hypothetical" and re.match(r"(?:was|were)\s", m.group(0), re.I)
                # "she will report Ellie-May missing to Essex Police straight away": the report
                # is about to be made, so the absence is now (not "if she is not back, report")
                reporting = why == "hypothetical" and _ABOUT_TO_REPORT.search(
                    c[max(0, m.start() - 60): m.start()]) and not re.search(
                    r"\b(?:if|unless|in\s+case|when|should|whether)\b", c[: m.start()], re.I)
                if why in (None, "reported") or past_plan or reporting:
                    out.append(_at("missing", m, clause))
                    break
    if any(a.said == "reported_return" for a in out) and not any(
            a.said in ("still_missing", "unsure_return") for a in out) and SEEN_HOME.search(text):
        # "Aye he's in his bed. He says he came in at five to three": the writer has the child
        # in front of them, so what the child says of the return is the return
        out = [replace(a, said="returned") if a.said == "reported_return" else a for a in out]
    if own_moves and any(a.said == "returned" for a in out):
        # "I brought her home and we got in at half 8": the writer came back with the child,
        # and the time is the return's; alone, the writer's own return says nothing of the child
        out = sorted([*out, *own_moves], key=lambda a: a.start)
    return out


_ABOUT_TO_REPORT = re.compile(r"\b(?:will|'ll|going\s+to|about\s+to)\s+(?:now\s+)?report\s+"
                              r"(?:[\w'-]+\s+){0,2}?(?:as\s+)?$", re.IGNORECASE)

# a still-missing cue with no negation of its own, which one before it takes back
_BARE_GONE = re.compile(r"(?:gone|went)\s+missing|(?:is|are)\s+(?:currently\s+)?missing|"
                        r"missing\s+again|(?:has|have|had)\s+(?:absconded|run\s+(?:away|off))",
                        re.IGNORECASE)


# the absence told as a story: "didn't come home last night", "never came back"
_TOLD_PAST = re.compile(r"(?:did(?:\s+not|n't|nt)|never)\s+(?:come|came|return|get|turn)",
                        re.IGNORECASE)


# told as background after the news: "He'd gone out yesterday about 6 ... and didn't come home",
# "didn't come back for her 9 o'clock curfew, which is why I rang"
# (the past perfect only of the day before: "later she'd gone off and didn't come back" after the
# return is a new absence)
_BACKGROUND = re.compile(r"\b(?:had|'d)\s+(?:gone|left|been)\b(?=[^.!?\n]*\b(?:yesterday|"
                         r"last\s+night|the\s+night\s+before)\b)|\bfor\s+(?:his|her|their)\s+(?:[\w']+\s+){0,2}"
                         r"curfew\b|\bwhich\s+is\s+why\b", re.IGNORECASE)
_AFTERWARDS = re.compile(r"\b(?:again|then|later|afterwards|after\s+that)\b", re.IGNORECASE)
# the absence found before the return: "I found his bed empty at 7" (he came home at 9.05)
_FOUND_GONE = re.compile(r"\b(?:found|noticed|discovered|saw)\s+(?:that\s+)?(?:his|her|their)\s+"
                         r"(?:bed|room)\s+(?:was\s+)?empty\b", re.IGNORECASE)


# a deadline after "not back": "not back by curfew", "hadn't come in by 10pm"
_BY_A_TIME = re.compile(r"\s*(?:by|before)\s+(?:(?:his|her|their|the)\s+)?(?:curfew|\d|half\b|"
                        r"quarter\b|ten\b|eleven\b|midnight\b|bedtime\b)", re.IGNORECASE)
_CLOCK = re.compile(r"\b\d{1,2}[:.]\d\d\b|\b\d{1,2}\s*(?:am|pm)\b|\bmidnight\b", re.IGNORECASE)


def without_told_absence(said: list[Assertion]) -> list[Assertion]:
    """"didn't come home last night. She came home at 11 this morning": an absence told in the
    simple past before the return that ended it is the story, not news that contradicts it."""
    returns = [a.start for a in said if a.said == "returned"]
    # a return told with its clock time: "Returned 00:35 by taxi"
    timed = [a.start for a in said if a.said == "returned" and _CLOCK.search(a.clause.text)]
    still = [a for a in said if a.said == "still_missing"]
    if not returns or not still or not all(
            (_TOLD_PAST.match(a.cue)
             and (a.start < returns[0] or (_BACKGROUND.search(a.clause.text)
                                           and not _AFTERWARDS.search(a.clause.text))))
            or (_FOUND_GONE.search(a.clause.text) and a.start < returns[-1])
            # "not back by curfew (22:00), reported missing 22:20 ... Returned 00:35": when the
            # child was missed, before a return told with its time
            or (_BY_A_TIME.match(a.clause.text[a.end - a.clause.start:])
                and any(t > a.end for t in timed))
            for a in still):
        return said
    return [a for a in said if a.said != "still_missing"]


def news_of(said: list[Assertion], text: str, note: str) -> list[Assertion]:
    """What a forward says now: the forwarder's own note ("FW: Reece - returned ... returned home
    at 06:30") when it asserts anything but a bare missing cue, over the message it passes on
    ("has not returned", true when that was written); else everything ``text`` asserts."""
    head = note.strip()[:60]
    at = text.rfind(head) if head else -1
    if at < 0:
        return said
    own = [a for a in said if a.start >= at]
    passed_on = [a for a in said if a.start < at]
    back = {"returned", "reported_return", "unsure_return"}
    if not any(a.said != "missing" for a in own):
        return said
    says_back = any(a.said in back for a in own)
    against = {"still_missing"} if says_back else back  # a bare "missing" is the story so far
    if any(a.said in against for a in passed_on):
        return own  # the two disagree: the forwarder's note is the later word
    return said  # they agree: the passed-on message keeps its facts (the time they came in)


_FIRST_TIME = re.compile(r"\b(?:before|first\s+time|out\s+of\s+character|unlike\s+(?:him|her|them)|"
                         r"not\s+like\s+(?:him|her|them)|until\s+(?:now|today|tonight))\b",
                         re.IGNORECASE)


def denies_missing(text: str) -> bool:
    """True when a clause says a child is not missing or speaks of episodes in general ("no
    episodes this month", "has not run off since the spring"): such a message is no report, even
    under a subject with "missing" in it ("Monthly missing summary")."""
    try:
        if _FIRST_TIME.search(text[:MAX_TEXT]):
            return False  # "she has never gone missing before": this is the first time
        return any(NEGATED_MISSING.search(c.text) or (HISTORY.search(c.text)
                                                        and MISSING_CUES.search(c.text))
                   for c in clauses(text))
    except Exception:
        return False


def _at(said: Said, m: re.Match[str], clause: Clause) -> Assertion:
    return Assertion(said, m.group(0), clause, clause.start + m.start(), clause.start + m.end())


def _history_or_question(clause: str, start: int, end: int) -> bool:
    """An absence cue said of the past or asked about. Not when its own words say it is now:
    "Following her missing episode last week, Dana has gone missing again tonight"."""
    if QUESTION.search(clause):
        return True
    if _NOW_AFTER.match(clause, end):
        return False
    return bool(HISTORY.search(_near(clause, start, end)))


# found-not-back cues that say so only before any return is told: the police speaking to the
# child, an arrest
_AFTER_A_RETURN_ONLY = re.compile(r"\b(?:spoke|spoken|arrested)\b", re.IGNORECASE)

# the words right after an absence cue that put it now ("gone missing again tonight")
_NOW_AFTER = re.compile(r"\W{0,3}(?:[\w']+\s+){0,2}?(?:tonight|today|this\s+(?:morning|"
                        r"afternoon|evening)|right\s+now|now|at\s+the\s+moment)\b", re.IGNORECASE)


def _near(clause: str, start: int, end: int) -> str:
    """The words around a cue that may put it in the past: the whole clause, or, in a long run
    typed without stops ("he has not come home ... ive rang his phone about 20 times"), the 80
    characters either side, so one history word does not take back every cue in the message."""
    if len(clause) <= 200:
        return clause
    return clause[max(0, start - 80) : end + 80]
