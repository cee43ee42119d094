"""From an event to outbox rows: route it, render one email per recipient, queue them.

Runs inside the transaction that records the event, so an event and its alerts commit
together or not at all (invariant 4). The unique (event_key, recipient) key makes a
replay harmless.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from mailbridge.alerts.profiles import Profile, load_profile
from mailbridge.alerts.render import AlertFacts, Rendered, Renderer
from mailbridge.directory import records
from mailbridge.reading.fields import ReportFields
from mailbridge.reading.match import Match
from mailbridge.reading.message import ReadMessage, read_message
from mailbridge.reading.trust import NOT_CHECKED, Verdict
from mailbridge.routing.rules import (
    DUTY,
    POLICE,
    Event,
    Recipient,
    Routing,
    event_for_child,
    resolve_roles,
)
from mailbridge.settings.config import Settings, load_routing_file
from mailbridge.store import directory, episodes, outbox, triage, tx
from mailbridge.store.models import QUEUED, Alert, DueAction, Episode, InboundMessage
from mailbridge.timers.plan import acknowledge_reminder, repeat_missing, repeat_missing_note
from mailbridge.timers.runner import episode_clock

# What a timed alert says of the sender check of the report that opened the episode.
EPISODE_VERIFIED = "the report that opened this episode was verified"
EPISODE_UNVERIFIED = "the report that opened this episode was not verified"

# Who gets the original message attached to a not-a-report or failed alert: the desks that
# must act on it, not everyone on the list (a copy of a child's data is a copy to account for).
ATTACH_ROLES = frozenset({"duty", "edt"})

# How a receipt names who was told, by role.
PASSED_TO = {
    "social_worker": "the allocated social worker",
    "iro": "the Independent Reviewing Officer",
    "team_manager": "the team manager",
    "duty": "the duty desk",
    "edt": "the out-of-hours team",
    "host_authority": "the council where the child is placed",
    "police": "the police",
}


class Notifier:
    def __init__(self, settings: Settings, *, routing: Routing | None = None) -> None:
        self.settings = settings
        self.routing = routing or load_routing_file(settings)
        override = settings.service.templates_dir
        self.renderer = Renderer(tz=settings.tz, override_dir=Path(override) if override else None)
        self.domain = settings.from_address.rpartition("@")[2] or "localhost"
        self.own = {a.lower() for a in settings.smtp.addresses}
        self.own_domains = {a.rpartition("@")[2] for a in (*self.own, settings.from_address)}
        # With no sender check configured there is nothing to report per alert: a warning on
        # every alert would soon be read past (docs/trust.md says how to turn the check on).
        self.checks_senders = bool(settings.trust.authserv_ids or settings.trust.dkim_verify)

    # -- events from the pipeline ----------------------------------------------------------
    def episode_event(
        self,
        session: tx.Tx,
        *,
        event: str,
        episode: Episode,
        message: InboundMessage,
        read: ReadMessage,
        fields: ReportFields | None,
        match: Match | None,
        trust: Verdict | None = None,
        notes: Sequence[str] = (),
        late_hours: int | None = None,
    ) -> list[Recipient]:
        """Alerts for a missing/update/returned/unmatched event, and the carer's receipt.

        ``trust`` is the sender check of *this* message (None: not checked, so not verified).
        ``notes`` are shown at the top of the alert (what staff must confirm or check); the
        sentence or form line each fact came from (``fields.sources``) is listed with the
        facts ("Last seen from: 'left about half eight'").
        ``late_hours``: the message arrived that long after it was sent (processing.py's
        ``late_hours``); the alerts say so first, and the carer gets no receipt.
        """
        child = directory.get_child(session, episode.child_id) if episode.child_id else None
        # Who sent *this* message: an update or a return may come from someone other than the
        # carer who opened the episode, and must be vouched for (or not) on its own.
        sender = (read.from_addr or message.mail_from or "").lower() or None
        known = bool(child and sender and sender in {c.lower() for c in child.carer_emails})
        verified = bool(trust and trust.verified)
        routed_event = self._placed(
            event_for_child(
                event,
                message.received_at,
                child,
                episode.allocations,
                risk=episode.risk_level,
                sender_known=known,
                sender_verified=verified,
            ),
            episode,
        )
        recipients = list(self.routing.route(routed_event).recipients)
        repeat_note = None
        if event == "missing" and episode.child_id:
            starts = episodes.start_times_of_child(session, episode.child_id)
            count = repeat_missing(starts, message.received_at, self.routing)
            if count is not None:
                # Repeat episodes should prompt a strategy discussion: say so, widen the list.
                repeat_note = repeat_missing_note(count, self.routing)
                have = {r.address.lower() for r in recipients}
                recipients += [
                    r
                    for r in resolve_roles(
                        self.routing,
                        routed_event,
                        self.routing.repeat_missing.add_roles,
                        "repeat missing",
                    )
                    if r.address.lower() not in have
                ]
        facts = self._facts(
            event,
            episode=episode,
            message=message,
            read=read,
            match=match,
            child=child,
            fields=fields,
            sender_known=known,
            trust=trust or NOT_CHECKED,
        )
        if repeat_note:
            facts = replace(
                facts, extra={**facts.extra, "repeat_missing": repeat_note}, note=repeat_note
            )
        said = [n for n in notes if n] + ([facts.note] if facts.note else [])
        if said or (fields is not None and fields.sources):
            facts = replace(
                facts,
                note=" ".join(said) or None,
                extra={**facts.extra, **provenance(fields)},
            )
        if late_hours is not None:
            late = f"received {late_hours} hours after it was sent"
            facts = replace(
                facts, note=f"LATE MAIL: {late}." + (f" {facts.note}" if facts.note else "")
            )
        facts = self._outside_facts(facts, episode, child)
        profile = None
        if child is not None and any(r.role == POLICE for r in recipients):
            profile = load_profile(self.settings, child.profile_file)
            if profile is not None:
                facts = replace(facts, profile_note=profile.note)
                if profile.withheld:
                    recipients = self._tell_duty_of_profile(recipients, child.child_id, profile)
        self._queue_routed(
            session,
            replace(facts, reminder=self._reminder(session, episode, message.received_at)),
            recipients,
            episode_id=episode.id,
            inbound_id=message.id,
            now=message.received_at,
            profile=profile,
        )
        if late_hours is None:  # a receipt days later would only confuse the carer
            self._receipt(
                session,
                facts,
                read=read,
                message=message,
                episode=episode,
                recipients=recipients,
            )
        return recipients

    def message_event(
        self,
        session: tx.Tx,
        *,
        event: str,
        message: InboundMessage,
        read: ReadMessage | None,
        error: str | None = None,
        trust: Verdict | None = None,
    ) -> list[Recipient]:
        """not_a_report and failed: the duty desk sees the message itself, attached."""
        routed = self.routing.route(
            event_for_child(
                event,
                message.received_at,
                None,
                sender_verified=bool(trust and trust.verified),
            )
        )
        facts = self._facts(
            event,
            episode=None,
            message=message,
            read=read,
            match=None,
            child=None,
            error=error,
            trust=trust,
        )
        self._queue_routed(
            session,
            facts,
            routed.recipients,
            episode_id=None,
            inbound_id=message.id,
            now=message.received_at,
            attach_inbound=True,
        )
        return list(routed.recipients)

    def timed_event(
        self,
        session: tx.Tx,
        row: DueAction,
        episode: Episode,
        *,
        roles: tuple[str, ...],
        late: str | None,
        now: datetime,
    ) -> list[Recipient]:
        """An escalation, reminder or overdue notice: the roles the timer names, no tree."""
        child = directory.get_child(session, episode.child_id) if episode.child_id else None
        event = self._placed(
            event_for_child(
                row.kind,
                now,
                child,
                episode.allocations,
                risk=episode.risk_level,
                sender_known=episode.sender_known,
                sender_verified=bool(episode.sender_verified),
            ),
            episode,
        )
        recipients = resolve_roles(self.routing, event, roles, f"timer {row.kind}")
        facts = replace(
            self.episode_facts(
                row.kind, episode, child, now=now, note="; ".join(filter(None, (row.note, late)))
            ),
            reminder=self._reminder(session, episode, now),
        )
        facts = self._outside_facts(facts, episode, child)
        self._queue_routed(
            session,
            facts,
            recipients,
            event_key=f"due:{row.key}",
            episode_id=episode.id,
            inbound_id=None,
            now=now,
        )
        return recipients

    def casework_event(
        self,
        session: tx.Tx,
        *,
        event: str,
        episode: Episode,
        key: str,
        note: str,
        now: datetime,
        route_at: datetime | None = None,
        told: Iterable[tuple[str, str, str | None]] = (),
        original: InboundMessage | None = None,
    ) -> list[Recipient]:
        """A person's change to an episode (docs/casework.md), told to staff; returns whom.

        With ``route_at`` the event goes through the routing tree as if a carer had reported it
        at that time (a late link is the MISSING alert its staff never had; a return by staff is
        routed like a carer's); ``told`` are (role, address, name) told besides, e.g. everyone
        already alerted about the episode. ``key`` makes a replay insert nothing. With
        ``original`` (the report that opened the episode) the alert shows that report, as the
        alert it stands in for would have: what the sender wrote and when it was received.
        """
        child = directory.get_child(session, episode.child_id) if episode.child_id else None
        recipients: list[Recipient] = []
        if route_at is not None:
            routed = event_for_child(
                event,
                route_at,
                child,
                episode.allocations,
                risk=episode.risk_level,
                sender_known=True,
                sender_verified=True,
            )
            recipients = list(self.routing.route(routed).recipients)
        have = {r.address.lower() for r in recipients}
        for role, address, name in told:
            if address.lower() not in have and address.lower() not in self.own:
                have.add(address.lower())
                recipients.append(Recipient(role, address, name, "casework"))
        facts = self.episode_facts(event, episode, child, now=now, note=note)
        if original is not None:
            facts = replace(
                self._facts(
                    event,
                    episode=episode,
                    message=original,
                    read=_read_stored(original),
                    match=None,
                    child=child,
                    sender_known=episode.sender_known,
                ),
                note=note,
            )
        facts = replace(facts, reminder=self._reminder(session, episode, now))
        facts = self._outside_facts(facts, episode, child)
        self._queue_routed(
            session,
            facts,
            recipients,
            event_key=key,
            episode_id=episode.id,
            inbound_id=None,
            now=now,
        )
        return recipients

    def command_answer(
        self,
        session: tx.Tx,
        *,
        episode: Episode,
        message: InboundMessage,
        to: str,
        role: str,
        refused: bool,
        text: str,
        in_reply_to: str | None,
    ) -> None:
        """The answer to a staff email command: what changed and who was told, or why not."""
        if not to or "@" not in to or to in self.own:
            return
        facts = replace(
            self.episode_facts("command_answer", episode, None, now=message.received_at, note=None),
            extra={"outcome": "not done" if refused else "done", "answer": text},
            inbound_id=message.id,
        )
        rendered = self.renderer.render_alert(facts, role=role, recipient_name=None)
        self._reply(
            session,
            event="command_answer",
            role=role,
            to=to,
            rendered=rendered,
            message=message,
            episode=episode,
            in_reply_to=in_reply_to,
        )

    def episode_facts(
        self,
        event: str,
        episode: Episode,
        child: records.ChildRecord | None,
        *,
        now: datetime,
        note: str | None,
    ) -> AlertFacts:
        """The facts of an episode as it stands, for an alert that no new message caused."""
        return AlertFacts(
            event=event,
            received_at=now,
            reference=episode.reference,
            child_id=episode.child_id,
            child_first_name=child.first_name if child else None,
            child_last_name=child.last_name if child else None,
            child_name_given=episode.child_name_given,
            child_date_of_birth=child.date_of_birth if child else None,
            placement_name=child.placement_name if child else None,
            risk_level=episode.risk_level,
            last_seen_at=episode.last_seen_at,
            last_seen_location=episode.last_seen_location,
            police_reference=episode.police_reference,
            returned_at=episode.returned_at,
            returned_by=episode.returned_by,
            reported_by=episode.reported_by,
            sender_known=episode.sender_known,
            sender_verified=bool(episode.sender_verified) if self.checks_senders else None,
            sender_check=(
                (EPISODE_VERIFIED if episode.sender_verified else EPISODE_UNVERIFIED)
                if self.checks_senders
                else None
            ),
            episode_status=episode.status,
            note=note or None,
        )

    def interview_incomplete(
        self,
        session: tx.Tx,
        *,
        episode: Episode,
        message: InboundMessage,
        to: str,
        missing: str,
    ) -> None:
        """An outcome missing a required part goes back to the worker, naming what is missing."""
        if not to or to in self.own:
            return
        child = directory.get_child(session, episode.child_id) if episode.child_id else None
        facts = replace(
            self.episode_facts(
                "interview_incomplete", episode, child, now=message.received_at, note=None
            ),
            last_seen_text=episode.last_seen_text,
            safe_and_well=episode.safe_and_well,
            # The worker who sent the outcome; staff, so no carer or sender check applies.
            reported_by=to,
            sender_known=True,
            sender_verified=None,
            sender_check=None,
            extra={"missing_parts": missing},
            message_id=message.message_id,
            inbound_id=message.id,
        )
        rendered = self.renderer.render_alert(facts, role="interviewer", recipient_name=None)
        self._insert(
            session,
            [
                self._row(
                    event_key=f"msg:{message.id}:interview_incomplete",
                    event="interview_incomplete",
                    role="interviewer",
                    address=to,
                    rendered=rendered,
                    recipient=None,
                    episode_id=episode.id,
                    inbound_id=message.id,
                    now=message.received_at,
                )
            ],
        )

    def to_triage(self, session: tx.Tx, sender: str | None) -> bool:
        """True when a non-report from ``sender`` waits for the triage summary instead of an
        alert now: the summary is on and the sender is neither a carer nor staff (a carer on
        record, a role in the routing file, an allocated worker, or an address of our domain).
        """
        if self.settings.processing.triage_summary_minutes <= 0:
            return False
        staff = {c.address.lower() for c in self.routing.roles.values()}
        return (
            triage.known_sender(session, sender, staff=staff, staff_domains=self.own_domains)
            is None
        )

    def desk_notice(
        self,
        session: tx.Tx,
        *,
        event: str,
        key: str,
        now: datetime,
        note: str | None,
        extra: Mapping[str, str],
    ) -> int:
        """A notice for the duty desk alone (refusals, the triage summary), once per ``key``.

        The (event_key, recipient) key makes a second instance's or a second tick's notice for
        the same hour a no-op. Returns the rows queued (0 when the notice was already sent).
        """
        recipients = resolve_roles(
            self.routing, event_for_child(event, now, None), ("duty",), event.replace("_", " ")
        )
        facts = AlertFacts(event=event, received_at=now, note=note, extra=dict(extra))
        before = outbox.count_for_key(session, key)
        self._queue_routed(
            session, facts, recipients, episode_id=None, inbound_id=None, now=now, event_key=key
        )
        return outbox.count_for_key(session, key) - before

    def delivery_failed(self, session: tx.Tx, alert: Alert, error: str, now: datetime) -> None:
        """An alert that could not be delivered is itself a child nobody may be looking for."""
        episode = episodes.get(session, alert.episode_id) if alert.episode_id else None
        facts = AlertFacts(
            event="delivery_failed",
            reference=episode.reference if episode else None,
            child_id=episode.child_id if episode else None,
            received_at=now,
            note=f"{alert.role} <{alert.recipient}> was not sent: {alert.subject}",
            error=error,
            extra={
                "failed_event": alert.event,
                "failed_role": alert.role,
                "failed_address": alert.recipient,
                "attempts": str(alert.attempts),
                "alert_id": str(alert.id),
            },
        )
        rendered = self.renderer.render_alert(facts, role="fallback", recipient_name=None)
        self._insert(
            session,
            [
                self._row(
                    event_key=f"alert:{alert.id}:delivery_failed",
                    event="delivery_failed",
                    role="fallback",
                    address=self.routing.fallback,
                    rendered=rendered,
                    recipient=None,
                    episode_id=alert.episode_id,
                    inbound_id=alert.inbound_id,
                    now=now,
                )
            ],
        )

    # -- children placed in another council's area (docs/out-of-area.md) ---------------------
    @staticmethod
    def _placed(event: Event, episode: Episode) -> Event:
        """Route by the placement authority the episode opened under, as with allocations."""
        if episode.placement_authority:
            return replace(event, placement_authority=episode.placement_authority)
        return event

    def _outside_facts(
        self, facts: AlertFacts, episode: Episode, child: records.ChildRecord | None
    ) -> AlertFacts:
        """What the host authority and the police need beyond the episode's own facts."""
        authorities = self.routing.authorities
        given = episode.placement_authority or (child.placement_authority if child else None)
        host = authorities.find(given)
        own = authorities.own
        interviewer = authorities.interviewer(given)
        contacts: list[str] = []
        held = (episode.allocations or {}).get("social_worker") or {}
        if held.get("email"):
            who = f"{held['name']}, allocated social worker" if held.get("name") else None
            contacts.append(f"{who or 'Allocated social worker'}: {held['email']}")
        for role, label in ((DUTY, "Duty desk"), ("edt", "Emergency duty team, out of hours")):
            contact = self.routing.roles.get(role)
            if contact is not None:
                who = f"{contact.name}, out of hours" if contact.name and role != DUTY else None
                contacts.append(f"{who or contact.name or label}: {contact.address}")
        return replace(
            facts,
            date_of_birth=child.date_of_birth if child else None,
            placement_postcode=child.placement_postcode if child else None,
            placement_authority_name=host.name if host else given,
            placing_council=own.name if own else None,
            placing_contacts=tuple(contacts),
            interview_by=(
                f"{interviewer.name} ({'placing council' if interviewer.own else 'host authority'})"
                if interviewer is not None
                else None
            ),
        )

    def _tell_duty_of_profile(
        self, recipients: list[Recipient], child_id: str, profile: Profile
    ) -> list[Recipient]:
        """A withheld profile is a job for a person: duty is told why and what to do."""
        note = (
            f"The Philomena profile of child {child_id} was not sent to the police: "
            f"{profile.withheld}. Send it to them by a secure route."
        )
        duty = self.routing.roles[DUTY]
        out: list[Recipient] = []
        told = False
        for r in recipients:
            if r.address.lower() == duty.address.lower():
                out.append(replace(r, note="; ".join(filter(None, (r.note, note)))))
                told = True
            else:
                out.append(r)
        if not told:
            out.append(
                Recipient(
                    DUTY,
                    duty.address,
                    duty.name,
                    "profile withheld",
                    note,
                    (DUTY,),
                    ("profile withheld",),
                )
            )
        return out

    # -- pieces ----------------------------------------------------------------------------
    def _reminder(self, session: tx.Tx, episode: Episode, now: datetime) -> str | None:
        """The footer's acknowledgement line for a staff alert about ``episode`` (None: void)."""
        if episode.status not in ("open", "returned"):
            return None
        try:
            clock = episode_clock(session, episode)
        except ValueError:  # e.g. returned with no return time: say nothing rather than fail
            return None
        return acknowledge_reminder(clock, self.routing, now=now)

    def _queue_routed(
        self,
        session: tx.Tx,
        facts: AlertFacts,
        recipients: Iterable[Recipient],
        *,
        episode_id: int | None,
        inbound_id: int | None,
        now: datetime,
        attach_inbound: bool = False,
        event_key: str | None = None,
        profile: Profile | None = None,
    ) -> None:
        """One rendered row per recipient, keyed by the message and the event by default."""
        rows = []
        # The profile goes only to the police role, and only to an address the authorities
        # file names: a fixed address or a role mistyped in a routing file never gets it.
        allowed = self.routing.authorities.addresses()
        for recipient in recipients:
            rendered = self.renderer.render_alert(
                facts, role=recipient.role, recipient_name=recipient.name, note=recipient.note
            )
            rows.append(
                self._row(
                    event_key=event_key or f"msg:{inbound_id}:{facts.event}",
                    event=facts.event,
                    role=recipient.role,
                    address=recipient.address,
                    rendered=rendered,
                    recipient=recipient,
                    episode_id=episode_id,
                    inbound_id=inbound_id,
                    now=now,
                    attach_inbound=attach_inbound and recipient.role in ATTACH_ROLES,
                )
            )
            if (
                profile is not None
                and profile.data is not None
                and recipient.role == POLICE
                and recipient.address.lower() in allowed
            ):
                rows[-1].update(
                    attachment_name=profile.name,
                    attachment_type=profile.content_type,
                    attachment=profile.data,
                )
        self._insert(session, rows)

    def _receipt(
        self,
        session: tx.Tx,
        facts: AlertFacts,
        *,
        read: ReadMessage,
        message: InboundMessage,
        episode: Episode,
        recipients: Iterable[Recipient],
    ) -> None:
        """One receipt per report, to whoever sent it, known or not (never to ourselves)."""
        to = (read.reply_to or read.from_addr or message.mail_from or "").strip().lower()
        if not to or "@" not in to or to in self.own:
            return
        roles = [r for recipient in recipients for r in (recipient.roles or (recipient.role,))]
        passed = [PASSED_TO[r] for r in dict.fromkeys(roles) if r in PASSED_TO]
        rendered = self.renderer.render_receipt(facts, passed_to=passed or ["the duty desk"])
        self._reply(
            session,
            event="receipt",
            role="reporter",
            to=to,
            rendered=rendered,
            message=message,
            episode=episode,
            in_reply_to=read.message_id,
        )

    def _reply(
        self,
        session: tx.Tx,
        *,
        event: str,
        role: str,
        to: str,
        rendered: Rendered,
        message: InboundMessage,
        episode: Episode,
        in_reply_to: str | None,
    ) -> None:
        """An automatic answer to one message, threaded under it (a receipt, a command's)."""
        headers = {"Auto-Submitted": "auto-replied"}
        if in_reply_to:
            headers["In-Reply-To"] = f"<{in_reply_to}>"
            headers["References"] = f"<{in_reply_to}>"
        self._insert(
            session,
            [
                self._row(
                    event_key=f"msg:{message.id}:{event}",
                    event=event,
                    role=role,
                    address=to,
                    rendered=rendered,
                    recipient=None,
                    episode_id=episode.id,
                    inbound_id=message.id,
                    now=message.received_at,
                    headers=headers,
                )
            ],
        )

    def _facts(
        self,
        event: str,
        *,
        episode: Episode | None,
        message: InboundMessage,
        read: ReadMessage | None,
        match: Match | None,
        child: records.ChildRecord | None,
        fields: ReportFields | None = None,
        sender_known: bool = False,
        error: str | None = None,
        trust: Verdict | None = None,
    ) -> AlertFacts:
        """The facts of the episode as it now stands, and of this message and its sender."""
        e = episode
        sender = (read.from_addr if read else None) or message.mail_from
        limits = {"not_read": "; ".join(read.limits)} if read is not None and read.limits else {}
        return AlertFacts(
            event=event,
            reference=e.reference if e else None,
            child_id=e.child_id if e else None,
            child_first_name=child.first_name if child else None,
            child_last_name=child.last_name if child else None,
            child_name_given=e.child_name_given if e else None,
            child_date_of_birth=child.date_of_birth if child else None,
            placement_name=child.placement_name if child else None,
            risk_level=e.risk_level if e else None,
            risk_notes=e.risk_notes if e else None,
            last_seen_at=e.last_seen_at if e else None,
            last_seen_text=e.last_seen_text if e else None,
            last_seen_location=e.last_seen_location if e else None,
            police_reference=e.police_reference if e else None,
            description=e.description if e else None,
            clothing=e.clothing if e else None,
            reported_by=sender,
            reporter_name=fields.reporter_name if fields else None,
            reporter_phone=fields.reporter_phone if fields else None,
            sender_known=sender_known,
            sender_verified=trust.verified if trust is not None and self.checks_senders else None,
            sender_check=trust.reason if trust is not None and self.checks_senders else None,
            returned_at=e.returned_at if e else None,
            returned_by=e.returned_by if e else None,
            safe_and_well=e.safe_and_well if e else None,
            match_method=match.method if match else (e.match_method if e else None),
            match_confidence=match.confidence if match else (e.match_confidence if e else None),
            match_note=match.note if match else None,
            carer_text=read.text if read else "",
            subject_given=read.subject if read else "",
            attachments=[(a.name, a.content_type, a.size) for a in read.attachments]
            if read
            else [],
            received_at=message.received_at,
            episode_status=e.status if e else None,
            error=error,
            message_id=message.message_id,
            inbound_id=message.id,
            extra=limits,
        )

    def _row(
        self,
        *,
        event_key: str,
        event: str,
        role: str,
        address: str,
        rendered: Rendered,
        recipient: Recipient | None,
        episode_id: int | None,
        inbound_id: int | None,
        now: datetime,
        headers: Mapping[str, str] | None = None,
        attach_inbound: bool = False,
    ) -> dict[str, Any]:
        """One outbox row; its Message-ID is fixed now and kept across every resend."""
        return {
            "event_key": event_key,
            "event": event,
            "episode_id": episode_id,
            "inbound_id": inbound_id,
            "role": role,
            "recipient": address.lower(),
            "recipient_name": recipient.name if recipient else None,
            "rule": ", ".join(recipient.rules or (recipient.rule,)) if recipient else None,
            "note": recipient.note if recipient else None,
            "message_id": f"mb.{uuid.uuid4().hex}@{self.domain}",
            "subject": rendered.subject,
            "body_text": rendered.text,
            "body_html": rendered.html,
            "headers": dict(headers or {}),
            "attach_inbound": attach_inbound,
            # One shape for every row of an executemany; the police row may fill these.
            "attachment_name": None,
            "attachment_type": None,
            "attachment": None,
            "status": QUEUED,
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }

    @staticmethod
    def _insert(session: tx.Tx, rows: list[dict[str, Any]]) -> None:
        """All rows of an event in one statement; a replayed event inserts nothing."""
        outbox.insert_rows(session, rows)


_SOURCE_LABELS = {
    "last_seen": "last_seen_from",
    "last_seen_location": "where_last_seen_from",
    "returned_at": "returned_at_from",
    "returned_by": "returned_by_from",
    "safe_and_well": "safe_and_well_from",
    "police_reference": "police_reference_from",
    "risk_level": "risk_level_from",
}


def provenance(fields: ReportFields | None) -> dict[str, str]:
    """Where each fact of this message came from, as alert "extra" rows (quoted, one line)."""
    if fields is None:
        return {}
    return {
        label: f"'{' '.join(fields.sources[name].split())[:200]}'"
        for name, label in _SOURCE_LABELS.items()
        if fields.sources.get(name)
    }


def _read_stored(message: InboundMessage) -> ReadMessage | None:
    """The stored message read again (for a late alert that shows the report); None when its
    raw bytes were purged or cannot be read: the alert then shows the episode's facts only."""
    if not message.raw:
        return None
    try:
        return read_message(message.raw)
    except Exception:
        return None
