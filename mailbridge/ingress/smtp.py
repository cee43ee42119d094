"""aiosmtpd handler: accept only our addresses, and say 250 only once the message is committed.

The listener also carries the transport defences (docs/tls.md, README "SMTP behaviour"):
STARTTLS with our certificate, optional AUTH after TLS, connection limits, a header-size
limit and a per-sender/per-IP rate limit. Every refusal that a real carer could meet is a 4xx,
so their mail server retries; only what can never succeed (oversized) is a 5xx.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import socket
import ssl
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword
from aiosmtpd.smtp import Session as SmtpSession

from mailbridge.ingress.limits import ConnectionLimiter, RateLimiter
from mailbridge.ingress.replies import ReplyTally, domains_of
from mailbridge.intake import Intake, make_incoming
from mailbridge.ops import passwords, tls
from mailbridge.settings.config import accepts_address
from mailbridge.settings.sections import SmtpSettings

log = logging.getLogger(__name__)

TEMP_FAIL = "451 4.3.0 Requested action aborted: local storage problem, please try again later"
HEADER_TOO_BIG = "552 5.3.4 Message header too large"
# aiosmtpd's own 552 texts ("Too much mail data") name no limit and no enhanced code.
# A DATA line is read up to the size limit, so aiosmtpd's "500 Line too long" there means a
# line longer than a whole message may be: too big, said the same way.
_AIOSMTPD_TOO_BIG = (
    "552 Error: Too much mail data",
    "552 Error: message size exceeds",
    "500 Line too long",
)
# Command lines keep the RFC 5321 limit; DATA lines may be as long as a whole message.
COMMAND_LINE_LIMIT = 1001
# Failed or repeated AUTH commands per connection before aiosmtpd closes it with 421.
AUTH_ATTEMPTS = 3
# An end-of-data look-alike that is not <CRLF>.<CRLF>: a sign of an SMTP smuggling attempt.
_FAKE_END = re.compile(rb"(?<!\r)\n\.(?:\r\n|\n)|\r\.(?:\r\n|\n)|\r\n\.\n")


def header_block_size(raw: bytes) -> int:
    """Bytes before the blank line that ends the header block (all of them when there is none)."""
    ends = [i for i in (raw.find(b"\r\n\r\n"), raw.find(b"\n\n")) if i >= 0]
    return min(ends) if ends else len(raw)


def too_big(limit: int) -> str:
    """The 552 for a message over smtp.max_message_size, saying what the limit is."""
    return f"552 5.3.4 Message too big: the limit is {limit} bytes ({limit / 1_048_576:.1f} MB)"


def _ip(peer: Any) -> str:
    if isinstance(peer, tuple) and peer:
        return str(peer[0])
    return str(peer or "")


def _peer(peer: Any) -> str | None:
    if isinstance(peer, tuple) and peer:
        return f"{peer[0]}:{peer[1]}" if len(peer) > 1 else str(peer[0])
    return str(peer) if peer else None


class IntakeHandler:
    """Hooks named as aiosmtpd expects; every failure path answers 4xx so the sender retries."""

    def __init__(
        self,
        settings: SmtpSettings,
        intake: Intake,
        rates: RateLimiter | None = None,
        *,
        offers_auth: bool = False,
    ) -> None:
        self.settings = settings
        self.intake = intake
        self.offers_auth = offers_auth
        self.rates = rates or RateLimiter(
            per_sender=settings.rate_limit_per_sender,
            per_ip=settings.rate_limit_per_ip,
            window=settings.rate_window_seconds,
        )
        self.in_flight = 0

    async def handle_EHLO(
        self,
        server: SMTP,
        session: SmtpSession,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        """Without an auth file there is nothing to log in to: drop aiosmtpd's AUTH line."""
        session.host_name = hostname
        if self.offers_auth:
            return responses
        return [r for r in responses if not r.startswith("250-AUTH")]

    async def handle_MAIL(
        self,
        server: SMTP,
        session: SmtpSession,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        if not session.authenticated:
            over = self.rates.check(address, _ip(session.peer))
            if over is not None:
                # No address: a carer's address never goes into the logs.
                log.warning(
                    "rate limit (%s) reached: deferred MAIL peer=%s", over, _peer(session.peer)
                )
                return "451 4.7.1 Too many messages, please try again later"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 OK"

    async def handle_RCPT(
        self,
        server: SMTP,
        session: SmtpSession,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if not accepts_address(self.settings.addresses, address):
            # Counted as ours when the domain is ours: a misspelt address, a wrong setting.
            session.refused_recipient = address  # type: ignore[attr-defined]
            return f"550 5.1.1 <{address}>: mailbox unavailable, this address takes no mail"
        if len(envelope.rcpt_tos) >= self.settings.max_recipients:
            return "452 4.5.3 Too many recipients"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: SmtpSession, envelope: Envelope) -> str:
        raw = envelope.original_content
        if raw is None:
            content = envelope.content
            raw = (
                content.encode("utf-8", "surrogateescape") if isinstance(content, str) else content
            )
        raw = raw or b""
        peer = _peer(session.peer)
        if header_block_size(raw) > self.settings.max_header_bytes:
            log.warning("refused a message from peer=%s: header block too large", peer)
            return HEADER_TOO_BIG
        if _FAKE_END.search(raw):
            # aiosmtpd ends DATA only at <CRLF>.<CRLF>, so this stays one message; say so.
            log.warning(
                "message from peer=%s holds a bare-LF/CR end-of-data look-alike (possible SMTP "
                "smuggling); kept whole as one message",
                peer,
            )
        incoming = make_incoming(
            raw,
            source="smtp",
            mail_from=envelope.mail_from,
            rcpt_tos=envelope.rcpt_tos,
            peer=peer,
        )
        self.in_flight += 1
        try:
            stored = await self.intake.accept_async(incoming)
        except Exception as exc:
            log.error("storage failed for a message from peer=%s: %s", peer, type(exc).__name__)
            return TEMP_FAIL
        finally:
            self.in_flight -= 1
        if not session.authenticated:
            self.rates.record(envelope.mail_from or "", _ip(session.peer))
        return f"250 2.0.0 OK stored as {stored.id}"

    async def handle_exception(self, error: Exception) -> str:
        """aiosmtpd would answer 500 here; a fault of ours must make the sender retry."""
        log.error("SMTP session error: %s", type(error).__name__)
        return "451 4.3.0 Temporary local error, please try again later"


class Authenticator:
    """aiosmtpd authenticator over `smtp.auth_file`: PLAIN and LOGIN, after STARTTLS only."""

    def __init__(self, users: dict[str, str]) -> None:
        self.users = users

    @classmethod
    def from_file(cls, path: str) -> Authenticator:
        users, problems = passwords.parse_auth_file(Path(path).read_text(encoding="utf-8"))
        for problem in problems:
            log.error("smtp.auth_file %s: %s (that line is ignored)", path, problem)
        return cls(users)

    def __call__(
        self,
        server: SMTP,
        session: SmtpSession,
        envelope: Envelope,
        mechanism: str,
        auth_data: Any,
    ) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        user = auth_data.login.decode("utf-8", "replace")
        stored = self.users.get(user)
        password = auth_data.password.decode("utf-8", "replace")
        # Unknown users cost a hash too, so timing does not tell which users exist.
        ok = passwords.verify_password(password, stored or _dummy_hash()) and stored is not None
        if not ok:
            log.warning(
                "AUTH %s failed for user %r from peer=%s", mechanism, user, _peer(session.peer)
            )
            return AuthResult(success=False, handled=False)
        log.info("AUTH %s succeeded for user %r from peer=%s", mechanism, user, _peer(session.peer))
        return AuthResult(success=True, auth_data=user)


@functools.cache
def _dummy_hash() -> str:
    return passwords.hash_password("mailbridge: no such user")


class Listener:
    """The listening socket and its live sessions, so shutdown can drain them."""

    def __init__(
        self, settings: SmtpSettings, intake: Intake, tally: ReplyTally | None = None
    ) -> None:
        self.settings = settings
        self.tally = tally or ReplyTally(domains_of(settings.addresses))
        self.tls_context: ssl.SSLContext | None = None
        if settings.tls_cert_file:
            self.tls_context = tls.server_context(settings.tls_cert_file, settings.tls_key_file)
        self.authenticator = (
            Authenticator.from_file(settings.auth_file) if settings.auth_file else None
        )
        self.handler = IntakeHandler(settings, intake, offers_auth=self.authenticator is not None)
        self.server: asyncio.Server | None = None
        self.sessions: set[SMTP] = set()
        self.hostname = socket.gethostname()
        self.connections = ConnectionLimiter(
            total=settings.max_connections, per_ip=settings.max_connections_per_ip
        )

    def _factory(self) -> SMTP:
        listener = self
        refusal = "421 4.7.0 {host} {reason}, try again later\r\n"

        class TrackedSMTP(SMTP):
            admitted_ip: str | None = None

            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                first = self.transport is None  # STARTTLS calls this again on the same session
                super().connection_made(transport)
                if not first:
                    return
                ip = _ip(transport.get_extra_info("peername"))
                reason = listener.connections.admit(ip)
                if reason is not None:
                    log.warning("refused a connection from %s: %s", ip, reason)
                    if self._handler_coroutine is not None:
                        self._handler_coroutine.cancel()  # never greets
                    text = refusal.format(host=listener.hostname, reason=reason)
                    listener.tally.reply(text, own_domain=False, peer=ip)
                    transport.write(text.encode())  # type: ignore[attr-defined]
                    transport.close()
                    return
                self.admitted_ip = ip
                listener.sessions.add(self)

            async def push(self, status: Any) -> None:
                """Every reply passes here: 552 names the limit; each is counted."""
                text = status.decode("utf-8", "replace") if isinstance(status, bytes) else status
                if text.startswith(_AIOSMTPD_TOO_BIG):
                    text = too_big(listener.settings.max_message_size)
                session = self.session
                refused = getattr(session, "refused_recipient", None)
                if refused is not None:
                    own = listener.tally.is_own(refused)
                    session.refused_recipient = None  # type: ignore[union-attr]
                else:
                    envelope = self.envelope
                    own = bool(envelope is not None and envelope.rcpt_tos)
                listener.tally.reply(
                    text, own_domain=own, peer=_peer(session.peer if session else None)
                )
                await super().push(text)

            async def smtp_DATA(self, arg: str) -> None:
                """Long lines (web forms, some phones) are read whole, up to the size limit.

                aiosmtpd reads DATA with the command-line limit (1001) and answers 500 to a
                longer line; RFC 5322 lets a receiver be liberal. Lines still end only at
                CRLF, so bare-LF smuggling is caught as before (handle_DATA).
                """
                limit = listener.settings.max_message_size + 2
                self._reader._limit = limit  # type: ignore[attr-defined]
                self.line_length_limit = limit
                try:
                    await super().smtp_DATA(arg)
                finally:
                    self._reader._limit = COMMAND_LINE_LIMIT  # type: ignore[attr-defined]
                    self.line_length_limit = COMMAND_LINE_LIMIT

            def connection_lost(self, exc: Exception | None) -> None:
                listener.sessions.discard(self)
                if self.admitted_ip is not None:
                    listener.connections.release(self.admitted_ip)
                    self.admitted_ip = None
                super().connection_lost(exc)

        auth: dict[str, Any] = (
            {"authenticator": self.authenticator}
            if self.authenticator is not None
            else {"auth_exclude_mechanism": ["PLAIN", "LOGIN"]}
        )
        return TrackedSMTP(
            self.handler,
            data_size_limit=self.settings.max_message_size,
            enable_SMTPUTF8=True,
            decode_data=False,
            hostname=self.hostname,
            ident="mailbridge",
            timeout=self.settings.idle_timeout,
            command_call_limit={"*": self.settings.max_commands, "AUTH": AUTH_ATTEMPTS},
            tls_context=self.tls_context,
            require_starttls=self.settings.require_tls,
            auth_require_tls=True,
            **auth,
        )

    async def start(self) -> tuple[str, int]:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(
            self._factory, host=self.settings.host, port=self.settings.port
        )
        sock = self.server.sockets[0].getsockname()
        return str(sock[0]), int(sock[1])

    async def stop(self, grace: float = 30.0) -> None:
        """Stop accepting, let messages already in DATA commit, then close sessions."""
        if self.server is None:
            return
        self.server.close()
        deadline = asyncio.get_running_loop().time() + grace
        while self.handler.in_flight and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.02)
        for session in list(self.sessions):
            if session.transport is not None:
                session.transport.close()
        await self.server.wait_closed()
