"""Every branch of the episode state machine, without a database."""

from __future__ import annotations

import pytest

from mailbridge.episodes.machine import EpisodeState, decide

OPEN_EP = EpisodeState(1, "MB-2026-00001", "100231", "open")
CLOSED_EP = EpisodeState(2, "MB-2026-00002", "100231", "returned")
UNMATCHED_OPEN = EpisodeState(3, "MB-2026-00003", None, "open")


@pytest.mark.parametrize(
    ("kind", "child_open", "action", "event"),
    [
        ("missing", None, "open", "missing"),
        ("info", None, "open", "missing"),
        ("returned", None, "open_closed", "returned"),
        ("not_a_report", None, "ignore", "not_a_report"),
        ("missing", OPEN_EP, "update", "update"),  # a second carer reports the same episode
        ("info", OPEN_EP, "update", "update"),
        ("returned", OPEN_EP, "close", "returned"),
        ("not_a_report", OPEN_EP, "update", "update"),
    ],
)
def test_for_a_matched_child(kind, child_open, action, event):
    d = decide(kind, thread=None, child_id="100231", child_open=child_open)
    assert (d.action, d.event) == (action, event)
    assert d.episode == child_open if action in ("update", "close") else d.episode is None


@pytest.mark.parametrize(
    ("kind", "thread", "action", "event"),
    [
        ("missing", OPEN_EP, "update", "update"),
        ("info", OPEN_EP, "update", "update"),
        ("not_a_report", OPEN_EP, "update", "update"),  # "thanks, any news?" in the thread
        ("returned", OPEN_EP, "close", "returned"),
        ("returned", CLOSED_EP, "update", "update"),
        ("info", CLOSED_EP, "update", "update"),
        ("missing", CLOSED_EP, "open", "missing"),  # gone again
    ],
)
def test_thread_context_wins(kind, thread, action, event):
    # The thread beats whatever the child lookup would have said.
    d = decide(kind, thread=thread, child_id=None, child_open=None)
    assert (d.action, d.event) == (action, event)


def test_unmatched_reports_open_unmatched_episodes():
    assert decide("missing", thread=None, child_id=None, child_open=None).event == "unmatched"
    d = decide("returned", thread=None, child_id=None, child_open=None)
    assert (d.action, d.event) == ("open_closed", "unmatched")
    d = decide("not_a_report", thread=None, child_id=None, child_open=None)
    assert d.action == "ignore"


def test_return_from_the_sender_of_one_open_unmatched_episode_closes_it():
    d = decide(
        "returned",
        thread=None,
        child_id=None,
        child_open=None,
        sender_open_unmatched=UNMATCHED_OPEN,
    )
    assert (d.action, d.episode) == ("close", UNMATCHED_OPEN)


def test_unmatched_reply_in_closed_thread_reopens_as_unmatched():
    closed = EpisodeState(4, "MB-2026-00004", None, "returned")
    d = decide("missing", thread=closed, child_id=None, child_open=None)
    assert (d.action, d.event) == ("open", "unmatched")
