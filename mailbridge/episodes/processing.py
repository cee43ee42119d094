"""The reading pipeline: one stored message to one episode change, in the worker's transaction.

Stages, in order: read the MIME (within the [reading] limits), recognise our own mail come back
(loops), check the sender (trust), pull out fields, classify, find the thread, match the child,
decide (pure state machine), apply. Each stage is a plain function elsewhere; this module
is only the glue that touches the database.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from mailbridge.alerts.outbox import Notifier
from mailbridge.delivery.reply_secret import reply_secret
from mailbridge.episodes.absence import MISSING, AbsenceType, reclassify
from mailbridge.episodes.machine import OPEN, RETURNED, Decision, EpisodeState, Kind, decide
from mailbridge.episodes.replies import ReplyHandler
from mailbridge.ops.logs import set_episode
from mailbridge.reading import loops
from mailbridge.reading.children import ChildReading, children_named, read_each_child
from mailbridge.reading.classify import classify
from mailbridge.reading.commands import find_command
from mailbridge.reading.fields import ReportFields, extract_fields, without_absence_type
from mailbridge.reading.loops import Loop, OwnMail
from mailbridge.reading.match import DirectoryChild, Match, match_child
from mailbridge.reading.message import ReadLimits, ReadMessage, read_message
from mailbridge.reading.trust import NOT_CHECKED, DnsFunc, Verdict, assess
from mailbridge.runtime.pipeline import Outcome, Pipeline
from mailbridge.settings.config import Settings
from mailbridge.store import directory, inbound, triage, tx
from mailbridge.store import episodes as episode_rows
from mailbridge.store.episodes import next_reference
from mailbridge.store.models import IGNORED, PROCESSED, Episode, InboundMessage
from mailbridge.timers.runner import replan

REFERENCE = re.compile(r"\bMB-(\d{4})-(\d{5,})\b", re.IGNORECASE)
MACHINE_KINDS = {"auto_reply", "bounce", "list"}
_REPORT_KINDS: dict[str, Kind] = {"missing": "missing", "returned": "returned", "info": "info"}


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


def _own(reading: Reading, one: ChildReading) -> Reading:
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


def _other_childs_return(
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
        thread = _state(staff) if staff is not None else find_thread(session, reading.message)
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
            reading = _other_childs_return(reading, thread, children, sender)
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
                    _own(reading, one),
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
            and _aware(child_open.opened_at) < now - self.stale_after
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
        who = _who(session, child_id, reading.fields)
        claim = f"The email may say {who} is back"
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
            on_record = bool(found is not None and sender and sender in _on_record(session, found))
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
                _note(session, message, episode.reference, "confirmation_settled",
                      actor=sender or "worker", was=episode.confirmation_reason)
                episode.needs_confirmation = False
                episode.confirmation_reason = None
            return []
        before = episode.confirmation_reason
        episode.needs_confirmation = True
        episode.confirmation_reason = (
            reason if not before or reason in before else f"{before} | {reason}"
        )[:2000]
        _note(session, message, episode.reference, "needs_confirmation", reason=reason,
              claimed_by=sender)
        return [reason]

    def _superseded(
        self, session: tx.Tx, old: EpisodeState, new: Episode, message: InboundMessage
    ) -> str:
        """An episode left open past the stale age: kept open, and staff told about it."""
        opened = _aware(old.opened_at).astimezone(self.tz) if old.opened_at else None
        when = opened.strftime("%d/%m/%Y") if opened else "an earlier date"
        _note(session, message, old.reference, "stale_superseded", new_episode=new.reference,
              stale_after_days=self.stale_after.days)
        return (f"An older episode for this child, {old.reference} (opened {when}), was still "
                f"open after more than {self.stale_after.days} days: this report opened a new "
                "episode. Please review and close the old one.")

    def gave_up(self, session: tx.Tx, message: InboundMessage, error: str) -> None:
        """A message we could not process goes to the duty desk, original attached."""
        self.notifier.message_event(
            session, event="failed", message=message, read=None, error=error
        )


def late_hours(sent: datetime | None, received: datetime, after: timedelta) -> int | None:
    """Whole hours between the Date header and the receipt, when it is ``after`` or more.

    Late mail (an IMAP backfill after an outage, a replayed archive) is still a report, but a
    receipt days later would confuse the carer, and staff must see at once that it is old news.
    """
    if sent is None or received - sent < after:
        return None
    return int((received - sent).total_seconds() // 3600)


def build_pipeline(settings: Settings) -> Pipeline:
    return ReadingPipeline(settings)


# -- lookups ----------------------------------------------------------------------------


def _state(ep: Episode) -> EpisodeState:
    return EpisodeState(ep.id, ep.reference, ep.child_id, ep.status, ep.opened_at)


def _note(
    session: tx.Tx,
    message: InboundMessage,
    reference: str,
    action: str,
    *,
    actor: str = "worker",
    **detail: object,
) -> None:
    """One audit line about an episode, caused by ``message``."""
    inbound.audit(
        session,
        at=message.received_at,
        actor=actor,
        entity="episode",
        entity_id=reference,
        action=action,
        detail={**detail, "message": message.id},
    )


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _who(session: tx.Tx, child_id: str | None, fields: ReportFields) -> str:
    """The child as an alert may name them: initials (J.C.), else "the child"."""
    child = directory.get_child(session, child_id) if child_id else None
    if child is not None and child.first_name and child.last_name:
        return f"{child.first_name[:1]}.{child.last_name[:1]}."
    given = (fields.full_name or "").split()
    if len(given) >= 2:
        return f"{given[0][:1]}.{given[-1][:1]}."
    return "the child"


def find_thread(session: tx.Tx, msg: ReadMessage) -> EpisodeState | None:
    """A reply belongs to the episode of the message it answers, or of the reference it cites."""
    refs = [r for r in [msg.in_reply_to, *msg.references] if r]
    if refs:
        ep = episode_rows.latest_in_thread(session, refs)
        if ep is not None:
            return _state(ep)
    found = REFERENCE.search(msg.subject) or REFERENCE.search(msg.text)
    if found:
        reference = f"MB-{found.group(1)}-{found.group(2)}"
        ep = episode_rows.with_reference(session, reference)
        if ep is not None:
            return _state(ep)
    return None


def already_applied(session: tx.Tx, inbound_id: int) -> str | None:
    """Reprocessing must not apply a message twice (nor, later, alert twice)."""
    return episode_rows.applied_to(session, inbound_id)


def open_episode_for_child(session: tx.Tx, child_id: str) -> EpisodeState | None:
    """The child's open episode, with the child locked for this transaction (so two workers
    never both open a first episode; see ``store.episodes.lock_open_of_child``)."""
    ep = episode_rows.lock_open_of_child(session, child_id)
    return _state(ep) if ep is not None else None


def open_unmatched_from(session: tx.Tx, sender: str) -> EpisodeState | None:
    eps = episode_rows.open_unmatched_from(session, sender)
    return _state(eps[0]) if len(eps) == 1 else None


# -- applying a decision ----------------------------------------------------------------


def apply(
    session: tx.Tx,
    decision: Decision,
    reading: Reading,
    message: InboundMessage,
    *,
    match: Match | None,
    child_id: str | None,
    sender: str | None,
    tz: ZoneInfo,
) -> Episode:
    now = message.received_at
    f = reading.fields
    if decision.action in ("open", "open_closed"):
        episode = _new_episode(
            session, reading, message, match=match, child_id=child_id, sender=sender, tz=tz
        )
    else:
        assert decision.episode is not None
        found = episode_rows.get(session, decision.episode.id)
        assert found is not None
        episode = found
        _merge_facts(episode, f)
        if f.absence_type is not None:
            _reclassify_from_report(session, episode, f.absence_type, message, sender=sender)
    if decision.action in ("close", "open_closed"):
        episode.status = RETURNED
        episode.returned_at = f.returned_at or reading.message.date or now
        episode.returned_by = f.returned_by or episode.returned_by
        if f.safe_and_well is not None:
            episode.safe_and_well = f.safe_and_well
    episode.updated_at = now
    episode_rows.link_message(
        session,
        episode.id,
        message.id,
        event=decision.event,
        at=now,
        summary={
            "kind": reading.kind,
            "reason": decision.reason,
            "classification": reading.reason,
            "match": (
                {"method": match.method, "confidence": match.confidence, "note": match.note}
                if match is not None
                else {"method": "thread", "confidence": 1.0, "note": "reply in the thread"}
            ),
            # Listed, not inlined: the bytes stay in the stored raw mail.
            "attachments": [
                {"name": a.name, "content_type": a.content_type, "size": a.size}
                for a in reading.message.attachments
            ],
            "sender_verified": reading.trust.verified,
            "sender_check": reading.trust.reason,
            # Where each fact came from (the sentence or form line), and what was unsure.
            "facts_from": dict(reading.fields.sources),
            "doubts": list(reading.doubts),
            # Parts past the [reading] limits, which were not read (the raw mail is whole).
            "not_read": list(reading.message.limits),
        },
    )
    inbound.audit(
        session,
        at=now,
        actor="worker",
        entity="episode",
        entity_id=episode.reference,
        action=decision.event,
        detail={
            "message": message.id,
            "action": decision.action,
            "status": episode.status,
            "absence_type": episode.absence_type,
        },
    )
    return episode


def _reclassify_from_report(
    session: tx.Tx,
    episode: Episode,
    code: AbsenceType,
    message: InboundMessage,
    *,
    sender: str | None,
) -> None:
    """An update may change the SSDA903 code when its sender is on the record.

    The record is the first reporter, the child's carers and the staff allocated to the child.
    Anyone else who replies in the thread is heard (the update still alerts) but does not
    change the national return; the audit says the request was not applied.
    """
    if sender and sender in _on_record(session, episode):
        reclassify(
            session,
            episode,
            code,
            actor=sender,
            at=message.received_at,
            source="report",
            message=message.id,
        )
    elif code != episode.absence_type:
        inbound.audit(
            session,
            at=message.received_at,
            actor=sender or "unknown",
            entity="episode",
            entity_id=episode.reference,
            action="absence_type_not_applied",
            detail={
                "asked": code,
                "kept": episode.absence_type,
                "message": message.id,
                "why": "the sender is not the reporter, a carer or allocated staff",
            },
        )


def _on_record(session: tx.Tx, episode: Episode) -> set[str]:
    known = {(episode.reported_by or "").lower()}
    child = directory.child_row(session, episode.child_id) if episode.child_id else None
    if child is not None:
        known |= {a.lower() for a in child.carer_emails}
    for holder in (episode.allocations or {}).values():
        if isinstance(holder, dict) and holder.get("email"):
            known.add(str(holder["email"]).lower())
    known.discard("")
    return known


def _new_episode(
    session: tx.Tx,
    reading: Reading,
    message: InboundMessage,
    *,
    match: Match | None,
    child_id: str | None,
    sender: str | None,
    tz: ZoneInfo,
) -> Episode:
    f = reading.fields
    now = message.received_at
    child = directory.child_row(session, child_id) if child_id else None
    carers = {a.lower() for a in child.carer_emails} if child is not None else set()
    episode = Episode(
        reference=next_reference(session, now.astimezone(tz).year),
        child_id=child_id,
        status=OPEN,
        opened_at=now,
        sender_known=bool(sender and sender in carers),
        sender_verified=reading.trust.verified,
        reported_by=sender,
        reporter_name=f.reporter_name,
        reporter_phone=f.reporter_phone,
        child_name_given=f.full_name or f.first_name,
        match_method=match.method if match else "thread",
        match_confidence=match.confidence if match else 1.0,
        allocations=_allocations(session, child_id),
        placement_authority=child.placement_authority if child is not None else None,
        absence_type=f.absence_type or MISSING,
        updated_at=now,
    )
    _merge_facts(episode, f)
    return episode_rows.insert(session, episode)


def _merge_facts(episode: Episode, f: ReportFields) -> None:
    """Later reports add and correct facts; a blank never erases what is known."""
    for name in (
        "last_seen_at",
        "last_seen_text",
        "last_seen_location",
        "police_reference",
        "risk_level",
        "risk_notes",
        "description",
        "clothing",
    ):
        value = getattr(f, name)
        if value is not None and value != "":
            setattr(episode, name, value)
    if episode.reporter_name is None and f.reporter_name:
        episode.reporter_name = f.reporter_name
    if episode.reporter_phone is None and f.reporter_phone:
        episode.reporter_phone = f.reporter_phone


def _allocations(session: tx.Tx, child_id: str | None) -> dict[str, Any]:
    return dict(directory.current_allocations(session, child_id)) if child_id else {}
