"""The state machine's issue-13 branches: a return that may not close, and stale episodes."""

from __future__ import annotations

from datetime import UTC, datetime

from mailbridge.episodes.machine import OPEN, RETURNED, EpisodeState, decide

OPEN_EP = EpisodeState(1, "MB-2026-00001", "100231", OPEN, datetime(2026, 11, 1, tzinfo=UTC))
CLOSED_EP = EpisodeState(2, "MB-2026-00002", "100231", RETURNED)
WHY = "The email may say J.C. is back, but it came from x@y. Please confirm before closing."


def test_a_held_return_in_the_thread_updates_and_asks_to_confirm() -> None:
    d = decide("returned", thread=OPEN_EP, child_id="100231", child_open=None, hold_return=WHY)
    assert (d.action, d.event, d.episode, d.confirm) == ("update", "update", OPEN_EP, WHY)


def test_a_held_return_for_the_childs_open_episode_keeps_it_open() -> None:
    d = decide("returned", thread=None, child_id="100231", child_open=OPEN_EP, hold_return=WHY)
    assert (d.action, d.event, d.confirm) == ("update", "update", WHY)


def test_a_held_return_with_no_open_episode_opens_one_in_the_safe_state() -> None:
    d = decide("returned", thread=None, child_id="100231", child_open=None, hold_return=WHY)
    assert (d.action, d.event, d.confirm) == ("open", "missing", WHY)
    d = decide("returned", thread=None, child_id=None, child_open=None, hold_return=WHY)
    assert (d.action, d.event, d.confirm) == ("open", "unmatched", WHY)


def test_a_sure_return_still_closes() -> None:
    d = decide("returned", thread=None, child_id="100231", child_open=OPEN_EP)
    assert (d.action, d.event, d.confirm) == ("close", "returned", None)


def test_hold_changes_nothing_but_returns() -> None:
    for kind in ("missing", "info"):
        d = decide(kind, thread=None, child_id="100231", child_open=OPEN_EP, hold_return=WHY)
        assert (d.action, d.confirm) == ("update", None)
    d = decide("returned", thread=CLOSED_EP, child_id="100231", child_open=None, hold_return=WHY)
    assert (d.action, d.confirm) == ("update", None)


def test_a_stale_open_episode_gives_a_new_one_for_a_new_report() -> None:
    for kind in ("missing", "info"):
        d = decide(kind, thread=None, child_id="100231", child_open=OPEN_EP, stale=True)
        assert (d.action, d.event, d.episode, d.stale) == ("open", "missing", None, OPEN_EP)
    d = decide("returned", thread=None, child_id="100231", child_open=OPEN_EP, stale=True)
    assert (d.action, d.episode) == ("close", OPEN_EP)  # a return still closes the old one
    d = decide("missing", thread=None, child_id="100231", child_open=OPEN_EP, stale=False)
    assert (d.action, d.stale) == ("update", None)
