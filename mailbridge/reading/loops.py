"""Our own mail coming back: recognise it, so it never opens an episode nor sends mail again.

An alert forwarded back by a staff mailbox rule, a receipt returned by a carer's mailbox, an
alert routed to an address that is our own: each would be read as a report about the episode it
names, alert again, and loop. Every message we send carries markers (delivery.build_email):
``X-Mailbridge-Alert``, a Message-ID ``mb.<32 hex>@<our domain>``, and our own From address.

Two strengths of evidence, checked at two points of the pipeline:

- ``echo`` (strong, checked first): the message itself is ours: it has ``X-Mailbridge-Alert``,
  our Message-ID, or our From address. A person's reply or forward never keeps these.
- ``relayed`` (weak, checked only on the report path, after staff replies were handled): the
  message only carries our mail on, with nothing a person added: no new text and no attachment
  of its own, and it forwards one of our messages (inline, by its From line, or attached) or
  answers one (our Message-ID in In-Reply-To / References, and the subject is still ours: it
  names our reference). A staff reply to an alert is
  handled before this check (signed Reply-To token), and a carer who writes anything above a
  forwarded receipt is read as a report.

Pure: plain values in, plain values out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace

from mailbridge.reading.message import ReadMessage

__all__ = ["Loop", "OwnMail", "answers_own", "echo", "relayed", "without_own_forward"]

ALERT_HEADER = "x-mailbridge-alert"
_REFERENCE = re.compile(r"\bMB-\d{4}-\d{5,}\b", re.IGNORECASE)
_REPLY_PREFIX = re.compile(r"^(?:\s*(?:re|fw|fwd|aw|wg|sv|tr)\s*(?:\[\d+\])?\s*:)+", re.IGNORECASE)
_ADDRESS = re.compile(r"[\w.+'=-]+@[\w-]+(?:\.[\w-]+)+")


@dataclass(frozen=True)
class OwnMail:
    """What marks mail we sent: our addresses (plus-tags ignored) and our Message-ID domain."""

    addresses: frozenset[str]
    domain: str

    @classmethod
    def of(cls, addresses: Iterable[str], domain: str) -> OwnMail:
        return cls(frozenset(_base(a) for a in addresses if "@" in a), domain.strip().lower())

    def is_own_address(self, address: str | None) -> bool:
        return bool(address) and _base(address or "") in self.addresses

    def is_own_message_id(self, message_id: str | None) -> bool:
        if not message_id:
            return False
        local, _, domain = message_id.strip().strip("<>").lower().rpartition("@")
        return domain == self.domain and re.fullmatch(r"mb\.[0-9a-f]{32}", local) is not None


@dataclass(frozen=True)
class Loop:
    """Why a message is our own mail come back; the reason is stored as ``loop: <reason>``."""

    reason: str


def _base(address: str) -> str:
    local, at, domain = address.strip().strip("<>").lower().rpartition("@")
    return f"{local.split('+', 1)[0]}{at}{domain}"


def _ours(msg: ReadMessage, own: OwnMail) -> str | None:
    if ALERT_HEADER in msg.headers:
        return "our own alert or receipt (X-Mailbridge-Alert header)"
    if own.is_own_message_id(msg.message_id):
        return "our own Message-ID"
    if own.is_own_address(msg.from_addr):
        return "sent from our own address"
    return None


def echo(msg: ReadMessage, own: OwnMail) -> Loop | None:
    """The message is one we sent (redirected, bounced back without a DSN, or addressed to us)."""
    why = _ours(msg, own)
    return Loop(why) if why is not None else None


def _forwards_own(msg: ReadMessage, own: OwnMail) -> bool:
    if any(_ours(inner, own) for inner in msg.attached_messages):
        return True
    if msg.forwarded and msg.forwarded_from:
        return any(own.is_own_address(a) for a in _ADDRESS.findall(msg.forwarded_from))
    return False


def _added_something(msg: ReadMessage, own: OwnMail) -> bool:
    """Did a person add anything: new words, or an attachment that is not our own mail?"""
    if msg.added_text.strip():
        return True
    own_inner = sum(1 for inner in msg.attached_messages if _ours(inner, own))
    attached_messages = sum(1 for a in msg.attachments if a.content_type.startswith("message/"))
    others = [a for a in msg.attachments if not a.content_type.startswith("message/")]
    return bool(others) or attached_messages > own_inner


def relayed(msg: ReadMessage, own: OwnMail) -> Loop | None:
    """The message carries our mail back with nothing a person added."""
    if _added_something(msg, own):
        return None
    if _forwards_own(msg, own):
        return Loop("forwards our own mail with nothing added")
    answers = any(own.is_own_message_id(r) for r in [msg.in_reply_to, *msg.references] if r)
    if answers and not _subject_added(msg.subject) and not _typed_in_quote(msg.quoted_text):
        return Loop("answers our own mail with nothing added")
    return None


def answers_own(msg: ReadMessage, own: OwnMail) -> bool:
    """The message is a reply to mail we sent: our Message-ID in In-Reply-To or References, or
    the quoted part's header ("From: Missing Children <missing@...>", "On ..., <missing@...>
    wrote:") names our own address. An alert answered without its Reply-To token says so."""
    if any(own.is_own_message_id(r) for r in [msg.in_reply_to, *msg.references] if r):
        return True
    head = msg.quoted_text[:1500]
    for line in head.splitlines()[:12]:
        if _QUOTE_HEAD.match(line) and any(own.is_own_address(a) for a in _ADDRESS.findall(line)):
            return True
    return False


# the first line of a quoted message's header, as mail programs write it
_QUOTE_HEAD = re.compile(r"^\s*>?\s*(?:\*?From\*?\s*:|On\s.{0,200}wrote\s*:?\s*$)", re.IGNORECASE)


def _typed_in_quote(quoted: str) -> bool:
    """Words below or between the ``>`` lines of a reply (bottom or inline posting) are the
    person's own: a carer who answers a receipt under the quote must still be read. A quote
    without ``>`` marks (Outlook's) counts too, so such a reply is read rather than dropped."""
    lines = [line.strip() for line in quoted.splitlines() if line.strip()]
    return any(not line.startswith(">") for line in lines[1:])


def _subject_added(subject: str) -> bool:
    """A reply whose subject is not our own (``Re: [MB-…] …``) may carry the report in it.

    Only for replies: a forward of our mail keeps our subject, or one without a reference
    (``FW: NOT A REPORT: …``) that must still count as ours, or a duty mailbox could loop.
    """
    rest = _REPLY_PREFIX.sub("", subject).strip()
    return bool(rest) and _REFERENCE.search(rest) is None


def without_own_forward(msg: ReadMessage, own: OwnMail) -> ReadMessage:
    """A person's note above a forward of our own mail: read only the note.

    Our alert or receipt says "missing", names a reference and lists facts; read as the sender's
    words it would classify and fill the report from our own text.
    """
    if not _forwards_own(msg, own) or not msg.added_text.strip():
        return msg
    return replace(msg, text=msg.added_text, forwarded=False, forwarded_from=None)
