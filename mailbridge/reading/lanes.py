"""Which priority lane a message goes in, from cheap header facts (issue 18).

Processing and sending take lane 1 first, then 2, then 3 (with a share for the lower lanes, so
none starves; store/inbound.py and store/outbox.py). The lane is decided once, at intake, from
what the header block and the envelope say, before the body is read:

1. a known carer's address (From or envelope sender), or a reply in a live episode thread: the
   subject quotes the reference of an open episode, or the reply goes to an alert's signed
   Reply-To address, or In-Reply-To/References name an alert we sent;
2. everything else that is new;
3. backlog and replays: mail whose Date is long before its arrival (an IMAP backfill after an
   outage, a replayed archive). Age wins over the other facts: such mail is old news by now, and
   a share of every claim still goes to it.

A wrong lane only changes the order in which mail is handled, never whether it is: the facts
need to be cheap, not perfect. Pure: no I/O, no clock (the caller gives the arrival time and
the two look-ups, known senders and live references, as plain sets).
"""

from __future__ import annotations

import re
from collections.abc import Container, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import getaddresses, parsedate_to_datetime

PRIORITY = 1
NEW = 2
BACKLOG = 3
LANES = (PRIORITY, NEW, BACKLOG)

_REFERENCE = re.compile(r"\bMB-\d{4}-\d{5,}\b", re.IGNORECASE)
# The Message-IDs of our own alerts (alerts/outbox.py: mb.<uuid hex>@domain).
_ALERT_ID = re.compile(r"<?mb\.[0-9a-f]{32}@", re.IGNORECASE)
# A signed Reply-To of an alert (delivery/reply_tokens.py): +a<id>.mb-yyyy-nnnnn.<role>.<sig>@
_TOKEN = re.compile(r"\+a\d+\.(mb-\d{4}-\d{5,})\.", re.IGNORECASE)


@dataclass(frozen=True)
class HeaderFacts:
    """What the lane needs of a message, read from the header block only."""

    sender: str | None  # the From address, lower-cased
    envelope_sender: str | None  # MAIL FROM, lower-cased
    subject: str
    date: datetime | None  # the Date header, aware; None when missing or unreadable
    in_reply_to: str  # In-Reply-To and References, joined
    recipients: tuple[str, ...]  # the envelope recipients


def address_of(value: str | None) -> str | None:
    """The bare lower-cased address of a From value ('Name <a@b>' accepted); None if none."""
    if not value:
        return None
    pairs = getaddresses([value])
    for _, addr in pairs:
        if "@" in addr:
            return addr.strip().lower()
    return None


def parse_date(value: str | None) -> datetime | None:
    """The Date header as an aware datetime; None when missing or unreadable."""
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def thread_references(facts: HeaderFacts) -> set[str]:
    """The episode references the message points at: in its subject or reply address."""
    refs = {m.group(0).upper() for m in _REFERENCE.finditer(facts.subject)}
    for rcpt in facts.recipients:
        match = _TOKEN.search(rcpt)
        if match:
            refs.add(match.group(1).upper())
    return refs


def decide(
    facts: HeaderFacts,
    *,
    received_at: datetime,
    backlog_after: timedelta,
    known_senders: Container[str],
    live_references: Container[str],
) -> int:
    """The lane of one message (1, 2 or 3): see the module docstring for the rules."""
    if facts.date is not None and received_at - facts.date > backlog_after:
        return BACKLOG
    for address in (facts.sender, facts.envelope_sender):
        if address and address in known_senders:
            return PRIORITY
    if any(ref in live_references for ref in thread_references(facts)):
        return PRIORITY
    if facts.in_reply_to and _ALERT_ID.search(facts.in_reply_to):
        return PRIORITY  # a reply to an alert we sent: a live thread by construction
    return NEW


def lower(addresses: Iterable[str]) -> frozenset[str]:
    """Addresses as the lane compares them: stripped and lower-cased."""
    return frozenset(a.strip().lower() for a in addresses if a and a.strip())
