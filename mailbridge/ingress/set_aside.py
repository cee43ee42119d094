"""Setting aside a message a mailbox reader cannot fetch whole (the IMAP watcher, the Graph reader).

Contract: the reader has tried a message ``fetch_attempts`` times and gives up on it. What it stores
instead is a placeholder: a short plain message that names the mailbox, the folder and the error,
with a Message-ID fixed per mailbox and message, so that setting the same message aside again
(after a restart or a resync) is a duplicate and the duty desk is told once. The placeholder is
stored as ``failed`` through the store gateway, in one transaction, and the reader then logs one
line that says where the message now is. Nothing is dropped: the original stays in the mailbox.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime

from mailbridge.intake import make_incoming
from mailbridge.store import imap_state, tx
from mailbridge.store.inbound import Stored

__all__ = ["Placeholder", "SetAside", "placeholder_bytes", "set_aside"]


@dataclass(frozen=True)
class Placeholder:
    """What the placeholder says: who stores it, its subject, its fixed Message-ID, its lines."""

    sender: str  # "mailbridge IMAP watcher"
    subject: str
    message_id: str
    lines: tuple[str, ...]


def placeholder_bytes(p: Placeholder, *, facts: dict[str, str], now: datetime) -> bytes:
    """The placeholder as a message: the reader's lines, then the facts the server still gave."""
    msg = EmailMessage()
    msg["From"] = f"{p.sender} <mailbridge@localhost>"
    msg["Subject"] = p.subject
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = p.message_id
    msg["Auto-Submitted"] = "auto-generated"
    lines = [*p.lines, *(f"{name + ':':<12} {value}" for name, value in facts.items())]
    msg.set_content("\n".join(lines) + "\n")
    return msg.as_bytes()


@dataclass(frozen=True)
class SetAside:
    """One message given up on: what to store, and what the log line names."""

    source: str  # "imap" or "graph": the inbound row's source and the audit actor
    what: str  # "IMAP message UID 7" / "Graph message AAMk..."
    where_read: str  # the mailbox key
    attempts: str  # "after 3 attempt(s)" / "in 3 round(s)"
    peer: str
    error: str


def set_aside(
    engine: tx.Engine,
    item: SetAside,
    raw: bytes,
    *,
    now: datetime,
    gave_up: imap_state.GaveUp | None,
    move: Callable[[], str],
    on_alert: Callable[[], None] | None,
    log: logging.Logger,
) -> Stored:
    """Store ``raw`` as a failed placeholder (the duty desk told once), then ``move()`` the
    original and log where it is, on the reader's own ``log``; ``move`` returns a phrase such
    as "moved to 'Failed'"."""
    incoming = make_incoming(
        raw, source=item.source, mail_from=None, rcpt_tos=[], peer=item.peer, clock=lambda: now
    )
    note = f"{item.what} in {item.where_read} could not be fetched: {item.error}"
    with tx.write(engine) as t:
        result, alerted = imap_state.store_unfetchable(
            t, incoming, note=note, now=now, gave_up=gave_up, actor=item.source
        )
    where = move()
    log.error(
        "%s in %s could not be fetched %s: %s; stored a placeholder as message id=%s (failed%s); "
        "the message is %s",
        item.what,
        item.where_read,
        item.attempts,
        item.error,
        result.id,
        ", duty desk alerted"
        if alerted
        else ("" if result.duplicate_of is None else ", already reported"),
        where,
    )
    if alerted and on_alert is not None:
        on_alert()
    return result

