"""Staff replies: acknowledgements of alerts and return home interview outcomes.

A reply to an alert carries a signed token in its recipient address. Staff who reply own the
episode from then on (escalation stops); a forged or stale token is kept, ignored and shown
to the duty desk; a carer replying in the same thread is an update, handled as a report.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from mailbridge.alerts.outbox import Notifier
from mailbridge.delivery.reply_tokens import Forged, Token, find_token
from mailbridge.episodes.absence import AbsenceType, reclassify
from mailbridge.ops.logs import set_episode
from mailbridge.reading.acks import is_acknowledgement_reply, looks_like_interview_outcome
from mailbridge.reading.interview_form import InterviewOutcome, parse_interview_outcome
from mailbridge.reading.message import ReadMessage
from mailbridge.runtime.pipeline import Outcome
from mailbridge.settings.config import Settings
from mailbridge.store import directory, inbound
from mailbridge.store.models import (
    IGNORED,
    PROCESSED,
    Acknowledgement,
    Alert,
    Episode,
    EpisodeMessage,
    InboundMessage,
)
from mailbridge.timers.runner import ensure_interview, replan


class ReplyHandler:
    def __init__(self, settings: Settings, notifier: Notifier, secret: bytes) -> None:
        self.settings = settings
        self.notifier = notifier
        self.routing = notifier.routing
        self.secret = secret

    def handle(
        self,
        session: Session,
        message: InboundMessage,
        read: ReadMessage,
        *,
        absence_type: AbsenceType | None = None,
    ) -> Outcome | None:
        """The outcome for a staff reply, or None when the message is for the report path.

        ``absence_type`` is the SSDA903 code the reply asks for; an acknowledgement that carries
        one reclassifies the episode as well (it is still the acknowledgement).
        """
        token = find_token(
            read,
            bases=self.settings.smtp.addresses,
            secret=self.secret,
            candidates=message.rcpt_tos or [],
        )
        is_form = looks_like_interview_outcome(read.text)
        if token is None and not is_form:
            return None
        now = message.received_at
        sender = (read.from_addr or message.mail_from or "").lower()
        if isinstance(token, Forged):
            self.notifier.message_event(
                session, event="forged_token", message=message, read=read, error=token.reason
            )
            return Outcome(IGNORED, f"forged reply token: {token.reason}")
        episode: Episode | None = None
        if isinstance(token, Token):
            episode = session.scalar(select(Episode).where(Episode.reference == token.episode_ref))
            alert = session.get(Alert, token.alert_id)
            if episode is None or alert is None or alert.episode_id != episode.id:
                self.notifier.message_event(
                    session,
                    event="stale_token",
                    message=message,
                    read=read,
                    error="the alert named is not this episode's",
                )
                return Outcome(IGNORED, "stale reply token: no such alert for that episode")
            if self._is_carer(session, episode, sender):
                return None  # the carer's later replies are episode updates
        if is_form:
            outcome = parse_interview_outcome(
                read.text,
                codes=self.routing.interviews.reason_codes,
                today=now.astimezone(self.settings.tz).date(),
            )
            if episode is None and outcome.reference:
                episode = session.scalar(
                    select(Episode).where(Episode.reference == outcome.reference.upper())
                )
            if episode is not None and episode.status == "returned":
                return self._interview(
                    session, episode, message=message, sender=sender, outcome=outcome, now=now
                )
        if not isinstance(token, Token) or episode is None:
            return None
        decision = is_acknowledgement_reply(read)
        if not decision.counts:
            return Outcome(
                IGNORED, f"reply to an alert that is not an acknowledgement: {decision.reason}"
            )
        changed = None
        if absence_type is not None:
            changed = reclassify(
                session,
                episode,
                absence_type,
                actor=sender,
                at=now,
                source="reply",
                message=message.id,
            )
        self._acknowledge(session, episode, token=token, message=message, sender=sender, now=now)
        note = f"; absence type {changed}" if changed else ""
        return Outcome(PROCESSED, f"acknowledged {episode.reference} as {token.role}{note}")

    # -- pieces ----------------------------------------------------------------------------
    @staticmethod
    def _is_carer(session: Session, episode: Episode, sender: str) -> bool:
        if sender and sender == (episode.reported_by or "").lower():
            return True
        child = directory.get_child(session, episode.child_id) if episode.child_id else None
        return bool(child and sender in {c.lower() for c in child.carer_emails})

    def _acknowledge(
        self,
        session: Session,
        episode: Episode,
        *,
        token: Token,
        message: InboundMessage,
        sender: str,
        now: datetime,
    ) -> None:
        insert_fn = (
            postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
        )
        session.execute(
            insert_fn(Acknowledgement)
            .values(
                episode_id=episode.id,
                alert_id=token.alert_id,
                inbound_id=message.id,
                role=token.role,
                address=sender,
                at=now,
            )
            .on_conflict_do_nothing(index_elements=["episode_id", "role", "address"])
        )
        self._settle(
            session,
            episode,
            message=message,
            event="ack",
            reason=f"acknowledged as {token.role}",
            actor=sender,
            detail={"role": token.role, "alert": token.alert_id},
            now=now,
        )

    def _interview(
        self,
        session: Session,
        episode: Episode,
        *,
        message: InboundMessage,
        sender: str,
        outcome: InterviewOutcome,
        now: datetime,
    ) -> Outcome:
        interview = ensure_interview(session, episode, self.routing)
        assert interview is not None
        if outcome.missing_parts:
            interview.sent_back += 1
            missing = ", ".join(outcome.missing_parts)
            self.notifier.interview_incomplete(
                session, episode=episode, message=message, to=sender, missing=missing
            )
            self._link(
                session,
                episode,
                message=message,
                event="interview",
                reason=f"interview outcome incomplete: {missing}",
                now=now,
            )
            return Outcome(
                PROCESSED,
                f"interview outcome for {episode.reference} incomplete "
                f"(missing {missing}); sent back to {sender}",
            )
        interview.status = outcome.result or interview.status
        interview.held_on = outcome.date
        interview.interviewer = outcome.interviewer
        interview.reason_codes = list(outcome.reason_codes)
        interview.reason_notes = outcome.reason_notes
        interview.reason_not_held = outcome.reason_not_held
        interview.risks = outcome.risks
        interview.actions = outcome.actions
        interview.recorded_at = now
        interview.inbound_id = message.id
        self._settle(
            session,
            episode,
            message=message,
            event="interview",
            reason=f"interview {interview.status}",
            actor=sender,
            detail={"result": interview.status, "codes": interview.reason_codes},
            now=now,
        )
        return Outcome(PROCESSED, f"interview {interview.status} recorded for {episode.reference}")

    def _settle(
        self,
        session: Session,
        episode: Episode,
        *,
        message: InboundMessage,
        event: str,
        reason: str,
        actor: str,
        detail: dict[str, object],
        now: datetime,
    ) -> None:
        """Link the message to the episode, audit it, and let the timers see the change."""
        set_episode(episode.reference)
        self._link(session, episode, message=message, event=event, reason=reason, now=now)
        inbound.audit(
            session,
            at=now,
            actor=actor or "unknown",
            entity="episode",
            entity_id=episode.reference,
            action="acknowledged" if event == "ack" else event,
            detail=detail,
        )
        replan(session, episode, self.routing, now)

    @staticmethod
    def _link(
        session: Session,
        episode: Episode,
        *,
        message: InboundMessage,
        event: str,
        reason: str,
        now: datetime,
    ) -> None:
        session.add(
            EpisodeMessage(
                episode_id=episode.id,
                inbound_id=message.id,
                event=event,
                at=now,
                summary={"reason": reason},
            )
        )
