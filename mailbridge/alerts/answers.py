"""Automatic answers to one message: the carer's receipt, the answer to a staff email command,
and an incomplete interview outcome sent back to its worker.

Exists apart from the Notifier (``outbox.py``) because an answer is not routed: it goes to the
one address that wrote (never to our own addresses), is threaded under that message
(``In-Reply-To``/``References``, ``Auto-Submitted: auto-replied`` for the receipt and the
command answer), and is keyed ``msg:<inbound id>:<event>`` so a replayed message answers once.
Like every alert it is an outbox row written in the caller's transaction (``rows.py``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from mailbridge.alerts.alert_facts import AlertFacts
from mailbridge.alerts.facts import episode_facts
from mailbridge.alerts.recipients import passed_to
from mailbridge.alerts.render import Rendered, Renderer
from mailbridge.alerts.rows import Rows
from mailbridge.reading.message import ReadMessage
from mailbridge.routing.rules import Recipient
from mailbridge.store import directory, tx
from mailbridge.store.models import Episode, InboundMessage


class Answers:
    """Renders with the Notifier's ``renderer`` and writes through its ``rows``; ``own`` are our
    own addresses (never answered); ``checks_senders`` as the Notifier's."""

    def __init__(
        self, renderer: Renderer, rows: Rows, own: set[str], *, checks_senders: bool
    ) -> None:
        self.renderer = renderer
        self.rows = rows
        self.own = own
        self.checks_senders = checks_senders

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
            episode_facts("command_answer", episode, None, now=message.received_at, note=None,
                          checks_senders=self.checks_senders),
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
        child = directory.child_of_episode(session, episode)
        facts = replace(
            episode_facts("interview_incomplete", episode, child, now=message.received_at,
                          note=None, checks_senders=self.checks_senders),
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
        self.rows.one(
            session,
            event_key=f"msg:{message.id}:interview_incomplete",
            event="interview_incomplete",
            role="interviewer",
            address=to,
            rendered=rendered,
            episode_id=episode.id,
            inbound_id=message.id,
            now=message.received_at,
        )

    def receipt(
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
        rendered = self.renderer.render_receipt(facts, passed_to=passed_to(recipients))
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
        self.rows.one(
            session,
            event_key=f"msg:{message.id}:{event}",
            event=event,
            role=role,
            address=to,
            rendered=rendered,
            episode_id=episode.id,
            inbound_id=message.id,
            now=message.received_at,
            headers=headers,
        )
