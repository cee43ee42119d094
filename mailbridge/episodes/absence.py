"""The SSDA903 classification of an episode: M (missing) or A (away from placement without
authorisation), and the one way it changes.

Processing opens every episode as M; a carer's update, a staff reply to an alert or
`mailbridge episode REF --absence-type` may change it. Each change is an audit row with the old
and new code and who asked, because the code goes into the national return.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from mailbridge.reading.fields import AbsenceType
from mailbridge.store import episodes as episode_store
from mailbridge.store import tx
from mailbridge.store.models import Episode

__all__ = ["AWAY", "CODES", "MISSING", "AbsenceType", "reclassify"]
MISSING: Final = "M"
AWAY: Final = "A"
CODES: Final[dict[str, str]] = {
    MISSING: "missing",
    AWAY: "away from placement without authorisation",
}


def reclassify(
    session: tx.Tx,
    episode: Episode,
    new: AbsenceType,
    *,
    actor: str,
    at: datetime,
    source: str,
    message: int | None = None,
) -> str | None:
    """Set the episode's code in the caller's transaction; "M→A" when it changed, else None.

    ``source`` says how it was asked for (``report``, ``reply``, ``cli``); ``actor`` is who.
    Asking for the code an episode already has changes nothing and writes no audit row.
    """
    old = episode.absence_type
    if old == new:
        return None
    episode.absence_type = new
    episode.updated_at = at
    detail: dict[str, object] = {"old": old, "new": new, "source": source}
    if message is not None:
        detail["message"] = message
    episode_store.audit(
        session, episode, "absence_type", actor=actor or "unknown", at=at, detail=detail
    )
    return f"{old}→{new}"
