"""The pure stages of one message, before any transaction: read the MIME, recognise our own
mail come back, pull out the fields and classify; and the reading narrowed to one child.

What ``prepare`` in the pipeline hands to the transaction. Pure: no database, no network.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from mailbridge.episodes.machine import EpisodeState
from mailbridge.reading import loops
from mailbridge.reading.children import ChildReading, children_named
from mailbridge.reading.classify import classify
from mailbridge.reading.fields import ReportFields, extract_fields, without_absence_type
from mailbridge.reading.loops import Loop, OwnMail
from mailbridge.reading.match import DirectoryChild
from mailbridge.reading.message import ReadLimits, ReadMessage, read_message
from mailbridge.reading.trust import NOT_CHECKED, Verdict
from mailbridge.settings.config import Settings


@dataclass(frozen=True)
class Reading:
    """What the pure stages made of one message; kept together for the audit and the alerts."""

    message: ReadMessage
    fields: ReportFields
    kind: str
    reason: str
    # The kind once the SSDA903 reclassification phrases and the subject (in a thread, the old
    # headline "Re: Missing: ...") are set aside: used for a message in an episode's thread,
    # where "reclassify as missing" is about the record, not a child gone again. The same as
    # ``kind`` when the message asks for no classification.
    kind_in_thread: str = ""
    # Our own mail come back: the message itself is ours (echo), or it only carries ours on.
    echo: Loop | None = None
    relayed: Loop | None = None
    trust: Verdict = NOT_CHECKED
    # What the reader could not settle (conflicting signals, a time dropped), plain English.
    doubts: tuple[str, ...] = ()
    # The sentence that reads as a return, for "the email may say ... is back".
    return_cue: str | None = None


def read(
    raw: bytes,
    *,
    tz: ZoneInfo,
    received_at: datetime,
    limits: ReadLimits | None = None,
    own: OwnMail | None = None,
) -> Reading:
    msg = read_message(raw, limits)
    echo = relayed = None
    if own is not None:
        echo = loops.echo(msg, own)
        relayed = loops.relayed(msg, own)
        msg = loops.without_own_forward(msg, own)
    fields = extract_fields(msg, tz=tz, received_at=received_at)
    cls = classify(msg, fields)
    if own is not None and cls.kind == "info" and loops.answers_own(msg, own):
        # "Thanks - I'm aware, I'll ring the home" under our alert, its token lost: the facts
        # are our own alert's, quoted, and its subject; the new words alone say nothing
        bare = replace(msg, subject="", text=msg.added_text, quoted_text="")
        if classify(bare, extract_fields(bare, tz=tz, received_at=received_at)).kind == \
                "not_a_report":
            cls = replace(cls, kind="not_a_report",
                          reason="a reply to our own mail that adds no news of the child")
    in_thread = cls.kind
    if fields.absence_type is not None:
        bare = replace(msg, subject="", text=without_absence_type(msg.text))
        in_thread = classify(bare, fields).kind
    return Reading(
        msg,
        fields,
        cls.kind,
        cls.reason,
        in_thread,
        echo=echo,
        relayed=relayed,
        doubts=cls.doubts,
        return_cue=cls.return_cue,
    )


def own_mail(settings: Settings) -> OwnMail:
    """The markers of mail we send: our addresses and the domain of our Message-IDs."""
    domain = settings.from_address.rpartition("@")[2] or "localhost"
    return OwnMail.of([*settings.smtp.addresses, settings.from_address], domain)


def read_limits(settings: Settings) -> ReadLimits:
    r = settings.reading
    return ReadLimits(r.max_mime_depth, r.max_parts, r.max_attachment_bytes)


def narrowed(reading: Reading, one: ChildReading) -> Reading:
    """The reading of a message narrowed to what it says about one of the children it names."""
    return replace(
        reading,
        fields=one.fields,
        kind=one.classification.kind,
        reason=one.classification.reason,
        kind_in_thread=one.classification.kind,
        doubts=one.classification.doubts,
        return_cue=one.classification.return_cue,
    )


def other_childs_return(
    reading: Reading, thread: EpisodeState, children: Sequence[DirectoryChild], sender: str | None
) -> Reading:
    """A return in one child's thread that names only another child ("Alex is back" under
    "Re: Missing: Jordan") is not the thread child's return: the safe state, with the doubt."""
    if "returned" not in (reading.kind, reading.kind_in_thread) or thread.child_id is None:
        return reading
    # the carer's new words only: the thread's subject names the thread's child
    named = children_named("", reading.message.text, reading.fields, sender, children)
    if not named or any(c.child_id == thread.child_id for c in named):
        return reading
    names = ", ".join(f"{c.first_name} {c.last_name}" for c in named)
    return replace(
        reading,
        kind="missing",
        kind_in_thread="missing",
        doubts=(*reading.doubts, f"the reply in this episode's thread says {names} is back, "
                                 "and does not name this episode's child"),
        return_cue=reading.return_cue or "a return naming another child",
    )


def late_hours(sent: datetime | None, received: datetime, after: timedelta) -> int | None:
    """Whole hours between the Date header and the receipt, when it is ``after`` or more.

    Late mail (an IMAP backfill after an outage, a replayed archive) is still a report, but a
    receipt days later would confuse the carer, and staff must see at once that it is old news.
    """
    if sent is None or received - sent < after:
        return None
    return int((received - sent).total_seconds() // 3600)
