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

from mailbridge.reading.fields import ReportFields
from mailbridge.reading.message import ReadMessage

__all__ = ["Classification", "Kind", "classify", "machine_classification"]

Kind = Literal["missing", "returned", "info", "auto_reply", "bounce", "list", "not_a_report"]


@dataclass(frozen=True)
class Classification:
    """The kind of a message and a short reason fit for the audit log (no personal data)."""

    kind: Kind
    reason: str


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

_RETURN = re.compile(
    r"\b(?:has\s+(?:now\s+)?returned|have\s+(?:now\s+)?returned|(?:is|are)\s+(?:now\s+)?back\b|"
    r"now\s+back|returned\s+(?:home|safe|safely|to\s+(?:placement|the\s+home|the\s+house|"
    r"her\s+placement|his\s+placement|their\s+placement))|returned\s+(?:at|around|about|"
    r"this|last|just|earlier|late)|(?:has|have)\s+come\s+(?:back|home)|came\s+(?:back|home)|"
    r"come\s+back\s+(?:home|safe)|back\s+(?:home|safe|in\s+placement|at\s+placement)|"
    r"(?:has\s+been|was|been|were)\s+(?:found|located|traced)|found\s+(?:(?:him|her|them)\s+)?safe|(?:police|officers)\s+(?:have\s+)?found\s+(?:him|her|them)|located\s+safe|"
    r"safe\s+(?:and|&|n)\s+well|brought\s+(?:\w+\s+)?(?:back|home)|turned\s+up|walked\s+(?:back\s+)?in|"
    r"no\s+longer\s+missing|returned|(?:is|was)\s+found|got\s+(?:back|home)|arrived\s+(?:back|home)|"
    r"\breturn\b(?=\s*(?:[:\-–]|notification|report|of|$)))",
    re.IGNORECASE,
)
_NEGATED = re.compile(
    r"(?:\bnot|n't|\bnever|\byet\s+to|\bfailed\s+to|\bno\s+sign\s+of|\bif|\buntil|\btill|"
    r"\bonce|\bwhen|\bexpected\s+to|\bdue\s+to|\bwaiting\s+for\s+(?:\w+\s+)?to|\bhoping|"
    r"\bhope|\bplease\s+let\s+(?:us|me)\s+know\s+(?:if|when|once))\s+(?:\w+\s+){0,2}$",
    re.IGNORECASE,
)
_STILL_MISSING = re.compile(
    r"\b(?:still\s+(?:missing|not\s+(?:back|home|returned))|missing\s+again|"
    r"(?:is|are)\s+(?:currently\s+)?missing|has\s+(?:gone|been\s+reported)\s+missing|"
    r"gone\s+missing\s+again|not\s+(?:yet\s+)?(?:returned|back|come\s+(?:back|home)))\b",
    re.IGNORECASE,
)
_MISSING = re.compile(
    r"\b(?:missing|absconded|absent\s+without|awol|a\.w\.o\.l|not\s+(?:yet\s+)?returned|"
    r"failed\s+to\s+return|has(?:n'?t|\s+not)\s+(?:come|returned|been\s+seen|got)|"
    r"did(?:n'?t|\s+not)\s+(?:come|return|get)|(?:is|was)(?:n'?t|\s+not)\s+(?:home|back|in)|has\s+gone|run\s+away|ran\s+away|ran\s+off|"
    r"runaway|not\s+(?:come|came)\s+(?:back|home)|not\s+(?:back|home)\s+(?:yet|since)|"
    r"whereabouts\s+(?:are\s+)?unknown|can(?:'t|not)\s+(?:find|locate|reach|contact)|"
    r"not\s+in\s+(?:(?:his|her|their)\s+)?(?:room|bed|placement)|bed\s+(?:was\s+)?empty|"
    r"did\s+not\s+return|didn't\s+return|not\s+returned|no\s+sign\s+of|"
    r"never\s+(?:came|come|got|returned|arrived)\s*(?:back|home|in)?|"
    r"not\s+(?:arrived|got|turned\s+up)\s*(?:back|home|at)?|"
    r"(?:left|gone)\s+without\s+permission|absent\s+from\s+placement|not\s+been\s+seen|"
    r"away\s+from\s+placement|unauthorised\s+absence|unauthorized\s+absence)\b",
    re.IGNORECASE,
)


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


def _return_hits(text: str) -> list[str]:
    hits: list[str] = []
    for m in _RETURN.finditer(text):
        before = text[max(0, m.start() - 40) : m.start()]
        if _NEGATED.search(before):
            continue
        after = text[m.end() : m.end() + 12]
        if re.match(r"\s+(?:yet\b|by\s+\d)", after, re.IGNORECASE):
            continue
        hits.append(m.group(0))
    return hits


def classify(msg: ReadMessage, fields: ReportFields) -> Classification:
    """Classify one message; never raises (falls back to "not_a_report" with the error)."""
    try:
        return _classify(msg, fields)
    except Exception as exc:
        return Classification("not_a_report", f"classification failed: {type(exc).__name__}")


def _classify(msg: ReadMessage, fields: ReportFields) -> Classification:
    subject = msg.subject[:1000]
    text = msg.text[:20_000]
    both = f"{subject}\n{text}"
    returns = _return_hits(both)
    # "Re: Missing: J.C." is our alert's or the first report's subject, not news: a reply
    # saying "thanks" in a returned episode's thread must not open a new episode.
    said = text if _REPLY_SUBJECT.match(subject) else both
    still = _STILL_MISSING.search(said)
    missing = _MISSING.search(said)
    reads_like_report = bool(returns or missing or fields.form_used)

    machine = _machine(msg, reads_like_report)
    if machine is not None:
        return machine

    if fields.form_report_type == "returned":
        return Classification("returned", "form: report type returned")
    if fields.form_report_type == "missing":
        return Classification("missing", "form: report type missing")
    if fields.form_used and fields.returned_at is not None and not still:
        return Classification("returned", "form: return time given")
    if fields.returned_at is not None and returns:
        return Classification("returned", f"return language: {returns[0][:40]!r}")
    if returns and not still:
        return Classification("returned", f"return language: {returns[0][:40]!r}")
    if still:
        return Classification("missing", f"missing language: {still.group(0)[:40]!r}")
    if missing:
        return Classification("missing", f"missing language: {missing.group(0)[:40]!r}")
    if fields.has_report_facts() or (fields.child_id and (fields.full_name or fields.first_name)):
        return Classification("info", "report facts without missing or return language")
    return Classification("not_a_report", "no missing, return or report facts")
