"""Hostile MIME structure cut down before the stdlib parser sees it.

The stdlib parser builds every part in memory and takes minutes on a message nested 1,000 deep
or holding 100,000 parts. ``_bounded_copy`` maps the MIME skeleton with the parser's own rules
and cuts what lies beyond ``ReadLimits`` out of the copy that is parsed (the stored raw mail is
never changed).
"""


from __future__ import annotations

import email
import email.header
import email.policy
import email.utils
import re
from dataclasses import dataclass

from mailbridge.reading.headers import READ_POLICY

MAX_DEPTH = 20  # MIME nesting we follow by default; deeper is hostile

@dataclass(frozen=True)
class ReadLimits:
    """How much MIME structure one message may make us read (settings ``[reading]``)."""

    max_depth: int = MAX_DEPTH
    max_parts: int = 500
    max_attachment_bytes: int = 25 * 1024 * 1024


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


# Only a multipart or message/* type steers the map. Their type token is "multipart" or
# "message" in any case, never split (unfolding keeps the space of a folded line), and
# "Message-ID" is another token: a header block without either word is a leaf, and is not parsed.
_NESTING = re.compile(rb"multipart|message(?!-id\b)", re.IGNORECASE)
_LEAF: tuple[str, bytes | None] = ("text/plain", None)


def _entity_type(block: bytes, digest_child: bool) -> tuple[str, bytes | None]:
    """(content type, boundary) of one header block, read by the parser the reader uses."""
    try:
        head = email.message_from_bytes(block + b"\n", policy=READ_POLICY)
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
                types_seen[key] = (_entity_type(*key) if digest_child or _NESTING.search(key[0])
                                   else _LEAF)
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
