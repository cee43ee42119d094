"""The IMAP watcher's rows: ``imap_state`` (the last stored UID per mailbox folder and its
UIDVALIDITY) and the placeholder stored for a message the server will not deliver.

``last_uid`` only ever rises, and only in the transaction that commits the messages below it
(DESIGN invariant 1: a message leaves the folder only after it is committed). A UIDVALIDITY
change resets it to 0 with an audit entry: the watcher rescans the folder, and intake records
what it already holds as duplicates.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from mailbridge.store import inbound
from mailbridge.store.models import FAILED, ImapState, InboundMessage

log = logging.getLogger(__name__)

#: called in the transaction that marks a placeholder failed: tell the duty desk
GaveUp = Callable[[Session, InboundMessage, str], None]


def get(session: Session, mailbox_key: str) -> ImapState | None:
    """The stored state of one mailbox folder, or None if it was never watched."""
    return session.scalars(select(ImapState).where(ImapState.mailbox == mailbox_key)).first()


def load_state(session: Session, mailbox_key: str, uidvalidity: int, now: datetime) -> int:
    """``last_uid`` for this mailbox, reset to 0 (with a log line) if UIDVALIDITY changed."""
    row = get(session, mailbox_key)
    if row is None:
        session.add(
            ImapState(mailbox=mailbox_key, uidvalidity=uidvalidity, last_uid=0, updated_at=now)
        )
        return 0
    if row.uidvalidity != uidvalidity:
        log.warning(
            "IMAP folder %s: UIDVALIDITY changed from %d to %d (folder recreated or the server's "
            "index rebuilt); rescanning the whole folder from UID 1 (messages already stored are "
            "recognised as duplicates)",
            mailbox_key,
            row.uidvalidity,
            uidvalidity,
        )
        row.uidvalidity = uidvalidity
        row.last_uid = 0
        row.updated_at = now
        inbound.audit(
            session,
            at=now,
            actor="imap",
            entity="imap_state",
            entity_id=mailbox_key[:80],
            action="uidvalidity_reset",
            detail={"uidvalidity": uidvalidity},
        )
        return 0
    return int(row.last_uid)


def advance_state(
    session: Session, mailbox_key: str, uidvalidity: int, last_uid: int, now: datetime
) -> None:
    session.execute(
        update(ImapState)
        .where(
            ImapState.mailbox == mailbox_key,
            ImapState.uidvalidity == uidvalidity,
            ImapState.last_uid < last_uid,
        )
        .values(last_uid=last_uid, updated_at=now)
    )


def store_unfetchable(
    session: Session,
    incoming: inbound.Incoming,
    *,
    note: str,
    now: datetime,
    gave_up: GaveUp | None,
    actor: str = "imap",
) -> tuple[inbound.Stored, bool]:
    """Store the placeholder of an unfetchable message as failed; (its row, duty desk alerted).

    A placeholder stored before (the same message set aside again after a restart) is a
    duplicate: nothing more is done, so the duty desk hears of it once. ``actor`` names the
    reader in the audit trail (``imap``, or ``graph`` for the Graph reader).
    """
    result = inbound.insert_batch(session, [incoming])[0]
    if result.duplicate_of is not None:
        return result, False
    row = session.get(InboundMessage, result.id)
    assert row is not None
    inbound.finish(session, row, status=FAILED, now=now, error=note, actor=actor)
    if gave_up is None:
        return result, False
    with session.begin_nested():
        gave_up(session, row, note)
    return result, True
