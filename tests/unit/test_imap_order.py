"""The IMAP watcher's fetch order for a backlog (ingress/imap/order.py): lane 1 first, each lane
in UID order, and a share for the oldest so nothing starves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from mailbridge.ingress.imap.order import LaneQueue, worth_ordering
from mailbridge.intake import LaneFacts, fetched_header_facts, make_incoming
from mailbridge.reading.lanes import BACKLOG, NEW, PRIORITY


def drain(queue: LaneQueue, batch: int) -> list[tuple[int, list[int]]]:
    out = []
    while (lane := queue.next_lane()) is not None:
        out.append((lane, queue.take(lane, batch)))
    return out


def test_lane_one_first_then_two_then_three_each_in_uid_order() -> None:
    queue = LaneQueue(share=100)
    queue.add({9: BACKLOG, 3: NEW, 7: PRIORITY, 1: BACKLOG, 5: PRIORITY, 2: NEW})
    assert len(queue) == 6 and 7 in queue and 4 not in queue
    assert queue.waiting() == {PRIORITY: 2, NEW: 2, BACKLOG: 2}
    assert drain(queue, 10) == [(PRIORITY, [5, 7]), (NEW, [2, 3]), (BACKLOG, [1, 9])]
    assert len(queue) == 0 and queue.next_lane() is None


def test_an_unknown_lane_counts_as_lane_two() -> None:
    queue = LaneQueue()
    queue.add({4: 0, 8: 17})
    assert drain(queue, 10) == [(NEW, [4, 8])]


def test_the_oldest_gets_a_share_while_a_higher_lane_keeps_the_fetches() -> None:
    queue = LaneQueue(share=2)
    queue.add({u: BACKLOG for u in range(1, 4)})
    queue.add({u: NEW for u in range(10, 20)})
    taken = drain(queue, 2)
    # Two batches of lane 2, then one batch of the oldest (lane 3), and so on.
    assert [lane for lane, _ in taken][:6] == [NEW, NEW, BACKLOG, NEW, NEW, BACKLOG]
    assert sorted(u for _, uids in taken for u in uids) == [*range(1, 4), *range(10, 20)]


def test_new_lane_one_mail_is_never_held_back_by_the_share() -> None:
    queue = LaneQueue(share=2)
    queue.add({u: BACKLOG for u in range(1, 50)})
    queue.add({u: NEW for u in range(100, 150)})
    for _ in range(2):  # a run of lane 2 that has reached the share
        assert queue.next_lane() == NEW
        queue.take(NEW, 5)
    queue.add({500: PRIORITY})
    assert queue.next_lane() == PRIORITY
    assert queue.take(PRIORITY, 5) == [500]


def test_discard_forgets_uids_in_any_lane() -> None:
    queue = LaneQueue()
    queue.add({1: PRIORITY, 2: NEW, 3: BACKLOG})
    queue.discard([1, 3])
    assert drain(queue, 10) == [(NEW, [2])]


def test_only_more_than_one_batch_is_worth_ordering() -> None:
    assert not worth_ordering(200, 200)
    assert worth_ordering(201, 200)


HEAD = (
    b"From: Sam Carer <Sam.Carer@Homes.example>\r\n"
    b"Subject: Re: MB-2026-00042 update\r\n"
    b"Message-ID: <x1@homes.example>\r\n"
    b"Date: Thu, 26 Nov 2026 21:30:00 +0000\r\n\r\n"
)


def test_header_facts_fetched_alone_give_the_lane_intake_gives_the_whole_message() -> None:
    now = datetime(2026, 11, 26, 21, 31, tzinfo=UTC)
    whole = HEAD + b"Jordan has not come home.\r\n"
    for carers, live, date_shift, lane in (
        ({"sam.carer@homes.example"}, set(), 0, PRIORITY),
        (set(), {"MB-2026-00042"}, 0, PRIORITY),
        (set(), set(), 0, NEW),
        ({"sam.carer@homes.example"}, set(), 3, BACKLOG),  # sent 3 hours before arrival
    ):
        facts = LaneFacts(backlog_after=timedelta(hours=1))
        facts.carers, facts.live = frozenset(carers), frozenset(live)
        at = now + timedelta(hours=date_shift)
        item = make_incoming(
            whole, source="imap", mail_from=None, rcpt_tos=[], peer=None, clock=lambda: at  # noqa: B023
        )
        assert facts.decide(fetched_header_facts(HEAD), at) == facts.lane(item) == lane
    assert fetched_header_facts(b"\xff\xfe garbage").sender is None
