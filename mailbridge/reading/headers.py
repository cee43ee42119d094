"""Bytes and header values to text that never raises: charsets (cp1252 for iso-8859-1, mojibake
overruled), RFC 2047 and 8-bit headers, addresses, dates and Message-IDs.

``READ_POLICY`` is ``email.policy.default`` for the reader's parsers, except that a header value
read twice is parsed once (the stdlib parses it again at every access).
"""


from __future__ import annotations

import codecs
import email
import email.header
import email.policy
import email.utils
import re
from datetime import UTC, datetime
from email.message import Message
from email.policy import EmailPolicy
from typing import Any

MAX_HEADERS = 300
MAX_HEADER_LEN = 4000

# ---------------------------------------------------------------------------------------------
# the parsing policy

_PARSED: dict[tuple[str, str], Any] = {}  # (name, value) -> the header object parsed from it
_PARSED_MAX = 512  # entries kept before the cache starts again
_PARSED_LONGEST = 2000  # a longer value is parsed every time, never kept


class _ReadPolicy(EmailPolicy):
    """``email.policy.default`` whose fetched header values are parsed once per (name, value).

    Reading one part asks for its Content-Type about five times (type, charset, filename,
    report-type, the skeleton map), and the stdlib builds a new parsed header at each ask. The
    parsed headers are immutable, so the same value gives the same object back. Only fetching
    is cached: setting and folding headers are the stdlib's own.
    """

    def header_fetch_parse(self, name: str, value: str) -> Any:
        if hasattr(value, "name") or len(value) > _PARSED_LONGEST:
            return super().header_fetch_parse(name, value)
        key = (name, value)
        header = _PARSED.get(key)
        if header is None:
            header = super().header_fetch_parse(name, value)
            if len(_PARSED) >= _PARSED_MAX:
                _PARSED.clear()
            _PARSED[key] = header
        return header


#: ``email.policy.default`` (the same settings) with each fetched header value parsed once
READ_POLICY = _ReadPolicy()

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
