"""The reading pipeline: one stored message to one episode change, in the worker's transaction.

Stages, in order: read the MIME (within the [reading] limits), recognise our own mail come back
(loops), check the sender (trust), pull out fields, classify, find the thread, match the child,
decide (pure state machine), apply. Each stage is a plain function elsewhere; this module
is only the glue that touches the database.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from mailbridge.alerts.outbox import Notifier
from mailbridge.delivery.reply_secret import reply_secret
from mailbridge.episodes.apply import (
    already_applied,
    apply,
    aware,
    find_thread,
    note,
    on_record_of,
    open_episode_for_child,
    open_unmatched_from,
    state_of,
    who,
)
from mailbridge.episodes.machine import Decision, EpisodeState, Kind, decide
from mailbridge.episodes.prepare import (
    Reading,
    late_hours,
    narrowed,
    other_childs_return,
    own_mail,
    read,
    read_limits,
)
from mailbridge.episodes.replies import ReplyHandler
from mailbridge.ops.logs import set_episode
from mailbridge.reading.children import read_each_child
from mailbridge.reading.commands import find_command
from mailbridge.reading.match import Match, match_child
from mailbridge.reading.trust import DnsFunc, assess
from mailbridge.runtime.pipeline import Outcome, Pipeline
from mailbridge.settings.config import Settings
from mailbridge.store import directory, triage, tx
from mailbridge.store import episodes as episode_rows
from mailbridge.store.models import IGNORED, PROCESSED, Episode, InboundMessage
from mailbridge.timers.runner import replan

MACHINE_KINDS = {"auto_reply", "bounce", "list"}
_REPORT_KINDS: dict[str, Kind] = {"missing": "missing", "returned": "returned", "info": "info"}


class ReadingPipeline:
    def __init__(
        self,
        settings: Settings,
        *,
        notifier: Notifier | None = None,
        dnsfunc: DnsFunc | None = None,
    ) -> None:
        self.tz = settings.tz
        self.notifier = notifier or Notifier(settings)
        self.replies = ReplyHandler(settings, self.notifier, reply_secret(settings))
        self.trust = settings.trust
        self.limits = read_limits(settings)
        self.own = own_mail(settings)
        self.dnsfunc = dnsfunc  # DKIM key lookups; None: real DNS
        self.stale_after = timedelta(days=settings.reading.stale_episode_days)
        self.late_after = timedelta(hours=settings.processing.late_mail_hours)

    def prepare(self, raw: bytes, received_at: datetime) -> Reading:
        """The pure stages and the sender check (DNS, when dkim_verify): no transaction open."""
        reading = read(raw, tz=self.tz, received_at=received_at, limits=self.limits, own=self.own)
        if reading.echo is not None:
            return reading  # our own mail: nothing to verify
        verdict = assess(
            raw,
            authserv_ids=self.trust.authserv_ids,
            dkim_verify=self.trust.dkim_verify,
            dnsfunc=self.dnsfunc,
        )
        return replace(reading, trust=verdict)

    def process(self, session: tx.Tx, message: InboundMessage, prepared: Reading) -> Outcome:
        outcome = self._process(session, message, prepared)
        if prepared.message.limits:  # parts beyond the reading limits: say so on the message
            unread = "; ".join(prepared.message.limits)
            reason = f"{outcome.reason or outcome.status} [not read: {unread}]"
            return replace(outcome, reason=reason)
        return outcome

    def _process(self, session: tx.Tx, message: InboundMessage, prepared: Reading) -> Outcome:
        done = already_applied(session, message.id)
        if done is not None:
            return Outcome(PROCESSED, f"already applied to {done}; nothing changed")
        reading = prepared
        if reading.echo is not None:  # never alert, never receipt: that is how loops start
            return Outcome(IGNORED, f"loop: {reading.echo.reason}")
        if reading.kind in MACHINE_KINDS:
            return Outcome(IGNORED, f"{reading.kind}: {reading.reason}")
        # Staff proven by a valid signed reply token may close an episode with a return; any
        # other reply to an alert (an acknowledgement, a forged token, an email command such as
        # "RETURNED 14:30", which casework checks and answers) is the reply path's.
        staff: Episode | None = None
        if "returned" in (reading.kind, reading.kind_in_thread) and (
            find_command(reading.message.text) is None
        ):
            proven = self.replies.staff_token(session, message, reading.message)
            if proven is not None:
                staff, token = proven
                self.replies.acknowledged_by_report(
                    session,
                    staff,
                    token,
                    message,
                    sender=(reading.message.from_addr or message.mail_from or "").lower(),
                )
        if staff is None:
            reply = self.replies.handle(
                session, message, reading.message, absence_type=reading.fields.absence_type
            )
            if reply is not None:
                return reply
        if reading.relayed is not None:  # after staff replies: a bare reply to an alert is an ack
            return Outcome(IGNORED, f"loop: {reading.relayed.reason}")
        sender = reading.message.from_addr or (message.mail_from or "").lower() or None
        thread = state_of(staff) if staff is not None else find_thread(session, reading.message)
        children = directory.load_snapshot(session)
        each = read_each_child(
            reading.message,
            reading.fields,
            sender=sender,
            children=children,
            tz=self.tz,
            received_at=message.received_at,
        )
        if thread is not None and not (
            each and any(one.child_id != thread.child_id for one in each)
        ):
            reading = other_childs_return(reading, thread, children, sender)
            return self._report(session, message, reading, thread=thread, match=None,
                                child_id=thread.child_id, sender=sender, staff=staff is not None)
        if each:
            # One email about several children: each named and matched child's own report. In
            # an episode's thread ("Re: girls": "Ruby's back. Still nothing from Lily.") the
            # thread's child takes only its own news, never another child's return.
            outcomes = [
                self._report(
                    session,
                    message,
                    narrowed(reading, one),
                    thread=thread if thread is not None and one.child_id == thread.child_id
                    else None,
                    match=Match(
                        one.child_id,
                        "named_among_several",
                        0.8,
                        f"one of {len(each)} children reported on in this email",
                    ),
                    child_id=one.child_id,
                    sender=sender,
                    staff=staff is not None and thread is not None
                    and one.child_id == thread.child_id,
                )
                for one in each
            ]
            return Outcome(PROCESSED, "; ".join(o.reason or o.status for o in outcomes))
        match = match_child(
            subject=reading.message.subject,
            text=reading.message.text,
            fields=reading.fields,
            sender=sender,
            children=children,
            forwarded_from=reading.message.forwarded_from,
        )
        return self._report(session, message, reading, thread=None, match=match,
                            child_id=match.child_id, sender=sender, staff=False)

    def _report(
        self,
        session: tx.Tx,
        message: InboundMessage,
        reading: Reading,
        *,
        thread: EpisodeState | None,
        match: Match | None,
        child_id: str | None,
        sender: str | None,
        staff: bool,
    ) -> Outcome:
        """Decide and apply one report about one child (or an unmatched one), then alert."""
        kind = _REPORT_KINDS.get(
            (reading.kind_in_thread or reading.kind) if thread is not None else reading.kind,
            "not_a_report",
        )
        child_open = open_episode_for_child(session, child_id) if child_id and not thread else None
        unmatched_open = (
            open_unmatched_from(session, sender) if child_id is None and sender else None
        )
        now = message.received_at
        stale = bool(
            child_open is not None
            and child_open.opened_at is not None
            and aware(child_open.opened_at) < now - self.stale_after
        )
        hold = None
        if kind == "returned":
            target = thread or child_open or unmatched_open
            hold = self._hold_return(session, reading, target, child_id, sender, staff=staff)
        decision = decide(
            kind,
            thread=thread,
            child_id=child_id,
            child_open=child_open,
            sender_open_unmatched=unmatched_open,
            hold_return=hold,
            stale=stale,
        )
        if decision.action == "ignore":
            if child_id is None and self.notifier.to_triage(session, sender):
                # Unknown sender, no child named: listed, and in the duty desk's summary.
                return Outcome(IGNORED, f"{triage.PREFIX}not a report: {decision.reason}")
            # Ignored, but never silently: the duty desk sees it with the original attached.
            self.notifier.message_event(
                session,
                event="not_a_report",
                message=message,
                read=reading.message,
                trust=reading.trust,
            )
            return Outcome(IGNORED, f"not a report: {decision.reason}")
        episode = apply(
            session,
            decision,
            reading,
            message,
            match=match,
            child_id=child_id,
            sender=sender,
            tz=self.tz,
        )
        notes = self._confirmation(session, episode, decision, reading, message, sender=sender)
        if decision.stale is not None:
            notes.append(self._superseded(session, decision.stale, episode, message))
        set_episode(episode.reference)
        late = late_hours(reading.message.date, message.received_at, self.late_after)
        self.notifier.episode_event(
            session,
            event=decision.event,
            episode=episode,
            message=message,
            read=reading.message,
            fields=reading.fields,
            match=match,
            trust=reading.trust,
            notes=notes,
            late_hours=late,
        )
        replan(session, episode, self.notifier.routing, message.received_at)
        late_note = f" (late: received {late} hours after it was sent)" if late else ""
        return Outcome(
            PROCESSED, f"{decision.event} {episode.reference}: {decision.reason}{late_note}"
        )

    def _hold_return(
        self,
        session: tx.Tx,
        reading: Reading,
        target: EpisodeState | None,
        child_id: str | None,
        sender: str | None,
        *,
        staff: bool,
    ) -> str | None:
        """Why this return may not close an episode, in words for staff; None when it may.

        A return closes only when the reading is sure and it comes from a carer on the child's
        record, from staff proven by a valid signed reply token, or from a sender the trust
        settings verify who is on the episode's record (the first reporter, allocated staff).
        """
        claim = f"The email may say {who(session, child_id, reading.fields)} is back"
        if reading.doubts:
            return f"{claim}, but {'; '.join(reading.doubts)}. Please confirm before closing."
        if staff:
            return None
        child = directory.get_child(session, child_id) if child_id else None
        carers = {a.lower() for a in child.carer_emails} if child is not None else set()
        verified = reading.trust.verified
        on_record = False
        if target is not None:
            found = episode_rows.get(session, target.id)
            on_record = bool(found is not None and sender
                             and sender in on_record_of(session, found))
        if sender and sender in carers:
            if reading.fields.returned_at is None and not verified:
                return (f"{claim}, but gives no time of return and the sender is not verified. "
                        "Please confirm before closing.")
            return None
        if verified and on_record:
            return None
        by = sender or "an unknown sender"
        return (f"{claim}, but it came from {by}, who is not a carer on the child's record nor "
                "staff proven by a signed reply. Please confirm before closing.")

    def _confirmation(
        self,
        session: tx.Tx,
        episode: Episode,
        decision: Decision,
        reading: Reading,
        message: InboundMessage,
        *,
        sender: str | None,
    ) -> list[str]:
        """Flag the episode for confirmation when the reading was unsure; the notes for alerts."""
        reason = decision.confirm
        if reason is None and reading.doubts:
            reason = ("Please check: " + "; ".join(reading.doubts) + ".")
        if reason is None:
            if decision.action in ("close", "open_closed") and episode.needs_confirmation:
                # A sure return from a sender who may close settles the earlier doubt; the
                # audit keeps what it was.
                note(session, message, episode.reference, "confirmation_settled",
                      actor=sender or "worker", was=episode.confirmation_reason)
                episode.needs_confirmation = False
                episode.confirmation_reason = None
            return []
        before = episode.confirmation_reason
        episode.needs_confirmation = True
        episode.confirmation_reason = (
            reason if not before or reason in before else f"{before} | {reason}"
        )[:2000]
        note(session, message, episode.reference, "needs_confirmation", reason=reason,
              claimed_by=sender)
        return [reason]

    def _superseded(
        self, session: tx.Tx, old: EpisodeState, new: Episode, message: InboundMessage
    ) -> str:
        """An episode left open past the stale age: kept open, and staff told about it."""
        opened = aware(old.opened_at).astimezone(self.tz) if old.opened_at else None
        when = opened.strftime("%d/%m/%Y") if opened else "an earlier date"
        note(session, message, old.reference, "stale_superseded", new_episode=new.reference,
              stale_after_days=self.stale_after.days)
        return (f"An older episode for this child, {old.reference} (opened {when}), was still "
                f"open after more than {self.stale_after.days} days: this report opened a new "
                "episode. Please review and close the old one.")

    def gave_up(self, session: tx.Tx, message: InboundMessage, error: str) -> None:
        """A message we could not process goes to the duty desk, original attached."""
        self.notifier.message_event(
            session, event="failed", message=message, read=None, error=error
        )


def build_pipeline(settings: Settings) -> Pipeline:
    return ReadingPipeline(settings)


