"""The episode state machine: what one classified report does to the episodes that exist.

Pure: it sees plain values and returns a decision; processing applies it in one
transaction. Every branch is unit-tested in tests/test_episodes.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# "info" carries report facts but says neither gone nor back: it updates an episode it
# belongs to, and otherwise is treated as a missing report, because dropping one is worse.
Kind = Literal["missing", "returned", "info", "not_a_report"]
Action = Literal["open", "update", "close", "open_closed", "ignore"]
Event = Literal["missing", "update", "returned", "unmatched", "not_a_report"]

OPEN = "open"
RETURNED = "returned"


@dataclass(frozen=True)
class EpisodeState:
    id: int
    reference: str
    child_id: str | None
    status: str  # open / returned


@dataclass(frozen=True)
class Decision:
    action: Action
    event: Event
    episode: EpisodeState | None  # the episode acted on (None when a new one is opened)
    reason: str


def decide(
    kind: Kind,
    *,
    thread: EpisodeState | None,
    child_id: str | None,
    child_open: EpisodeState | None,
    sender_open_unmatched: EpisodeState | None = None,
) -> Decision:
    """Thread context first (a reply belongs to its episode), then the child's open episode."""
    if thread is not None:
        return _in_thread(kind, thread)
    if child_id is not None:
        return _for_child(kind, child_open)
    return _unmatched(kind, sender_open_unmatched)


def _in_thread(kind: Kind, episode: EpisodeState) -> Decision:
    if episode.status == OPEN:
        if kind == "returned":
            return Decision("close", "returned", episode, "return reported in the episode's thread")
        return Decision("update", "update", episode, "reply in the thread of an open episode")
    if kind == "missing":
        # Gone again after a return: a new episode for the same child.
        return Decision(
            "open",
            "missing" if episode.child_id else "unmatched",
            episode,
            "new missing report in the thread of a closed episode",
        )
    return Decision("update", "update", episode, "reply in the thread of a closed episode")


def _for_child(kind: Kind, child_open: EpisodeState | None) -> Decision:
    if kind == "not_a_report":
        if child_open is not None:
            return Decision(
                "update", "update", child_open, "message about a child with an open episode"
            )
        return Decision("ignore", "not_a_report", None, "names a child but reports nothing")
    if child_open is not None:
        if kind == "returned":
            return Decision("close", "returned", child_open, "return of the child's open episode")
        return Decision("update", "update", child_open, "the child already has an open episode")
    if kind == "returned":
        return Decision(
            "open_closed",
            "returned",
            None,
            "return reported with no open episode: recorded as a whole episode",
        )
    return Decision("open", "missing", None, "new missing report")


def _unmatched(kind: Kind, sender_open_unmatched: EpisodeState | None) -> Decision:
    if kind == "not_a_report":
        return Decision("ignore", "not_a_report", None, "not a missing or return report")
    if kind == "returned" and sender_open_unmatched is not None:
        return Decision(
            "close",
            "returned",
            sender_open_unmatched,
            "return from the sender of the one open unmatched episode",
        )
    if kind == "returned":
        return Decision(
            "open_closed",
            "unmatched",
            None,
            "return report for a child not identified in the directory",
        )
    return Decision("open", "unmatched", None, "report for a child not identified in the directory")
