"""A message the IMAP server will not hand over whole: the placeholder stored for it, and setting
it aside (DESIGN invariant 1: nothing is dropped, and the duty desk is told once).

Exists apart from the fetch, store and move cycle (``sync.py``) because giving up on a message is
its own path: ``Sync`` decides *when* (after ``imap.fetch_attempts`` failed fetches, or at once
for a UID whose fetch cost the connection that often) and this module does *what*: ask the server
for the envelope if that is safe, store a failed placeholder whose Message-ID is fixed per mailbox,
UIDVALIDITY and UID (so a restart stores a duplicate, not a second alert), then move the message
to the failed folder when one is configured (``ingress/set_aside.py`` is the part shared with the
Graph reader).
"""

from __future__ import annotations

import hashlib
import imaplib
import logging
from datetime import datetime
from typing import TYPE_CHECKING

from mailbridge.ingress.imap.client import Mailbox, describe
from mailbridge.ingress.set_aside import Placeholder, SetAside, placeholder_bytes, set_aside

if TYPE_CHECKING:
    from mailbridge.ingress.imap.sync import Sync

log = logging.getLogger(__name__)


def placeholder_message(
    mailbox: Mailbox,
    uidvalidity: int,
    uid: int,
    *,
    error: str,
    facts: dict[str, str],
    now: datetime,
) -> bytes:
    """What is stored in place of a message the server would not hand over whole.

    The Message-ID is fixed per mailbox, UIDVALIDITY and UID, so setting the same message aside
    again (after a restart) is a duplicate, not a second alert.
    """
    tag = hashlib.sha256(mailbox.key.encode()).hexdigest()[:16]
    lines = (
        "The mail server would not deliver this message whole, so mailbridge could not read it.",
        "A person must open the mailbox and read it there.",
        "",
        f"Account:     {mailbox.account}",
        f"Folder:      {mailbox.folder}",
        f"UID:         {uid} (UIDVALIDITY {uidvalidity})",
        f"Error:       {error}",
    )
    return placeholder_bytes(
        Placeholder(
            "mailbridge IMAP watcher",
            f"IMAP message could not be fetched (UID {uid} in {mailbox.folder})",
            f"<imap-unfetchable.{uidvalidity}.{uid}.{tag}@mailbridge.invalid>",
            lines,
        ),
        facts=facts,
        now=now,
    )


def set_aside_unfetchable(sync: Sync, uid: int, error: str, *, probe: bool = True) -> None:
    """Store a failed placeholder (the duty desk is alerted), then move the message aside.

    ``probe``: ask for the envelope for the placeholder; not when fetching the message
    cost the connection (the envelope may well do the same).
    """
    w, client, settings = sync.w, sync.client, sync.settings
    facts: dict[str, str] = {}
    try:
        if not probe:
            raise LookupError("not probed")
        data = client.fetch([uid], [b"INTERNALDATE", b"RFC822.SIZE", b"ENVELOPE"]).get(uid, {})
        if b"INTERNALDATE" in data:
            facts["Arrived"] = str(data[b"INTERNALDATE"])
        if b"RFC822.SIZE" in data:
            facts["Size"] = f"{data[b'RFC822.SIZE']} bytes"
        envelope = data.get(b"ENVELOPE")
        if envelope is not None and envelope.from_:
            sender = envelope.from_[0]
            mailbox_b, host_b = sender.mailbox or b"", sender.host or b""
            facts["From"] = (
                f"{mailbox_b.decode(errors='replace')}@{host_b.decode(errors='replace')}"
            )
    except imaplib.IMAP4.abort:
        raise
    except Exception as exc:
        log.debug("no envelope for UID %d: %s", uid, describe(exc))
    now = w.clock()
    raw = placeholder_message(w.mailbox, sync.uidvalidity, uid, error=error, facts=facts, now=now)

    def move() -> str:
        if not settings.failed_folder:
            return "left in the folder"
        refused = sync.move_to([uid], settings.failed_folder, create=True)
        if refused:
            return f"left in the folder (moving it failed: {refused})"
        return f"moved to {settings.failed_folder!r}"

    item = SetAside(
        "imap",
        f"IMAP message UID {uid}",
        w.mailbox.key,
        f"after {settings.fetch_attempts} attempt(s)",
        w.mailbox.peer(sync.uidvalidity, uid),
        error,
    )
    set_aside(
        w.engine, item, raw, now=now, gave_up=w.gave_up, move=move, on_alert=w.on_alert, log=log
    )
    w.memory.set_aside.add(uid)
    w.memory.suspects.discard(uid)
