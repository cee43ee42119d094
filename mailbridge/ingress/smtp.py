"""aiosmtpd handler: accept only our addresses, and say 250 only once the message is committed."""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope
from aiosmtpd.smtp import Session as SmtpSession

from mailbridge.config import SmtpSettings, accepts_address
from mailbridge.intake import Intake, make_incoming

log = logging.getLogger(__name__)

TEMP_FAIL = "451 4.3.0 Requested action aborted: local storage problem, please try again later"


class IntakeHandler:
    """Hooks named as aiosmtpd expects; every failure path answers 4xx so the sender retries."""

    def __init__(self, settings: SmtpSettings, intake: Intake) -> None:
        self.settings = settings
        self.intake = intake
        self.in_flight = 0

    async def handle_RCPT(
        self,
        server: SMTP,
        session: SmtpSession,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if not accepts_address(self.settings.addresses, address):
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
        peer = _peer(session.peer)
        incoming = make_incoming(
            raw or b"",
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
        return f"250 2.0.0 OK stored as {stored.id}"

    async def handle_exception(self, error: Exception) -> str:
        """aiosmtpd would answer 500 here; a fault of ours must make the sender retry."""
        log.error("SMTP session error: %s", type(error).__name__)
        return "451 4.3.0 Temporary local error, please try again later"


def _peer(peer: Any) -> str | None:
    if isinstance(peer, tuple) and peer:
        return f"{peer[0]}:{peer[1]}" if len(peer) > 1 else str(peer[0])
    return str(peer) if peer else None


class Listener:
    """The listening socket and its live sessions, so shutdown can drain them."""

    def __init__(self, settings: SmtpSettings, intake: Intake) -> None:
        self.settings = settings
        self.handler = IntakeHandler(settings, intake)
        self.server: asyncio.Server | None = None
        self.sessions: set[SMTP] = set()
        self.hostname = socket.gethostname()

    def _factory(self) -> SMTP:
        listener = self

        class TrackedSMTP(SMTP):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                listener.sessions.add(self)
                super().connection_made(transport)

            def connection_lost(self, exc: Exception | None) -> None:
                listener.sessions.discard(self)
                super().connection_lost(exc)

        return TrackedSMTP(
            self.handler,
            data_size_limit=self.settings.max_message_size,
            enable_SMTPUTF8=True,
            decode_data=False,
            hostname=self.hostname,
            ident="mailbridge",
            timeout=self.settings.idle_timeout,
            command_call_limit=self.settings.max_commands,
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
