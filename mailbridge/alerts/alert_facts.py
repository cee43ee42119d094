"""``AlertFacts``: everything an alert or a receipt may show, as plain values.

Why a module of its own: the facts are the one thing every side of an alert shares. The
gatherers (``alerts/facts.py`` from an episode and a message, ``alerts/answers.py``,
``alerts/outbox.py``) fill them in; ``template_context.py`` turns them into what a template
sees; ``render.py`` renders them. A plain frozen dataclass, no I/O: the gatherers need not
import Jinja2 to build one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

__all__ = ["AlertFacts"]


@dataclass(frozen=True, kw_only=True)
class AlertFacts:
    """Everything an alert or receipt may show, as plain values. None means "not stated".

    Datetimes should be aware (UTC); a naive one is read as UTC. ``attachments`` are
    ``(name, content_type, size)``; ``carer_text`` is the carer's new text, shown quoted.
    """

    event: str
    received_at: datetime
    reference: str | None = None
    child_id: str | None = None
    child_first_name: str | None = None
    child_last_name: str | None = None
    child_name_given: str | None = None  # the name as the carer wrote it (unmatched reports)
    child_date_of_birth: date | None = None  # from the directory; the age is worked out from it
    placement_name: str | None = None
    risk_level: str | None = None
    risk_notes: str | None = None
    last_seen_at: datetime | None = None
    last_seen_text: str | None = None
    last_seen_location: str | None = None
    police_reference: str | None = None
    description: str | None = None
    clothing: str | None = None
    reported_by: str | None = None  # the sender's address
    reporter_name: str | None = None
    reporter_phone: str | None = None
    sender_known: bool = False
    # The sender check (docs/trust.md): True verified, False not verified, None not applicable.
    sender_verified: bool | None = None
    sender_check: str | None = None  # why, e.g. "dmarc=pass reported by mx.council.example"
    returned_at: datetime | None = None
    returned_by: str | None = None
    safe_and_well: bool | None = None
    match_method: str | None = None
    match_confidence: float | None = None
    match_note: str | None = None
    carer_text: str = ""
    subject_given: str = ""
    attachments: Sequence[tuple[str | None, str, int]] = field(default=(), hash=False)
    episode_status: str | None = None
    note: str | None = None  # e.g. the routing note "no IRO on record: duty alerted instead"
    error: str | None = None  # why processing (or delivery) failed
    message_id: str | None = None  # Message-ID of the carer's message
    inbound_id: int | None = None  # the stored message's row id ("message 17")
    extra: Mapping[str, str] = field(default_factory=dict, hash=False)
    # The footer's reminder to staff: how to acknowledge and who is told, when, if nobody does
    # (timers.plan.acknowledge_reminder); None on mail that is not a staff alert.
    reminder: str | None = None
    # For a child placed in another council's area (host_authority and police alerts).
    date_of_birth: date | None = None
    placement_postcode: str | None = None
    placement_authority_name: str | None = None  # the host authority
    placing_council: str | None = None  # this council, the authorities file's own entry
    placing_contacts: Sequence[str] = field(default=(), hash=False)  # who to call here
    interview_by: str | None = None  # who holds the return home interview
    profile_note: str | None = None  # the Philomena profile: attached, or why not
