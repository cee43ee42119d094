"""The web app's server: uvicorn on its own thread and event loop, beside the SMTP listener.

`mailbridge serve` starts it when ``[web] enabled = true``. The SMTP listener has its own loop on
the main thread; this one never shares it, and the app runs its database work in a thread pool,
so a slow page (a big report, a locked row) cannot delay a carer's 250. bench/web_now.py and
the serve test measure that.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading

import uvicorn

from mailbridge.clock import Clock, system_clock
from mailbridge.errors import StartupError
from mailbridge.settings.config import Settings
from mailbridge.store import tx
from mailbridge.web.app import create_app

log = logging.getLogger(__name__)


class WebServer:
    """Start, learn the bound port, stop; for `serve` and the tests alike."""

    def __init__(
        self, settings: Settings, engine: tx.Engine, *, clock: Clock = system_clock
    ) -> None:
        self.settings = settings
        app = create_app(settings, engine, clock=clock)
        config = uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            lifespan="off",
            proxy_headers=bool(settings.web.forwarded_allow_ips),
            forwarded_allow_ips=settings.web.forwarded_allow_ips or None,
            server_header=False,
        )
        self.server = uvicorn.Server(config)
        self.thread: threading.Thread | None = None
        self.host = settings.web.host
        self.port = settings.web.port
        self._socket: socket.socket | None = None

    def start(self) -> tuple[str, int]:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError as exc:
            sock.close()
            raise StartupError(
                f"cannot serve the web app on {self.host}:{self.port}: {exc.strerror or exc}"
            ) from exc
        sock.listen(128)
        sock.setblocking(False)
        self._socket = sock
        self.port = sock.getsockname()[1]
        self.thread = threading.Thread(target=self._run, name="mailbridge-web", daemon=True)
        self.thread.start()
        for _ in range(200):
            if self.server.started or not self.thread.is_alive():
                break
            threading.Event().wait(0.025)
        if not self.server.started:
            raise StartupError(f"the web app did not start on {self.host}:{self.port}")
        log.info("web app on http://%s:%d/", self.host, self.port)
        return self.host, self.port

    def _run(self) -> None:
        assert self._socket is not None
        asyncio.run(self.server.serve(sockets=[self._socket]))

    def stop(self) -> None:
        self.server.should_exit = True
        if self.thread is not None:
            self.thread.join(timeout=10)
        if self._socket is not None:
            self._socket.close()
