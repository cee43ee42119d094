"""The SQL of retention (``reports.retention``): what is due for purging, claimed in batches.

One condition per table says what is due, shared by the run and the dry run. Each ``claim_*``
takes up to a batch of due ids ``FOR UPDATE SKIP LOCKED`` (``sql.claim``), so two instances
purging at once share the work; the ``blank_*`` statements then empty the free text of the
rows claimed. The selection is by state (``purged_at`` unset, the alert marker absent), so a
second run claims nothing new. What is purged, column by column, is policy and stays in
``reports.retention`` (docs/privacy.md); this module only runs the statements.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, not_, or_, select, update
from sqlalchemy.orm import Session

from mailbridge.store.models import (
    PENDING,
    QUEUED,
    Alert,
    Episode,
    EpisodeMessage,
    InboundMessage,
    Interview,
)
from mailbridge.store.sql import claim

#: a purged alert's subject starts with this (``[purged 2026-12-02]``): it is not due again
MARKER_PREFIX = "[purged"


def _messages_due(cutoff: datetime) -> ColumnElement[bool]:
    in_open_case = (
        select(EpisodeMessage.id)
        .join(Episode, Episode.id == EpisodeMessage.episode_id)
        .where(EpisodeMessage.inbound_id == InboundMessage.id, Episode.status == "open")
        .exists()
    )
    # An alert still to be sent with the original attached needs the bytes.
    still_attached = (
        select(Alert.id)
        .where(
            Alert.inbound_id == InboundMessage.id,
            Alert.status == QUEUED,
            Alert.attach_inbound.is_(True),
        )
        .exists()
    )
    return and_(
        InboundMessage.purged_at.is_(None),
        InboundMessage.received_at < cutoff,
        InboundMessage.status != PENDING,
        not_(in_open_case),
        not_(still_attached),
    )


def _episode_returned_before(cutoff: datetime) -> ColumnElement[bool]:
    return and_(Episode.status == "returned", Episode.returned_at < cutoff)


def _episodes_due(cutoff: datetime) -> ColumnElement[bool]:
    return and_(_episode_returned_before(cutoff), Episode.purged_at.is_(None))


def _alerts_due(cutoff: datetime) -> ColumnElement[bool]:
    old_episodes = select(Episode.id).where(_episode_returned_before(cutoff))
    return and_(
        Alert.status != QUEUED,
        not_(Alert.subject.startswith(MARKER_PREFIX)),
        or_(
            Alert.episode_id.in_(old_episodes),
            and_(Alert.episode_id.is_(None), Alert.created_at < cutoff),
        ),
    )


# -- the dry run --------------------------------------------------------------------------


def count_due(session: Session, cutoff: datetime) -> dict[str, int]:
    """How many rows of each table a run with this cut-off would purge now."""
    due_episodes = select(Episode.id).where(_episodes_due(cutoff))

    def count(q: Any) -> int:
        return int(session.scalar(q) or 0)

    return {
        "inbound_messages": count(
            select(func.count()).select_from(InboundMessage).where(_messages_due(cutoff))
        ),
        "episodes": count(select(func.count()).select_from(Episode).where(_episodes_due(cutoff))),
        "episode_messages": count(
            select(func.count())
            .select_from(EpisodeMessage)
            .where(EpisodeMessage.episode_id.in_(due_episodes))
        ),
        "interviews": count(
            select(func.count())
            .select_from(Interview)
            .where(Interview.episode_id.in_(due_episodes))
        ),
        "alerts": count(select(func.count()).select_from(Alert).where(_alerts_due(cutoff))),
    }


def alert_message_ids_due(session: Session, cutoff: datetime) -> list[str]:
    """The Message-IDs of the alerts a run would purge (their outbox copies go too)."""
    return list(session.scalars(select(Alert.message_id).where(_alerts_due(cutoff))))


# -- one batch of each table --------------------------------------------------------------


def claim_messages(session: Session, cutoff: datetime, batch_size: int) -> list[int]:
    return claim(
        session,
        select(InboundMessage.id).where(_messages_due(cutoff)).order_by(InboundMessage.id),
        limit=batch_size,
    )


def blank_messages(session: Session, ids: Sequence[int], now: datetime, marker: str) -> None:
    """Drop the raw bytes; an error text becomes ``marker`` (that there was one is kept)."""
    session.execute(
        update(InboundMessage)
        .where(InboundMessage.id.in_(ids))
        .values(
            raw=None,
            purged_at=now,
            error=case((InboundMessage.error.is_(None), None), else_=marker),
        )
    )


def claim_episodes(session: Session, cutoff: datetime, batch_size: int) -> list[int]:
    return claim(
        session,
        select(Episode.id).where(_episodes_due(cutoff)).order_by(Episode.id),
        limit=batch_size,
    )


def blank_episodes(
    session: Session,
    ids: Sequence[int],
    now: datetime,
    *,
    columns: Sequence[str],
    police_reference: str,
) -> None:
    """Empty ``columns``; a police reference given becomes ``police_reference``."""
    values: dict[str, Any] = dict.fromkeys(columns)
    values["police_reference"] = case(
        (Episode.police_reference.is_(None), None), else_=police_reference
    )
    session.execute(update(Episode).where(Episode.id.in_(ids)).values(purged_at=now, **values))


def message_summaries(
    session: Session, episode_ids: Sequence[int]
) -> list[tuple[int, dict[str, Any] | None]]:
    """(link id, summary) of every message link of these episodes."""
    rows = session.execute(
        select(EpisodeMessage.id, EpisodeMessage.summary).where(
            EpisodeMessage.episode_id.in_(episode_ids)
        )
    ).all()
    return [(i, summary) for i, summary in rows]


def set_summaries(session: Session, summaries: Mapping[int, dict[str, Any]]) -> None:
    """Replace the summary of each message link (by link id)."""
    session.execute(
        update(EpisodeMessage), [{"id": i, "summary": s} for i, s in summaries.items()]
    )


def blank_interviews(session: Session, episode_ids: Sequence[int], columns: Sequence[str]) -> int:
    """Empty ``columns`` of these episodes' interviews; how many rows."""
    result = session.execute(
        update(Interview)
        .where(Interview.episode_id.in_(episode_ids))
        .values(dict.fromkeys(columns))
    )
    return int(getattr(result, "rowcount", 0) or 0)


def claim_alerts(session: Session, cutoff: datetime, batch_size: int) -> list[int]:
    return claim(
        session, select(Alert.id).where(_alerts_due(cutoff)).order_by(Alert.id), limit=batch_size
    )


def alert_message_ids(session: Session, ids: Sequence[int]) -> list[str]:
    return list(session.scalars(select(Alert.message_id).where(Alert.id.in_(ids))))


def blank_alerts(session: Session, ids: Sequence[int], text: str) -> None:
    """Subject and bodies become ``text`` (a marker starting with MARKER_PREFIX)."""
    session.execute(
        update(Alert).where(Alert.id.in_(ids)).values(subject=text, body_text=text, body_html=text)
    )
