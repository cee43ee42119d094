"""The carer's new words apart from the old: "On ... wrote:", Original Message and Outlook header
blocks, "> " lines, signatures and "Sent from my iPhone" go to the quoted text; an inline
forward's body becomes the report.
"""


from __future__ import annotations

import re
from dataclasses import dataclass

# ---------------------------------------------------------------------------------------------
# quotes, signatures, forwards

_ON_WROTE = re.compile(
    r"^\s*(?:On|Le|Am|El)\b.{0,300}\b(?:wrote|a écrit|schrieb|escribió)\s*:\s*$", re.IGNORECASE
)
_QUOTING = re.compile(r"^\s*(?:Quoting|Zitat von|Citando)\s.{1,200}:\s*$", re.IGNORECASE)
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
    if _QUOTING.match(line) and any(x.lstrip().startswith(">") for x in lines[i + 1 : i + 3]):
        return True  # Horde and Roundcube: "Quoting Meadowbank House <duty@...>:" over "> "
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


_WRAP_AT = 45  # a line at least this long that ends mid-sentence was wrapped by the mailer
_LABEL_LINE = re.compile(r"^\s*[\w'()/&-][\w'()/&?. -]{0,45}:(?:\s|$)")
_LIST_LINE = re.compile(r"^\s*(?:[-*\u2022>]\s|\d{1,2}[.)]\s|\[\d)|.*\s\|\s")


def unwrap(text: str) -> str:
    """Paragraphs a mailer hard-wrapped at 70-100 characters joined back into lines.

    "returned to Harbour View\nat 03:20hrs by officers" is one sentence: read line by line, its
    time is lost. A line is joined to the one before when that one is long and stops mid-sentence
    and this one is not a form label, a list item or a table row.
    """
    out: list[str] = []
    for line in text.split("\n"):
        prev = out[-1].rstrip() if out else ""
        if (len(prev) >= _WRAP_AT and line.strip() and not prev.endswith((".", "!", "?", ":", ";"))
                and not _LABEL_LINE.match(line) and not _LIST_LINE.match(line)
                and not _LIST_LINE.match(prev)):
            out[-1] = f"{prev} {line.strip()}"
        else:
            out.append(line)
    return "\n".join(out)


def _tidy(text: str) -> str:
    text = re.sub(r"[ \t]+\n", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


@dataclass
class _Forward:
    note: str
    body: str
    sender: str | None
    sent: str | None = None  # its "Sent:" or "Date:" line, as written


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
        sent: str | None = None
        j = start
        while j < len(lines) and not lines[j].strip():
            j += 1
        if j < len(lines) and lines[j].startswith(">"):
            # Apple Mail quotes the message it forwards ("Begin forwarded message:" then
            # "> From: ..."): one level of quoting off, and it reads like any other forward
            lines = lines[:start] + [re.sub(r"^> ?", "", line) for line in lines[start:]]
        while j < len(lines):
            h = _HEADER_LINE.match(lines[j])
            if h:
                if h.group(1).lower() == "from" and sender is None:
                    sender = h.group(2).strip() or None
                if h.group(1).lower() in ("sent", "date") and sent is None:
                    sent = h.group(2).strip() or None
                j += 1
            elif not lines[j].strip() and j + 1 < len(lines) and _HEADER_LINE.match(lines[j + 1]):
                j += 1
            else:
                break
        note = "\n".join(lines[:i])
        body = "\n".join(lines[j:])
        return _Forward(note=note, body=body, sender=sender, sent=sent)
    return None
