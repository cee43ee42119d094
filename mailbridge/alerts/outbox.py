"""From an event to outbox rows: route it, render one email per recipient, queue them.

Runs inside the transaction that records the event, so an event and its alerts commit
together or not at all (invariant 4). The unique (event_key, recipient) key makes a
replay harmless.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from mailbridge.alerts.render import AlertFacts, Rendered, Renderer
from mailbridge.directory import records
from mailbridge.reading.fields import ReportFields
from mailbridge.reading.match import Match
from mailbridge.reading.message import ReadMessage
from mailbridge.reading.trust import NOT_CHECKED, Verdict
from mailbridge.routing.rules import Recipient, Routing, event_for_child, resolve_roles
from mailbridge.settings.config import Settings, load_routing_file
from mailbridge.store import directory, triage
from mailbridge.store.models import QUEUED, Alert, DueAction, Episode, InboundMessage
from mailbridge.timers.plan import repeat_missing, repeat_missing_note

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
        session: Session,
        *,
        event: str,
        episode: Episode,
        message: InboundMessage,
        read: ReadMessage,
        fields: ReportFields | None,
        match: Match | None,
        trust: Verdict | None = None,
    ) -> list[Recipient]:
        """Alerts for a missing/update/returned/unmatched event, and the carer's receipt.

        ``trust`` is the sender check of *this* message (None: not checked, so not verified).
        """
        child = directory.get_child(session, episode.child_id) if episode.child_id else None
        # Who sent *this* message: an update or a return may come from someone other than the
        # carer who opened the episode, and must be vouched for (or not) on its own.
        sender = (read.from_addr or message.mail_from or "").lower() or None
        known = bool(child and sender and sender in {c.lower() for c in child.carer_emails})
        verified = bool(trust and trust.verified)
        routed_event = event_for_child(
            event,
            message.received_at,
            child,
            episode.allocations,
            risk=episode.risk_level,
            sender_known=known,
            sender_verified=verified,
        )
        recipients = list(self.routing.route(routed_event).recipients)
        repeat_note = None
        if event == "missing" and episode.child_id:
            starts = session.scalars(
                select(Episode.opened_at).where(Episode.child_id == episode.child_id)
            ).all()
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
        self._queue_routed(
            session,
            facts,
            recipients,
            episode_id=episode.id,
            inbound_id=message.id,
            now=message.received_at,
        )
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
        session: Session,
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
        session: Session,
        row: DueAction,
        episode: Episode,
        *,
        roles: tuple[str, ...],
        late: str | None,
        now: datetime,
    ) -> list[Recipient]:
        """An escalation, reminder or overdue notice: the roles the timer names, no tree."""
        child = directory.get_child(session, episode.child_id) if episode.child_id else None
        event = event_for_child(
            row.kind,
            now,
            child,
            episode.allocations,
            risk=episode.risk_level,
            sender_known=episode.sender_known,
            sender_verified=bool(episode.sender_verified),
        )
        recipients = resolve_roles(self.routing, event, roles, f"timer {row.kind}")
        facts = AlertFacts(
            event=row.kind,
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
            reported_by=episode.reported_by,
            sender_known=episode.sender_known,
            sender_verified=bool(episode.sender_verified) if self.checks_senders else None,
            sender_check=(
                (EPISODE_VERIFIED if episode.sender_verified else EPISODE_UNVERIFIED)
                if self.checks_senders
                else None
            ),
            episode_status=episode.status,
            note="; ".join(filter(None, (row.note, late))) or None,
        )
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

    def interview_incomplete(
        self,
        session: Session,
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
        facts = AlertFacts(
            event="interview_incomplete",
            received_at=message.received_at,
            reference=episode.reference,
            child_id=episode.child_id,
            child_first_name=child.first_name if child else None,
            child_last_name=child.last_name if child else None,
            child_name_given=episode.child_name_given,
            child_date_of_birth=child.date_of_birth if child else None,
            placement_name=child.placement_name if child else None,
            risk_level=episode.risk_level,
            last_seen_at=episode.last_seen_at,
            last_seen_text=episode.last_seen_text,
            last_seen_location=episode.last_seen_location,
            police_reference=episode.police_reference,
            returned_at=episode.returned_at,
            returned_by=episode.returned_by,
            safe_and_well=episode.safe_and_well,
            # The worker who sent the outcome; staff, so no carer check applies.
            reported_by=to,
            sender_known=True,
            episode_status=episode.status,
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

    def to_triage(self, session: Session, sender: str | None) -> bool:
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
        session: Session,
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
        before = session.scalar(
            select(func.count()).select_from(Alert).where(Alert.event_key == key)
        )
        self._queue_routed(
            session, facts, recipients, episode_id=None, inbound_id=None, now=now, event_key=key
        )
        after = session.scalar(
            select(func.count()).select_from(Alert).where(Alert.event_key == key)
        )
        return int(after or 0) - int(before or 0)

    def delivery_failed(self, session: Session, alert: Alert, error: str, now: datetime) -> None:
        """An alert that could not be delivered is itself a child nobody may be looking for."""
        episode = session.get(Episode, alert.episode_id) if alert.episode_id else None
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

    # -- pieces ----------------------------------------------------------------------------
    def _queue_routed(
        self,
        session: Session,
        facts: AlertFacts,
        recipients: Iterable[Recipient],
        *,
        episode_id: int | None,
        inbound_id: int | None,
        now: datetime,
        attach_inbound: bool = False,
        event_key: str | None = None,
    ) -> None:
        """One rendered row per recipient, keyed by the message and the event by default."""
        rows = []
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
        self._insert(session, rows)

    def _receipt(
        self,
        session: Session,
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
        headers = {"Auto-Submitted": "auto-replied"}
        if read.message_id:
            headers["In-Reply-To"] = f"<{read.message_id}>"
            headers["References"] = f"<{read.message_id}>"
        self._insert(
            session,
            [
                self._row(
                    event_key=f"msg:{message.id}:receipt",
                    event="receipt",
                    role="reporter",
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
            "status": QUEUED,
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }

    @staticmethod
    def _insert(session: Session, rows: list[dict[str, Any]]) -> None:
        """All rows of an event in one statement; a replayed event inserts nothing."""
        if not rows:
            return
        insert_fn: Any = (
            postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
        )
        # executemany of one cached statement; a multi-row VALUES would be compiled every time.
        session.execute(
            insert_fn(Alert.__table__).on_conflict_do_nothing(
                index_elements=["event_key", "recipient"]
            ),
            rows,
        )
