"""Staff replies: acknowledgements of alerts, email commands and return home interview outcomes.

A reply to an alert carries a signed token in its recipient address. Staff who reply own the
episode from then on (escalation stops); a forged or stale token is kept, ignored and shown
to the duty desk; a carer replying in the same thread is an update, handled as a report.
A reply whose first line is a command (RETURNED 14:30, VOID reason, CHILD id, CONFIRM, RISK
HIGH; reading/commands.py) runs that casework operation as the alert's recipient and is
answered by email with what changed and who was told, or why it was not done.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from mailbridge.alerts.outbox import Notifier
from mailbridge.delivery.reply_tokens import Forged, Token, find_token
from mailbridge.episodes import casework
from mailbridge.episodes.absence import AbsenceType, reclassify
from mailbridge.episodes.decisions import parse_when
from mailbridge.episodes.staff import apply_outcome
from mailbridge.errors import CaseworkRefused
from mailbridge.ops.logs import set_episode
from mailbridge.reading.acks import is_acknowledgement_reply, looks_like_interview_outcome
from mailbridge.reading.commands import StaffCommand, find_command
from mailbridge.reading.interview_form import InterviewOutcome, parse_interview_outcome
from mailbridge.reading.message import ReadMessage
from mailbridge.runtime.pipeline import Outcome
from mailbridge.settings.config import Settings
from mailbridge.store import directory, tx
from mailbridge.store import episodes as episode_store
from mailbridge.store.models import IGNORED, PROCESSED, Episode, InboundMessage
from mailbridge.timers.runner import ensure_interview, replan

# A command (RETURNED 14:30, VOID ...) through an older alert is refused: the person is told to
# reply to a recent one, and the duty desk is told, as for a stale token.
COMMAND_TOKEN_MAX_AGE = timedelta(days=30)


class ReplyHandler:
    def __init__(self, settings: Settings, notifier: Notifier, secret: bytes) -> None:
        self.settings = settings
        self.notifier = notifier
        self.routing = notifier.routing
        self.secret = secret

    def handle(
        self,
        session: tx.Tx,
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
            episode = self._token_episode(session, token)
            if episode is None:
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
                episode = episode_store.by_reference(session, outcome.reference)
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
        command = find_command(read.text)
        if command is not None:
            return self._command(
                session, episode, token=token, message=message, read=read, command=command
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

    def staff_token(
        self, session: tx.Tx, message: InboundMessage, read: ReadMessage
    ) -> tuple[Episode, Token] | None:
        """The episode and token a valid signed reply from staff (not a carer) proves, or None.

        Staff proven this way may close an episode with a return (issue 13); a forged or stale
        token proves nothing, and the message then goes through ``handle`` as before.
        """
        token = find_token(
            read,
            bases=self.settings.smtp.addresses,
            secret=self.secret,
            candidates=message.rcpt_tos or [],
        )
        if not isinstance(token, Token):
            return None
        episode = self._token_episode(session, token)
        if episode is None:
            return None
        sender = (read.from_addr or message.mail_from or "").lower()
        return None if self._is_carer(session, episode, sender) else (episode, token)

    @staticmethod
    def acknowledged_by_report(
        session: tx.Tx, episode: Episode, token: Token, message: InboundMessage, *, sender: str
    ) -> None:
        """Staff who report a return by replying to an alert have acknowledged it too.

        Only the acknowledgement row and its audit line: the report path links the message.
        """
        _acknowledged(session, episode, token, message, sender=sender, at=message.received_at)
        episode_store.audit(
            session,
            episode,
            "acknowledged",
            actor=sender or "unknown",
            at=message.received_at,
            detail={"role": token.role, "alert": token.alert_id, "with": "a return report"},
        )

    # -- email commands (docs/casework.md) ------------------------------------------------
    def _command(
        self,
        session: tx.Tx,
        episode: Episode,
        *,
        token: Token,
        message: InboundMessage,
        read: ReadMessage,
        command: StaffCommand,
    ) -> Outcome:
        """Run a staff reply's command as the alert's recipient; answer them by email.

        The reply is an acknowledgement as well. A token older than COMMAND_TOKEN_MAX_AGE may
        still acknowledge but no longer command: it is refused and the duty desk told.
        """
        now = message.received_at
        sender = (read.from_addr or message.mail_from or "").lower()
        alert = episode_store.alert(session, token.alert_id)
        assert alert is not None  # handle() checked it
        self._acknowledge(session, episode, token=token, message=message, sender=sender, now=now)

        def answer(about: Episode, lines: list[str], *, refused: bool = True) -> None:
            """Answer the command by email: what changed and who was told, or why not."""
            self.notifier.answers.command_answer(
                session,
                episode=about,
                message=message,
                to=sender,
                role=token.role,
                refused=refused,
                text="\n".join(lines),
                in_reply_to=read.message_id,
            )

        if now - alert.created_at > COMMAND_TOKEN_MAX_AGE:
            days = (now - alert.created_at).days
            self.notifier.message_event(
                session,
                event="stale_token",
                message=message,
                read=read,
                error=f"expired: a command through an alert sent {days} days ago",
            )
            answer(
                episode,
                [
                    f"{command.line}: not done. This alert was sent {days} days ago; commands "
                    f"work for {COMMAND_TOKEN_MAX_AGE.days} days. Reply to a recent alert "
                    f"about {episode.reference}, or use the command line or web app.",
                    "The duty desk has been told.",
                ],
            )
            return Outcome(PROCESSED, f"command through an expired token on {episode.reference}")
        if episode.merged_into:
            episode = episode_store.by_reference(session, episode.merged_into) or episode
        by = alert.recipient_name or alert.recipient
        try:
            with session.begin_nested():  # a refusal leaves no half-made change behind
                result = self._casework(session, episode, command, by=by, now=now)
        except CaseworkRefused as exc:
            answer(episode, [f"{command.line}: not done. {exc}."])
            return Outcome(
                PROCESSED, f"command {command.verb} on {episode.reference} refused: {exc}"
            )
        answer(episode, result.lines(), refused=False)
        return Outcome(PROCESSED, f"command {command.verb}: {result.summary}")

    def _casework(
        self, session: tx.Tx, episode: Episode, command: StaffCommand, *, by: str, now: datetime
    ) -> casework.Result:
        ref, arg = episode.reference, command.argument
        common: dict[str, Any] = {
            "by": by,
            "source": "email",
            "now": now,
            "notifier": self.notifier,
            "note": f"by email: {command.line}",
        }
        match command.verb:
            case "returned":
                at = parse_when(arg or "now", tz=self.settings.tz, now=now)
                return casework.returned(session, self.settings, ref, at, **common)
            case "void":
                return casework.void(session, self.settings, ref, arg, **common)
            case "child":
                return casework.link(session, self.settings, ref, arg, **common)
            case "confirm":
                return casework.confirm(session, self.settings, ref, **common)
            case _:
                return casework.correct(
                    session, self.settings, ref, risk_level=arg.lower(), **common
                )

    # -- pieces ----------------------------------------------------------------------------
    @staticmethod
    def _token_episode(session: tx.Tx, token: Token) -> Episode | None:
        """The episode a valid token names, when the alert it names is that episode's."""
        episode = episode_store.by_reference(session, token.episode_ref)
        alert = episode_store.alert(session, token.alert_id)
        if episode is None or alert is None or alert.episode_id != episode.id:
            return None
        return episode

    @staticmethod
    def _is_carer(session: tx.Tx, episode: Episode, sender: str) -> bool:
        if sender and sender == (episode.reported_by or "").lower():
            return True
        child = directory.get_child(session, episode.child_id) if episode.child_id else None
        return bool(child and sender in {c.lower() for c in child.carer_emails})

    def _acknowledge(
        self,
        session: tx.Tx,
        episode: Episode,
        *,
        token: Token,
        message: InboundMessage,
        sender: str,
        now: datetime,
    ) -> None:
        _acknowledged(session, episode, token, message, sender=sender, at=now)
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
        session: tx.Tx,
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
            self.notifier.answers.interview_incomplete(
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
        apply_outcome(interview, outcome, now)
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
        session: tx.Tx,
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
        episode_store.audit(
            session,
            episode,
            "acknowledged" if event == "ack" else event,
            actor=actor or "unknown",
            at=now,
            detail=detail,
        )
        replan(session, episode, self.routing, now)

    @staticmethod
    def _link(
        session: tx.Tx,
        episode: Episode,
        *,
        message: InboundMessage,
        event: str,
        reason: str,
        now: datetime,
    ) -> None:
        episode_store.link_message(
            session, episode.id, message.id, event=event, at=now, summary={"reason": reason}
        )


def _acknowledged(
    session: tx.Tx,
    episode: Episode,
    token: Token,
    message: InboundMessage,
    *,
    sender: str,
    at: datetime,
) -> None:
    """The acknowledgement row of a staff reply (none added if that person already has one)."""
    episode_store.acknowledge(
        session,
        episode.id,
        role=token.role,
        address=sender,
        at=at,
        alert_id=token.alert_id,
        inbound_id=message.id,
    )
