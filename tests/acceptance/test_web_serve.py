"""`mailbridge serve` with `[web] enabled = true`: the app is served, and a page stuck in the
database never delays the SMTP listener (the web app has its own thread and event loop)."""

from __future__ import annotations

import smtplib
import threading
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from mailbridge.store import views
from mailbridge.store.models import InboundMessage
from tests.support.browser import wait_for
from tests.support.web import BASE, CARER, World, free_port, login, references

pytestmark = pytest.mark.slow
STUCK = 4


def test_a_stuck_page_does_not_hold_up_the_smtp_listener(
    engine: Any, make_settings: Any, run_service: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    settings = make_settings(
        f"[web]\nenabled = true\nport = {port}\n[processing]\npoll_seconds = 0.2\n"
    )
    world = World(engine, settings)
    world.add_user("duty1", "duty", "duty@council.example")
    svc = run_service(settings)
    base = f"http://127.0.0.1:{port}"

    # Fault injected: the Now page's query waits until the test lets it go.
    release = threading.Event()
    entered = threading.Semaphore(0)
    real = views.open_episodes

    def stuck(*args: Any, **kwargs: Any) -> Any:
        entered.release()
        assert release.wait(60), "never released"
        return real(*args, **kwargs)

    monkeypatch.setattr(views, "open_episodes", stuck)
    client = login(base, "duty1")
    answers: list[httpx.Response] = []

    def ask() -> None:
        answers.append(client.get("/episodes", timeout=90))

    askers = [threading.Thread(target=ask) for _ in range(STUCK)]
    for t in askers:
        t.start()
    for _ in range(STUCK):
        assert entered.acquire(timeout=30), "the page requests did not reach the database"

    # Every page is stuck in its query; a carer's report still gets its 250 and is processed.
    with smtplib.SMTP(svc.host, svc.port, timeout=15) as smtp:
        refused = smtp.sendmail(CARER, [BASE], (
            f"From: {CARER}\r\nTo: {BASE}\r\nSubject: Missing: Jordan Carter (100231)\r\n"
            "Message-ID: <stuck-page@x>\r\n\r\nJordan Carter (100231) has not come home.\r\n"
        ).encode())
    assert refused == {}
    assert not answers, "a page answered before it was released"

    def processed() -> bool:
        with Session(engine) as s:
            status = s.scalar(select(InboundMessage.status))
        return status == "processed"

    wait_for(processed, what="the report processed while the pages were stuck")
    release.set()
    for t in askers:
        t.join(60)
    assert [a.status_code for a in answers] == [200] * STUCK
    assert all(len(references(a.text)) == 1 for a in answers)
