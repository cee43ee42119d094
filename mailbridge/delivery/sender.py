"""The sender: claims queued alert rows and hands them to the relay, or to .eml files.

Delivery is at least once: a row is claimed (attempt counted) before the relay is called,
and marked sent after. A crash in between resends the same email with the same Message-ID,
which mail systems and people can recognise as one message (invariant 4).

Claims follow the priority lanes (store/outbox.py, issue 18): lane 1 first, then by due time;
every ``SHARE_EVERY``-th claim takes the oldest due rows of any lane, so none starves.
"""

from __future__ import annotations

import email
import errno
import io
import logging
import os
import random
import re
import smtplib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.charset import QP, Charset
from email.encoders import encode_base64
from email.generator import BytesGenerator
from email.header import Header
from email.message import Message
from email.mime.base import MIMEBase
from email.mime.message import MIMEMessage
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.mime.text import MIMEText
from email.policy import compat32
from email.utils import format_datetime, formataddr
from pathlib import Path
from typing import NamedTuple, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from mailbridge.clock import Clock, system_clock
from mailbridge.delivery.reply_secret import reply_secret
from mailbridge.delivery.reply_tokens import make_reply_address
from mailbridge.ops import oauth2, tls
from mailbridge.ops.logs import log_context
from mailbridge.runtime.loop import BackgroundLoop
from mailbridge.settings.config import Settings
from mailbridge.settings.sections import is_graph_url
from mailbridge.store import inbound, outbox, tx
from mailbridge.store.models import (
    FAILED,
    QUEUED,
    SENT,
    WRITTEN,
    Alert,
)

log = logging.getLogger(__name__)
_FILE_POLICY = compat32.clone(linesep="\r\n")
# The text part in quoted-printable, not base64: an alert read as a raw file or mail source
# still reads as text (the README shows one); the HTML part stays base64.
_READABLE = Charset("utf-8")
_READABLE.body_encoding = QP


class TemporaryFailure(Exception):
    """4xx, refused, timed out, disk full: worth trying again later."""


class PermanentFailure(Exception):
    """5xx: this recipient will not take this message."""


class LocalFailure(TemporaryFailure):
    """Our own side failed (the outbox disk is full or unwritable). The recipient was never
    tried, so this never uses up relay.max_attempts: the alert waits, queued, for the disk."""


class Connection(Protocol):
    def send(self, message: Message, recipient: str) -> None: ...


class Transport(Protocol):
    def open(self) -> AbstractContextManager[Connection]: ...


# -- transports ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RelayTarget:
    host: str
    port: int
    implicit_tls: bool
    starttls: bool
    username: str | None
    password: str | None


def parse_relay_url(url: str) -> RelayTarget:
    """`smtp://[user:pass@]host:port`, `smtps://…`, or `?starttls=1` (DESIGN.md contract)."""
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    implicit = parts.scheme == "smtps"
    return RelayTarget(
        host=parts.hostname or "localhost",
        port=parts.port or (465 if implicit else 25),
        implicit_tls=implicit,
        starttls=query.get("starttls", ["0"])[0].lower() in ("1", "true", "yes"),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


class _SmtpConnection:
    def __init__(self, client: smtplib.SMTP, sender: str) -> None:
        self.client = client
        self.sender = sender

    def send(self, message: Message, recipient: str) -> None:
        try:
            refused = self.client.send_message(message, self.sender, [recipient])
        except smtplib.SMTPRecipientsRefused as exc:
            code, reply = exc.recipients.get(recipient, (550, b"refused"))
            raise _classify(code, reply) from exc
        except smtplib.SMTPResponseException as exc:
            raise _classify(exc.smtp_code, exc.smtp_error) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise TemporaryFailure(f"relay connection failed: {exc}") from exc
        if refused:
            code, reply = refused[recipient]
            raise _classify(code, reply)


def _classify(code: int, reply: bytes | str) -> Exception:
    text = _text(reply)
    if 500 <= code < 600:
        return PermanentFailure(f"{code} {text}")
    return TemporaryFailure(f"{code} {text}")


class SmtpTransport:
    """smtplib in the sender's thread: STARTTLS, SMTPS and AUTH, certificates verified.

    With ``tokens`` (relay.auth = xoauth2) the login is AUTH XOAUTH2 for the URL's user, as
    smtp.office365.com and smtp.gmail.com take it; a refused token is renewed once and retried.
    """

    def __init__(
        self,
        url: str,
        *,
        sender: str,
        verify_tls: bool,
        timeout: float,
        ca_file: str = "",
        tokens: oauth2.TokenSource | None = None,
    ) -> None:
        self.target = parse_relay_url(url)
        self.tokens = tokens
        self.sender = sender
        self.timeout = timeout
        self.context = tls.client_context(verify=verify_tls, ca_file=ca_file)
        if not verify_tls:
            log.warning(
                "%s", tls.insecure_warning("relay.verify_tls", f"the relay {self.target.host}")
            )
        t = self.target
        if not (t.implicit_tls or t.starttls) and not tls.is_loopback(t.host):
            # Children's details, and the relay password if any, would cross in clear text.
            log.warning(
                "relay.url has no TLS (use smtps:// or ?starttls=1): alerts%s to %s travel in "
                "clear text",
                " and the relay password" if t.username else "",
                t.host,
            )

    @contextmanager
    def open(self) -> Iterator[Connection]:
        t = self.target
        try:
            client: smtplib.SMTP
            if t.implicit_tls:
                client = smtplib.SMTP_SSL(
                    t.host, t.port, timeout=self.timeout, context=self.context
                )
            else:
                client = smtplib.SMTP(t.host, t.port, timeout=self.timeout)
            client.ehlo()
            if t.starttls:
                client.starttls(context=self.context)
                client.ehlo()
            if self.tokens is not None:
                if not (t.implicit_tls or t.starttls) and not tls.is_loopback(t.host):
                    raise TemporaryFailure(
                        f"relay {t.host}:{t.port} has no TLS: an OAuth2 token is never sent in "
                        "clear text (use ?starttls=1 or smtps://)"
                    )
                self._xoauth2(client)
            elif t.username:
                client.login(t.username, t.password or "")
        except TemporaryFailure:
            client.close()  # the OAuth2 login failed; say why (the message) and hang up
            raise
        except smtplib.SMTPAuthenticationError as exc:
            raise TemporaryFailure(f"relay refused our login: {exc.smtp_code}") from exc
        except smtplib.SMTPResponseException as exc:
            raise TemporaryFailure(f"relay answered {exc.smtp_code} on connect") from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise TemporaryFailure(f"cannot reach relay {t.host}:{t.port}: {exc}") from exc
        try:
            yield _SmtpConnection(client, self.sender)
        finally:
            try:
                client.quit()
            except (smtplib.SMTPException, OSError):
                client.close()


    def _xoauth2(self, client: smtplib.SMTP) -> None:
        """AUTH XOAUTH2; TemporaryFailure says what to fix when no token is had or taken."""
        assert self.tokens is not None
        user = self.target.username or ""
        refusal = ""

        def login(token: str) -> None:
            nonlocal refusal

            def answer(challenge: bytes | None = None) -> str:
                # The server's JSON error comes as a challenge; an empty reply ends the exchange.
                return oauth2.xoauth2(user, token) if challenge is None else ""

            try:
                client.auth("XOAUTH2", answer)
            except smtplib.SMTPAuthenticationError as exc:
                refusal = f"{exc.smtp_code} {_text(exc.smtp_error)}"
                raise oauth2.TokenRefused(refusal) from exc

        try:
            self.tokens.call(user, login)
        except oauth2.OAuth2Error as exc:
            raise TemporaryFailure(f"relay {user}: no OAuth2 token: {exc}") from exc
        except oauth2.TokenRefused as exc:
            advice = oauth2.refused_advice(self.tokens, user, "SMTP")
            raise TemporaryFailure(
                f"relay {self.target.host}:{self.target.port} refused a fresh OAuth2 token for "
                f"{user} ({refusal}): {advice}"
            ) from exc

    def check(self) -> list[str]:
        """Connect, secure and log in as the sender would, send nothing; one line per fact.

        Raises TemporaryFailure whose message says in one line what is wrong.
        """
        t = self.target
        security = "SMTPS" if t.implicit_tls else ("STARTTLS" if t.starttls else "NONE")
        lines = [f"relay:      {t.host}:{t.port} ({security})"]
        with self.open():
            if self.tokens is not None:
                lines.append(
                    f"login:      XOAUTH2 as {t.username}: "
                    + oauth2.describe(self.tokens, t.username or "")
                )
            elif t.username:
                lines.append(f"login:      password as {t.username}")
            else:
                lines.append("login:      none (the relay takes mail without AUTH)")
        return lines


def _text(reply: bytes | str) -> str:
    return (reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply).strip()


class _FileConnection:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def send(self, message: Message, recipient: str) -> None:
        name = str(message["Message-ID"]).strip("<>").replace("/", "_")
        target = self.directory / f"{name}.eml"
        tmp = self.directory / f".{name}.tmp"
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            buffer = io.BytesIO()
            buffer.write(f"X-Mailbridge-Envelope-To: {recipient}\r\n".encode())
            BytesGenerator(buffer, policy=_FILE_POLICY).flatten(message)
            # Unbuffered: the one write reaches the file before the fsync, no flush needed.
            with open(tmp, "wb", buffering=0) as fh:
                rest = memoryview(buffer.getvalue())
                while rest:  # a raw write may be short (a nearly full disk)
                    written = fh.write(rest)
                    if not written:
                        raise OSError(errno.ENOSPC, "no progress writing the outbox file")
                    rest = rest[written:]
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except OSError as exc:
            # Cleanup must not mask the error: the unlink fails too when the outbox is a file.
            with suppress(OSError):
                tmp.unlink(missing_ok=True)
            # The reason comes first: the retry log line keeps only the text before a colon.
            raise LocalFailure(
                f"cannot write the outbox ({exc.strerror or exc}): {target}"
            ) from exc


class FileTransport:
    """The embedded default: each alert becomes an .eml file in DATA_DIR/outbox/."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @contextmanager
    def open(self) -> Iterator[Connection]:
        yield _FileConnection(self.directory)


def relay_is_secure(settings: Settings) -> bool:
    """An encrypted, verified hop to the relay. No relay (.eml files) is not a secure send."""
    if not settings.relay.url:
        return False
    if is_graph_url(settings.relay.url):  # HTTPS, certificates always verified
        return settings.graph.base_url.startswith("https://")
    target = parse_relay_url(settings.relay.url)
    return (target.implicit_tls or target.starttls) and settings.relay.verify_tls


def make_transport(settings: Settings) -> Transport:
    """SMTP relay, Microsoft Graph sendMail (``graph://mailbox``) or .eml files."""
    from mailbridge.delivery import graph  # noqa: PLC0415 - graph imports this module

    if is_graph_url(settings.relay.url):
        return graph.make_graph_transport(
            settings.relay.url,
            settings.graph,
            settings.oauth2,
            timeout=settings.relay.timeout_seconds,
            ca_file=settings.relay.ca_file,
        )
    if settings.relay.url:
        return SmtpTransport(
            settings.relay.url,
            sender=settings.from_address,
            verify_tls=settings.relay.verify_tls,
            timeout=settings.relay.timeout_seconds,
            ca_file=settings.relay.ca_file,
            tokens=oauth2.source_from_settings(settings.oauth2, settings.relay.auth),
        )
    return FileTransport(settings.data_dir / "outbox")


# -- building the email -------------------------------------------------------------------


def _header(value: str) -> str:
    """ASCII stays as it is; anything else is RFC 2047-encoded (names like Chloé in a note)."""
    return value if value.isascii() else Header(value, "utf-8").encode()


def build_email(
    alert: Alert,
    *,
    sender: str,
    reply_to: str,
    original: bytes | None,
    attachment: bool = True,
) -> Message:
    """The alert as a MIME message, built with the compat32 classes.

    ``email.policy.default`` costs about 20 ms an alert to build and flatten here, more than
    the relay round trip; the legacy classes do the same job in a fraction of that.
    """
    body = MIMEMultipart("alternative")
    text = MIMENonMultipart("text", "plain")
    text.set_payload(alert.body_text, _READABLE)
    body.attach(text)
    body.attach(MIMEText(alert.body_html, "html", "utf-8"))
    msg: Message = body
    if attachment and alert.attachment_name and alert.attachment is not None:
        msg = MIMEMultipart("mixed")
        msg.attach(body)
        maintype, _, subtype = (alert.attachment_type or "application/octet-stream").partition("/")
        part = MIMEBase(maintype, subtype or "octet-stream")
        part.set_payload(alert.attachment)
        encode_base64(part)
        part.add_header("Content-Disposition", "attachment", filename=alert.attachment_name)
        msg.attach(part)
    if alert.attach_inbound and original is not None:
        if msg is body:
            msg = MIMEMultipart("mixed")
            msg.attach(body)
        # RFC 2046 5.2.1: a message/rfc822 part is never base64 (readers then cannot open it).
        # Parsed with compat32, the original is written back (8bit) almost byte for byte.
        inner = MIMEMessage(email.message_from_bytes(original, policy=compat32))
        inner.add_header("Content-Disposition", "attachment", filename="original-message.eml")
        msg.attach(inner)
    msg["From"] = formataddr(("mailbridge", sender))
    msg["To"] = alert.recipient
    msg["Subject"] = _header(alert.subject)
    msg["Message-ID"] = f"<{alert.message_id}>"
    msg["Date"] = format_datetime(alert.created_at)
    msg["Reply-To"] = reply_to
    # RFC 3834: machine-sent; receipts say auto-replied (set in headers), alerts auto-generated.
    headers = dict(alert.headers or {})
    msg["Auto-Submitted"] = headers.pop("Auto-Submitted", "auto-generated")
    for name, value in headers.items():
        msg[name] = _header(value)
    msg["X-Mailbridge-Alert"] = str(alert.id)
    return msg


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
_COMMANDS_PER_ALERT = 6
# Roles whose replies are not acknowledgements: the carer's replies to a receipt are updates.
# Nor are replies from outside the council (host authority, police): their "thanks" must
# never stop our own staff's escalation clock.
# Roles whose attachment (a child's Philomena profile) crosses only a verified TLS relay.
SECURE_ATTACHMENT_ROLES = frozenset({"police"})
UNTOKENED_ROLES = frozenset({"reporter", "fallback", "interviewer", "host_authority", "police"})


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
        return timedelta(seconds=self.settings.relay.timeout_seconds * _COMMANDS_PER_ALERT)

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
            inbound.audit(
                session,
                at=now,
                actor="sender",
                entity="alert",
                entity_id=alert.id,
                action=done,
                detail={"attempts": alert.attempts},
            )
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
        inbound.audit(
            session,
            at=now,
            actor="sender",
            entity="alert",
            entity_id=alert.id,
            action="failed",
            detail={"error": alert.last_error, "reason": reason},
        )
        if self.on_give_up is not None and alert.event != "delivery_failed":
            self.on_give_up(session, alert, f"{reason}: {alert.last_error}")

    def _backoff(self, attempts: int) -> float:
        """Exponential, capped, with equal jitter (half the step fixed, half random), so a dead
        relay is not hammered by every row in step."""
        relay = self.settings.relay
        # The exponent is capped: a local fault retries for ever, and 2 ** 1024 overflows.
        ceiling = min(relay.max_backoff_seconds, relay.backoff_seconds * 2 ** min(attempts - 1, 32))
        return float(ceiling / 2 + self.rng.uniform(0, ceiling / 2))
