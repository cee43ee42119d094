"""The optional HTTP endpoint of `serve` ([http] enabled): /metrics and /healthz.

A stdlib WSGI server on its own daemon threads, so a slow scrape never touches the SMTP
listener's event loop. /metrics is prometheus_client's own WSGI app over the service's
registry. /healthz answers 200 when this instance can do its job (the database answers and
the listener accepts connections) and 503 otherwise, with the parts as JSON. The IMAP state
is reported, and the Graph reader's when graph.mailbox is set (its state here, and from the
store its last completed round, the age of its delta link and its last error, as `mailbridge
status` shows them: ops/health.py); but only a reader thread that has died makes the instance
unhealthy: a mailbox that is down, or held by another instance, is no reason to take this
listener out of a load balancer.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import make_wsgi_app

from mailbridge import __version__
from mailbridge.clock import Clock, system_clock
from mailbridge.ops import health
from mailbridge.ops.metrics import read_only
from mailbridge.store import health as figures
from mailbridge.store import tx

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


@dataclass
class Probes:
    """How /healthz looks at the parts of this instance."""

    engine: tx.Engine
    listener_up: Callable[[], bool]
    imap_state: Callable[[], str]
    # The Graph reader: its (mailbox, folder) when graph.mailbox is set, and its thread's state.
    graph: tuple[str, str] | None = None
    graph_state: Callable[[], str] | None = None
    clock: Clock = system_clock


def check(probes: Probes) -> tuple[bool, dict[str, Any]]:
    """(healthy, the JSON body of /healthz)."""
    database: dict[str, Any] = {"ok": True}
    database_ok = True
    now: datetime = probes.clock()
    graph: dict[str, Any] | None = None
    if probes.graph is not None:
        state = probes.graph_state() if probes.graph_state is not None else "stopped"
        graph = health.reader_part(state)
    try:
        with tx.read(read_only(probes.engine)) as t:
            figures.ping(t)
            if graph is not None and probes.graph is not None:
                status = health.graph_status(t, *probes.graph)
                graph.update(health.graph_json(probes.graph[1], status, now))
    except Exception as exc:
        database_ok = False
        database = {"ok": False, "error": type(exc).__name__}
    try:
        listening = bool(probes.listener_up())
    except Exception:
        listening = False
    imap = health.reader_part(probes.imap_state())
    healthy = database_ok and listening and imap["ok"] and (graph is None or graph["ok"])
    body = {
        "status": "ok" if healthy else "unhealthy",
        "version": __version__,
        "database": database,
        "listener": {"ok": listening},
        "imap": imap,
    }
    if graph is not None:
        body["graph"] = graph
    return healthy, body


def make_app(metrics_app: WsgiApp, probes: Probes) -> WsgiApp:
    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/metrics":
            return metrics_app(environ, start_response)
        if path == "/healthz":
            healthy, body = check(probes)
            data = json.dumps(body).encode()
            status = "200 OK" if healthy else "503 Service Unavailable"
            start_response(
                status,
                [
                    ("Content-Type", "application/json"),
                    ("Content-Length", str(len(data))),
                    ("Cache-Control", "no-store"),
                ],
            )
            return [data]
        data = b"not found: try /healthz or /metrics\n"
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [data]

    return app


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    """wsgiref prints every request to stderr; a scrape every 15 s is not news."""

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("http %s", format % args)


class HttpEndpoint:
    def __init__(self, host: str, port: int, app: WsgiApp) -> None:
        self.server = make_server(
            host, port, app, server_class=_Server, handler_class=_QuietHandler
        )
        self.host, self.port = self.server.server_address[:2]
        self._thread = threading.Thread(
            target=self.server.serve_forever, name="http", kwargs={"poll_interval": 0.2}
        )
        self._thread.daemon = True

    def start(self) -> None:
        self._thread.start()
        log.info("metrics and health on http://%s:%d/metrics and /healthz", self.host, self.port)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)


def start_endpoint(host: str, port: int, *, registry: Any, probes: Probes) -> HttpEndpoint:
    """Bind and serve in a daemon thread; raises OSError when the port cannot be had."""
    endpoint = HttpEndpoint(host, port, make_app(make_wsgi_app(registry), probes))
    endpoint.start()
    return endpoint
