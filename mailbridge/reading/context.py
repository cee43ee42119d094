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

import re
from dataclasses import dataclass
from typing import Literal

__all__ = ["Assertion", "Clause", "about_a_past_episode", "assertions", "clauses",
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


# -- cues ----------------------------------------------------------------------------------------

_W = r"(?:\w+\s+)"  # one word, for gaps
_PRON = r"(?:he|she|they|him|her|them|(?-i:[A-Z][\w'-]+))"

_RETURN_CUES = re.compile(
    r"\b(?:"
    r"(?:has|have|had)\s+(?:now\s+|just\s+|finally\s+)?(?:returned|come\s+(?:back|home|in)|"
    r"turned\s+up|been\s+(?:found|located|traced|returned|brought\s+(?:back|home)))|"
    r"(?:is|are|was|were|'s|'re)\s+(?:now\s+|finally\s+|safely\s+)?(?:back|home\s+(?:safe|now)|"
    r"home\s*(?:[,.!]|$)|found|located|traced|safe\s+and\s+well\s+(?:at|in)\s+home)|"
    r"(?:now|finally|safely)\s+(?:back|home)|back\s+(?:home|safe|in\s+(?:placement|the\s+house|"
    r"(?:his|her|their)\s+room|bed)|at\s+(?:placement|the\s+home|home))|home\s+safe|"
    r"returned(?:\s+(?:home|safe|safely|to\s+\w+|at|around|about|this|last|just|earlier|late|"
    r"by\s+(?:the\s+)?police))?|"
    # "come back home" only after its subject: "she's come back safe", "he come back home";
    # "Dana, come back home now" and "please come back home" ask for a return
    r"came\s+(?:back|home|in\b)|(?:(?:she|he|they|(?-i:[A-Z][\w'-]+))\s+|'s\s+|'ve\s+)"
    r"come\s+back\s+(?:home|safe)|walked\s+(?:back\s+)?in|"
    # dialect past with the bare verb, said of a child with a time: "Jazz come back in about
    # ten to eleven last neet", "she come home at 2"
    r"(?:(?-i:[A-Z][\w'-]+)|she|he|they)\s+come\s+(?:back|home|in)\b(?:\s+in\b)?(?=\s+(?:at|"
    r"about|around|aboot|just|last|this|yesterday|today|\d|half|hauf|quarter|ten|twenty|five|"
    r"midnight)\b)|"
    r"turned\s+up|rolled\s+in|got\s+(?:back|home|in\b)|arrived\s+(?:back|home)|"
    r"(?:police|officers|staff|we|i|\w+'s\s+\w+|(?:his|her|their)\s+\w+)\s+(?:have\s+|has\s+)?"
    r"(?:found|located|picked\s+(?:him|her|them)\s+up|brought\s+(?:him|her|them)\s+(?:back|home|in)|"
    r"dropped\s+(?:him|her|them)\s+(?:back|home|off)|returned\s+(?:him|her|them))|"
    r"(?:dropped|brought)\s+(?-i:[A-Z][\w'-]+)\s+(?:off|back|home)\b|"
    r"(?:rocked|showed|turned)\s+up\s+(?:back\s+)?(?:at|home|here)\b|"
    r"found\s+(?:safe|safe\s+and\s+well|at\s+(?:\w+'s|\w+\s+\w+'s|a\s+friend|the))|"
    r"located\s+(?:safe|at)|brought\s+(?:back|home)|dropped\s+(?:back|home)|"
    # the subject left out, as on a phone: "Found her at the station and brought her home"
    r"brought\s+(?:him|her|them)\s+(?:back|home)\b|"
    r"dropped\s+(?:him|her|them)\s+(?:back|home)|conveyed\s+(?:back|home)|"
    r"arriv(?:ed|ing)\s+(?:back\s+|home\s+)?(?:at\s+)?\d|"
    r"safe\s+(?:and|&|n)\s+well|safe\s+and\s+sound|no\s+longer\s+missing|"
    r"(?:she|he|they)'?(?:s|re)\s+back|"
    # "both back now", "all three back safe" (not "both back in bed")
    r"(?:both|all\s+(?:three|four|of\s+them))\s+(?:are\s+|now\s+|safely\s+)?(?:back|home)\b"
    r"(?!\s+(?:in|to)\s+bed|\s+(?:at|to|in)\s+(?:school|college|work|class|nursery))|"
    r"(?:'s|is|are|'re)\s+(?:just\s+)?after\s+(?:coming|getting|walking)\s+(?:back|home|in)|"
    # "He's in." (said of a child who was out), "came through the door at 10 past 11"
    r"(?:(?:she|he|they)(?:'s|'re|\s+is|\s+are)|shes|hes|theyre)\s+in(?=\s*(?:[.!,]|$|now\b|"
    r"safe\b))|"
    r"c(?:a|o)me\s+(?:in\s+(?:through\s+|at\s+)?|through\s+|to\s+)the\s+(?:front\s+|back\s+)?door|"
    # ESOL "Oliwia is come back to the home"
    r"(?:is|has)\s+come\s+back\b|"
    # "Cal back at 00:15", "back around half 11": a clock time (intention words before it,
    # "due back at 9", "will be back at 10", are modifiers and take it back)
    r"(?<!\bthe\s)(?<!\bout\s)back\s+(?:at|about|around|approx\.?|just\s+(?:before|after))\s+"
    r"(?:\d|half\b|quarter\b|ten\b|twenty\b|five\b|midnight\b)|"
    # phone shorthand with a clock time and nothing between: "harv back 10.40 all good"
    r"(?<!\bthe\s)(?<!\bout\s)back\s+(?:\d{1,2}[.:]\d\d|[01]\d[0-5]\d|2[0-3][0-5]\d)\b"
    r")",
    re.IGNORECASE,
)

# still out now: these outweigh a return elsewhere for the same child
_STILL_CUES = re.compile(
    r"\b(?:still\s+(?:missing|out|not\s+(?:back|home|returned|in)|away|awol|gone)|"
    r"remain(?:s|ed)?\s+(?:missing|out|awol|unaccounted)|still\s+unaccounted|"
    r"still\s+(?:not|isn't|isnt|is\s+not|aren't|are\s+not)\s+(?:answering|responding|replying|"
    r"picking\s+up|contactable)|"
    # text-speak and "she's not in": "shes not bk", "school rang to say she's not in"
    r"(?:shes|hes|theyre|'s|'re)\s+not\s+(?:back|bk|bck|home|in)\b|not\s+b(?:a?c)?k\b|"
    r"(?:neither|none)\s+(?:of\s+them\s+)?(?:has|have|had)\s+(?:yet\s+)?(?:returned|come|been)|"
    # gone again after a return: "came back for his charger and left again", "went out again"
    r"(?:left|went\s+(?:out|off)|gone\s+(?:out|off)|took\s+off|ran\s+(?:off|away|out)|"
    r"run\s+(?:off|away)|walked\s+out|climbed\s+out|absconded|disappeared)\s+again|"
    r"(?:went|gone|headed|snuck|slipped)\s+(?:straight\s+|right\s+)?back\s+out\b|"
    r"refus(?:es|ed|ing)\s+to\s+(?:come|go|return|be\s+brought)\s*(?:home|back)?|"
    r"(?:won't|wont|will\s+not|wouldn't|would\s+not)\s+(?:come|return|go)\s+(?:home|back)|"
    r"not\s+been\s+slept\s+in|"
    # "she's not come home" ('s = has), "he's not been seen"
    r"(?:'s|'ve)\s+not\s+(?:yet\s+)?(?:returned|come\s+(?:back|home|in)|been\s+(?:seen|found|back)|"
    r"got\s+(?:back|home)|turned\s+up)|"
    # no one has seen or heard from the child: "we have not seen or spoken to her"
    r"(?:have|has|had)\s*(?:not|n't)\s+(?:seen|heard\s+from|spoken\s+to)\s+(?:or\s+\w+\s+"
    r"(?:to|from)?\s*)?(?:him|her|them)\b|(?<![\w'])gone\s+(?:again|awol)\b|"
    r"(?:has|have)\s*(?:not|n't)\s+(?:yet\s+)?(?:returned|come\s+(?:back|home|in)|been\s+(?:seen|found)|"
    r"got\s+(?:back|home)|turned\s+up)|hasnt\s+(?:returned|come)|"
    r"(?:is|are|was|were)\s*(?:not|n't)\s+(?:yet\s+)?(?:back|home|in\b|returned)|isnt\s+(?:back|home)|"
    r"(?:isn't|isnt|is\s+not|aren't|are\s+not|not)\s+here\s+yet|"
    r"not\s+(?:back|home|in)\s+(?:yet|since)|not\s+yet\s+(?:back|home|returned|in\b)|"
    # "and not come back", ESOL "she is not come to home"
    r"(?<![\w'])not\s+(?:yet\s+)?(?:come|came)\s+(?:to\s+)?(?:back|home|in\b)|"
    # nothing heard from the child: "still nothing from Lily", "no word from him"
    r"still\s+(?:nothing|no\s+(?:word|news|contact|sign))\b|"
    r"(?:nothing|no\s+(?:word|news|contact))\s+(?:yet\s+)?(?:from|of)\s+" + _PRON + r"|"
    r"not\s+heard\s+(?:anything\s+)?from\s+" + _PRON + r"|heard\s+nothing\s+from\s+" + _PRON + r"|"
    r"(?<!\bif\s)(?<!\bhas\s)(?<!\bis\s)\bnot\s+(?:returned|back|home)\b|out\s+all\s+night|"
    r"not\s+(?:been\s+)?seen\s+(?:\w+\s+)?since|(?:he|she|they)\s+(?:was|were|had)\s+gone\b|"
    r"(?:had|has|have)\s+gone\s+(?:out\s+)?(?:missing|awol|again|off)|"
    r"no\s+sign\s+of|never\s+(?:came|come|got|returned|arrived|did)|"
    r"did(?:\s+not|n't)\s+(?:come|return|get\s+(?:back|home|in)|turn\s+up)|"
    r"didnt\s+(?:come|return)|"
    r"failed\s+to\s+(?:return|come)|missing\s+(?:again|still)|(?:is|are)\s+(?:currently\s+)?missing|"
    r"gone\s+missing|has\s+gone\s+(?:again|awol|off)|whereabouts\s+(?:are\s+|is\s+)?unknown|"
    r"(?:has|have|had)\s+(?:absconded|run\s+(?:away|off)|gone\s+out\s+and\s+not)|"
    r"can(?:'t|not)\s+(?:find|locate|reach|contact)|"
    r"not\s+(?:in\s+)?(?:(?:his|her|their)\s+)?(?:room|bed)|bed\s+(?:was\s+|is\s+)?empty"
    r")",
    re.IGNORECASE,
)

# a report of a child gone, weaker than "still": "was missing" in a return is history
_MISSING_CUES = re.compile(
    r"\b(?:missing|absconded|awol|a\.w\.o\.l|absent\s+without|ran\s+(?:away|off)|run\s+(?:away|off)|"
    r"runaway|left\s+(?:without\s+permission|the\s+(?:house|home|building|placement|unit))|"
    r"left\s+(?:the\s+)?(?:school\s+)?(?:site|premises|grounds)\b|"
    r"went\s+out\s+and\s+(?:has|did)|unauthorised\s+absence|unauthorized\s+absence|"
    r"absent\s+from\s+placement|away\s+from\s+placement|"
    r"(?:not|isn't|isnt|aren't|is\s+not|are\s+not)\s+answering|"
    r"(?:went|gone|got|climbed|jumped|snuck|sneaked)\s+out\s+(?:of\s+)?(?:his|her|their|the)\s+"
    r"(?:bedroom\s+|bathroom\s+)?window|"
    # past intention: "was due back at 9", "was meant to be home by 10" (a curfew passed)
    r"(?:was|were)\s+(?:due|meant|supposed|expected)\s+(?:to\s+(?:be|come|get)\s+)?"
    r"(?:back|home|in)|"
    # "Kayden was last seen leaving at 8.15", "last seen about 9 at the chippy"
    r"(?:was|were)\s+last\s+seen|last\s+seen\s+(?=(?:at|about|around|by|on|in|leaving|walking|"
    r"heading|getting|near|outside|\d)\b))\b",
    re.IGNORECASE,
)

# the writer is not sure: "might be back", "may have come in", "could have returned"
_UNSURE_RETURN = re.compile(
    r"\b(?:might|may|could|probably|possibly|maybe)\s+(?:well\s+)?(?:be\s+(?:back|home|in\b)|"
    r"have\s+(?:come\s+(?:back|home|in)|returned|got\s+(?:back|home|in)|been\s+back))|"
    # heard, not seen: "I think I heard him come in around 3 but his door's locked"
    r"\bmust\s+have\s+(?:come|got|gotten|been|snuck|sneaked)\s+(?:in|back|home)|"
    r"\b(?:i\s+think|i\s+believe|i\s+reckon|pretty\s+sure|i'm\s+not\s+sure\s+but)\s+"
    r"(?:(?:[\w'-]+\s+){0,2}(?:is|has|are|have)\s+|[\w-]+(?:'s|'ve|'re)\s+|(?:[\w'-]+\s+){0,2}"
    r"(?:is|'s|has|are)\s+)(?:now\s+)?(?:back|home|in\b|(?:come|got|gotten)\s+(?:back|home|in)\b)|"
    r"\bheard\s+(?:him|her|them|someone|the\s+(?:front\s+|back\s+)?door|(?-i:[A-Z][\w'-]+))\s+"
    r"(?:come|came|coming|get|got|getting|let\s+(?:himself|herself|themselves))\s*(?:in|back|home)?|"
    # somebody's guess at a sighting: "she thinks she saw Kenzie go in our front door"
    r"\b(?:thinks?|thought|reckons?|believes?)\s+(?:\w+\s+){0,2}(?:saw|seen|spotted)\s+"
    r"(?:him|her|them|(?-i:[A-Z][\w'-]+))\s+(?:come|came|go|went|get|got|walk|walked|let)\s+"
    r"(?:in|back|home|into|through|up)",
    re.IGNORECASE,
)

# the writer's doubt is in the words themselves: "I can't say he's back for definite"
_DOUBTED_RETURN = re.compile(
    # "I cannae say for sure it's him that's come in"
    r"\b(?:can'?t|cannot|cannae|canna|couldn'?t)\s+(?:say|be\s+sure|tell|confirm)\b[^.!?\n]{0,40}?"
    r"\b(?:back|home|come\s+in|came\s+in)\b|"
    r"\b(?:can'?t|cannot|can\s+not|couldn'?t)\s+(?:say|be\s+sure|tell|confirm|swear)\s+"
    r"(?:for\s+(?:sure|certain|definite)\s+)?(?:if\s+|whether\s+|that\s+)?(?:[\w-]+\s*)"
    r"(?:'s|is|has|'ve|have)\s+(?:definitely\s+|actually\s+)?(?:back|home|in\b|come|returned)",
    re.IGNORECASE,
)

# found, but not back at the placement yet: "she's staying at mine tonight and I'll bring her back
# in the morning", "police have got him at the station, I'm collecting him"
_NOT_BACK_YET = re.compile(
    r"\b(?:(?:i'll|i\s+will|we'll|we\s+will|they'll|they\s+will|police\s+will|she'll|he'll|"
    r"she\s+will|he\s+will|(?:i'm|i\s+am|we're|"
    r"we\s+are)\s+going\s+to)\s+(?:bring|take|drop|run|fetch|collect|get)\s+(?:him|her|them)\s*"
    r"(?:back|home)?|(?:staying|stopping|sleeping|stays|stopping\s+over)\s+(?:at\s+(?:mine|ours|"
    r"theirs|\w+'s)|with\s+(?:me|us|\w+))\s+(?:tonight|overnight|till|until|for\s+the\s+night)|"
    r"(?:i'm|i\s+am|we're|we\s+are)\s+(?:on\s+(?:my|our)\s+way\s+to\s+)?(?:collect(?:ing)?|"
    r"pick(?:ing)?\s+(?:him|her|them)\s+up|fetch(?:ing)?|getting)\s+(?:him|her|them)?|"
    # "they're keeping her at the station until I get there", "should have her home by midnight"
    r"(?:keeping|holding|have\s+got|got)\s+(?:him|her|them)\s+at\s+(?:the\s+)?(?:police\s+)?"
    r"station|should\s+have\s+(?:him|her|them)\s+(?:home|back)|until\s+(?:i|we)\s+get\s+there|"
    r"(?:setting\s+off|on\s+(?:my|our)\s+way)\s+(?:now\s+)?to\s+(?:get|collect|fetch|pick)|"
    # "two of us are driving over now to collect her", "she is at the police station there"
    r"(?:driving|going|heading|travelling|coming|nipping|popping)\s+(?:over\s+|down\s+|up\s+|out\s+|"
    r"round\s+|across\s+)?(?:now\s+)?"
    r"to\s+(?:get|collect|fetch|pick)|(?:she|he|they)\s*(?:is|are|'s|'re)\s+(?:still\s+|currently\s+|"
    r"now\s+)?(?:at|in)\s+(?:the\s+|a\s+)?(?:(?-i:[A-Z][\w'-]+)\s+)?(?:police\s+station|station|"
    r"custody|hospital|a\s*&\s*e)\b|"
    # "awaiting collection", "on their way to collect her", "dropped him at the station in
    # Carlisle", "getting the train back", "given a lift to the railway station"
    r"await(?:ing)?\s+collection|waiting\s+to\s+be\s+(?:collected|picked\s+up)|"
    # "Police have her", "they are bringing her back to Ashgrove"
    r"(?:police|officers|they)\s+(?:have|'ve\s+got|have\s+got)\s+(?:him|her|them)\b(?!\s+(?:back|home))|"
    r"(?:are|is|'re|'s)\s+(?:now\s+)?bringing\s+(?:him|her|them)\s+(?:back|home)|"
    r"on\s+(?:their|our|my)\s+way\s+to\s+(?:collect|get|fetch|pick)|"
    r"(?:dropped|left|given\s+a\s+lift\s+to|took)\s+(?:(?:him|her|them)\s+)?(?:at|to)\s+the\s+"
    r"(?:railway\s+|train\s+|bus\s+|coach\s+)?station|getting\s+(?:the|a)\s+(?:train|bus|coach)\s+"
    r"(?:back|home)|"
    r"on\s+(?:her|his|their)\s+way\s+(?:back|home))",
    re.IGNORECASE,
)

# -- modifiers -----------------------------------------------------------------------------------

# in the few words before a cue: negation
_NEGATION_BEFORE = re.compile(
    r"(?:\bnot|n't|\bnever|\bno|\bnor|\bwithout|\bhasnt|\bisnt|\bdidnt|\bwasnt|\bnobody|"
    r"\bno\s+one|\bneither)\s+(?:[\w']+\s+){0,3}$",
    re.IGNORECASE,
)
# intention, condition, expectation, a question, a wish: about a return that has not happened
_HYPOTHETICAL_BEFORE = re.compile(
    r"(?:\bdue|\bmeant|\bsupposed|\bexpected|\bexpect|\bshould|\bwould|\b\w+'d|\bwill|\b\w+'ll|"
    r"\bgoing\s+to|\bgonna|\bif|\bwhen|\bonce|\buntil|\btill|\btil|\bunless|\bhope|\bhoping|"
    r"\bpromised|\bagreed|\bplanned|\bplans|\bwants?|\bwanted|\basked|\bwaiting\s+for|"
    r"\bwait\s+for|\bcould|\bmight|\bmay|\bin\s+case|\bpray|\bto\s+be|\bwhether|"
    # "to" before a plan ("to come home by 10"), not before the writer's own report: "we write
    # to confirm that Tayla returned", "to let you know he came in at 9"
    r"\bto(?!\s+(?:confirm|inform|advise|notify|update|report|say|tell|let\s+(?:you|\w+)\s+know)\b)|"
    r"\bask(?:ed)?\s+(?:him|her|them)\s+to|\bmake\s+sure|\bensure|"
    # a request to the child: "Dana, come back home now", "come home please"
    r"(?:^|[,:;!]\s*)(?:please\s+)?come)\s+(?:[\w']+\s+){0,4}$",
    re.IGNORECASE,
)
# someone else's words: "her friend said she's back", "told her sister she was coming back"
_REPORTED_BEFORE = re.compile(
    r"\b(?:said|says|saying|told|tells|reckons?|thinks?|thought|claims?|claimed|"
    r"apparently|heard|rumour|believes?|believed|texted\s+(?:to\s+)?say|messaged\s+(?:to\s+)?say)\b"
    r"[^.!?\n]{0,60}$",
    re.IGNORECASE,
)
# someone other than the writer got in touch to say it: "her friend's mum has messaged to say"
_THIRD_PARTY = re.compile(
    r"\b(?!i\b|we\b|just\b)\w+(?:'s\s+\w+)?\s+(?:has\s+|have\s+|had\s+)?(?:messaged|texted|rang|"
    r"phoned|called|emailed|rung)\s+(?:\w+\s+)?to\s+(?:say|tell|let)\b",
    re.IGNORECASE,
)
# the clause is about the past or about episodes in general, not this one
_HISTORY = re.compile(
    # "last time" is history, but "last time we see her 3 oclock" is the last sighting
    r"\b(?:(?<!day\s)last\s+(?:month|year|week|time(?!\s+(?:anyone|anybody|someone|we|i|staff|they)\s)|"
    r"spring|summer|autumn|winter|weekend)|"
    r"(?:this|that)\s+month|(?:in|since)\s+(?:the\s+)?(?:spring|summer|autumn|winter|"
    r"january|february|march|april|may|june|july|august|september|october|november|december)|"
    r"previous(?:ly)?|in\s+the\s+past|used\s+to|history\s+of|"
    r"twice|three\s+times|several\s+times|both\s+times|each\s+time|every\s+time|"
    r"\d+\s+times|no\s+episodes?|episodes?\s+(?:this|last)|times\s+(?:this|last)|"
    r"(?:\d+|one|two|three|four)\s+(?:missing\s+)?episodes?|return\s+interview\s+"
    r"(?:was\s+)?(?:done|completed|held|carried\s+out)|"
    r"on\s+the\s+(?:mon|tues|wednes|thurs|fri|satur|sun)day|summary|missing\s+episodes|"
    r"since\s+the\s+last\s+(?:review|meeting|report)|raise\s+a\s+(?:concern|complaint)|"
    r"make\s+a\s+complaint|complain(?:t|ing|ed)?\b|"
    r"(?:days?|weeks?|months?|years?|fortnight)\s+ago\b|before\s+christmas|over\s+the\s+summer|"
    r"historic(?:al|ally)?)\b",
    re.IGNORECASE,
)
_NEGATED_MISSING = re.compile(
    r"\b(?:not|never|no\s+longer|n't|nt)\s+(?:\w+\s+){0,3}(?:missing|run\s+(?:off|away)|"
    r"absconded|gone\s+missing|awol)|\bno\s+(?:missing\s+)?episodes?\b|\bnothing\s+to\s+report\b|"
    r"\b(?:no\s+one|nobody|none\s+of\s+them|no\s+young\s+(?:person|people))\s+(?:is|are)\s+"
    r"(?:currently\s+|now\s+)?(?:missing|out)\b",
    re.IGNORECASE,
)
_QUESTION = re.compile(r"\?\s*$")


_DAY_AHEAD = re.compile(r"\s*(?:next\s+\w+|at\s+the\s+weekend|(?:on\s+)?(?:mon|tues|wednes|thurs|"
                        r"fri|satur|sun)day|on\s+the\s+\d{1,2}(?:st|nd|rd|th)\b)", re.IGNORECASE)
# a simple past act ("the police dropped her off"), not "have dropped" (done by some time ahead)
_PAST_ACT = re.compile(r"(?:(?!ha(?:ve|s|d)\b)\w+\s+)*?(?:dropped|brought|came|returned|walked|"
                       r"found|located|turned|rolled|arrived|got)\b", re.IGNORECASE)
# words before "when" that put it ahead: "I'll let you know when ...", "call me when ..."
_AHEAD = re.compile(r"\b(?:will|\w+'ll|shall|going\s+to|gonna|let\s+\w+\s+know|tell\s+\w+|"
                    r"call\s+\w+|ring\s+\w+|text\s+\w+|email\s+\w+|contact\s+\w+|update\s+\w+|"
                    r"wait(?:ing)?|please)\b", re.IGNORECASE)
_DONE = re.compile(r"(?:came|come|returned|got|arrived|walked|turned|rolled)\b", re.IGNORECASE)


# the writer passing it on, not someone else's word: "police told shes back", "101 updated"
_WE_TOLD = re.compile(r"\b(?:police|officers|101|staff|i|we|i've|we've|have)\s+(?:been\s+|now\s+)?"
                      r"(?:told|informed|updated)\b[^.!?\n]{0,60}$", re.IGNORECASE)


# where a new subject and its verb start: "... and she is", "... but he has"
_OWN_CLAUSE = re.compile(r"\b(?:and|but)\s+(?=(?:she|he|they|we|i)(?:\s*$|\s+(?:is|are|was|were|"
                         r"has|have|had|isn't|aren't|wasn't|hasn't|haven't|still|'s|'re)\b))",
                         re.IGNORECASE)


# a return cue that is a copula ("is back"), whose subject may be a thing, not the child
_COPULA = re.compile(r"(?:is|are|was|were|'s|'re)\b", re.IGNORECASE)
_THING_BEFORE = re.compile(
    r"(?:\b(?:his|her|their|my|our|the|a)|(?-i:[A-Z][\w-]*)'s)\s+(?!(?:young|child|lad|girl|boy|"
    r"kid|yp|son|daughter|grandson|granddaughter|foster)\b)[a-z]+\s*$", re.IGNORECASE)
# where a child comes in from on an ordinary day: not a return from missing
_ROUTINE_AFTER = re.compile(r"\s*(?:home\s+|back\s+|in\s+)?from\s+(?:school|college|work|nursery|"
                            r"contact|football|training|practice|(?:his|her|their)\s+(?:job|"
                            r"shift))\b", re.IGNORECASE)
# "missing" in the name of a team, a course or a paper, not said of a child
_MISSING_AS_NAME = re.compile(
    r"missing\s+(?:from\s+(?:care|home)\s+|children(?:'s)?\s+|child(?:'s)?\s+|persons?\s+|people\s+)?"
    r"(?:and\s+[\w-]+(?:\s+[\w-]+){0,4}\s+)?(?:team|service|unit|officer|co-?ordinator|inbox|"
    r"mailbox|address|hub|training|course|session|policy|protocol|procedure|summary|newsletter|"
    r"panel|meeting|return\s+form)\b", re.IGNORECASE)
# "missing the oat milk", "missing her mum", "missing school": the verb, of a thing or a person
_MISS_A_THING = re.compile(r"missing\s+(?:the|a|an|his|her|their|my|our|your|some|school|lessons?|"
                           r"class|college|work|breakfast|lunch|tea|dinner)\b", re.IGNORECASE)
# "rang me back", "texted us back", "get back to me": a call returned, not a child
_CALLED_BEFORE = re.compile(r"\b(?:rang|rung|ring|rings|call(?:ed|s)?|phoned?|text(?:ed|s)?|"
                            r"messaged|wrote|emailed|got|get)\s+(?:me|us|him|her|them|you)\s*$",
                            re.IGNORECASE)
# a planned outing the child came back from: "came back with staff at 11.45pm from the party"
_OUTING_AFTER = re.compile(r"(?:[^.!?\n]|\.(?=\d)){0,40}?\bfrom\s+(?:the|a|an|their|his|her)\s+"
                           r"(?:[\w-]+\s+){0,2}(?:party|trip|outing|activity|event|cinema|match|holiday|visit|"
                           r"day\s+out|club|appointment|residential)\b", re.IGNORECASE)
# a coming back the writer could make: "got back", "came in", "arrived home", "walked in"
_OWN_MOVE = re.compile(r"(?:got|came|arrived|walked|get)\b", re.IGNORECASE)
_WITH_CHILD = re.compile(r"\s*(?:back\s+|home\s+|in\s+)?with\s+(?:him|her|them|(?-i:[A-Z]))",
                         re.IGNORECASE)
_FETCHED = re.compile(r"\b(?:collected|fetched|picked\s+(?:him|her|them)\s+up|picked\s+up|brought|"
                      r"found|got)\s+(?:him|her|them|(?-i:[A-Z][\w'-]+))", re.IGNORECASE)
_WRITER_JUST_BEFORE = re.compile(r"(?<!\band\s)\b(?:i|we)\s+(?:then\s+|just\s+|finally\s+|"
                                 r"eventually\s+|only\s+)?$", re.IGNORECASE)
_WRITER_OUT = re.compile(r"(?:^|[,;:])\W*\b(?:i|we)(?:'ve|'d|\s+have|\s+had)?\s+(?:been|went|"
                         r"drove|walked|looked|searched|was|were)\b", re.IGNORECASE)
# another subject between the writer and the verb: a pronoun or a name (not a place or a day
# after a preposition: "we went to my sister's in Whitby on Tuesday and came back Thursday")
_SOMEONE = re.compile(r"\b(?:he|she|they)\b|(?<!\bin\s)(?<!\bat\s)(?<!\bto\s)(?<!\bon\s)(?<!\bby\s)"
                      r"(?<!\bfrom\s)(?<!\bnear\s)(?-i:\b(?!I\b)[A-Z][\w'-]+)", re.IGNORECASE)


def _own_move(clause: str, start: int, end: int) -> bool:
    """"(I got back at 10.50)", "I've been round the estate, got back home at 10": the writer's
    own coming back, told while looking for the child, is not the child's return ("I collected
    her and we got home at 8.40" is)."""
    if not _OWN_MOVE.match(clause[start:end]) or _WITH_CHILD.match(clause[end:]):
        return False
    before = clause[:start]
    if _FETCHED.search(before):
        return False
    if _WRITER_JUST_BEFORE.search(before):
        return True
    # "I've been back and forth to the park ..., got back"; "Maisie has had a good half-term, we
    # went to my sister's ... and came back Thursday"
    starts = list(_WRITER_OUT.finditer(before))
    return bool(starts) and not _SOMEONE.search(before[starts[-1].end():])


def _modified(clause: str, start: int, end: int) -> str | None:
    """Why a cue at [start, end) of ``clause`` does not hold now, or None when it does."""
    before = clause[max(0, start - 60) : start]
    if re.match(r"\s*in\s+(?:contact|touch)\b", clause[end:], re.IGNORECASE):
        return "contact"  # "Chantelle is back in contact": heard from, not back
    if _MISSING_AS_NAME.match(clause[start:]):
        return "label"  # "Dear Missing Children Team", "missing from care training": a name
    if _MISS_A_THING.match(clause[start:]):
        return "verb"  # "the delivery came, missing the oat milk again": to miss a thing
    if re.search(r"\bas\s+(?:normal|usual)\s+(?:and\s+)?$", before, re.IGNORECASE):
        return "routine"  # "Tia got off as normal and is home": not a return from missing
    if re.match(r"back\b", clause[start:end], re.IGNORECASE) and _CALLED_BEFORE.search(before):
        return "callback"  # "he rang me back at 7.20": a phone call, not a return
    if _DONE.match(clause[start:end]) and _OUTING_AFTER.match(clause[end:]):
        return "routine"  # "came back with staff at 11.45pm from the family party"
    if re.match(r"(?:.*\b)?(?:found|located)$", clause[start:end], re.IGNORECASE) and re.match(
            r"\s+(?:his|her|their|the)\s+(?:bed|room|door|window|phone|bag|coat|bike|note)\b",
            clause[end:], re.IGNORECASE):
        return "thing"  # "I found his bed empty at 7": found a thing, not the child
    if _DONE.match(clause[start:end]) and _ROUTINE_AFTER.match(clause[end:]):
        return "routine"  # "came in from school at 4 as normal": a day's routine, not a return
    if _COPULA.match(clause[start:end]) and _THING_BEFORE.search(before):
        return "thing"  # "Jay's bike is back in the garage", "her phone is back on"
    if _own_move(clause, start, end):
        return "self"
    if re.search(r"/\s*$", before) or re.match(r"\s*/", clause[end:]):
        return "label"  # a table's or form's heading: "Last seen / returned"
    if re.match(r"'s\s+(?-i:Home)", clause[start:end]) or re.search(
            r"\b(?:children|people|women|men|boys|girls)$", before, re.IGNORECASE):
        return "label"  # "Riverside Children's Home": a place's name
    if _NEGATION_BEFORE.search(before):
        return "negated"
    # "messaged to say she is back", "rang to let us know": reporting, not an intention
    before = re.sub(r"\b(?:(?:has|have|had)\s+)?(?:asked|wants|wanted)\s+(?:me|us)\s+to\s+(?:let\s+"
                    r"\w+\s+know|tell\s+\w+|say|pass\s+(?:it\s+)?on)\b|\bto\s+(?:say|tell\s+\w+|"
                    r"let\s+\w+\s+know)\b", " ", before, flags=re.IGNORECASE)
    # a plan's words reach no further than its own clause: in "we haven't spoken to Mira and
    # she is not answering", "to" is about speaking, and "she is not answering" is now
    hypothetical = _HYPOTHETICAL_BEFORE.search(_OWN_CLAUSE.split(before)[-1])
    if (hypothetical and _PAST_ACT.match(clause[start:end])
            and re.match(r"(?:when|until|till|til)\b", hypothetical.group(0), re.IGNORECASE)
            and not _AHEAD.search(clause[:start])):
        hypothetical = None  # "not until gone 11 when the police dropped her off": it happened
    if hypothetical or re.search(r"\b(?:if|unless|in\s+case)\b", clause[:start], re.IGNORECASE):
        return "hypothetical"
    if (_REPORTED_BEFORE.search(clause[:start]) and not _WE_TOLD.search(clause[:start])) or \
            _THIRD_PARTY.search(clause[:start]):
        return "reported"
    after = clause[end : end + 20]
    if re.match(r"\s*(?:yet\b|by\s+\d|by\s+(?:ten|nine|eleven|midnight|\w+\s+o'?clock)|"
                r"later|tomorrow|soon)", after, re.IGNORECASE):
        return "hypothetical"
    if _DAY_AHEAD.match(after) and not _DONE.match(clause[start:end]):
        # "she's back Sunday", "back home on the 31st": a plan; "came back on the 3rd": done
        return "hypothetical"
    if _HISTORY.search(clause):
        return "history"
    if _QUESTION.search(clause):
        return "question"
    return None


def assertions(text: str) -> list[Assertion]:
    """Every cue that holds now, clause by clause, in text order."""
    try:
        return _assertions(text)
    except Exception:  # rules over hostile text must not raise
        return []


def _assertions(text: str) -> list[Assertion]:
    out: list[Assertion] = []
    own_moves: list[Assertion] = []
    for clause in clauses(text):
        c = clause.text
        still = [m for m in _STILL_CUES.finditer(c) if not _history_or_question(c)]
        taken: list[tuple[int, int]] = []
        for m in still:
            if _BARE_GONE.match(m.group(0)) and _NEGATION_BEFORE.search(
                    c[max(0, m.start() - 40): m.start()]):
                continue  # "Josh hasn't gone missing since December": no absence now
            if re.search(r"\b(?:no\s+one|nobody|none\s+of\s+them|no\s+young\s+(?:person|people)|"
                         r"no\s+child(?:ren)?)\s+$", c[max(0, m.start() - 24): m.start()], re.I):
                continue  # "No one is currently missing"
            if _REPORTED_BEFORE.search(c[: m.start()]) and not re.search(
                    r"\b(?:still|not|never|no\s+sign)\b", m.group(0), re.IGNORECASE):
                # "one of the kids told me Jasmine is missing": second-hand, but a report of a
                # child gone is taken (the safe direction), as a plain missing cue
                out.append(_at("missing", m, clause))
                taken.append(m.span())
                continue
            # "if he has not returned by 10, call the police": a plan, not a report
            # (a space after the words before: the cue may start inside one, "If she's not back")
            if (_HYPOTHETICAL_BEFORE.search(c[max(0, m.start() - 40): m.start()] + " ")
                    and not m.group(0).lower().startswith(("still", "no sign"))
                    and re.search(r"\b(?:if|unless|in\s+case)\b", c[: m.start()], re.IGNORECASE)):
                continue
            out.append(_at("still_missing", m, clause))
            taken.append(m.span())
        for m in _RETURN_CUES.finditer(c):
            if any(s <= m.start() < e or m.start() <= s < m.end() for s, e in taken):
                continue
            why = _modified(c, m.start(), m.end())
            if why is None:
                out.append(_at("returned", m, clause))
            elif why == "self":
                own_moves.append(_at("returned", m, clause))
            elif why == "reported" and not _NEGATION_BEFORE.search(c[max(0, m.start() - 60):
                                                                     m.start()]):
                out.append(_at("reported_return", m, clause))
        for m in _NOT_BACK_YET.finditer(c):
            if not _NEGATION_BEFORE.search(c[max(0, m.start() - 60): m.start()]):
                out.append(_at("located", m, clause))
                break
        for m in _UNSURE_RETURN.finditer(c):
            if not _NEGATION_BEFORE.search(c[max(0, m.start() - 60): m.start()]) and not (
                    re.search(r"\b(?:if|unless|in\s+case|when)\b", c[: m.start()], re.IGNORECASE)):
                out.append(_at("unsure_return", m, clause))
        for m in _DOUBTED_RETURN.finditer(c):  # the doubt is in the words: no negation check
            out.append(_at("unsure_return", m, clause))
        if not still and not _NEGATED_MISSING.search(c) and not _history_or_question(c):
            for m in _MISSING_CUES.finditer(c):
                why = _modified(c, m.start(), m.end())
                past_plan = why == "hypothetical" and re.match(r"(?:was|were)\s", m.group(0), re.I)
                if why in (None, "reported") or past_plan:
                    out.append(_at("missing", m, clause))
                    break
    if own_moves and any(a.said == "returned" for a in out):
        # "I brought her home and we got in at half 8": the writer came back with the child,
        # and the time is the return's; alone, the writer's own return says nothing of the child
        out = sorted([*out, *own_moves], key=lambda a: a.start)
    return out


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


def without_told_absence(said: list[Assertion]) -> list[Assertion]:
    """"didn't come home last night. She came home at 11 this morning": an absence told in the
    simple past before the return that ended it is the story, not news that contradicts it."""
    returns = [a.start for a in said if a.said == "returned"]
    still = [a for a in said if a.said == "still_missing"]
    if not returns or not still or not all(
            (_TOLD_PAST.match(a.cue)
             and (a.start < returns[0] or (_BACKGROUND.search(a.clause.text)
                                           and not _AFTERWARDS.search(a.clause.text))))
            or (_FOUND_GONE.search(a.clause.text) and a.start < returns[-1])
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


# the whole email is about an episode that is over: a return home interview's summary
_PAST_EPISODE = re.compile(
    r"\b(?:quick\s+question|just\s+asking|asking\s+for\s+the\s+future|do\s+i\s+report|"
    # a carer asking about procedure: "Can I ask what I'm supposed to do if she is late back?"
    r"what\s+(?:i'm|i\s+am|am\s+i|we're|we\s+are|are\s+we)\s+(?:supposed|meant|expected)\s+to\s+do\s+"
    r"(?:if|when|in\s+case)\b|"
    r"(?:do|should)\s+(?:i|we)\s+(?:ring|call|phone)\s+(?:101|999|the\s+police)\s+(?:straight\s+away|"
    r"or\s+wait)|"
    # "do I have to ring the police if Ruby is late back?", "should I have reported it?"
    r"(?:do|should|must)\s+(?:i|we)\s+(?:have\s+to\s+)?(?:ring|call|phone|report|tell)\b[^.?!\n]{0,60}"
    r"\bif\b[^.?!\n]{0,60}\?|should\s+(?:i|we)\s+have\s+(?:reported|rung|called|phoned)\b|"
    # a return home interview written up: "I completed Dominik's return home interview today"
    r"(?:completed|did|done|held|carried\s+out)\s+(?:[\w'’]+\s+)?return\s+(?:home\s+)?interview|"
    r"rhi\s+(?:was\s+|has\s+been\s+)?(?:completed|done|held)|"
    # a month's summary of closed episodes: "October missing from care summary ... All episodes
    # are closed"
    r"all\s+(?:the\s+)?episodes\s+(?:are|were|have\s+been)\s+closed|"
    r"raise\s+a\s+(?:concern|complaint)|make\s+a\s+complaint|complaints?\s+about|"
    r"missing\s+episodes\s+(?:for|from|in|summary)|(?:monthly|quarterly|weekly|q[1-4])\s+"
    r"(?:missing\s+)?(?:episodes?\s+)?summary|summary\s+of\s+(?:missing|episodes)|"
    r"summary\s+of\s+the\s+return|return\s+(?:home\s+)?interview\s+(?:was\s+|has\s+been\s+)?"
    r"(?:completed|done|held|carried\s+out)|(?:completed|did|held)\s+(?:the\s+|a\s+|her\s+|his\s+)?"
    r"return\s+(?:home\s+)?interview|return\s+(?:home\s+)?interview\s+(?:completed\s+)?with\s+"
    r"(?-i:[A-Z])\w+|"
    # thanks for the help with an episode: "thank you to the team who helped on Saturday night
    # when Freya went missing"; news already had: "as you know she came home on Sunday"
    r"thank(?:s|\s+you)\b[^.!?\n]{0,80}\b(?:help|helped|helping|support|supported)\b[^.!?\n]{0,60}"
    r"\b(?:when|while|during)\b|"
    # a worker's note on a visit: "we talked about his missing episode of 18/04"
    r"(?:talked|spoke|chatted)\s+(?:with\s+\w+\s+)?"
    r"about\s+(?:his|her|their|the)\s+(?:last\s+|recent\s+)?missing\s+episode|"
    r"as\s+you\s+(?:know|are\s+aware),?\s+(?:[\w']+\s+){0,2}(?:came|come|got|was|were|is|'s)\s+"
    r"(?:back|home))",
    re.IGNORECASE,
)


def about_a_past_episode(text: str) -> bool:
    """True for a return interview's summary and the like: its return words are history."""
    try:
        return bool(_PAST_EPISODE.search(text[:MAX_TEXT]))
    except Exception:
        return False


def denies_missing(text: str) -> bool:
    """True when a clause says a child is not missing or speaks of episodes in general ("no
    episodes this month", "has not run off since the spring"): such a message is no report, even
    under a subject with "missing" in it ("Monthly missing summary")."""
    try:
        if _FIRST_TIME.search(text[:MAX_TEXT]):
            return False  # "she has never gone missing before": this is the first time
        return any(_NEGATED_MISSING.search(c.text) or (_HISTORY.search(c.text)
                                                        and _MISSING_CUES.search(c.text))
                   for c in clauses(text))
    except Exception:
        return False


def _at(said: Said, m: re.Match[str], clause: Clause) -> Assertion:
    return Assertion(said, m.group(0), clause, clause.start + m.start(), clause.start + m.end())


def _history_or_question(clause: str) -> bool:
    return bool(_HISTORY.search(clause) or _QUESTION.search(clause))
