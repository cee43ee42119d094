"""The operator's IMAP commands behind ``mailbridge imap check`` and ``imap backfill``.

``check`` connects and logs in as the watcher would and describes what it finds (security,
push, MOVE, the folders, the stored state); every failure raises ImapError naming the account.
``backfill`` stores the mail already in a folder, read-only on the server: nothing is moved or
flagged and ``imap_state`` is untouched, so it is safe to re-run (intake's dedupe).
"""

from __future__ import annotations

import imaplib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from mailbridge.ingress.imap.client import (
    ImapError,
    Mailbox,
    capabilities,
    close_quietly,
    connect,
    describe,
    mailbox_from_settings,
)
from mailbridge.intake import Intake, make_incoming
from mailbridge.ops import oauth2
from mailbridge.settings.sections import ImapSettings
from mailbridge.store import imap_state, tx


def check(
    settings: ImapSettings,
    engine: tx.Engine | None = None,
    tokens: oauth2.TokenSource | None = None,
) -> list[str]:
    """Connect, log in and describe the mailbox; raise ImapError naming the account."""
    mailbox = mailbox_from_settings(settings)
    lines = [f"account:    {mailbox.account} ({mailbox.scheme}://)"]
    connected = connect(mailbox, settings, tokens)
    if tokens is not None:
        lines.append("login:      " + oauth2.describe(tokens, mailbox.username))
    client = connected.client
    try:
        tls = {
            "imaps": "TLS (imaps)",
            "starttls": "STARTTLS",
            "none": "NONE: password and mail travel unencrypted",
        }[connected.tls]
        if connected.tls != "none":
            tls += (
                ", certificate verified"
                if settings.verify_tls
                else ", certificate NOT verified (imap.verify_tls = false; tests only!)"
            )
        lines.append(f"security:   {tls}")
        caps = capabilities(client)
        lines.append(
            "push:       "
            + (
                f"IDLE (re-issued every {settings.idle_seconds:g} s)"
                if b"IDLE" in caps
                else f"no IDLE: polling every {settings.poll_seconds:g} s"
            )
        )
        lines.append(
            "move:       "
            + (
                "MOVE"
                if b"MOVE" in caps
                else "no MOVE: COPY + \\Deleted + "
                + ("UID EXPUNGE" if b"UIDPLUS" in caps else "EXPUNGE (no UIDPLUS!)")
            )
        )
        lines.append("capabilities: " + " ".join(sorted(c.decode(errors="replace") for c in caps)))
        if not client.folder_exists(mailbox.folder):
            raise ImapError(f"account {mailbox.account}: folder {mailbox.folder!r} does not exist")
        status = client.folder_status(mailbox.folder, [b"MESSAGES", b"UIDVALIDITY", b"UIDNEXT"])
        uidvalidity = int(status[b"UIDVALIDITY"])
        lines.append(
            f"folder:     {mailbox.folder!r}: {status[b'MESSAGES']} message(s), "
            f"UIDVALIDITY {uidvalidity}, UIDNEXT {status[b'UIDNEXT']}"
        )
        for label, name in (
            ("processed", settings.processed_folder),
            ("failed", settings.failed_folder),
        ):
            if not name:
                lines.append(f"{label + ':':<11} none (unfetchable mail stays in the folder)")
                continue
            exists = client.folder_exists(name)
            lines.append(
                f"{label + ':':<11} {name!r} "
                + ("exists" if exists else "absent (the watcher creates it)")
            )
        if engine is not None:
            lines.append("state:      " + _state_line(engine, mailbox, uidvalidity))
    finally:
        close_quietly(client)
    return lines


def _state_line(engine: tx.Engine, mailbox: Mailbox, uidvalidity: int) -> str:
    try:
        with tx.read(engine) as t:
            row = imap_state.get(t, mailbox.key)
    except tx.DatabaseError as exc:
        return f"unknown (database: {describe(exc)})"
    if row is None:
        return "never watched (the first run stores everything in the folder)"
    if row.uidvalidity != uidvalidity:
        return f"UIDVALIDITY changed ({row.uidvalidity} stored): the watcher will rescan the folder"
    return f"last stored UID {row.last_uid}, updated {row.updated_at.isoformat()}"


@dataclass
class BackfillReport:
    found: int = 0
    stored: int = 0
    duplicates: int = 0
    unfetchable: list[int] = field(default_factory=list)


def backfill(
    settings: ImapSettings,
    intake: Intake,
    *,
    since: date | None = None,
    folder: str | None = None,
    progress: Callable[[BackfillReport], None] | None = None,
    tokens: oauth2.TokenSource | None = None,
) -> BackfillReport:
    """Store every message in the folder (optionally SINCE a date), read-only on the server.

    Nothing is moved or flagged, and ``imap_state`` is untouched: re-running stores nothing new
    (intake's dedupe), and the watcher still moves what it finds in the folder it watches.
    """
    mailbox = mailbox_from_settings(settings)
    name = folder or mailbox.folder
    connected = connect(mailbox, settings, tokens)
    client = connected.client
    report = BackfillReport()
    try:
        if not client.folder_exists(name):
            raise ImapError(f"account {mailbox.account}: folder {name!r} does not exist")
        info = client.select_folder(name, readonly=True)
        uidvalidity = int(info[b"UIDVALIDITY"])
        criteria: list[Any] = ["SINCE", since] if since else ["ALL"]
        uids = sorted(int(u) for u in client.search(criteria))
        report.found = len(uids)
        if progress:
            progress(report)
        for start in range(0, len(uids), settings.batch_size):
            chunk = uids[start : start + settings.batch_size]
            data = client.fetch(chunk, [b"BODY.PEEK[]"])
            items = []
            for uid in chunk:
                body = data.get(uid, {}).get(b"BODY[]")
                if not isinstance(body, bytes | bytearray):
                    report.unfetchable.append(uid)
                    continue
                items.append(
                    make_incoming(
                        bytes(body),
                        source="imap",
                        mail_from=None,
                        rcpt_tos=[],
                        peer=mailbox.peer(uidvalidity, uid),
                    )
                )
            for result in intake.accept_many(items):
                report.stored += 1
                report.duplicates += result.duplicate_of is not None
            if progress:
                progress(report)
    except (OSError, EOFError) as exc:
        raise ImapError(
            f"IMAP connection for account {mailbox.account} failed: {describe(exc)}"
        ) from exc
    except imaplib.IMAP4.error as exc:
        raise ImapError(f"IMAP error for account {mailbox.account}: {describe(exc)}") from exc
    finally:
        close_quietly(client)
    return report
