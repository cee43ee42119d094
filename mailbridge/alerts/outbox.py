"""From an event to outbox rows: route it, render one email per recipient, queue them.

Runs inside the transaction that records the event, so an event and its alerts commit
together or not at all (invariant 4). The unique (event_key, recipient) key makes a
replay harmless.

What an alert shows is gathered in facts.py, who gets it beyond the routing tree is decided in
recipients.py, and rows.py renders and writes the rows. Answers to one message (the carer's
receipt, a staff command's answer, an interview outcome sent back) are in answers.py
(``Notifier.answers``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from mailbridge.alerts.alert_facts import AlertFacts
from mailbridge.alerts.answers import Answers
from mailbridge.alerts.facts import (
    episode_facts,
    message_facts,
    outside_facts,
    provenance,
    read_stored,
)
from mailbridge.alerts.profiles import load_profile
from mailbridge.alerts.recipients import (
    routing_event,
    tell_duty_of_profile,
    widen,
)
from mailbridge.alerts.render import Renderer
from mailbridge.alerts.rows import Rows
from mailbridge.directory.records import ChildRecord
from mailbridge.reading.fields import ReportFields
from mailbridge.reading.match import Match
from mailbridge.reading.message import ReadMessage
from mailbridge.reading.trust import NOT_CHECKED, Verdict
from mailbridge.routing.rules import (
    POLICE,
    Recipient,
    Routing,
    event_for_child,
    resolve_roles,
)
from mailbridge.settings.config import Settings, load_routing_file
from mailbridge.store import directory, episodes, outbox, triage, tx
from mailbridge.store.models import Alert, DueAction, Episode, InboundMessage
from mailbridge.timers.plan import acknowledge_reminder, repeat_missing, repeat_missing_note
from mailbridge.timers.runner import episode_clock


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
        self.rows = Rows(self.renderer, self.domain, self.routing.authorities)
        # the receipt, a command's answer, an interview outcome sent back (answers.py)
        self.answers = Answers(
            self.renderer, self.rows, self.own, checks_senders=self.checks_senders
        )

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
        child = directory.child_of_episode(session, episode)
        # Who sent *this* message: an update or a return may come from someone other than the
        # carer who opened the episode, and must be vouched for (or not) on its own.
        sender = (read.from_addr or message.mail_from or "").lower() or None
        known = bool(child and sender and sender in {c.lower() for c in child.carer_emails})
        verified = bool(trust and trust.verified)
        routed_event = routing_event(
            event, message.received_at, child, episode, sender_known=known, sender_verified=verified
        )
        recipients = list(self.routing.route(routed_event).recipients)
        repeat_note = None
        if event == "missing" and episode.child_id:
            starts = episodes.start_times_of_child(session, episode.child_id)
            count = repeat_missing(starts, message.received_at, self.routing)
            if count is not None:
                # Repeat episodes should prompt a strategy discussion: say so, widen the list.
                repeat_note = repeat_missing_note(count, self.routing)
                recipients = widen(
                    recipients,
                    resolve_roles(
                        self.routing,
                        routed_event,
                        self.routing.repeat_missing.add_roles,
                        "repeat missing",
                    ),
                )
        facts = message_facts(
            event,
            episode=episode,
            message=message,
            read=read,
            match=match,
            child=child,
            fields=fields,
            sender_known=known,
            trust=trust or NOT_CHECKED,
            checks_senders=self.checks_senders,
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
        facts = outside_facts(facts, episode, child, self.routing)
        profile = None
        if child is not None and any(r.role == POLICE for r in recipients):
            profile = load_profile(self.settings, child.profile_file)
            if profile is not None:
                facts = replace(facts, profile_note=profile.note)
                if profile.withheld:
                    recipients = tell_duty_of_profile(
                        recipients, self.routing, child.child_id, profile
                    )
        self.rows.routed(
            session,
            replace(facts, reminder=self._reminder(session, episode, message.received_at)),
            recipients,
            episode_id=episode.id,
            inbound_id=message.id,
            now=message.received_at,
            profile=profile,
        )
        if late_hours is None:  # a receipt days later would only confuse the carer
            self.answers.receipt(
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
        facts = message_facts(
            event,
            episode=None,
            message=message,
            read=read,
            match=None,
            child=None,
            error=error,
            trust=trust,
            checks_senders=self.checks_senders,
        )
        self.rows.routed(
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
        child = directory.child_of_episode(session, episode)
        event = routing_event(
            row.kind,
            now,
            child,
            episode,
            sender_known=episode.sender_known,
            sender_verified=bool(episode.sender_verified),
        )
        recipients = resolve_roles(self.routing, event, roles, f"timer {row.kind}")
        facts = episode_facts(
            row.kind, episode, child, now=now, note="; ".join(filter(None, (row.note, late))),
            checks_senders=self.checks_senders,
        )
        self.rows.routed(
            session,
            self._for_staff(session, facts, episode, child, now),
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
        child = directory.child_of_episode(session, episode)
        recipients: list[Recipient] = []
        if route_at is not None:
            # the placement authority the episode opened under, as every other alert of it
            routed = routing_event(
                event, route_at, child, episode, sender_known=True, sender_verified=True
            )
            recipients = list(self.routing.route(routed).recipients)
        recipients = widen(
            recipients,
            (
                Recipient(role, address, name, "casework")
                for role, address, name in told
                if address.lower() not in self.own
            ),
        )
        facts = episode_facts(event, episode, child, now=now, note=note,
                              checks_senders=self.checks_senders)
        if original is not None:
            facts = replace(
                message_facts(
                    event,
                    episode=episode,
                    message=original,
                    read=read_stored(original),
                    match=None,
                    child=child,
                    sender_known=episode.sender_known,
                    checks_senders=self.checks_senders,
                ),
                note=note,
            )
        self.rows.routed(
            session,
            self._for_staff(session, facts, episode, child, now),
            recipients,
            event_key=key,
            episode_id=episode.id,
            inbound_id=None,
            now=now,
        )
        return recipients

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
        self.rows.routed(
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
        self.rows.one(
            session,
            event_key=f"alert:{alert.id}:delivery_failed",
            event="delivery_failed",
            role="fallback",
            address=self.routing.fallback,
            rendered=rendered,
            episode_id=alert.episode_id,
            inbound_id=alert.inbound_id,
            now=now,
        )

    # -- pieces ----------------------------------------------------------------------------

    def _for_staff(
        self,
        session: tx.Tx,
        facts: AlertFacts,
        episode: Episode,
        child: ChildRecord | None,
        now: datetime,
    ) -> AlertFacts:
        """A staff alert's facts with what the host authority and police need, and the
        footer's acknowledgement line."""
        facts = outside_facts(facts, episode, child, self.routing)
        return replace(facts, reminder=self._reminder(session, episode, now))

    def _reminder(self, session: tx.Tx, episode: Episode, now: datetime) -> str | None:
        """The footer's acknowledgement line for a staff alert about ``episode`` (None: void)."""
        if episode.status not in ("open", "returned"):
            return None
        try:
            clock = episode_clock(session, episode)
        except ValueError:  # e.g. returned with no return time: say nothing rather than fail
            return None
        return acknowledge_reminder(clock, self.routing, now=now)
