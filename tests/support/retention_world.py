"""A store with old and new episodes, for retention and subject access."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailbridge.delivery.sender import Sender
from mailbridge.store.models import (
    Episode,
)
from tests.support.story import SW, Story

# Tuesday 5 March 2024, 10:00 UTC (GMT): office hours, long before the tests run.


# Tuesday 5 March 2024, 10:00 UTC (GMT): office hours, long before the tests run.
B0 = datetime(2024, 3, 5, 10, 0, tzinfo=UTC)


NOW = B0 + timedelta(days=400)


CUTOFF = NOW - timedelta(days=365)


RIVERSIDE = "riverside.carers@fostering.example"


@dataclass
class World:
    old: str  # returned long ago: purged
    open: str  # still open, though reported long ago: kept whole
    recent: str  # returned ten days before NOW: kept
    noise: int  # a not-a-report message from long ago (its duty alert has no episode)


def at(story: Story, when: datetime) -> None:
    story.clock.now = when


def build(story: Story, *, recent: bool = True) -> World:
    at(story, B0)
    story.send(
        "Jordan Carter (100231) has not come home since 10:00 this morning. He was wearing a "
        "green parka with a fox badge. Police reference 1123 of 05/03/2024.",
        subject="Missing: Jordan Carter (100231)",
    )
    at(story, B0 + timedelta(hours=1))
    story.send(
        "Chloé Dubois (100232) left at 9 and has not come back.\n"
        "Last seen location: the Riverside bus stop\nClothing: a yellow raincoat\n",
        sender=RIVERSIDE,
        subject="Missing: Chloe Dubois (100232)",
    )
    at(story, B0 + timedelta(hours=5))
    story.send(
        "Jordan Carter (100231) came home at 14:30, safe and well. Brought back by his aunt.",
        subject="Jordan (100231) is back",
    )
    with Session(story.engine) as s:
        old = s.scalars(select(Episode).where(Episode.child_id == "100231")).one()
        old_ref, returned_at = old.reference, old.returned_at
    assert returned_at is not None
    story.runner.run_due(returned_at + timedelta(hours=24, minutes=1))
    at(story, returned_at + timedelta(hours=25))
    to, subject = story.reply_to("interview_reminder", SW)
    outcome = story.send(
        f"Reference: {old_ref}\nResult: completed\nDate: 06/03/2024\nInterviewer: Sam Patel\n"
        "Reasons for going missing: friends\n"
        "Reason notes: met the lads from the skate park\n"
        "Risks identified: older peers at the station\nActions agreed: safety plan with carers\n",
        sender=SW,
        subject=subject,
        to=to,
    )
    assert "completed" in (outcome.reason or ""), outcome.reason
    noise = story.send(
        "Hello, what time does the office open on Saturday? Pat from Elm Street",
        sender="someone@public.example",
        subject="Opening hours",
    )
    assert noise.status == "ignored"
    recent_ref = ""
    if recent:
        at(story, NOW - timedelta(days=11))
        story.send("Jordan Carter (100231) is missing again.", subject="Jordan (100231) missing")
        at(story, NOW - timedelta(days=10))
        story.send("Jordan Carter (100231) is back home, safe.", subject="Jordan (100231) back")
        with Session(story.engine) as s:
            recent_ref = s.scalars(
                select(Episode.reference).where(Episode.opened_at > CUTOFF)
            ).one()
    # Sent (to .eml files in the outbox): a queued alert keeps its text and its original.
    Sender(story.engine, story.settings, clock=story.clock).deliver_due()
    with Session(story.engine) as s:
        open_ref = s.scalars(select(Episode.reference).where(Episode.child_id == "100232")).one()
    return World(old_ref, open_ref, recent_ref, noise.id)
