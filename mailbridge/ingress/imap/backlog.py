"""A backlog drained lane 1 first (issue 18): the I/O half of the lane order.

Exists because ordering a backlog by lane is a concern of its own beside the fetch, store and
move cycle (``sync.py``): it asks the server for the cheap header facts and sizes of the new UIDs,
decides each one's lane with the rule intake uses (``reading/lanes.py``, the same cached facts),
queues them in the pure ``order.LaneQueue``, and before each batch looks for newer mail so a report
APPENDed mid-drain goes ahead of the backlog.

Contract: it only chooses which UIDs the next batch holds, cut into batches by the caller's own
``chunks`` (so size limits and suspects are handled as in UID order). It never stores, moves or
advances ``last_uid``: the checkpoint still only passes UIDs that are stored. A server that refuses
the header fetch leaves the caller in UID order (``queue_by_lane`` returns False); a header fetch
that costs the connection is counted in ``Memory.header_failures`` and, at ``HEADER_FAILURES``,
the caller keeps UID order until the folder is drained.
"""

from __future__ import annotations

import imaplib
import logging
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from mailbridge.ingress.imap.client import describe, fetch_set, uid_set
from mailbridge.ingress.imap.order import LaneQueue
from mailbridge.intake import fetched_header_facts
from mailbridge.reading import lanes
from mailbridge.store import tx

if TYPE_CHECKING:
    from mailbridge.ingress.imap.watcher import Watcher

log = logging.getLogger(__name__)

# The cheap header facts a lane is decided from (intake reads the same ones: intake.py), asked
# for this many UIDs per command when a backlog is ordered by lane (order.py).
HEADER_ITEM = b"BODY.PEEK[HEADER.FIELDS (FROM DATE MESSAGE-ID IN-REPLY-TO REFERENCES SUBJECT)]"
HEADER_GROUP = 5000
HEADER_FAILURES = 2
# While a backlog is fetched by lane, lanes 2 and 3 go in batches of at most this many: lane-1
# mail found mid-drain waits for the commit in progress, and on SQLite so do the worker and the
# sender (that commit holds the write lock), so a shorter commit is a shorter wait for both.
LOWER_LANE_BATCH = 50


class Backlog:
    """One pass's lane order: the queue, the sizes, the pass's UIDs and the highest seen.

    ``present`` is the pass's search, ascending, and is extended in place with the newer UIDs
    found since (the caller computes ``last_uid`` from the same list). ``chunks`` cuts a lane's
    UIDs into batches (``Sync._chunks``).
    """

    def __init__(
        self,
        watcher: Watcher,
        client: Any,
        present: list[int],
        chunks: Callable[[list[int], dict[int, int]], Iterator[list[int]]],
    ) -> None:
        self.w = watcher
        self.client = client
        self.settings = watcher.settings
        self.queue = LaneQueue()
        self.sizes: dict[int, int] = {}
        self.present = present
        self.seen = max(present)
        self._chunks = chunks

    def queue_by_lane(self, uids: list[int]) -> bool:
        """Queue ``uids`` by lane from their header facts (and note their sizes); False when the
        server refused the header fetch (then the caller keeps UID order)."""
        w = self.w
        suspects = [u for u in uids if u in w.memory.suspects]
        asked = [u for u in uids if u not in w.memory.suspects]
        heads: dict[int, tuple[bytes | None, int]] = {}
        try:
            for start in range(0, len(asked), HEADER_GROUP):
                heads.update(self._headers(uid_set(asked[start : start + HEADER_GROUP])))
        except (imaplib.IMAP4.abort, OSError, EOFError):
            # Never loop on a header fetch that costs the connection: UID order after a few.
            w.memory.header_failures += 1
            raise
        except imaplib.IMAP4.error as exc:
            log.info(
                "IMAP folder %s: no header facts (%s); fetching in UID order",
                w.mailbox.key,
                describe(exc),
            )
            return False
        lane_of = self._lanes({u: heads[u][0] for u in asked if u in heads})
        lane_of.update({u: lanes.NEW for u in uids if u not in lane_of})  # unread: lane 2
        self.sizes.update({u: size for u, (_, size) in heads.items() if u in lane_of})
        self.queue.add({u: lane_of[u] for u in uids})
        if suspects:
            log.debug("%d suspect UID(s) queued in lane 2 without headers", len(suspects))
        log.info(
            "IMAP folder %s: %d new message(s), fetching lane 1 first (lanes 1/2/3: %s)",
            w.mailbox.key,
            len(uids),
            "/".join(str(n) for n in self.queue.waiting().values()),
        )
        return True

    def _headers(self, which: str) -> dict[int, tuple[bytes | None, int]]:
        """(header facts block, RFC822.SIZE) by UID, in one UID FETCH of the set ``which``."""
        data = fetch_set(self.client, which, [b"RFC822.SIZE", HEADER_ITEM])
        found: dict[int, tuple[bytes | None, int]] = {}
        for uid, values in data.items():
            if b"RFC822.SIZE" not in values:
                continue  # an unsolicited FETCH (a flag change), not an answer
            head: bytes | None = None
            for key, value in values.items():
                if bytes(key).upper().startswith(b"BODY[HEADER.FIELDS") and isinstance(
                    value, bytes | bytearray
                ):
                    head = bytes(value)
            found[int(uid)] = (head, int(values.get(b"RFC822.SIZE") or 0))
        return found

    def _lanes(self, heads: dict[int, bytes | None]) -> dict[int, int]:
        """Each UID's lane, decided as intake will decide it (the same facts and cached sets)."""
        facts = self.w.intake.lane_facts
        try:
            with tx.read(self.w.engine) as t:
                facts.refresh(t)
        except tx.DatabaseError as exc:  # a lane only orders the work: the old sets will do
            log.debug("lane facts not refreshed: %s", type(exc).__name__)
        now = self.w.clock()
        return {
            uid: facts.decide(fetched_header_facts(head), now) if head is not None else lanes.NEW
            for uid, head in heads.items()
        }

    def batches(self) -> Iterator[list[int]]:
        """Batches from the queue, highest lane first; before each, newer mail is looked for
        and queued by its lane, so a report APPENDed mid-drain goes ahead of the backlog."""
        while True:
            self._queue_newer()
            lane = self.queue.next_lane()
            if lane is None:
                return
            yield from self._take(lane)

    def urgent_batches(self) -> Iterator[list[int]]:
        """The lane-1 mail waiting now, newer mail looked for first."""
        self._queue_newer()
        while self.queue.waiting()[lanes.PRIORITY]:
            yield from self._take(lanes.PRIORITY)

    def _take(self, lane: int) -> Iterator[list[int]]:
        """The lane's next batch; below lane 1, at most LOWER_LANE_BATCH messages."""
        limit = self.settings.batch_size
        if lane != lanes.PRIORITY:
            limit = min(limit, LOWER_LANE_BATCH)
        taken = self.queue.take(lane, limit)
        if lane == lanes.PRIORITY:
            log.info(
                "IMAP folder %s: fetching %d lane-1 message(s)", self.w.mailbox.key, len(taken)
            )
        yield from self._chunks(taken, self.sizes)

    def _queue_newer(self) -> None:
        """Queue, by lane, the mail that arrived above the highest UID seen.

        Two round trips: NOOP, so the server shows this session what other sessions APPENDed
        (Dovecot does so only between commands: without it a message is seen a batch late),
        then ``UID FETCH seen+1:*`` with the header facts (the server answers for the highest
        UID even when it is below ``seen + 1``: filtered out).
        """
        if self.w.stopping():
            return
        seen = self.seen
        try:
            self.client.noop()
            heads = self._headers(f"{seen + 1}:*")
        except imaplib.IMAP4.abort:
            raise
        except imaplib.IMAP4.error:
            return
        memory = self.w.memory
        fresh = {
            u: h
            for u, (h, _) in heads.items()
            if u > seen and u not in memory.committed and u not in memory.set_aside
        }
        if not fresh:
            return
        self.queue.add(self._lanes(fresh))
        self.sizes.update({u: heads[u][1] for u in fresh})
        self.present.extend(sorted(fresh))  # still ascending: all above the old highest
        self.seen = max(fresh)
