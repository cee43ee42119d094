"""Acknowledgement by reply: signed Reply-To addresses and the "is this an ack?" decision.

Every alert carries a Reply-To plus-address of the council's address whose tag names the alert,
the episode and the role it was sent to, signed with HMAC-SHA256 from a configured secret::

    missing+a42.mb-2026-00042.iro.k3v7q2mzp4xw6r5t@council.example

* The tag is lower-case only (base32 signature, lower-cased reference, short role tag), because
  some MTAs lower-case local parts; verification is case-insensitive and references come back
  upper-case ("MB-2026-00042").
* The local part stays within RFC 5321's 64 characters: known roles use short tags ("sw", "tm"),
  other roles are at most 8 characters, and the signature shrinks from 16 to no fewer than 12
  base32 characters (60 bits) when the rest is long; its length follows from the rest, so each
  token has exactly one valid address. A base local part of up to 16 characters, alert ids below
  10^8 and references up to "MB-YYYY-NNNNNNN" always fit; beyond what fits
  ``make_reply_address`` refuses (ValueError) rather than send an address an MTA may reject.
* ``parse_reply_address`` says ``Token`` (verified), ``Forged`` (our tag shape, wrong or missing
  signature: record it, ignore it, tell the duty desk) or ``None`` (not a tagged address of ours).
  A token does not expire here: whether it is stale (alert unknown, episode closed) is the
  caller's question, answered from the database.

Whether a reply acknowledges its alert is ``reading.acks``'s question.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import hmac
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from mailbridge.reading.message import ReadMessage

__all__ = [
    "ROLE_TAGS",
    "Forged",
    "Token",
    "find_token",
    "make_reply_address",
    "parse_reply_address",
]

#: role -> short tag in the address; any other role ([a-z][a-z0-9_]{0,7}) is written in full
ROLE_TAGS: dict[str, str] = {
    "social_worker": "sw",
    "team_manager": "tm",
    "apprentice": "ap",
    "reporter": "rep",
    "iro": "iro",
    "duty": "duty",
    "edt": "edt",
}
_TAG_ROLES = {tag: role for role, tag in ROLE_TAGS.items()}

MAX_LOCAL_PART = 64
SIG_MAX = 16
SIG_MIN = 12
_DOMAIN = b"mailbridge/reply-to/v1\x00"  # separates these MACs from any other use of the secret

_ROLE = re.compile(r"[a-z][a-z0-9_]{0,7}")
_REF = re.compile(r"[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*")
_OURS = re.compile(r"a\d+\.")  # a tag that starts like ours is ours: anything wrong is forged
_TAG = re.compile(
    r"(?P<body>a(?P<alert>[1-9]\d{0,17}|0)\.(?P<ref>[a-z0-9]+(?:-[a-z0-9]+)*)\."
    r"(?P<role>[a-z][a-z0-9_]{0,7}))\.(?P<sig>[a-z2-7]+)"
)


@dataclass(frozen=True)
class Token:
    """A verified reply token: this reply answers that alert, for that episode and role."""

    alert_id: int
    episode_ref: str
    role: str


@dataclass(frozen=True)
class Forged:
    """An address with our tag shape that does not verify; ``reason`` is fit for the audit log."""

    reason: str
    address: str = ""


# ---------------------------------------------------------------------------------------------
# tokens


def _keys(secret: bytes | Sequence[bytes]) -> list[bytes]:
    keys = [secret] if isinstance(secret, bytes | bytearray) else list(secret)
    return [bytes(k) for k in keys if k]


def _signature(key: bytes, body: str) -> str:
    digest = hmac.new(key, _DOMAIN + body.encode("ascii"), hashlib.sha256).digest()
    return base64.b32encode(digest).decode("ascii").lower().rstrip("=")


def _split(address: str) -> tuple[str, str] | None:
    text = address.strip()
    if "<" in text or " " in text:
        text = email.utils.parseaddr(text)[1] or text
    text = text.strip().strip("<>").strip().lower()
    local, at, domain = text.rpartition("@")
    if not at or not local or not domain:
        return None
    return local, domain


def make_reply_address(
    base: str, *, alert_id: int, episode_ref: str, role: str, secret: bytes
) -> str:
    """The signed Reply-To plus-address of ``base`` for one alert.

    Raises ValueError on an empty secret, a malformed base, reference, role or alert id, or when
    even the shortest signature would push the local part past 64 characters.
    """
    if not secret:
        raise ValueError("reply-to secret is empty")
    parts = _split(base)
    if parts is None:
        raise ValueError(f"not an address: {base!r}")
    local, domain = parts
    if isinstance(alert_id, bool) or not isinstance(alert_id, int) or alert_id < 0:
        raise ValueError(f"alert id must be a non-negative int, not {alert_id!r}")
    if not _REF.fullmatch(episode_ref) or len(episode_ref) > 30:
        raise ValueError(f"episode reference cannot go in an address: {episode_ref!r}")
    if role not in ROLE_TAGS and not _ROLE.fullmatch(role):
        raise ValueError(f"role must match [a-z][a-z0-9_]{{0,7}}: {role!r}")
    if role not in ROLE_TAGS and role in _TAG_ROLES:
        raise ValueError(f"role {role!r} collides with a short role tag")
    body = f"a{alert_id}.{episode_ref.lower()}.{ROLE_TAGS.get(role, role)}"
    size = _signature_size(local, body)
    if size < SIG_MIN:
        raise ValueError(
            f"local part would exceed {MAX_LOCAL_PART} characters; use a shorter base address"
        )
    return f"{local}+{body}.{_signature(bytes(secret), body)[:size]}@{domain}"


def _signature_size(local: str, body: str) -> int:
    """16 characters, fewer (down to 12) when the local part would pass 64: one valid address."""
    return min(SIG_MAX, MAX_LOCAL_PART - len(f"{local}+{body}."))


def parse_reply_address(
    address: str, *, bases: Sequence[str], secret: bytes | Sequence[bytes]
) -> Token | Forged | None:
    """Verify a tagged address of ours: Token, Forged (our shape, bad signature) or None.

    ``secret`` may be a list, newest first, so a rotated secret keeps old alerts answerable.
    Case-insensitive; never raises.
    """
    try:
        return _parse(address, bases, _keys(secret))
    except Exception as exc:  # hostile input: an address we cannot read is not ours
        return Forged(f"unreadable tagged address ({type(exc).__name__})", str(address)[:200])


def _parse(address: str, bases: Sequence[str], keys: list[bytes]) -> Token | Forged | None:
    if not isinstance(address, str) or len(address) > 1000:
        return None
    parts = _split(address)
    if parts is None:
        return None
    local, domain = parts
    shown = f"{local}@{domain}"
    for base in bases:
        base_parts = _split(base)
        if base_parts is None or base_parts[1] != domain:
            continue
        prefix = base_parts[0] + "+"
        if not local.startswith(prefix):
            continue
        tag = local[len(prefix) :]
        if not _OURS.match(tag):
            continue
        m = _TAG.fullmatch(tag)
        if m is None:
            return Forged("malformed tag", shown)
        sig, body = m.group("sig"), m.group("body")
        size = _signature_size(base_parts[0], body)
        if size < SIG_MIN or len(sig) != size:
            return Forged("signature of the wrong length", shown)
        if not keys:
            return Forged("no reply-to secret configured", shown)
        if not any(hmac.compare_digest(sig, _signature(k, body)[:size]) for k in keys):
            return Forged("bad signature", shown)
        role_tag = m.group("role")
        role = _TAG_ROLES.get(role_tag, role_tag)
        return Token(int(m.group("alert")), m.group("ref").upper(), role)
    return None


_RECIPIENT_HEADERS = ("delivered-to", "x-original-to", "envelope-to", "x-envelope-to")


def _header_addresses(msg: ReadMessage) -> list[str]:
    out: list[str] = []
    for name in _RECIPIENT_HEADERS:
        value = msg.headers.get(name)
        if value:
            try:
                pairs = email.utils.getaddresses([value])
            except Exception:
                pairs = []
            out.extend(addr for _name, addr in pairs if addr)
    out.extend(msg.to)
    return out


def find_token(
    msg: ReadMessage,
    *,
    bases: Sequence[str],
    secret: bytes | Sequence[bytes],
    candidates: Iterable[str] = (),
) -> Token | Forged | None:
    """The reply token a message was sent to, looking at ``candidates`` first, then headers.

    ``candidates`` are the SMTP envelope recipients (RCPT TO), which survive Bcc and forwarding;
    then Delivered-To, X-Original-To, Envelope-To, To and Cc are read. A verified Token anywhere
    wins over a Forged one; the first Forged is returned when nothing verifies; None when the
    message was not sent to any tagged address of ours. Never raises.
    """
    forged: Forged | None = None
    try:
        addresses = [*list(candidates)[:100], *_header_addresses(msg)[:200]]
    except Exception:
        addresses = []
    for address in addresses:
        found = parse_reply_address(address, bases=bases, secret=secret)
        if isinstance(found, Token):
            return found
        if isinstance(found, Forged) and forged is None:
            forged = found
    return forged
