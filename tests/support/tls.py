"""An SMTP sink that speaks STARTTLS with a throwaway CA's certificate, for TLS tests."""

from __future__ import annotations

import asyncio
import threading

from aiosmtpd.smtp import SMTP

from mailbridge.ops import tls
from tests.support.relay import SinkHandler


class TlsSink:
    """An aiosmtpd relay on 127.0.0.1 on its own loop and thread, certificate from the test CA.

    STARTTLS (required before MAIL) or implicit TLS (SMTPS).
    """

    def __init__(self, cert_file: str, key_file: str, *, implicit: bool) -> None:
        self.implicit = implicit
        self.handler = SinkHandler()
        self.context = tls.server_context(cert_file, key_file)
        self.loop = asyncio.new_event_loop()
        self.server: asyncio.Server | None = None
        self.port = 0
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def _protocol(self) -> SMTP:
        if self.implicit:
            return SMTP(self.handler, hostname="sink", loop=self.loop)
        return SMTP(
            self.handler,
            hostname="sink",
            tls_context=self.context,
            require_starttls=True,
            loop=self.loop,
        )

    def start(self) -> TlsSink:
        self.thread.start()

        async def listen() -> asyncio.Server:
            return await self.loop.create_server(
                self._protocol,
                "127.0.0.1",
                0,
                ssl=self.context if self.implicit else None,
            )

        self.server = asyncio.run_coroutine_threadsafe(listen(), self.loop).result(10)
        self.port = int(self.server.sockets[0].getsockname()[1])
        return self

    def stop(self) -> None:
        async def close() -> None:
            assert self.server is not None
            self.server.close()

        asyncio.run_coroutine_threadsafe(close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    @property
    def url(self) -> str:
        if self.implicit:
            return f"smtps://127.0.0.1:{self.port}"
        return f"smtp://127.0.0.1:{self.port}?starttls=1"
