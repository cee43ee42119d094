"""`mailbridge serve`: wires the listener, the intake writer and the worker, and stops cleanly."""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Callable

from sqlalchemy import Engine

from mailbridge import db
from mailbridge.config import Settings
from mailbridge.errors import MailbridgeError
from mailbridge.ingress.smtp import Listener
from mailbridge.intake import Intake
from mailbridge.processing import build_pipeline
from mailbridge.worker import Worker

log = logging.getLogger(__name__)


def open_store(settings: Settings) -> Engine:
    """The engine, with the schema at head (SQLite) or checked to be (PostgreSQL)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = db.make_engine(settings.database_url)
    db.ensure_schema(engine)
    return engine


async def serve(
    settings: Settings,
    *,
    ready: Callable[[str, int], None] | None = None,
    stop: asyncio.Event | None = None,
) -> int:
    """Run until SIGTERM/SIGINT (or ``stop``, for callers that are not the main thread)."""
    engine = open_store(settings)
    worker = Worker(engine, build_pipeline(settings), settings.processing)
    intake = Intake(engine, on_stored=worker.wake)
    listener = Listener(settings.smtp, intake)
    loop = asyncio.get_running_loop()
    stopping = stop or asyncio.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stopping.set)

    try:
        host, port = await listener.start()
    except OSError as exc:
        engine.dispose()
        raise MailbridgeError(
            f"cannot listen on {settings.smtp.host}:{settings.smtp.port}: {exc.strerror or exc}"
        ) from exc
    worker.start()
    log.info(
        "mailbridge listening on %s:%d for %s; store %s",
        host,
        port,
        ", ".join(settings.smtp.addresses),
        engine.url.render_as_string(hide_password=True),
    )
    if ready is not None:
        ready(host, port)
    await stopping.wait()

    log.info("stopping: no new connections; finishing messages in flight")
    await listener.stop()
    await loop.run_in_executor(None, intake.close)
    await loop.run_in_executor(None, worker.stop)
    engine.dispose()
    log.info("stopped cleanly")
    return 0
