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

import codecs
import email
import email.header
import email.policy
import email.utils
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.message import Message
from html.parser import HTMLParser

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
MAX_DEPTH = 20  # MIME nesting we follow by default; deeper is hostile
MAX_HEADERS = 300
MAX_HEADER_LEN = 4000
TRIVIAL_BODY = 40  # non-space characters below which an outer body is "just a cover note"


@dataclass(frozen=True)
class ReadLimits:
    """How much MIME structure one message may make us read (settings ``[reading]``)."""

    max_depth: int = MAX_DEPTH
    max_parts: int = 500
    max_attachment_bytes: int = 25 * 1024 * 1024


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
# bytes and headers


def _lookup_ok(charset: str | None) -> str | None:
    if not charset:
        return None
    name = charset.strip().strip("\"'").lower()
    if name in {"unknown-8bit", "x-unknown", "unknown", "8bit", "default", "charset"}:
        return None
    # Windows clients label cp1252 text as latin-1; cp1252 is the superset browsers use too.
    if name in {"iso-8859-1", "latin-1", "latin1", "iso8859-1", "us-ascii", "ascii", "iso_8859-1"}:
        return "cp1252"
    try:
        return codecs.lookup(name).name
    except (LookupError, ValueError):
        return None


_MOJIBAKE = re.compile("[ÃÂ][\u0080-\u00bf]|â€")


def decode_bytes(data: bytes, charset: str | None = None) -> str:
    """Decode with the declared charset, else UTF-8, else cp1252; never raises.

    A declared single-byte charset that turns UTF-8 bytes into mojibake ("Ã©") is overruled.
    """
    declared = _lookup_ok(charset)
    if declared is not None:
        try:
            text = data.decode(declared)
        except (UnicodeDecodeError, LookupError, ValueError):
            pass
        else:
            if declared != "utf-8" and _MOJIBAKE.search(text):
                try:
                    return data.decode("utf-8")
                except UnicodeDecodeError:
                    return text
            return text
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _unsurrogate(value: str) -> str:
    """Raw headers keep 8-bit bytes as surrogates; decode them as UTF-8 or cp1252."""
    if not any("\udc80" <= ch <= "\udcff" for ch in value):
        return value
    try:
        raw = value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return value.encode("utf-8", "replace").decode("utf-8", "replace")
    return decode_bytes(raw)


_ENCODED_WORD = re.compile(r"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=")


def decode_header_value(value: object) -> str:
    """Unfold and decode one raw header value (RFC 2047 words, 8-bit bytes); never raises."""
    try:
        text = _unsurrogate(str(value))
        text = re.sub(r"\r?\n[ \t]*", " ", text)
        if _ENCODED_WORD.search(text):
            try:
                parts = email.header.decode_header(text)
            except Exception:  # hostile encodings: keep the raw text
                parts = [(text, None)]
            out: list[str] = []
            for chunk, cs in parts:
                if isinstance(chunk, bytes):
                    out.append(decode_bytes(chunk, cs))
                else:
                    out.append(chunk)
            text = "".join(out)
        text = text.replace("\x00", "")
        return re.sub(r"\s+", " ", text).strip()[:MAX_HEADER_LEN]
    except Exception:
        return ""


def _raw_headers(msg: Message) -> list[tuple[str, str]]:
    try:
        items = list(msg.raw_items())
    except Exception:
        return []
    out: list[tuple[str, str]] = []
    for name, value in items[:MAX_HEADERS]:
        out.append((str(name).strip().lower(), str(value)))
    return out


def _first(headers: list[tuple[str, str]], name: str) -> str | None:
    for key, value in headers:
        if key == name:
            return value
    return None


def _address(raw: str | None) -> tuple[str | None, str | None]:
    """(lower-cased address, decoded display name) from a raw address header."""
    if raw is None:
        return None, None
    try:
        text = _unsurrogate(raw)
        pairs = email.utils.getaddresses([re.sub(r"\r?\n[ \t]*", " ", text)])
    except Exception:
        pairs = []
    for name, addr in pairs:
        if addr and "@" in addr:
            display = decode_header_value(name) or None
            return addr.strip().lower(), display
    # getaddresses refused it: fall back to the first thing shaped like an address
    found = re.search(r"[\w.+'=-]+@[\w-]+(?:\.[\w-]+)+", raw)
    shown: str | None = None
    if "<" in raw:
        shown = decode_header_value(raw.split("<", 1)[0].strip().strip('"')) or None
    return (found.group(0).lower() if found else None), shown


def _addresses(raw_values: list[str]) -> list[str]:
    out: list[str] = []
    try:
        pairs = email.utils.getaddresses([_unsurrogate(v) for v in raw_values])
    except Exception:
        pairs = []
    for _name, addr in pairs:
        if addr and "@" in addr:
            out.append(addr.strip().lower())
    if not out:
        for value in raw_values:
            out.extend(m.lower() for m in re.findall(r"[\w.+'=-]+@[\w-]+(?:\.[\w-]+)+", value))
    return out


def _parse_date(raw: str | None) -> datetime | None:
    if not raw:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(decode_header_value(raw))
    except Exception:
        return None
    if parsed.tzinfo is None:  # "-0000": the sender did not know its zone; UTC is the RFC's word
        parsed = parsed.replace(tzinfo=UTC)
    if not 1990 <= parsed.year <= 2200:
        return None
    return parsed


def _msgid(raw: str | None) -> str | None:
    if not raw:
        return None
    text = decode_header_value(raw)
    found = re.search(r"<([^<>\s]+)>", text)
    if found:
        return found.group(1)
    token = text.strip().strip("<>").split()
    return token[0] if token else None


def _msgids(raw: str | None) -> list[str]:
    if not raw:
        return []
    text = decode_header_value(raw)
    found = re.findall(r"<([^<>\s]+)>", text)
    return found if found else [t.strip("<>") for t in text.split() if t.strip("<>")]


# ---------------------------------------------------------------------------------------------
# HTML


class _HtmlText(HTMLParser):
    """HTML to text that keeps table rows as "label: value", so Outlook forms stay readable."""

    BLOCK = frozenset(
        {
            "p",
            "div",
            "br",
            "li",
            "h1",
            "h2",
            "h3",
            "h4",
            "h5",
            "h6",
            "tr",
            "table",
            "ul",
            "ol",
            "hr",
            "pre",
            "section",
            "article",
            "header",
            "footer",
            "dl",
            "dt",
            "dd",
            "address",
            "center",
            "title",
        }
    )
    SKIP = frozenset({"script", "style", "head", "xml", "o:p-skip"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skip = 0
        self.quote = 0
        self.rows: list[list[list[str]]] = []  # stack of tables: rows being built
        self.cells: list[list[str]] = []  # stack: cells of the current row per table
        self.cell: list[list[str]] | None = None  # stack of cell text buffers

    def _emit(self, text: str) -> None:
        if self.cell:
            self.cell[-1].append(text)
        else:
            self.out.append(text)

    def _newline(self) -> None:
        if self.cell:
            self.cell[-1].append(" ")
        else:
            self.out.append("\n" + ("> " * self.quote))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIP:
            self.skip += 1
            return
        if tag == "blockquote":
            self.quote += 1
            self._newline()
            return
        if tag == "table":
            self.rows.append([])
            self.cells.append([])
            return
        if tag == "tr" and self.cells:
            self.cells[-1] = []
            return
        if tag in {"td", "th"} and self.cells:
            if self.cell is None:
                self.cell = []
            self.cell.append([])
            return
        if tag in self.BLOCK:
            self._newline()
        elif tag == "img":
            alt = dict(attrs).get("alt")
            if alt:
                self._emit(alt)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in {"br", "hr", "p", "div"}:
            self._newline()
        elif tag == "img":
            self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP:
            self.skip = max(0, self.skip - 1)
            return
        if tag == "blockquote":
            self.quote = max(0, self.quote - 1)
            self._newline()
            return
        if tag in {"td", "th"} and self.cell:
            text = re.sub(r"\s+", " ", "".join(self.cell.pop())).strip()
            if not self.cell:
                self.cell = None
            if self.cells:
                self.cells[-1].append(text)
            return
        if tag == "tr" and self.cells:
            self._flush_row()
            return
        if tag == "table" and self.rows:
            self._flush_row()
            self.rows.pop()
            self.cells.pop()
            self._newline()
            return
        if tag in self.BLOCK:
            self._newline()

    def _flush_row(self) -> None:
        cells = [c for c in self.cells[-1] if c]
        self.cells[-1] = []
        if not cells:
            return
        if len(cells) == 2:
            label = cells[0].rstrip().rstrip(":").rstrip()
            line = f"{label}: {cells[1]}"
        else:
            line = " | ".join(cells)
        if self.cell:  # a table nested in a cell
            self.cell[-1].append(" " + line + " ")
        else:
            self.out.append("\n" + ("> " * self.quote) + line + "\n")

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        self._emit(re.sub(r"[ \t\r\n\f]+", " ", data))

    def text(self) -> str:
        while self.cells:  # unclosed tables: keep what was there
            if self.cell:
                for buf in self.cell:
                    self.cells[-1].append(re.sub(r"\s+", " ", "".join(buf)).strip())
                self.cell = None
            self._flush_row()
            self.cells.pop()
        lines = [line.strip() for line in "".join(self.out).split("\n")]
        text = "\n".join(lines)
        return re.sub(r"\n{3,}", "\n\n", text).strip()


def html_to_text(html: str) -> str:
    """Render HTML to plain text; table rows of two cells become "label: value" lines."""
    try:
        parser = _HtmlText()
        parser.feed(html)
        parser.close()
        return parser.text()
    except Exception:
        try:
            import html2text  # noqa: PLC0415  # fallback only

            h = html2text.HTML2Text()
            h.body_width = 0
            return str(h.handle(html))
        except Exception:
            return re.sub(r"<[^>]*>", " ", html)


# ---------------------------------------------------------------------------------------------
# quotes, signatures, forwards

_ON_WROTE = re.compile(
    r"^\s*(?:On|Le|Am|El)\b.{0,300}\b(?:wrote|a écrit|schrieb|escribió)\s*:\s*$", re.IGNORECASE
)
_ORIGINAL = re.compile(r"^\s*-{2,}\s*Original Message\s*-{2,}\s*$", re.IGNORECASE)
_FWD_MARK = re.compile(
    r"^\s*(?:-{2,}\s*Forwarded message\s*-{2,}|Begin forwarded message\s*:|"
    r"-{2,}\s*Forwarded by .{0,200}-{2,})\s*$",
    re.IGNORECASE,
)
_HEADER_LINE = re.compile(
    r"^\s*\*?(From|Sent|Date|To|Cc|Subject|Reply-To|Importance)\s*:\*?\s*(.*)$", re.IGNORECASE
)
_RULE = re.compile(r"^\s*_{10,}\s*$")
_SIG = re.compile(r"^--\s?$")
_MOBILE_SIG = re.compile(
    r"^\s*(?:Sent from my (?:iPhone|iPad|Samsung|Galaxy|Android|mobile|BlackBerry|Huawei)|"
    r"Sent from (?:Outlook|Mail) for|Get Outlook for (?:iOS|Android)|Sent from Yahoo Mail)",
    re.IGNORECASE,
)


def _outlook_header_at(lines: list[str], i: int) -> bool:
    """True if an Outlook-style "From: / Sent: / To: / Subject:" block starts at line i."""
    m = _HEADER_LINE.match(lines[i])
    if not m or m.group(1).lower() != "from":
        return False
    seen = set()
    for line in lines[i + 1 : i + 6]:
        h = _HEADER_LINE.match(line)
        if h:
            seen.add(h.group(1).lower())
    return bool(seen & {"sent", "date"}) and bool(seen & {"to", "subject"})


def _quote_start(lines: list[str], i: int) -> bool:
    line = lines[i]
    if _ORIGINAL.match(line) or _outlook_header_at(lines, i):
        return True
    if _ON_WROTE.match(line):
        return True
    if i + 1 < len(lines) and re.match(r"^\s*On\b", line, re.IGNORECASE) and "wrote" not in line:
        joined = line.rstrip() + " " + lines[i + 1].strip()
        if len(joined) < 300 and _ON_WROTE.match(joined):
            return True
    return bool(_RULE.match(line) and i + 1 < len(lines) and _outlook_header_at(lines, i + 1))


def split_quoted(text: str) -> tuple[str, str]:
    """Split text into (new text, quoted/signature text) so old reports are not read again."""
    lines = text.split("\n")
    new: list[str] = []
    quoted: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if _quote_start(lines, i) or _SIG.match(line) or _MOBILE_SIG.match(line):
            quoted.extend(lines[i:])
            break
        if line.lstrip().startswith(">"):
            quoted.append(line)
        else:
            new.append(line)
        i += 1
    return _tidy("\n".join(new)), _tidy("\n".join(quoted))


def _tidy(text: str) -> str:
    text = re.sub(r"[ \t]+\n", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


@dataclass
class _Forward:
    note: str
    body: str
    sender: str | None


def _split_forward(text: str, subject: str) -> _Forward | None:
    """Find an inline forwarded message; its body is the report, the text above is a note."""
    lines = text.split("\n")
    is_fw_subject = bool(re.match(r"^\s*(?:fw|fwd)\s*:", subject, re.IGNORECASE))
    for i, line in enumerate(lines):
        start: int | None = None
        if _FWD_MARK.match(line):
            start = i + 1
        elif is_fw_subject and (_ORIGINAL.match(line) or _outlook_header_at(lines, i)):
            start = i + 1 if _ORIGINAL.match(line) else i
        elif (
            is_fw_subject
            and _RULE.match(line)
            and i + 1 < len(lines)
            and _outlook_header_at(lines, i + 1)
        ):
            start = i + 1
        if start is None:
            if _quote_start(lines, i) or _SIG.match(line):
                return None  # a forward inside quoted text is old news, not this report
            continue
        sender: str | None = None
        j = start
        while j < len(lines) and not lines[j].strip():
            j += 1
        while j < len(lines):
            h = _HEADER_LINE.match(lines[j])
            if h:
                if h.group(1).lower() == "from" and sender is None:
                    sender = h.group(2).strip() or None
                j += 1
            elif not lines[j].strip() and j + 1 < len(lines) and _HEADER_LINE.match(lines[j + 1]):
                j += 1
            else:
                break
        note = "\n".join(lines[:i])
        body = "\n".join(lines[j:])
        return _Forward(note=note, body=body, sender=sender)
    return None


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


# The placeholder that replaces a part cut out of the parsed copy; never listed as an attachment.
UNREAD_TYPE = "application/x-mailbridge-unread"
_UNREAD_STUB = f"Content-Type: {UNREAD_TYPE}\r\n\r\n".encode()
# The stdlib parser's own header-line rule (email.feedparser.headerRE), so we end a header block
# exactly where it does.
_HEADER_BLOCK = re.compile(rb"(?:(?:From |[\041-\071\073-\176]*:|[\t ])[^\n]*\n)*")
_BLANK = re.compile(rb"\r?\n")
_LONE_CR = re.compile(rb"\r(?!\n)")
_BLOCK_SEP = re.compile(rb"\n\r?\n")  # between the header blocks of a delivery-status


@dataclass
class _Open:
    """A multipart whose boundary is live while the skeleton is mapped."""

    boundary: bytes
    child_depth: int
    digest: bool


def _boundary_re(stack: list[_Open]) -> re.Pattern[bytes]:
    names = sorted({o.boundary for o in stack}, key=len, reverse=True)
    alternatives = b"|".join(re.escape(n) for n in names)
    return re.compile(rb"^--(" + alternatives + rb")(--)?[ \t]*\r?$", re.MULTILINE)


def _entity_type(block: bytes, digest_child: bool) -> tuple[str, bytes | None]:
    """(content type, boundary) of one header block, read by the parser the reader uses."""
    try:
        head = email.message_from_bytes(block + b"\n", policy=email.policy.default)
        if digest_child:
            head.set_default_type("message/rfc822")
        ctype = str(head.get_content_type()).lower()
        boundary = head.get_boundary() if ctype.startswith("multipart/") else None
    except Exception:
        return "text/plain", None
    if boundary is None:
        return ctype, None
    return ctype, str(boundary).encode("utf-8", "surrogateescape")


def _bounded_copy(raw: bytes, limits: ReadLimits) -> tuple[bytes, list[str]]:
    """The bytes to parse: ``raw`` less the parts beyond the limits, and notes naming the cuts.

    Maps the skeleton as ``email.feedparser`` would (its header-line rule, its boundary lines,
    any ancestor's boundary ending a part, multipart/digest children being messages, lone CR
    as a line end), counting every entity the parser would build. A part nested deeper than
    ``max_depth`` is replaced by an empty placeholder up to the next live boundary; the part
    that would exceed ``max_parts`` and everything after it are dropped. Regexes do the
    scanning, so the cost is a few passes over the bytes whatever the structure.
    """
    data = _LONE_CR.sub(b"\n", raw) if b"\r" in raw else raw  # same length: offsets hold
    out: list[bytes] = []
    kept = 0  # data[kept:pos] is still to be copied
    notes: list[str] = []
    stack: list[_Open] = []
    pattern: re.Pattern[bytes] | None = None
    types_seen: dict[tuple[bytes, bool], tuple[str, bytes | None]] = {}
    entities = 0
    over_parts = False
    too_deep = 0
    pos = 0
    depth = 0
    digest_child = False
    at_entity = True
    while True:
        if at_entity:
            entities += 1
            if entities > limits.max_parts:
                out.append(data[kept:pos])
                kept = len(data)
                over_parts = True
                break
            if depth > limits.max_depth:
                end = len(data)
                if pattern is not None:
                    found = pattern.search(data, pos)
                    if found is not None:
                        end = found.start()
                out.append(data[kept:pos])
                out.append(_UNREAD_STUB)
                kept = end
                too_deep += 1
                pos = end
                at_entity = False
                continue
            head = _HEADER_BLOCK.match(data, pos)
            block_end = head.end() if head is not None else pos
            key = (data[pos:block_end], digest_child)
            if key not in types_seen:  # hostile mail repeats one header block many times
                types_seen[key] = _entity_type(*key)
            ctype, boundary = types_seen[key]
            blank = _BLANK.match(data, block_end)
            body = blank.end() if blank is not None else block_end
            if ctype.startswith("multipart/") and boundary is not None:
                stack.append(_Open(boundary, depth + 1, ctype == "multipart/digest"))
                pattern = _boundary_re(stack)
                pos = body
            elif ctype == "message/delivery-status":
                # The parser builds one part per header block of a DSN: count those too, and
                # keep only the blocks within the budget.
                end = len(data)
                if pattern is not None:
                    found = pattern.search(data, body)
                    if found is not None:
                        end = found.start()
                budget = max(0, limits.max_parts - entities)
                blocks = 0
                for separator in _BLOCK_SEP.finditer(data, body, end):
                    blocks += 1
                    if blocks > budget:
                        out.append(data[kept : separator.start()])
                        kept = end
                        over_parts = True
                        break
                entities += min(blocks, budget)
                pos = end
                at_entity = False
                continue
            elif ctype.startswith("message/"):
                pos = body  # the body is a whole message, one level down
                depth += 1
                digest_child = False
                continue
            else:
                pos = body
            at_entity = False
            continue
        # between entities: find the next boundary line of any open multipart
        if pattern is None or not stack:
            break
        found = pattern.search(data, pos)
        if found is None:
            break
        name = found.group(1)
        index = max(i for i, o in enumerate(stack) if o.boundary == name)
        opened = stack[index]
        del stack[index + 1 :]
        line_end = _BLANK.match(data, found.end())
        pos = line_end.end() if line_end is not None else found.end()
        if found.group(2):  # a close boundary ends this multipart; the parent goes on
            stack.pop()
            pattern = _boundary_re(stack) if stack else None
            continue
        pattern = _boundary_re(stack)
        depth = opened.child_depth
        digest_child = opened.digest
        at_entity = True
    if over_parts:
        notes.append(
            f"more than {limits.max_parts} MIME parts; the rest were not read (reading.max_parts)"
        )
    if too_deep:
        notes.append(
            f"{too_deep} MIME part(s) nested deeper than {limits.max_depth} were not read"
            " (reading.max_mime_depth)"
        )
    if not notes:
        return raw, []
    out.append(data[kept:])
    return b"".join(out), notes


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
    fwd = _split_forward(body, subject)
    if fwd is not None:
        forwarded = True
        forwarded_from = fwd.sender
        note_new, note_quoted = split_quoted(fwd.note)
        body_new, body_quoted = split_quoted(fwd.body)
        text = _tidy(f"{body_new}\n\n{note_new}")
        quoted = _tidy(f"{note_quoted}\n\n{body_quoted}")
        added = note_new
    else:
        text, quoted = split_quoted(body)
        added = text

    if len(re.sub(r"\s", "", text)) < TRIVIAL_BODY and parts.attached_messages:
        inner = parts.attached_messages[0]
        forwarded = True
        forwarded_from = forwarded_from or inner.from_addr
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
        msg = email.message_from_bytes(raw, policy=email.policy.default)
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
