"""Raw bytes to a plain, typed view of one email: headers, the new text, and what was quoted.

Carers' mail arrives from every client there is, often broken. This module turns any bytes into a
``ReadMessage`` and never raises: a message we cannot read must still reach a person, so on
failure it returns what it could get plus a list of ``defects``.

Only the stdlib ``email`` package is used for MIME (``policy.default`` with raw-header fallbacks);
it is lenient, typed, and keeps raw header strings so that we can decode broken ones ourselves.

Hostile structure: the stdlib parser builds every part in memory and takes minutes on a message
nested 1,000 deep or holding 100,000 parts. ``_bounded_copy`` first maps the MIME skeleton with
the parser's own rules and cuts what lies beyond ``ReadLimits`` out of the copy that is parsed
(the stored raw mail is never changed). Attachments are listed, never unpacked: nothing here
opens an archive or undoes a Content-Encoding, and an attachment above
``max_attachment_bytes`` is not even base64-decoded.
"""

from __future__ import annotations

import email
import email.header
import email.policy
import email.utils
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from email.message import Message

from mailbridge.reading.bounded import UNREAD_TYPE, ReadLimits, _bounded_copy
from mailbridge.reading.context import assertions
from mailbridge.reading.headers import (
    READ_POLICY,
    _address,
    _addresses,
    _first,
    _msgid,
    _msgids,
    _parse_date,
    _raw_headers,
    decode_bytes,
    decode_header_value,
)
from mailbridge.reading.html_text import html_to_text
from mailbridge.reading.quoting import _split_forward, _tidy, split_quoted, unwrap

__all__ = [
    "Attachment",
    "ReadLimits",
    "ReadMessage",
    "decode_bytes",
    "html_to_text",
    "read_message",
    "split_quoted",
]

MAX_TEXT = 100_000  # characters of body text kept for reading; the raw mail is stored elsewhere
TRIVIAL_BODY = 40  # non-space characters below which an outer body is "just a cover note"


@dataclass(frozen=True)
class Attachment:
    """A non-text part, listed (not inlined) so staff know it exists."""

    name: str | None
    content_type: str
    size: int


@dataclass(frozen=True)
class ReadMessage:
    """Everything the reading core needs from one email, already decoded."""

    subject: str = ""
    from_addr: str | None = None
    from_name: str | None = None
    reply_to: str | None = None
    to: list[str] = field(default_factory=list)
    date: datetime | None = None
    message_id: str | None = None
    in_reply_to: str | None = None
    references: list[str] = field(default_factory=list)
    headers: Mapping[str, str] = field(default_factory=dict)
    text: str = ""
    quoted_text: str = ""
    forwarded: bool = False
    forwarded_from: str | None = None
    # when the forwarded message was sent, as its header wrote it ("21 November 2032 22:16"):
    # its "tonight" is that night, not the night it was forwarded
    forwarded_sent: str | None = None
    attachments: list[Attachment] = field(default_factory=list)
    content_type: str = "text/plain"
    report_type: str | None = None
    text_from_html: bool = False
    delivery_status: str = ""
    defects: list[str] = field(default_factory=list)
    # What the sender wrote themselves: the new text less any forwarded message.
    added_text: str = ""
    # Attached messages (message/rfc822), read the same way, for loop checks.
    attached_messages: list[ReadMessage] = field(default_factory=list)
    # Reading limits that were reached (also in defects): parts beyond them were not read.
    limits: list[str] = field(default_factory=list)

    @property
    def auto_submitted(self) -> str | None:
        """The RFC 3834 Auto-Submitted value, lower-cased, if any."""
        value = self.headers.get("auto-submitted")
        return value.strip().lower() if value else None

    @property
    def return_path(self) -> str | None:
        """The Return-Path as stored by the final MTA ("" means the null sender <>)."""
        value = self.headers.get("return-path")
        if value is None:
            return None
        return value.strip().strip("<>").strip().lower()


# ---------------------------------------------------------------------------------------------
# MIME walk


@dataclass
class _Parts:
    limits: ReadLimits = field(default_factory=ReadLimits)
    plain: list[str] = field(default_factory=list)
    html: list[str] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    attached_messages: list[ReadMessage] = field(default_factory=list)
    delivery_status: list[str] = field(default_factory=list)
    defects: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seen: int = 0  # parts walked so far, attached messages included


def _safe(call: object, default: object) -> object:
    try:
        return call() if callable(call) else default
    except Exception:
        return default


def _ctype(part: Message) -> str:
    value = _safe(part.get_content_type, "text/plain")
    return str(value).lower() if value else "text/plain"


def _payload_bytes(part: Message, parts: _Parts) -> bytes:
    try:
        data = part.get_payload(decode=True)
    except Exception as exc:
        parts.defects.append(f"undecodable part: {type(exc).__name__}")
        data = None
    if isinstance(data, bytes):
        return data
    raw = _safe(lambda: part.get_payload(decode=False), "")
    if isinstance(raw, str):
        return raw.encode("utf-8", "surrogateescape")
    return b""


def _encoded_size(part: Message) -> int:
    """The decoded size a leaf part will have, estimated from its encoded payload."""
    raw = _safe(lambda: part.get_payload(decode=False), "")
    if not isinstance(raw, str):
        return 0
    cte = str(_safe(lambda: part.get("content-transfer-encoding", ""), "") or "").strip().lower()
    return len(raw) * 3 // 4 if cte == "base64" else len(raw)


def _filename(part: Message) -> str | None:
    name = _safe(part.get_filename, None)
    if isinstance(name, str) and name.strip():
        return decode_header_value(name)
    return None


def _walk(part: Message, parts: _Parts, depth: int) -> None:
    limits = parts.limits
    ctype = _ctype(part)
    if ctype == UNREAD_TYPE:  # cut out by _bounded_copy, already noted
        return
    if depth > limits.max_depth:
        parts.notes.append(
            f"MIME parts nested deeper than {limits.max_depth} were not read"
            " (reading.max_mime_depth)"
        )
        return
    parts.seen += 1
    if parts.seen > limits.max_parts:
        parts.notes.append(
            f"more than {limits.max_parts} MIME parts; the rest were not read (reading.max_parts)"
        )
        return
    disposition = _safe(part.get_content_disposition, None)
    name = _filename(part)
    if ctype == "message/rfc822" or (ctype.startswith("message/") and part.is_multipart()):
        payload = _safe(part.get_payload, None)
        inner = payload[0] if isinstance(payload, list) and payload else None
        size = len(_safe(inner.as_bytes, b"")) if isinstance(inner, Message) else 0  # type: ignore[arg-type]
        if isinstance(inner, Message):
            sub = _read_parsed(inner, depth + 1, parts)
            parts.attached_messages.append(sub)
            label = name or (f"{sub.subject}.eml" if sub.subject else "message.eml")
            parts.attachments.append(Attachment(label, ctype, size))
        else:
            parts.attachments.append(Attachment(name, ctype, 0))
        return
    if part.is_multipart():
        payload = _safe(part.get_payload, [])
        if isinstance(payload, list):
            for sub_part in payload:
                if parts.seen >= limits.max_parts:
                    parts.notes.append(
                        f"more than {limits.max_parts} MIME parts; the rest were not read"
                        " (reading.max_parts)"
                    )
                    break
                if isinstance(sub_part, Message):
                    _walk(sub_part, parts, depth + 1)
        return
    estimate = _encoded_size(part)
    if estimate > limits.max_attachment_bytes:
        # Too big to decode: listed with its estimated size, the bytes stay in the raw mail.
        parts.attachments.append(Attachment(name, ctype, estimate))
        parts.notes.append(
            f"a part of about {estimate} bytes was not decoded"
            f" (over reading.max_attachment_bytes, {limits.max_attachment_bytes})"
        )
        return
    data = _payload_bytes(part, parts)
    if ctype in {"message/delivery-status", "message/feedback-report"}:
        parts.delivery_status.append(decode_bytes(data[:20_000], "utf-8"))
        parts.attachments.append(Attachment(name, ctype, len(data)))
        return
    is_text = ctype in {"text/plain", "text/html"} or (ctype == "text/enriched")
    if (
        is_text
        and disposition != "attachment"
        and not (name and disposition == "inline" and ctype != "text/plain")
    ):
        charset = _safe(part.get_content_charset, None)
        text = decode_bytes(data, charset if isinstance(charset, str) else None)
        if ctype == "text/html":
            parts.html.append(text)
        else:
            parts.plain.append(text)
        return
    parts.attachments.append(Attachment(name, ctype, len(data)))


def _norm_text(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = text.replace("\u00a0", " ").replace("\u200b", "").replace("\ufeff", "")
    text = text.replace("\x00", "")
    return text


_LABEL_LINE = re.compile(r"^[^\n:]{2,50}:[ \t]*\S", re.MULTILINE)


def _best_body(parts: _Parts) -> tuple[str, bool]:
    plain = _norm_text("\n\n".join(p for p in parts.plain if p.strip()))
    if not parts.html:
        return plain, False
    html_raw = "\n".join(parts.html)
    if plain.strip() and "<td" not in html_raw.lower():
        return plain, False
    rendered = _norm_text(html_to_text(html_raw))
    if not plain.strip():
        return rendered, True
    # Outlook's plain alternative loses table rows ("Name\n\nJo Bloggs"): prefer the HTML view
    # when it yields more "label: value" lines.
    if len(_LABEL_LINE.findall(rendered)) > len(_LABEL_LINE.findall(plain)) + 1:
        return rendered, True
    return plain, False


def _read_parsed(msg: Message, depth: int = 0, outer: _Parts | None = None) -> ReadMessage:
    defects: list[str] = []
    headers = _raw_headers(msg)
    header_map: dict[str, str] = {}
    for key, value in headers:
        if key not in header_map:
            header_map[key] = decode_header_value(value)
    subject = header_map.get("subject", "")
    from_addr, from_name = _address(_first(headers, "from"))
    if from_addr is None:
        from_addr, from_name = _address(_first(headers, "sender"))
    reply_to, _ = _address(_first(headers, "reply-to"))
    to = _addresses([v for k, v in headers if k in {"to", "cc"}])
    date = _parse_date(_first(headers, "date"))
    if _first(headers, "date") and date is None:
        defects.append("unparseable Date header")

    # An attached message shares its container's limits and part count.
    parts = _Parts(limits=outer.limits if outer is not None else ReadLimits())
    if outer is not None:
        parts.seen = outer.seen
    try:
        _walk(msg, parts, depth)
    except RecursionError:
        defects.append("MIME structure too deep")
    except Exception as exc:
        defects.append(f"MIME walk failed: {type(exc).__name__}")
    if outer is not None:
        outer.seen = parts.seen
        outer.notes.extend(parts.notes)
    notes = list(dict.fromkeys(parts.notes))
    defects.extend(parts.defects)
    defects.extend(notes)
    for d in getattr(msg, "defects", [])[:20]:
        defects.append(type(d).__name__)

    body, from_html = _best_body(parts)
    if len(body) > MAX_TEXT:
        body = body[:MAX_TEXT]
        defects.append(f"body text truncated to {MAX_TEXT} characters")

    forwarded = False
    forwarded_from: str | None = None
    forwarded_sent: str | None = None
    fwd = _split_forward(body, subject)
    if fwd is not None:
        forwarded = True
        forwarded_from = fwd.sender
        forwarded_sent = fwd.sent
        note_new, note_quoted = split_quoted(fwd.note)
        body_new, body_quoted = split_quoted(fwd.body)
        text = _tidy(f"{body_new}\n\n{note_new}")
        quoted = _tidy(f"{note_quoted}\n\n{body_quoted}")
        added = note_new
    else:
        text, quoted = split_quoted(body)
        added = text
    text, added = unwrap(text), unwrap(added)

    if parts.attached_messages and (len(re.sub(r"\s", "", text)) < TRIVIAL_BODY
                                    or not assertions(text)):
        # a cover note ("Forwarding the carer's email (attached) so the episode is updated")
        # says nothing of the child itself: the attached message is the report
        inner = parts.attached_messages[0]
        forwarded = True
        forwarded_from = forwarded_from or inner.from_addr
        if forwarded_sent is None and inner.date is not None:
            forwarded_sent = email.utils.format_datetime(inner.date)
        text = _tidy(f"{inner.text}\n\n{text}")
        quoted = _tidy(f"{quoted}\n\n{inner.quoted_text}")

    ctype = _ctype(msg)
    report_type = _safe(lambda: msg.get_param("report-type"), None)
    return ReadMessage(
        subject=subject,
        from_addr=from_addr,
        from_name=from_name,
        reply_to=reply_to,
        to=to,
        date=date,
        message_id=_msgid(_first(headers, "message-id")),
        in_reply_to=_msgid(_first(headers, "in-reply-to")),
        references=_msgids(_first(headers, "references")),
        headers=header_map,
        text=text,
        quoted_text=quoted,
        forwarded=forwarded,
        forwarded_from=forwarded_from,
        forwarded_sent=forwarded_sent,
        attachments=parts.attachments,
        content_type=ctype,
        report_type=str(report_type).lower() if isinstance(report_type, str) else None,
        text_from_html=from_html,
        delivery_status="\n".join(parts.delivery_status)[:20_000],
        defects=list(dict.fromkeys(defects)),
        added_text=added,
        attached_messages=parts.attached_messages,
        limits=notes,
    )


def read_message(raw: bytes, limits: ReadLimits | None = None) -> ReadMessage:
    """Read one raw email within ``limits``. Never raises: failures come back in ``defects``."""
    try:
        raw = bytes(raw)
    except Exception:
        return ReadMessage(defects=["input was not bytes"])
    limits = limits or ReadLimits()
    cut_notes: list[str] = []
    try:
        raw, cut_notes = _bounded_copy(raw, limits)
    except Exception as exc:  # the map failed: read a bounded prefix rather than nothing
        raw = raw[: limits.max_attachment_bytes]
        cut_notes = [f"MIME structure could not be mapped ({type(exc).__name__})"]
    read = _read_bounded(raw, limits)
    if not cut_notes:
        return read
    notes = list(dict.fromkeys([*cut_notes, *read.limits]))
    return replace(read, limits=notes, defects=list(dict.fromkeys([*read.defects, *cut_notes])))


def _read_bounded(raw: bytes, limits: ReadLimits) -> ReadMessage:
    msg: Message
    try:
        msg = email.message_from_bytes(raw, policy=READ_POLICY)
    except Exception as exc:
        try:
            msg = email.message_from_bytes(raw)  # compat32: the most forgiving policy
        except Exception:
            text, quoted = split_quoted(_norm_text(decode_bytes(raw[:MAX_TEXT])))
            return ReadMessage(
                text=text,
                quoted_text=quoted,
                defects=[f"unparseable message: {type(exc).__name__}"],
            )
    try:
        return _read_parsed(msg, 0, _Parts(limits=limits))
    except Exception as exc:
        try:
            text, quoted = split_quoted(_norm_text(decode_bytes(raw[:MAX_TEXT])))
        except Exception:
            text, quoted = "", ""
        return ReadMessage(
            text=text, quoted_text=quoted, defects=[f"could not read message: {type(exc).__name__}"]
        )
