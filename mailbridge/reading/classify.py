"""Decide what a message is: a new missing report, a return, more information, or noise.

Machine mail is recognised first, from headers (RFC 3834 ``Auto-Submitted``, ``Precedence``,
DSNs, list headers), because an out-of-office reply that quotes "Jordan is missing" must not open
an episode. Human mail is then read for return and missing language in the NEW text only.

Safety bias: a false "returned" closes an episode while a child is still out, so return language
only wins when it is not negated ("has not come back") and the message does not also say the
child is still missing. Weak machine hints (``X-Auto-Response-Suppress``, ``Precedence: bulk``)
do not silence a message that reads like a report.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from mailbridge.reading.context import (
    Assertion,
    assertions,
    denies_missing,
    news_of,
    without_told_absence,
)
from mailbridge.reading.cues import FIND_ONLY, MISSING_AS_NAME, REPORTED_BEFORE
from mailbridge.reading.fields import ReportFields
from mailbridge.reading.form import form_part_of_lines, without_form_furniture
from mailbridge.reading.message import ReadMessage
from mailbridge.reading.past_episode import about_a_past_episode
from mailbridge.reading.seen_and_returned import held_after_return, outside_history

__all__ = ["Classification", "Kind", "classify", "machine_classification"]

Kind = Literal["missing", "returned", "info", "auto_reply", "bounce", "list", "not_a_report"]


@dataclass(frozen=True)
class Classification:
    """The kind of a message and a short reason fit for the audit log (no personal data).

    ``doubts`` are what the reader could not settle (conflicting signals), in plain English for
    staff; any doubt keeps the episode open with needs_confirmation. ``return_cue`` is the
    sentence that reads as a return, for the alert ("the email may say ... is back").
    """

    kind: Kind
    reason: str
    doubts: tuple[str, ...] = ()
    return_cue: str | None = None


_BOUNCE_SENDERS = re.compile(r"^(?:mailer-daemon|postmaster|mail-daemon|mailerdaemon|"
                             r"bounces?|noreply-dmarc-support)@", re.IGNORECASE)
_BOUNCE_SUBJECT = re.compile(
    r"^\s*(?:undeliverable|undelivered mail|delivery status notification|"
    r"mail delivery (?:failed|failure|system|subsystem)|returned mail|failure notice|"
    r"delivery failure|non[- ]?delivery|message not delivered|delivery has failed|"
    r"could not send message|warning: could not send)",
    re.IGNORECASE,
)
_AUTO_SUBJECT = re.compile(
    r"^\s*(?:automatic reply|auto(?:matic)?[ -]?(?:reply|response)|autoreply|auto:|"
    r"out of (?:the )?office|ooo\b|away from (?:the |my )?office|on annual leave|"
    r"i am (?:currently )?(?:out of|away|on leave)|abwesenheitsnotiz|réponse automatique|"
    r"read:|gelesen:|not read:)|\bout of (?:the )?office\b",
    re.IGNORECASE,
)

# A headline alone: "Jordan back", "Kai returned", "Mia found safe" (not "not back").
_SUBJECT_RETURN = re.compile(
    r"(?<!\bnot\s)(?<!\bn't\s)\b(?:back(?:\s+home)?|returned|found(?:\s+safe)?|home\s+safe|"
    r"is\s+home|located)\s*[!.]*\s*$|^\s*return\b(?=\s*(?:[:\-–]|notification|report|of|$))",
    re.IGNORECASE,
)
_CALLED_BACK = re.compile(r"\b(?:rang|rung|ring|call(?:ed)?|phoned?|text(?:ed)?|messaged|emailed|"
                          r"got|get)\s+(?:me|us|him|her|them|you)\s+back\b", re.IGNORECASE)
_SUBJECT_STILL = re.compile(r"\b(?:not|n't|never|no\s+sign)\s+(?:\w+\s+)?(?:back|home|returned)\b|"
                            r"\bnot\s+(?:come\s+|got\s+)?in\s*[!.]*\s*$|"
                            r"\bstill\s+(?:out|missing)\b", re.IGNORECASE)
_SUBJECT_MISSING = re.compile(r"\b(?:missing|absconded|awol|absent|ran\s+away|run\s+away|"
                              r"gone\s+again)\b", re.IGNORECASE)


# a message about a search, not a planned stay: the police, a report, a missing child
_SEARCH_CONTEXT = re.compile(r"\b(?:police|officers?|missing|reported|ref(?:erence)?|log|cad|"
                             r"located|found|"
                             # a friend's mum: "Skye says she doesn't want to go back to Tracy's
                             # tonight ... she can stop on our sofa"
                             r"(?:doesn't|does\s+not|don't|won't|will\s+not|not)\s+(?:want\s+to\s+)?"
                             r"(?:go|going|come|coming)\s+(?:back|home))\b", re.IGNORECASE)


_NOT_A_PERSON_WORD = frozenset({
    "i", "he", "she", "they", "we", "police", "staff", "mum", "dad", "nan", "gran", "grandad",
    "sister", "brother", "auntie", "aunt", "uncle", "officers", "then", "and", "but", "so", "it",
    "she's", "he's", "they've", "eventually", "finally", "later", "today", "tonight", "yesterday",
    "this", "at", "about", "around", "just"})


def _someone_else(a: Assertion, fields: ReportFields, text: str) -> str | None:
    """The name before a return cue when it is a person's and not the child's: "Rory came home".

    Only a name the email introduces as someone else's ("his friend Rory", "Rory's mum"), and
    never one the reading knows as the child's; a nickname or initials the reading did not see
    ("KJ came home") is all capitals and is not taken for another person. Setting a return
    aside this way only ever keeps an episode open."""
    child = {n.lower() for n in (fields.first_name, *(fields.full_name or "").split()) if n}
    before = a.clause.text[: max(0, a.start - a.clause.start)]
    # a name typed in lower case on a phone counts too ("jades mum says ... jade is home"): the
    # email must still introduce it as someone else's, below
    m = re.search(r"(?<![\w'])([A-Za-z][a-z][\w'-]*)\s+(?:has\s+|had\s+|just\s+|finally\s+)?$",
                  before)
    if m is None:
        return None
    name = m.group(1)
    word = name.lower()
    if word in child or word in _NOT_A_PERSON_WORD or word.endswith("'s") or any(
            c.startswith(word) or word.startswith(c) for c in child):
        return None
    # only a person the email introduces as someone else: "his friend Rory", "Rory's mum"
    other = re.compile(rf"\b(?:friend|mate|pal|brother|sister|cousin|boyfriend|girlfriend|"
                       rf"neighbour)(?:'s)?\s+(?i:{re.escape(name)})(?:'?s)?\b|"
                       rf"\b(?i:{re.escape(name)})'?s\s+(?:mum|dad|mother|father|nan|gran|parents|"
                       rf"family|house)\b")
    return name if other.search(text) else None


# a new absence after a return: "gone again", "missing again", "went back out"
_GONE_AGAIN = re.compile(r"\bagain\b|\b(?:went|gone|snuck|sneaked|slipped)\s+back\s+out\b",
                         re.IGNORECASE)


# the writer's own word that there is no absence (not "no longer missing", a return)
_SAYS_NOT_MISSING = re.compile(
    r"\b(?:is|was|'s|are|were)\s+not\s+missing\b(?!\s+(?:now|any\s*more|anymore))|"
    r"\b(?:not|ain't|aint|am\s+not|i'm\s+not)\s+reporting\s+(?:\w+\s+){0,2}(?:as\s+)?missing\b|"
    r"\bnot\s+a\s+missing\s+(?:episode|report|person)\b|"
    # not "she hasn't been missing long": that is a report
    # ("she has not been missing before": a first time, which is a report)
    r"\b(?:has|have)(?:\s+not|n't|nt)\s+been\s+missing\b(?!\s+(?:long|for|since|very|that|more|"
    r"over|much|until|till|before|previously|in\s+the\s+past))|\bwas\s+never\s+missing\b|"
    # "Reggie was never reported missing" (for information; not "not reported missing yet")
    r"\b(?:was|were|has\s+been|have\s+been)\s+never\s+reported\s+(?:as\s+)?missing\b|"
    r"(?:^|[.!?]\s+)no\s+(?:more\s+)?missing\s+episodes?\s+since\b|"
    # a handover's "Absent not missing - we knew where he was", "No missing reports tonight"
    r"\babsent\s*(?:,|-|–|but)?\s*not\s+missing\b|"
    # "nothing has happened with Nathan, he hasn't gone missing at any point!"
    r"\b(?:has|have|had)(?:\s+not|n't|nt)\s+(?:gone|been)\s+missing\s+at\s+(?:any\s+(?:point|time|stage)|"
    r"all)\b|"
    # a home's protocol: "we treat that as \"late\" rather than missing"
    r"\bas\s+['\"\u201c]?late['\"\u201d]?\s+(?:rather\s+than|instead\s+of|and\s+not|not)\s+"
    r"(?:as\s+)?missing\b|"
    r"(?:^|[.!?]\s+)no\s+missing\s+(?:reports?|episodes?)\s+(?:tonight|today|overnight|this\s+shift|"
    r"last\s+night)\b", re.IGNORECASE | re.MULTILINE)


# the footer of a mailing sent to many: "You are receiving this because you are on the ... list"
# (that says it went to a list); "unsubscribe" or "mailing list" alone only where nothing is
# said of an absence
_NEWSLETTER_SENT = re.compile(r"\byou\s+(?:are\s+)?receiv(?:e|ing)\s+this\s+(?:email\s+|"
                              r"newsletter\s+)?because\b|\bview\s+(?:this\s+email\s+)?in\s+(?:your\s+)?"
                              r"browser\b", re.IGNORECASE)
_NEWSLETTER = re.compile(r"\bunsubscribe\b|\bmailing\s+list\b", re.IGNORECASE)


# A reply's subject repeats the thread's; a forward's passes on a report, so it still counts.
_REPLY_SUBJECT = re.compile(r"^\s*(?:re|aw|sv|antw|vs)\s*(?:\[\d+\])?\s*:", re.IGNORECASE)


def _header(msg: ReadMessage, name: str) -> str:
    return (msg.headers.get(name) or "").strip().lower()


def _machine(msg: ReadMessage, reads_like_report: bool) -> Classification | None:
    ctype = msg.content_type.lower()
    if ctype == "multipart/report":
        if msg.report_type == "delivery-status":
            return Classification("bounce", "delivery status notification (multipart/report)")
        if msg.report_type == "disposition-notification":
            return Classification("auto_reply", "read receipt (disposition-notification)")
        if msg.report_type == "feedback-report":
            return Classification("bounce", "abuse feedback report (ARF)")
        return Classification("bounce", f"multipart/report ({msg.report_type or 'unknown'})")
    if msg.delivery_status:
        return Classification("bounce", "message/delivery-status part")
    if msg.from_addr and _BOUNCE_SENDERS.match(msg.from_addr):
        return Classification("bounce", "sent by a mailer daemon / postmaster")
    if msg.headers.get("x-failed-recipients"):
        return Classification("bounce", "X-Failed-Recipients header")
    if msg.return_path == "" and (_BOUNCE_SUBJECT.match(msg.subject) or not reads_like_report):
        return Classification("bounce", "null return path (<>)")
    if _BOUNCE_SUBJECT.match(msg.subject):
        return Classification("bounce", "bounce subject")

    auto = _header(msg, "auto-submitted")
    if auto and auto != "no":
        return Classification("auto_reply", f"Auto-Submitted: {auto[:40]}")
    for name in ("x-autoreply", "x-autorespond", "x-autoresponder", "x-mailer-autoreply"):
        if name in msg.headers:
            return Classification("auto_reply", f"{name} header")
    if _AUTO_SUBJECT.search(msg.subject):
        return Classification("auto_reply", "auto-reply subject")

    list_headers = [h for h in ("list-id", "list-unsubscribe", "list-post") if h in msg.headers]
    precedence = _header(msg, "precedence")
    if list_headers or precedence == "list":
        why = list_headers[0] if list_headers else "Precedence: list"
        return Classification("list", f"mailing list ({why})")
    if precedence in {"bulk", "junk"} and not reads_like_report:
        return Classification("auto_reply", f"Precedence: {precedence}")
    if "x-auto-response-suppress" in msg.headers and not reads_like_report:
        return Classification("auto_reply", "X-Auto-Response-Suppress without report language")
    return None


def machine_classification(
    msg: ReadMessage, *, reads_like_report: bool = False
) -> Classification | None:
    """Machine mail (bounce, auto-reply, read receipt, list) from headers and subject, or None.

    The same RFC 3834 rules ``classify`` applies first. ``reads_like_report`` keeps the weak hints
    (``X-Auto-Response-Suppress``, ``Precedence: bulk``, a null Return-Path) from silencing mail
    that reads like a report; pass False where any machine hint must count.
    """
    return _machine(msg, reads_like_report)


_UNSURE_IF_MISSING = re.compile(
    r"\b(?:not\s+sure|unsure|don'?t\s+know|do\s+not\s+know)\b[^.!?\n]{0,80}?\b(?:if|whether)\s+"
    r"(?:this|it|he|she|they)"
    r"\s+(?:even\s+|really\s+|actually\s+)?(?:counts?|is|are|classes|qualifies|would\s+count)\s+"
    r"(?:as\s+)?(?:a\s+|being\s+)?(?:missing|absent|a\s+missing)",
    re.IGNORECASE,
)


def classify(msg: ReadMessage, fields: ReportFields) -> Classification:
    """Classify one message; never raises (falls back to "not_a_report" with the error)."""
    try:
        return _classify(msg, fields)
    except Exception as exc:
        return Classification("not_a_report", f"classification failed: {type(exc).__name__}")


def _strip_subject(subject: str) -> str:
    for _ in range(5):
        bare = re.sub(r"^\s*(?:re|fw|fwd|aw|wg|sv|antw|vs)\s*(?:\[\d+\])?\s*:\s*", "", subject,
                      flags=re.IGNORECASE)
        if bare == subject:
            break
        subject = bare
    return subject


def _classify(msg: ReadMessage, fields: ReportFields) -> Classification:
    subject = msg.subject[:1000].replace("\u2019", "'")
    text = msg.text[:20_000].replace("\u2019", "'").replace("\u2018", "'")
    # The form's labels and instructions are the form talking, not the carer.
    said_text = without_form_furniture(text)
    said = without_told_absence(assertions(said_text))
    if msg.forwarded:
        said = news_of(said, said_text, msg.added_text.replace("\u2019", "'"))
    still = [a for a in said if a.said == "still_missing"]
    past_episode = not still and about_a_past_episode(
        said_text, [a for a in said if a.said == "missing"])
    if past_episode:
        # "the return home interview completed with Jasmine ... returned by police at 3.40am on
        # the Saturday": the episode is over; its return is not news
        said = [a for a in said if a.said not in ("returned", "missing")]
    returns = [a for a in said if a.said == "returned"]
    # "Rory came home on his own at half 7 and says he and Cian went separate ways": a return
    # said of someone the email names who is not the child it reports on
    others = [(a, name) for a in returns
              if (name := _someone_else(a, fields, said_text)) is not None]
    returns = [a for a in returns if all(a is not o for o, _n in others)]
    missing = [a for a in said if a.said == "missing"]
    hearsay = [a for a in said if a.said == "reported_return"]
    # "jades mum says they went out together at 7 and jade is home": her friend's return, told
    others += [(a, name) for a in hearsay if (name := _someone_else(a, fields, said_text))]
    hearsay = [a for a in hearsay if all(a is not o for o, _n in others)]
    unsure = [a for a in said if a.said == "unsure_return"]
    located = [a for a in said if a.said == "located"]
    # "Re: Missing: J.C." is the thread's headline, not news: in a reply only new words count.
    headline = "" if _REPLY_SUBJECT.match(subject) else _strip_subject(subject)
    # "Complaint - nobody rang us back": a call returned, not a child
    headline = _CALLED_BACK.sub(" ", headline)
    head_return = bool(headline and _SUBJECT_RETURN.search(headline)
                       and not _SUBJECT_STILL.search(headline))
    head_still = bool(headline and _SUBJECT_STILL.search(headline))
    head_missing = bool(headline and _SUBJECT_MISSING.search(MISSING_AS_NAME.sub("", headline)))
    if past_episode or (not (returns or still or missing or hearsay or unsure)
                        and denies_missing(said_text)):
        # "Monthly missing summary": the body says no child is missing; the subject is a title
        head_still = head_missing = False
        head_return = head_return and not past_episode
    reads_like_report = bool(returns or still or missing or hearsay or unsure or head_return
                             or head_still or head_missing or fields.form_used)

    machine = _machine(msg, reads_like_report)
    if machine is not None:
        return machine

    if past_episode:
        # a question about procedure, a complaint, a summary, a note on an episode that is over
        return Classification("not_a_report", "about no current episode (a summary, a question "
                              "or an episode that is over)")
    # "He said someone had rung in to say she was missing ... Ava has NOT been missing at any
    # point": a second-hand word of an absence that the writer denies is no absence
    second_hand = bool(missing) and all(
        REPORTED_BEFORE.search(a.clause.text[: max(0, a.start - a.clause.start)])
        for a in missing)
    if not still and (not missing or second_hand) and _SAYS_NOT_MISSING.search(said_text):
        # "came in at 21:55, before curfew, so she is not missing", "I ain't reporting Kemar
        # missing, I just want it wrote down": the writer says there is no absence (with any
        # word of an absence beside it, it may be another child's: the safe state stands)
        return Classification("not_a_report", "the writer says the child is not missing")
    if not (still or returns or hearsay or unsure or located) and (
            _NEWSLETTER_SENT.search(text) or (not missing and _NEWSLETTER.search(text))):
        # a newsletter sent without list headers: "MISSING FROM CARE: WHAT TO DO" is a heading
        return Classification("not_a_report", "a newsletter (its footer says it went to a list)")
    doubts = list(fields.doubts)
    if _UNSURE_IF_MISSING.search(said_text):
        # "I'm not sure if this even counts as missing because he's 17": the safe state is a
        # report, and the writer's own doubt goes to staff to settle
        doubts.append("the writer is not sure this counts as missing")
    if others and not returns and not (still or head_still or head_missing) and not any(
            re.search(r"missing", a.cue, re.IGNORECASE) for a in missing):
        # (beside words that the child is out or missing, in the body or a new email's subject,
        # another's return is no doubt about theirs; beside "she was supposed to be home by 8"
        # alone, staff are told of it)
        name = others[0][1]
        doubts.append(f"the email says {name} came back, and {name} is not the child it is about")
    cue = returns[0].clause.text[:200] if returns else None
    if fields.form_report_type == "returned":
        # both parts sent at once: "did not come back" in the MISSING part's notes is the
        # story of the absence the RETURN part ends, not news that the child is still out
        part = form_part_of_lines(text)
        still = [a for a in still
                 if (line := said_text.count("\n", 0, a.start)) >= len(part)
                 or part[line] != "MISSING"]
        if still:
            doubts.append("the form's RETURN part is filled in but the email also says the child "
                          "is still missing")
            return Classification("missing", "form: return, but still-missing language",
                                  tuple(doubts), cue or "the form's RETURN part")
        if any("return" in d for d in doubts):
            # "Date and time returned: 19:30" in a form sent at 18:50, or before the last
            # sighting: the time cannot be right, so the return is not taken as read
            return Classification("missing", "form: return part filled in, its time in doubt",
                                  tuple(doubts), cue or "the form's RETURN part")
        return Classification("returned", "form: return part filled in", tuple(doubts), cue)
    if fields.form_report_type == "missing":
        if outside_history(returns, fields.risk_notes):
            doubts.append("the form reports the child missing but the email may say the child "
                          "is back")
        return Classification("missing", "form: missing part filled in", tuple(doubts), cue)
    again = [a for a in still if _GONE_AGAIN.search(a.cue)]
    if returns and again and all(r.start < again[0].start for r in returns):
        # "The police brought her home yesterday morning ... Tonight she's gone again": the
        # return is the story of the last absence, and the news is that the child is out
        return Classification("missing", f"gone again after a return: {again[0].cue[:30]!r}",
                              tuple(doubts))
    if returns and still:
        doubts.append("the email says the child is back and also that the child is still out")
        return Classification("missing", f"conflict: {returns[0].cue[:30]!r} and "
                              f"{still[0].cue[:30]!r}", tuple(doubts), cue)
    if returns and unsure:
        doubts.append("the writer is not sure the child is back")
    if returns and all(FIND_ONLY.search(a.cue) for a in returns) and not located:
        # "Officers have located Reece at a friend's flat", "Police found her at her mum's at
        # 2am", and nothing says the child is back: a find is where, not a return
        doubts.append("the child has been found, but the email does not say they are back at "
                      f"the placement ({returns[0].cue[:60]!r})")
    if returns and held_after_return(returns, located):
        doubts.append("the child has been found but may not be back at the placement yet "
                      f"({located[0].cue[:60]!r})")
    if returns and doubts:
        # only an unambiguous return closes: a return with a dropped time, a return before the
        # last sighting or two candidate times is the safe state, open and missing
        return Classification("missing", f"return language with a doubt: "
                              f"{returns[0].cue[:30]!r}", tuple(doubts), cue)
    if returns:
        return Classification("returned", f"return language: {returns[0].cue[:40]!r}",
                              tuple(doubts), cue)
    if unsure:
        doubts.append("the writer is not sure the child is back")
        return Classification("missing", "a return the writer is not sure of", tuple(doubts),
                              unsure[0].clause.text[:200])
    if hearsay:
        doubts.append("the email passes on someone else's word that the child is back")
        return Classification("missing", "a return reported second-hand", tuple(doubts),
                              hearsay[0].clause.text[:200])
    if still:
        if hearsay or unsure or located:
            # "KL's friend says she's on her way back now; we have not seen her": still out,
            # and staff should know what is being said
            doubts.append("someone says the child is back or on the way, but the writer has not "
                          "seen the child")
        return Classification("missing", f"missing language: {still[0].cue[:40]!r}",
                              tuple(doubts))
    if missing:
        if located:
            # "her friend's mum says Mira is at theirs and she'll drop her back in the
            # morning": still missing, and staff should know where she is said to be
            doubts.append("the child is said to be found or somewhere known, but is not back "
                          f"at the placement ({located[0].cue[:60]!r})")
        return Classification("missing", f"missing language: {missing[0].cue[:40]!r}",
                              tuple(doubts))
    if located and _SEARCH_CONTEXT.search(text) and not denies_missing(said_text):
        # "Police have her ... they are bringing her back": found, not back at the placement
        doubts.append("the child is said to be found or on the way, but is not back at the "
                      f"placement ({located[0].cue[:60]!r})")
        return Classification("missing", "found or on the way, not back yet", tuple(doubts),
                              located[0].clause.text[:200])
    if head_still or head_missing:
        return Classification("missing", "missing language in the subject", tuple(doubts))
    if head_return:
        return Classification("returned", "return language in the subject", tuple(doubts),
                              _strip_subject(subject)[:200])
    if fields.has_report_facts() or (fields.child_id and (fields.full_name or fields.first_name)):
        return Classification("info", "report facts without missing or return language",
                              tuple(doubts))
    return Classification("not_a_report", "no missing, return or report facts")
