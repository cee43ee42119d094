"""What a template sees, made of an alert's facts: the full context of a body, and the
restricted context of a subject.

Why a module of its own: this is where the safety rules of what an email may say are kept, apart
from how templates are loaded and rendered (``render.py``):

- a subject sees the reference, event, initials, child ID, risk level, sender address and
  message number, never a full name nor the carer's text, every value folded onto one line
  (so CR/LF cannot inject headers);
- a recipient outside the council (``ROLE_TEMPLATES``, docs/out-of-area.md) sees only its own
  routing note, never our internal ones;
- a receipt names the child by initials only when the sender is on the child's record, so an
  unknown sender learns nothing from the directory.

Pure: plain values in, plain dicts out.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any
from zoneinfo import ZoneInfo

from mailbridge.alerts.alert_facts import AlertFacts
from mailbridge.alerts.words import (
    NOT_STATED,
    born,
    human_list,
    initials,
    one_line,
    percent,
)

# Roles outside the council: one template set each, for every event (docs/out-of-area.md).
ROLE_TEMPLATES = ("host_authority", "police")

ROLE_LABELS = {
    "social_worker": "allocated social worker",
    "iro": "independent reviewing officer (IRO)",
    "apprentice": "missing-children apprentice",
    "team_manager": "team manager",
    "duty": "duty desk",
    "edt": "emergency duty team",
    "reporter": "person who made the report",
    "address": "named recipient",
    "fallback": "fallback address for undelivered alerts",
    "host_authority": "missing-children contact of the area where the child is placed",
    "police": "police force for the area where the child is placed",
}


# -- lines made of the facts ------------------------------------------------------------


def reporter_line(facts: AlertFacts) -> str | None:
    """Who sent this and how to call them, on one line: name, phone, address, standing."""
    if not (facts.reported_by or facts.reporter_name or facts.reporter_phone):
        return None
    parts = [one_line(facts.reporter_name)] if facts.reporter_name else []
    parts.append(f"phone {one_line(facts.reporter_phone) or NOT_STATED}")
    if facts.reported_by:
        standing = "known carer" if facts.sender_known else "SENDER UNVERIFIED"
        parts.append(f"{one_line(facts.reported_by)} ({standing})")
    return ", ".join(parts)


def identifiers_line(facts: AlertFacts) -> str | None:
    """The internal identifiers, for the footer: message number, Message-ID, match confidence."""
    parts = []
    if facts.inbound_id is not None:
        parts.append(f"message {facts.inbound_id}")
    if facts.message_id:
        parts.append(f"Message-ID <{one_line(facts.message_id).strip('<>')}>")
    if facts.match_confidence is not None:
        parts.append(f"match confidence {percent(facts.match_confidence)}")
    return " · ".join(parts) or None


def alert_context(
    facts: AlertFacts,
    tz: ZoneInfo,
    role: str,
    recipient_name: str | None,
    note: str | None,
    *,
    base: Mapping[str, Any] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the body's context, the subject's) for one recipient of an alert; ``base`` is
    :func:`facts_context` of ``facts`` when the caller already has it."""
    context = dict(base) if base is not None else facts_context(facts, tz)
    context.update(
        role=role,
        role_label=ROLE_LABELS.get(role, one_line(role).replace("_", " ")),
        recipient_name=recipient_name,
        # An outside body sees only its own routing note, never our internal ones.
        notes=[
            n
            for n in ((note,) if role in ROLE_TEMPLATES else (facts.note, note))
            if n and n.strip()
        ],
    )
    return context, subject_context(facts)


def receipt_context(
    facts: AlertFacts, tz: ZoneInfo, passed_to: Sequence[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the body's context, the subject's) for the carer's receipt."""
    context = facts_context(facts, tz)
    known_child = bool(context["child_initials"]) and facts.sender_known
    context.update(
        role="reporter",
        role_label=ROLE_LABELS["reporter"],
        recipient_name=facts.reporter_name,
        notes=[],
        about=context["child_initials"] if known_child else "the child you named",
        passed_to=human_list(passed_to) or "the duty desk",
    )
    subject = subject_context(facts)
    if not known_child:
        subject["child_initials"] = ""
    return context, subject


def facts_context(facts: AlertFacts, tz: ZoneInfo) -> dict[str, Any]:
    """The recipient-free context of a body: every fact, and the lines made of them."""
    ctx: dict[str, Any] = {f.name: getattr(facts, f.name) for f in dataclasses.fields(facts)}
    ctx["attachments"] = [
        {"name": n or "(no name)", "content_type": c, "size": s} for n, c, s in facts.attachments
    ]
    ctx["extra"] = dict(facts.extra)
    ctx["child_initials"] = initials(facts.child_first_name, facts.child_last_name)
    full = " ".join(n for n in (facts.child_first_name, facts.child_last_name) if n)
    ctx["child_name"] = full or None
    ctx["event_label"] = event_label(facts.event)
    ctx["timezone"] = str(tz.key)
    ctx["child_born"] = born(facts.child_date_of_birth, facts.received_at, tz)
    ctx["reporter"] = reporter_line(facts)
    ctx["identifiers"] = identifiers_line(facts)
    return ctx


def event_label(event: str) -> str:
    return one_line(event).replace("_", " ").upper() or "ALERT"


def subject_context(facts: AlertFacts) -> dict[str, Any]:
    """What a subject may say: no full name, no carer text; every value on one line."""
    return {
        "event": one_line(facts.event),
        "event_label": event_label(facts.event),
        "reference": one_line(facts.reference) or None,
        "child_initials": initials(facts.child_first_name, facts.child_last_name),
        "child_id": one_line(facts.child_id) or None,
        "risk_level": one_line(facts.risk_level).lower() or None,
        "sender": one_line(facts.reported_by) or None,
        "message": facts.inbound_id
        if facts.inbound_id is not None
        else (one_line(facts.message_id) or None),
        "extra": {k: one_line(v) for k, v in facts.extra.items()},
    }
