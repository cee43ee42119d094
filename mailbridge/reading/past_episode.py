"""Mail about an episode that is over: a return home interview written up or asked for, a
summary of the month, a complaint, a question about procedure, thanks, the paperwork of returns.

Exists apart from ``context.py`` (which reads what each clause asserts now) because this is a
verdict on the whole email: its return and missing words are history, so classification sets
them aside. Pure and total: never raises.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from mailbridge.reading.context import MAX_TEXT, Assertion

__all__ = ["about_a_past_episode"]


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
    # a school asking about procedure: "I would like to check the correct procedure for our staff"
    r"(?:check|confirm|clarify|ask\s+about)\s+(?:the\s+)?(?:correct\s+|right\s+)?procedure\b|"
    # a return home interview written up: "I completed Dominik's return home interview today"
    r"(?:completed|did|done|held|carried\s+out)\s+(?:[\w'’]+\s+)?return\s+(?:home\s+)?interview|"
    # "I met Ollie at Cedar Lodge this afternoon for his return home interview about ..."
    r"(?:met|saw|visited|spoke\s+(?:to|with))\s+(?:[\w'’-]+\s+){1,6}?for\s+(?:his|her|their|the)\s+"
    r"return\s+(?:home\s+)?interview|"
    r"rhi\s+(?:was\s+|has\s+been\s+)?(?:completed|done|held)|"
    # a month's summary of closed episodes: "October missing from care summary ... All episodes
    # are closed"
    r"all\s+(?:the\s+)?episodes\s+(?:are|were|have\s+been)\s+closed|"
    r"raise\s+a\s+(?:concern|complaint)|make\s+a\s+complaint|complaints?\s+about|"
    # (not "No previous missing episodes from this placement": history told beside a report)
    r"(?<!previous\s)(?<!prior\s)(?<!earlier\s)(?<!other\s)(?<!past\s)"
    r"missing\s+episodes\s+(?:for|from|in|summary)|(?:monthly|quarterly|weekly|q[1-4])\s+"
    r"(?:missing\s+)?(?:episodes?\s+)?summary|summary\s+of\s+(?:missing|episodes)|"
    r"summary\s+of\s+the\s+return|return\s+(?:home\s+)?interview\s+(?:was\s+|has\s+been\s+)?"
    r"(?:completed|done|held|carried\s+out)|"
    # "Return home interview for Tyreece ... following his missing episode on 1st-2nd December was
    # completed today"
    r"return\s+(?:home\s+)?interview\b[^.!?\n]{0,120}?\b(?:was|has\s+(?:now\s+)?been)\s+"
    r"(?:completed|done|held|carried\s+out)|(?:completed|did|held)\s+(?:the\s+|a\s+|her\s+|his\s+)?"
    r"return\s+(?:home\s+)?interview|return\s+(?:home\s+)?interview\s+(?:completed\s+)?with\s+"
    r"(?-i:[A-Z])\w+|"
    # news told again in a request: "Please could you arrange a return home interview for
    # Amira ... returned on Saturday; staff reported both at the time" (a return report that
    # asks for the interview is still a return report)
    r"(?:staff|we|they|the\s+home|the\s+carers?)\s+(?:reported|emailed|notified\s+you\s+of)\s+"
    r"(?:both|it|them|this|each)\s+at\s+the\s+time|"
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


def about_a_past_episode(text: str, missing: Sequence[Assertion] = ()) -> bool:
    """True for a return interview's summary and the like: its return words are history.

    ``missing``: the email's missing cues (``context.assertions``). The old news of a return
    (a request for an interview or for paperwork after a return someone reported, a notification
    already had) is the verdict only while no absence is told as news: "Dana went missing at 9pm.
    Please arrange a return home interview when she is back; her nan reported it at the time" is
    a missing report.
    """
    try:
        text = text[:MAX_TEXT]
        if any(_TOLD_NOW.search(_around(a)) for a in missing):
            return False  # "Dana went missing at 9pm tonight. Her RHI was completed on Monday."
        m = _PAST_EPISODE.search(text)
        if m is not None and any(_told_before(a, m.start(), text) for a in missing):
            return False  # "Dana ran off at 9pm. The RHI was completed last week."
        return m is not None or _old_news_of_a_return(text, missing)
    except Exception:
        return False


def _told_before(a: Assertion, past_at: int, text: str) -> bool:
    """An absence with its clock time, told before the words of a past episode and not as the
    story of one (its return in the same sentence, "his missing episode on 3rd February")."""
    return (a.start < past_at and bool(_CLOCK.search(a.clause.text))
            and not _A_RETURN.search(a.clause.text)
            and not re.match(r"\s*episodes?\b", text[a.end:]))


def _around(a: Assertion) -> str:
    """The words of the cue's clause near the cue: what they say of when is said of it."""
    at = a.start - a.clause.start
    # (only just before it: "I completed her RHI today following her missing episode" is not)
    return a.clause.text[max(0, at - 12): at + len(a.cue) + 30]


# an absence told as now, whatever else the email says of past episodes (not "today's meeting")
_TOLD_NOW = re.compile(r"\b(?:tonight|today(?!['’]s)|this\s+(?:morning|afternoon|evening)|"
                       r"just\s+now|right\s+now|at\s+the\s+moment|currently)\b", re.IGNORECASE)
# the same sentence tells the return: the absence is the story of an episode that is over
_A_RETURN = re.compile(r"\b(?:returned|came\s+(?:back|home)|back\s+(?:about|at|around|by)|"
                       r"brought\s+back)\b", re.IGNORECASE)
# a clock time in the sentence of an absence told before any word of a past episode
_CLOCK = re.compile(r"\b\d{1,2}(?:[.:]\d\d)?\s*(?:am|pm)\b|\b\d{1,2}[.:]\d\d\b|"
                    r"\b(?:half|quarter)\s+(?:past|to)\s+\w+|\bmidnight\b", re.IGNORECASE)


def _old_news_of_a_return(text: str, missing: Sequence[Assertion]) -> bool:
    over = [m.span() for m in _AN_ABSENCE_OVER.finditer(text)]
    if any(not any(s <= a.start < e for s, e in over) for a in missing):
        return False  # an absence told now, not inside one told as over
    return bool(_OLD_NEWS.search(text) or (
        _RHI_ASKED.search(text) and (_TOLD_AT_THE_TIME.search(text) or over)))


_OLD_NEWS = re.compile(
    # a request for the paperwork of episodes already over: "Please can you send us the missing
    # notifications for Macy (returned 05/11) so we can allocate the return home interviews?"
    # (the returns named in the request: not "Dana went missing at 9pm. Please send me the
    # missing referral form", a live report asking for a form)
    r"\b(?:send|forward|resend|re-send)\s+(?:us|me)\s+(?:the\s+|a\s+|any\s+)?(?:missing\s+|return\s+|"
    r"rhi\s+)?(?:notifications?|paperwork|referrals?)\b[^.!?\n]{0,80}?\((?:returned|back)\b|"
    # "We received the notification that Reuben returned to Larkfield House on 27/01": news the
    # council already had
    r"\b(?:received|had|got)\s+(?:the|your|a)\s+(?:notification|notice|referral)\s+(?:that|of)\s+"
    r"[^.!?\n]{0,40}?\b(?:returned|came\s+back|(?:was|is|had\s+been)\s+(?:back|home)|"
    r"(?:his|her|their|the)\s+return)\b|"
    # a police review after the return: "The episode has now been reviewed and graded HIGH risk"
    # (beside an absence told now, "Tia went missing at 9pm", this is not the verdict: above)
    r"\b(?:the|this|that)\s+(?:missing\s+)?episode\s+has\s+(?:now\s+)?been\s+(?:reviewed|graded|"
    r"closed)\b",
    re.IGNORECASE,
)


# A request for a return home interview that says someone else reported the return when it
# happened ("I understand Roisin reported it to EDT at the time"): the news is old. Both are
# needed: a live return report may say "staff reported it to the police at the time" too.
_RHI_ASKED = re.compile(
    r"\b(?:arrange[ds]?|arranging|book(?:ed)?|request(?:ed|ing)?|set\s+up|organise[ds]?|allocate[ds]?)\s+"
    r"(?:a\s+|an\s+|the\s+|his\s+|her\s+|their\s+)?(?:return\s+(?:home\s+)?interview|rhi)\b|"
    r"\b(?:return\s+(?:home\s+)?interview|rhi)\s+(?:to\s+)?be\s+(?:arranged|booked|set\s+up)|"
    # "The RHI for this episode has been booked for Thursday"
    # "the return home interview for Blessing, following her missing episode on Tuesday night,
    # has been booked"
    r"\b(?:return\s+(?:home\s+)?interview|rhi)\b[^.!?\n]{0,120}?\b(?:has\s+(?:now\s+)?been|is)\s+"
    r"(?:arranged|booked|set\s+up)|"
    r"^\s*(?:subject:\s*)?rhi\s+request\b",
    re.IGNORECASE | re.MULTILINE,
)
# "He was missing from Moorside over New Year (back on the 1st)": an absence told as over
_AN_ABSENCE_OVER = re.compile(
    r"\bwas\s+missing\s+(?:from\s+[\w' -]{1,30}?\s+)?(?:over|overnight|on|last|during|"
    r"at\s+the\s+weekend)\b"
    r"[^.!?\n]{0,60}?\b(?:back|returned|came\s+(?:back|home))\s+(?:home\s+)?(?:on|at|by)\b|"
    # "following her missing episode on Tuesday night" (an interview's occasion)
    r"\b(?:following|after)\s+(?:her|his|their)\s+(?:recent\s+|last\s+)?missing\s+episode\s+"
    r"(?:on|last|of)\b|"
    # "Episode: 16/01/2029 - 17/01/2029": an episode with its end
    r"\bepisode\s*:?\s*\d{1,2}/\d{1,2}(?:/\d{2,4})?\s*(?:-|–|to)\s*\d{1,2}/\d{1,2}|"
    # "No further police action on the missing episode itself."
    r"\bno\s+further\s+(?:police\s+)?action\s+(?:on|regarding|in\s+relation\s+to)\s+(?:the\s+)?"
    r"missing\s+episode",
    re.IGNORECASE,
)
_TOLD_AT_THE_TIME = re.compile(
    r"(?<!\bI\s)(?<!\bi\s)(?<!\bwe\s)(?<!\bWe\s)\breported\s+(?:it|this|both|them|each|"
    r"the\s+return)\s+(?:to\s+(?:the\s+)?[\w-]+(?:\s+[\w-]+)?\s+)?at\s+the\s+time(?=\s*[.,;!]|\s*$)",
    re.MULTILINE,
)
