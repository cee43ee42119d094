"""Outbox rows: one email rendered per recipient, written in one statement per event.

Each row gets its Message-ID now, kept across every resend. The unique (event_key, recipient)
key makes a replayed event insert nothing. The Notifier (outbox.py) decides what an event says
and to whom; this module renders and writes it, in the caller's transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from mailbridge.alerts.alert_facts import AlertFacts
from mailbridge.alerts.profiles import Profile
from mailbridge.alerts.render import Rendered, Renderer
from mailbridge.routing.authorities import Authorities
from mailbridge.routing.rules import POLICE, Recipient
from mailbridge.store import outbox, tx
from mailbridge.store.models import QUEUED

# Who gets the original message attached to a not-a-report or failed alert: the desks that
# must act on it, not everyone on the list (a copy of a child's data is a copy to account for).
ATTACH_ROLES = frozenset({"duty", "edt"})


class Rows:
    """Renders with ``renderer``; Message-IDs in ``domain``; profiles only to ``authorities``."""

    def __init__(self, renderer: Renderer, domain: str, authorities: Authorities) -> None:
        self.renderer = renderer
        self.domain = domain
        self.authorities = authorities

    def routed(
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
        allowed = self.authorities.addresses()
        recipients = list(recipients)
        renders = self.renderer.render_alerts(
            facts, [(r.role, r.name, r.note) for r in recipients]
        )
        for recipient, rendered in zip(recipients, renders, strict=True):
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

    def one(
        self,
        session: tx.Tx,
        *,
        event_key: str,
        event: str,
        role: str,
        address: str,
        rendered: Rendered,
        episode_id: int | None,
        inbound_id: int | None,
        now: datetime,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """One row addressed to one person outside the routing (a reply, a send-back, the
        fallback)."""
        self._insert(
            session,
            [
                self._row(
                    event_key=event_key,
                    event=event,
                    role=role,
                    address=address,
                    rendered=rendered,
                    recipient=None,
                    episode_id=episode_id,
                    inbound_id=inbound_id,
                    now=now,
                    headers=headers,
                )
            ],
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


