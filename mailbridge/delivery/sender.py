"""The sender: claims queued alert rows and hands them to the relay, or to .eml files.

Delivery is at least once: a row is claimed (attempt counted) before the relay is called,
and marked sent after. A crash in between resends the same email with the same Message-ID,
which mail systems and people can recognise as one message (invariant 4).

Claims follow the priority lanes (store/outbox.py, issue 18): lane 1 first, then by due time;
every ``SHARE_EVERY``-th claim takes the oldest due rows of any lane, so none starves.

The email is built by message.py and handed to a transport (transport.py: SMTP or .eml files;
graph.py: Microsoft Graph).
"""

from __future__ import annotations

import logging
import random
import re
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import Message
from typing import NamedTuple

from mailbridge.clock import Clock, system_clock
from mailbridge.delivery.message import build_email
from mailbridge.delivery.reply_secret import reply_secret
from mailbridge.delivery.reply_tokens import make_reply_address
from mailbridge.delivery.transport import (
    Connection,
    FileTransport,
    LocalFailure,
    PermanentFailure,
    TemporaryFailure,
    Transport,
    make_transport,
    relay_is_secure,
)
from mailbridge.ops.logs import log_context
from mailbridge.runtime.loop import BackgroundLoop
from mailbridge.settings.config import Settings
from mailbridge.store import outbox, tx
from mailbridge.store.models import (
    FAILED,
    QUEUED,
    SENT,
    WRITTEN,
    Alert,
)

log = logging.getLogger(__name__)


# -- the sender ---------------------------------------------------------------------------


@dataclass
class DeliveryReport:
    sent: int = 0  # to the relay
    retried: int = 0
    failed: int = 0
    written: int = 0  # to .eml files in the outbox directory (no relay): nobody emailed yet

    @property
    def handled(self) -> int:
        return self.sent + self.written + self.retried + self.failed


FallbackFactory = Callable[[tx.Tx, Alert, str], None]


class Outcome(NamedTuple):
    """What became of one alert in a pass; no error at all means sent."""

    alert_id: int
    temporary: str | None = None
    permanent: str | None = None
    local: bool = False  # our side failed (LocalFailure): retried, never given up on


@dataclass(frozen=True)
class _Facts:
    """What the logs and the time-to-alert histogram need of an alert being sent."""

    inbound_id: int | None
    reference: str | None
    received_at: datetime | None


_RECORD_EVERY = 10
#: every this many claims, one takes the oldest due alerts of any lane (no starvation)
SHARE_EVERY = 4
# A relay's reply may quote the recipient ("450 4.1.2 <carer@x>: ..."): never into the logs.
_ADDRESS = re.compile(r"<?[^\s<>@]+@[^\s<>]+>?")
# Relay commands one alert may take (connect, EHLO, MAIL, RCPT, DATA, the end of data), each
# allowed relay.timeout_seconds: the claim lease, renewed while a pass still has rows to send.
# The docs give it as "6 × relay.timeout_seconds (3 minutes by default)" (tests/unit/test_docs.py).
COMMANDS_PER_ALERT = 6
# Roles whose replies are not acknowledgements: the carer's replies to a receipt are updates.
# Nor are replies from outside the council (host authority, police): their "thanks" must
# never stop our own staff's escalation clock.
# Roles whose attachment (a child's Philomena profile) crosses only a verified TLS relay.
SECURE_ATTACHMENT_ROLES = frozenset({"police"})
UNTOKENED_ROLES = frozenset({"reporter", "fallback", "interviewer", "host_authority", "police"})


def alert_lease(timeout_seconds: float) -> timedelta:
    """How long a claimed alert is held before another pass may take it: one alert's relay
    commands, each allowed ``relay.timeout_seconds``."""
    return timedelta(seconds=timeout_seconds * COMMANDS_PER_ALERT)


def requeue_failed(session: tx.Tx, *, now: datetime, actor: str) -> int:
    """After a long relay outage: failed rows go round again, same Message-ID, fresh tries."""
    return outbox.requeue_failed(session, now=now, actor=actor)


class Sender(BackgroundLoop):
    """Claims queued alert rows and hands them to the transport, on its own thread."""

    thread_name = "sender"

    def __init__(
        self,
        engine: tx.Engine,
        settings: Settings,
        *,
        transport: Transport | None = None,
        clock: Clock = system_clock,
        on_give_up: FallbackFactory | None = None,
        rng: random.Random | None = None,
    ) -> None:
        super().__init__()
        self.engine = engine
        self.settings = settings
        self.transport: Transport = transport or make_transport(settings)
        self.clock = clock
        self.on_give_up = on_give_up
        self.secret = reply_secret(settings)
        # Only a real SMTP relay with verified TLS; a transport given by a test or the outbox
        # files are judged by the settings alone.
        self.secure_relay = relay_is_secure(settings)
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not security
        # The claims of a pass the database cut short: their outcomes (None: never tried),
        # settled by the next pass so they need not wait out the lease.
        self._held: dict[int, Outcome | None] = {}
        self._held_until: datetime | None = None
        # Told (message received_at, sent_at, event) after an alert's `sent` commits: the
        # time-to-alert histogram of /metrics. Alerts not caused by a message are not told.
        self.on_sent: Callable[[datetime, datetime, str], None] | None = None
        self._facts: dict[int, _Facts] = {}
        self._sent_now: list[tuple[datetime, datetime, str]] = []
        self._claims = 0

    # -- the loop (runtime/loop.py) -----------------------------------------------------
    def run_pass(self) -> float:
        report = self.deliver_once()
        return self._idle_wait() if report.handled == 0 else 0.0

    def pass_failed(self, exc: Exception) -> float:
        # The database may be away: the thread that sends every alert must outlive it.
        log.error("sender pass failed: %s; retrying", type(exc).__name__)
        return self.settings.processing.poll_seconds

    def _idle_wait(self) -> float:
        """Sleep until the next retry is due, or a poll interval, whichever is sooner.

        A database outage here must not end the thread (it did once): poll, and try again.
        """
        poll = self.settings.processing.poll_seconds
        try:
            with tx.read(self.engine) as t:
                due = outbox.next_due(t)
        except Exception as exc:
            log.error("sender cannot reach the database: %s; retrying", type(exc).__name__)
            return poll
        if due is None:
            return poll
        return max(0.05, min(poll, (due - self.clock()).total_seconds()))

    # -- one pass ---------------------------------------------------------------------
    def deliver_due(self, max_passes: int = 100) -> DeliveryReport:
        """Passes until nothing due is left (what `inject` and `reprocess` run at the end)."""
        total = DeliveryReport()
        for _ in range(max_passes):
            report = self.deliver_once()
            total.sent += report.sent
            total.written += report.written
            total.retried += report.retried
            total.failed += report.failed
            if report.sent + report.written + report.failed == 0:
                break
        return total

    def deliver_once(self) -> DeliveryReport:
        """Claim what is due, build every email in one read, send, record in small batches.

        Outcomes are recorded a few at a time in one transaction each, not one commit per
        alert; a crash before recording only means a resend under the same Message-ID.
        """
        report = DeliveryReport()
        self._settle(report)
        ids = self._claim()
        if not ids:
            return report
        ready, outcomes = self._build(ids)
        pending: list[Outcome] = list(outcomes)
        sent_ids: set[int] = set()
        try:
            self._renew(ids)
            with self.transport.open() as conn:
                for alert_id, recipient, message in ready:
                    if self.stopping.is_set():
                        break  # shutting down: _settle hands the untried rows back
                    self._renew(ids)
                    with self._context(alert_id):
                        outcome = self._send(conn, alert_id, recipient, message)
                    # Known at once, so a pass cut short records it rather than resending.
                    self._held[alert_id] = outcome
                    pending.append(outcome)
                    sent_ids.add(alert_id)
                    if len(pending) >= _RECORD_EVERY:
                        self._record_all(pending, report)
                        pending = []
        except TemporaryFailure as exc:
            # The relay could not be reached at all: every unsent row waits for the next try.
            local = isinstance(exc, LocalFailure)
            pending += [Outcome(i, str(exc), local=local) for i, _, _ in ready if i not in sent_ids]
        self._record_all(pending, report)
        self._facts.clear()
        return report

    def _context(self, alert_id: int) -> AbstractContextManager[None]:
        facts = self._facts.get(alert_id)
        if facts is None:
            return log_context()
        return log_context(message_id=facts.inbound_id, episode=facts.reference)

    @staticmethod
    def _send(conn: Connection, alert_id: int, recipient: str, message: Message) -> Outcome:
        try:
            conn.send(message, recipient)
        except PermanentFailure as exc:
            return Outcome(alert_id, permanent=str(exc))
        except TemporaryFailure as exc:
            return Outcome(alert_id, str(exc), local=isinstance(exc, LocalFailure))
        except Exception as exc:
            # An email the transport cannot take (smtplib's SMTPUTF8 path raises TypeError on
            # some addresses) would be resent for ever: it fails, and the fallback is told.
            return Outcome(alert_id, permanent=f"cannot send: {type(exc).__name__}: {exc}")
        return Outcome(alert_id)

    def _lease(self) -> timedelta:
        return alert_lease(self.settings.relay.timeout_seconds)

    def _renew(self, claimed: list[int]) -> None:
        """Keep the claim on this pass's rows that are still ours (queued, at our lease: those
        to send, and those sent but not yet recorded), so no other instance takes them while a
        slow relay works through the batch. The lease covers one alert, not the batch: the
        claims of an instance that died lapse within minutes, not half an hour."""
        if self._held_until is None:
            return
        now, lease = self.clock(), self._lease()
        if now < self._held_until - lease / 2:
            return
        until = now + lease
        with tx.write(self.engine) as t:
            outbox.renew(t, claimed, held_until=self._held_until, until=until)
        self._held_until = until

    def _claim(self) -> list[int]:
        now = self.clock()
        lease = self._lease()
        self._claims += 1
        with tx.write(self.engine) as t:
            ids = outbox.claim(
                t,
                now=now,
                until=now + lease,
                limit=self.settings.relay.batch_size,
                by_lane=self._claims % SHARE_EVERY != 0,
            )
        self._held = dict.fromkeys(ids)
        self._held_until = now + lease
        return ids

    def _settle(self, report: DeliveryReport) -> None:
        """Finish what a pass cut short by the database left: record the outcomes it had,
        and give back the claims it never tried (attempt un-counted), so those alerts go now
        and not after the lease. A claim another instance took over since is left alone."""
        if not self._held:
            return
        known = [o for o in self._held.values() if o is not None]
        untried = [i for i, o in self._held.items() if o is None]
        self._record_all(known, report)
        if untried:
            assert self._held_until is not None
            with tx.write(self.engine) as t:
                outbox.give_back(t, untried, held_until=self._held_until, now=self.clock())
        self._held = {}

    def _build(self, ids: list[int]) -> tuple[list[tuple[int, str, Message]], list[Outcome]]:
        """The emails for the claimed rows; a row that cannot be built fails, not loops."""
        ready: list[tuple[int, str, Message]] = []
        failed: list[Outcome] = []
        with tx.read(self.engine) as session:
            for alert, reference, received_at in outbox.to_build(session, ids):
                if alert.status != QUEUED:
                    continue
                self._facts[alert.id] = _Facts(alert.inbound_id, reference, received_at)
                original = None
                if alert.attach_inbound and alert.inbound_id is not None:
                    original = outbox.original(session, alert.inbound_id)
                # Queued over a secure relay, but the relay has changed since: the profile stays.
                keep = alert.role not in SECURE_ATTACHMENT_ROLES or self.secure_relay
                if not keep and alert.attachment_name:
                    log.error(
                        "alert id=%s role=%s: sent without its attachment: the relay has no "
                        "verified TLS (docs/out-of-area.md)",
                        alert.id,
                        alert.role,
                    )
                try:
                    message = build_email(
                        alert,
                        sender=self.settings.from_address,
                        reply_to=self._reply_to(alert, reference),
                        original=original,
                        attachment=keep,
                    )
                except Exception as exc:  # a row that can never become an email must not loop
                    failed.append(
                        Outcome(
                            alert.id,
                            permanent=f"cannot build the email: {type(exc).__name__}: {exc}",
                        )
                    )
                    continue
                ready.append((alert.id, alert.recipient, message))
        return ready, failed

    def _reply_to(self, alert: Alert, reference: str | None) -> str:
        """Staff replies carry a signed token naming the alert, so a reply is an
        acknowledgement by that role; receipts and fallback mail get the plain address."""
        base = self.settings.smtp.addresses[0]
        if reference is None or alert.role in UNTOKENED_ROLES:
            return base
        try:
            return make_reply_address(
                base, alert_id=alert.id, episode_ref=reference, role=alert.role, secret=self.secret
            )
        except ValueError:
            # A role the token cannot name (a long custom role): the alert must still go out;
            # a reply then reaches us as a plain message quoting the reference.
            log.warning("alert id=%s role=%s: no reply token possible", alert.id, alert.role)
            return base

    def _record_all(self, outcomes: list[Outcome], report: DeliveryReport) -> None:
        if not outcomes:
            return
        self._held.update((o.alert_id, o) for o in outcomes)
        self._sent_now = []
        with tx.write(self.engine) as session:
            # One locking SELECT for the batch, not one per alert (each of which also flushed
            # the previous alert's changes): the biggest cost of sending in bench/cpu.py.
            rows = outbox.lock_many(session, [o.alert_id for o in outcomes])
            for o in outcomes:
                with self._context(o.alert_id):
                    self._record(
                        session,
                        rows.get(o.alert_id),
                        report,
                        temporary=o.temporary,
                        permanent=o.permanent,
                        local=o.local,
                    )
        for o in outcomes:
            self._held.pop(o.alert_id, None)
        if self.on_sent is not None:
            for received_at, sent_at, event in self._sent_now:
                try:
                    self.on_sent(received_at, sent_at, event)
                except Exception as exc:  # a metric must never cost an alert
                    log.warning("could not record time to alert: %s", type(exc).__name__)

    def _record(
        self,
        session: tx.Tx,
        alert: Alert | None,
        report: DeliveryReport,
        *,
        temporary: str | None = None,
        permanent: str | None = None,
        local: bool = False,
    ) -> None:
        now = self.clock()
        if alert is None or alert.status != QUEUED:
            return
        if temporary is None and permanent is None:
            # A file in the outbox is not an email anyone has: say so in the status.
            done = WRITTEN if isinstance(self.transport, FileTransport) else SENT
            alert.status = done
            alert.sent_at = now
            alert.last_error = None
            if done == WRITTEN:
                report.written += 1
            else:
                report.sent += 1
            facts = self._facts.get(alert.id)
            if facts is not None and facts.received_at is not None:
                self._sent_now.append((facts.received_at, now, alert.event))
            log.info(
                "alert id=%s event=%s role=%s status=%s attempts=%s",
                alert.id,
                alert.event,
                alert.role,
                done,
                alert.attempts,
            )
            _audit(session, alert, done, now, attempts=alert.attempts)
            return
        error = permanent or temporary or ""
        alert.last_error = error[:2000]
        if permanent is None and (local or alert.attempts < self.settings.relay.max_attempts):
            delay = self._backoff(alert.attempts)
            alert.next_attempt_at = now + timedelta(seconds=delay)
            report.retried += 1
            # A local fault needs an operator (free the disk); a relay's 4xx usually does not.
            log.log(
                logging.ERROR if local else logging.WARNING,
                "alert id=%s status=queued attempts=%s retry_in=%.1fs error=%s",
                alert.id,
                alert.attempts,
                delay,
                _ADDRESS.sub("<address>", error.split(":")[0])[:80],
            )
            return
        alert.status = FAILED
        report.failed += 1
        reason = "permanent failure" if permanent else "retries exhausted"
        log.error(
            "alert id=%s event=%s role=%s status=failed (%s)",
            alert.id,
            alert.event,
            alert.role,
            reason,
        )
        _audit(session, alert, "failed", now, error=alert.last_error, reason=reason)
        if self.on_give_up is not None and alert.event != "delivery_failed":
            self.on_give_up(session, alert, f"{reason}: {alert.last_error}")

    def _backoff(self, attempts: int) -> float:
        """Exponential, capped, with equal jitter (half the step fixed, half random), so a dead
        relay is not hammered by every row in step."""
        relay = self.settings.relay
        # The exponent is capped: a local fault retries for ever, and 2 ** 1024 overflows.
        ceiling = min(relay.max_backoff_seconds, relay.backoff_seconds * 2 ** min(attempts - 1, 32))
        return float(ceiling / 2 + self.rng.uniform(0, ceiling / 2))


def _audit(session: tx.Tx, alert: Alert, action: str, now: datetime, **detail: object) -> None:
    """The audit row of an alert's final outcome (sent, written or failed), by the sender."""
    outbox.audit(session, alert, action, actor="sender", at=now, detail=detail)
