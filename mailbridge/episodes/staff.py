"""What a signed-in person does to an episode from the web app, besides casework.

Two operations that until now only arrived by email:

* ``acknowledge``: the same acknowledgement a staff reply to an alert records (an
  ``acknowledgements`` row for the person's alert role, an ``acknowledged`` audit row, and the
  timers re-planned, which cancels the pending escalations);
* ``record_interview``: the return home interview outcome, read by the same quality rules as the
  emailed form (``parse_interview_outcome``), so the web and the email can never disagree on
  what a complete outcome is.

Both run inside the caller's transaction and lock the episode row first.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime

from mailbridge.errors import InvalidRequestError
from mailbridge.reading.interview_form import InterviewOutcome, parse_interview_outcome
from mailbridge.routing.rules import Routing
from mailbridge.store import episodes as episode_store
from mailbridge.store import tx
from mailbridge.store.models import Episode, Interview
from mailbridge.timers.runner import ensure_interview, replan


class ActionRefused(InvalidRequestError):
    """The action makes no sense for this episode as it stands (the reason says why)."""


def _locked(session: tx.Tx, reference: str) -> Episode:
    ep = episode_store.lock(session, reference)
    if ep is None:
        raise ActionRefused(f"no episode {reference}")
    return ep


def acknowledge(
    session: tx.Tx,
    *,
    reference: str,
    role: str,
    address: str,
    actor: str,
    routing: Routing,
    now: datetime,
) -> bool:
    """Record that ``address`` has the episode in hand as ``role``; False if already recorded."""
    ep = _locked(session, reference)
    if ep.status != "open":
        raise ActionRefused(f"{ep.reference} is {ep.status}, not open: nothing to acknowledge")
    if not episode_store.acknowledge(session, ep.id, role=role, address=address, at=now):
        return False
    detail: dict[str, object] = {"role": role, "address": address}
    _done(session, ep, "acknowledged", detail, actor=actor, routing=routing, now=now)
    return True


@dataclass(frozen=True)
class InterviewForm:
    """The web form's fields, as a worker fills them in."""

    result: str
    held_on: str
    interviewer: str = ""
    reasons: str = ""
    reason_not_held: str = ""
    risks: str = ""
    actions: str = ""

    def as_text(self, reference: str) -> str:
        """The emailed form's "Label: value" lines, so one reader judges both."""
        lines = [
            f"Reference: {reference}",
            f"Result: {self.result}",
            f"Date: {self.held_on}",
            f"Interviewer: {self.interviewer}",
            f"Reasons for going missing: {self.reasons}",
            f"Reason not held: {self.reason_not_held}",
            f"Risks identified: {self.risks}",
            f"Actions agreed: {self.actions}",
        ]
        return "\n".join(line.replace("\r", " ") for line in lines) + "\n"


def read_interview(
    form: InterviewForm, *, reference: str, codes: Mapping[str, tuple[str, ...]], today: date
) -> InterviewOutcome:
    return parse_interview_outcome(form.as_text(reference), codes=codes, today=today)


def apply_outcome(interview: Interview, outcome: InterviewOutcome, now: datetime) -> None:
    """Copy an outcome onto the interview row: the one way for the email and the web form."""
    interview.status = outcome.result or interview.status
    interview.held_on = outcome.date
    interview.interviewer = outcome.interviewer
    interview.reason_codes = list(outcome.reason_codes)
    interview.reason_notes = outcome.reason_notes
    interview.reason_not_held = outcome.reason_not_held
    interview.risks = outcome.risks
    interview.actions = outcome.actions
    interview.recorded_at = now


def record_interview(
    session: tx.Tx,
    *,
    reference: str,
    outcome: InterviewOutcome,
    actor: str,
    routing: Routing,
    now: datetime,
) -> str:
    """Store a complete outcome; returns the interview's new status."""
    if outcome.missing_parts or outcome.result is None:
        raise ActionRefused("the outcome lacks " + ", ".join(outcome.missing_parts))
    ep = _locked(session, reference)
    interview = ensure_interview(session, ep, routing)
    if interview is None:
        raise ActionRefused(f"{ep.reference} has not returned: no interview is owed yet")
    apply_outcome(interview, outcome, now)
    detail: dict[str, object] = {"result": interview.status, "codes": interview.reason_codes}
    _done(session, ep, "interview", detail, actor=actor, routing=routing, now=now)
    return interview.status


def _done(
    session: tx.Tx,
    ep: Episode,
    action: str,
    detail: dict[str, object],
    *,
    actor: str,
    routing: Routing,
    now: datetime,
) -> None:
    """What every web action ends with: its audit row (``via`` web), the timers re-planned."""
    episode_store.audit(session, ep, action, actor=actor, at=now, detail={**detail, "via": "web"})
    replan(session, ep, routing, now)
