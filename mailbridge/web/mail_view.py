"""A stored email shown to staff as received, safely: sanitised HTML, no remote content.

The raw bytes are read with the stdlib ``email`` package (``policy.default``). An HTML body goes
through nh3 (the Rust ``ammonia`` sanitiser): scripts, styles, event handlers, forms and frames
are dropped, and so is every ``<img>``, so opening a report never tells a sender (or a tracker
in their mail) that it was read. Links keep only http, https and mailto, with
``rel="noopener noreferrer nofollow"``. Attachments are listed with their size and served only
as downloads (``Content-Disposition: attachment``), never rendered in the page.
"""

from __future__ import annotations

import email
import re
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage, Message

import nh3

_TAGS = set(nh3.ALLOWED_TAGS) - {"img"}
_IMG = re.compile(r"<img\b", re.IGNORECASE)
_MAX_BODY = 200_000


@dataclass(frozen=True)
class AttachmentInfo:
    index: int
    filename: str
    content_type: str
    size: int


@dataclass(frozen=True)
class MailView:
    subject: str
    sender: str
    to: str
    date: str
    text: str | None
    html: str | None  # already sanitised
    images_removed: int
    attachments: tuple[AttachmentInfo, ...]


def _parse(raw: bytes) -> EmailMessage:
    msg = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def _header(msg: Message, name: str) -> str:
    try:
        return str(msg.get(name, "") or "")
    except Exception:  # a malformed header is shown empty, never as a page error
        return ""


def _content(part: Message) -> str:
    try:
        value = part.get_content()  # type: ignore[attr-defined]
    except Exception:
        payload = part.get_payload(decode=True)
        value = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    return str(value)[:_MAX_BODY]


def _attachments(msg: EmailMessage) -> list[Message]:
    out: list[Message] = []
    for part in msg.walk():
        if part.is_multipart():
            continue
        ctype = part.get_content_type()
        named = part.get_filename() is not None
        if part.get_content_disposition() == "attachment" or named or not ctype.startswith("text/"):
            out.append(part)
    return out


def sanitise(html: str) -> tuple[str, int]:
    """Safe HTML for the page, and how many images were taken out."""
    removed = len(_IMG.findall(html))
    clean = nh3.clean(
        html,
        tags=_TAGS,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )
    return clean, removed


def view(raw: bytes) -> MailView:
    msg = _parse(raw)
    text_part = msg.get_body(preferencelist=("plain",))
    html_part = msg.get_body(preferencelist=("html",))
    html: str | None = None
    removed = 0
    if html_part is not None and html_part.get_content_disposition() != "attachment":
        html, removed = sanitise(_content(html_part))
    attachments = tuple(
        AttachmentInfo(
            i,
            part.get_filename() or f"attachment-{i + 1}",
            part.get_content_type(),
            len(part.get_payload(decode=True) or b""),
        )
        for i, part in enumerate(_attachments(msg))
    )
    return MailView(
        subject=_header(msg, "subject"),
        sender=_header(msg, "from"),
        to=_header(msg, "to"),
        date=_header(msg, "date"),
        text=_content(text_part) if text_part is not None else None,
        html=html,
        images_removed=removed,
        attachments=attachments,
    )


def attachment(raw: bytes, index: int) -> tuple[str, bytes] | None:
    """The file name and bytes of the ``index``-th attachment, or None."""
    parts = _attachments(_parse(raw))
    if not 0 <= index < len(parts):
        return None
    part = parts[index]
    data = part.get_payload(decode=True)
    name = part.get_filename() or f"attachment-{index + 1}"
    return name, data if isinstance(data, bytes) else b""
