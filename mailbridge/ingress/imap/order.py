"""In what order the IMAP watcher fetches a large set of new UIDs: lane 1 first (issue 18).

Lanes begin at intake (reading/lanes.py), but intake of a folder used to be first in, first
out: a known carer's report APPENDed behind a 5,000-message backlog waited for the whole
backlog's intake before it could be given lane 1. So when many UIDs are new, the watcher reads
only their cheap header facts first, decides each one's lane with the function intake uses,
and fetches whole messages lane 1 first, then 2, then 3, each lane in UID order.

Nothing starves: after ``share`` batches in a row from one lane while a lower lane waits, one
batch takes the oldest UID waiting in any lane (as the worker's claims do). Mail that newly
arrives in a higher lane starts a new run, so it is never kept waiting by that share.

Where a message lands in this order changes only when it is stored, never whether: the
checkpoint (``imap_state``) still only passes UIDs that are stored (sync.py).
Pure: plain integers in, plain integers out.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping

from mailbridge.reading import lanes

#: every this many batches taken from a higher lane, one batch takes the oldest waiting UID
SHARE = 4


class LaneQueue:
    """The UIDs still to fetch, by lane, each lane in UID order."""

    def __init__(self, share: int = SHARE) -> None:
        self.share = share
        self._lanes: dict[int, list[int]] = {lane: [] for lane in lanes.LANES}
        self._top: int | None = None  # the lane the run of batches below came from
        self._run = 0  # batches in a row from that lane while a lower one waited

    def add(self, lane_of: Mapping[int, int]) -> None:
        """Queue UIDs with their lanes (an unknown lane number counts as lane 2)."""
        for uid, lane in lane_of.items():
            bisect.insort(self._lanes[lane if lane in self._lanes else lanes.NEW], uid)

    def __len__(self) -> int:
        return sum(len(uids) for uids in self._lanes.values())

    def __contains__(self, uid: object) -> bool:
        return any(uid in uids for uids in self._lanes.values())

    def waiting(self) -> dict[int, int]:
        """How many UIDs wait in each lane (for logs and tests)."""
        return {lane: len(uids) for lane, uids in self._lanes.items()}

    def next_lane(self) -> int | None:
        """The lane the next batch comes from; None when nothing waits."""
        busy = [lane for lane in lanes.LANES if self._lanes[lane]]
        if not busy:
            return None
        first = busy[0]
        if len(busy) == 1 or first != self._top:
            # Nothing else waits, or a higher lane just got work: it goes first, a new run.
            self._top, self._run = first, 1
            return first
        if self._run >= self.share:
            self._run = 0
            return min(busy, key=lambda lane: self._lanes[lane][0])  # the oldest UID waiting
        self._run += 1
        return first

    def take(self, lane: int, limit: int) -> list[int]:
        """Up to ``limit`` of the lane's lowest UIDs, removed from the queue."""
        uids = self._lanes[lane]
        taken, self._lanes[lane] = uids[:limit], uids[limit:]
        return taken

    def discard(self, uids: Iterable[int]) -> None:
        drop = set(uids)
        for lane, queued in self._lanes.items():
            self._lanes[lane] = [u for u in queued if u not in drop]


def worth_ordering(new: int, batch_size: int) -> bool:
    """Order by lane only when the new UIDs need more than one batch: a folder drained in one
    batch takes no extra round trip (the small-mailbox path is the same as before)."""
    return new > batch_size
