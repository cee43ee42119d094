"""What the Graph reader stores in place of a message whose MIME Graph would not hand over.

Why a module of its own: the placeholder is what the duty desk reads instead of the message
(the mailbox, the folder, the Graph id and the error, so a person can find and read the
original), and its Message-ID is what keeps setting the same message aside again a duplicate,
not a second alert. The IMAP watcher's counterpart is ``imap/unfetchable.py``; when to set a
message aside is the reader's (``graph.py``).
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from mailbridge.ingress.set_aside import Placeholder, placeholder_bytes
from mailbridge.settings.sections import GraphSettings


def placeholder_message(
    settings: GraphSettings, message_id: str, *, error: str, facts: dict[str, str], now: datetime
) -> bytes:
    """What is stored in place of a message whose MIME Graph would not hand over.

    The Message-ID is fixed per mailbox folder and Graph message id, so setting the same
    message aside again (after a restart and a resync) is a duplicate, not a second alert.
    """
    key = f"{settings.mailbox}/{settings.folder}"
    tag = hashlib.sha256(key.encode()).hexdigest()[:16]
    digest = hashlib.sha256(message_id.encode()).hexdigest()[:24]
    lines = [
        "Microsoft Graph would not hand over this message whole, so mailbridge could not read it.",
        "A person must open the mailbox and read it there.",
        "",
        f"Mailbox:     {settings.mailbox}",
        f"Folder:      {settings.folder}",
    ]
    if settings.failed_folder:
        lines.append(f"Moved to:    {settings.failed_folder} (unless the move failed)")
    lines += [f"Graph id:    {message_id}", f"Error:       {error}"]
    return placeholder_bytes(
        Placeholder("mailbridge Graph reader",
                    f"Microsoft 365 message could not be fetched (in {settings.folder})",
                    f"<graph-unfetchable.{digest}.{tag}@mailbridge.invalid>", tuple(lines)),
        facts=facts, now=now)
