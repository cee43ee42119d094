"""End to end: a report sent over SMTP to the real `serve` comes out at a real relay.

The relay is an aiosmtpd sink on localhost (tests/support/relay.py). The directory is imported
from tests/fixtures/directory.csv into the same database before serve starts. Runs on SQLite
and, when configured, PostgreSQL.
"""

from __future__ import annotations

import re
import signal
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from mailbridge.store import db
from tests.support.e2e import (
    fetch,
    mail,
    send,
    start,
    wait_delivered,
    wait_until_nothing_pending,
)
from tests.support.env import RunningService, SettingsFactory
from tests.support.relay import Received, Sink
from tests.support.serve import FAST_TOML, Serve

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SW = "sam.patel@council.example"
IRO = "ruth.okafor@council.example"
APPRENTICE = "apprentice@council.example"
EDT = "edt@council.example"
# Out of hours (depends on when the tests run) the EDT is told as well; nobody else.
MAYBE = {EDT}
SUBJECT = re.compile(r"^\[MB-\d{4}-\d{5}\] MISSING: J\.C\. \(100231\)$")
FULL_NAMES = ("Jordan", "Carter", "Mia", "Kowalski", "Chloé", "Dubois")


def received_for(sink: Sink, rows: list[Any]) -> dict[str, Received]:
    wanted = {r.message_id: r.recipient for r in rows}
    got = {m.message_id: m for m in sink.messages() if m.message_id in wanted}
    for mid, m in got.items():
        assert m.rcpt_tos == [wanted[mid]]
    return {wanted[mid]: m for mid, m in got.items()}


def plain(msg: EmailMessage) -> str:
    part = msg.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def html(msg: EmailMessage) -> str:
    part = msg.get_body(("html",))
    assert part is not None
    return str(part.get_content())


# -- the full path ------------------------------------------------------------------------


def test_report_over_smtp_reaches_the_right_people_within_seconds(
    world: Engine,
    database_url: str,
    make_settings: SettingsFactory,
    run_service: Callable[[Any], RunningService],
    relay: Sink,
) -> None:
    svc = start(run_service, make_settings, relay)
    raw = mail(
        "e2e-1@homes.example",
        "Jordan Carter missing",
        "Jordan Carter (100231) went out at 7pm and has not come back.\n"
        "He was last seen at the bus station wearing a red coat.\n"
        "Police reference 1123 of 26/11/2026.",
    )
    acked = send(svc.port, raw)
    rows = wait_delivered(database_url, relay, "e2e-1@homes.example")
    by_to = received_for(relay, rows)
    latency = max(m.at for m in by_to.values()) - acked
    assert latency < 5, f"the last alert arrived {latency:.2f} s after the 250 (poll-only?)"

    staff = {SW, IRO, APPRENTICE}
    assert staff <= set(by_to) - {"oakview@homes.example"} <= staff | MAYBE
    for to in set(by_to) - {"oakview@homes.example"}:
        msg = by_to[to].parsed()
        assert msg["To"] == to
        subject = str(msg["Subject"])
        assert SUBJECT.match(subject), subject
        assert msg.get_all("Auto-Submitted") == ["auto-generated"]
        body = plain(msg)
        for fact in ("100231", "bus station", "red coat", "1123"):
            assert fact in body, f"{fact!r} missing from the alert to {to}"
        assert "bus station" in html(msg)
        assert re.search(r"MB-\d{4}-\d{5}", body)

    receipts = [m for m in relay.messages() if m.rcpt_tos == ["oakview@homes.example"]]
    assert len(receipts) == 1
    receipt = receipts[0].parsed()
    assert receipt.get_all("Auto-Submitted") == ["auto-replied"]
    assert receipt["In-Reply-To"] == "<e2e-1@homes.example>"
    assert re.search(r"MB-\d{4}-\d{5}", plain(receipt))
    for m in relay.messages():
        subject = str(m.parsed()["Subject"])
        assert not any(name in subject for name in FULL_NAMES), subject

    # High risk adds the team manager; the subject says so, with initials only.
    acked = send(
        svc.port,
        mail(
            "e2e-2@homes.example",
            "Mia Kowalski missing - high risk",
            "Mia Kowalski (100234) has not come home from school. She is high risk.",
            sender="hillcrest@fostering.example",
        ),
        sender="hillcrest@fostering.example",
    )
    rows = wait_delivered(database_url, relay, "e2e-2@homes.example")
    by_to = received_for(relay, rows)
    assert max(m.at for m in by_to.values()) - acked < 5
    staff = {SW, "grace.mensah@council.example", APPRENTICE, "tm.south@council.example"}
    assert staff <= set(by_to) - {"hillcrest@fostering.example"} <= staff | MAYBE
    tm = by_to["tm.south@council.example"].parsed()
    assert re.match(
        r"^\[MB-\d{4}-\d{5}\] MISSING: M\.K\. \(100234\) HIGH RISK$", str(tm["Subject"])
    )
    assert len([m for m in relay.messages() if m.rcpt_tos == ["hillcrest@fostering.example"]]) == 1


def test_no_receipt_to_auto_replies_bounces_or_list_mail(
    world: Engine,
    database_url: str,
    make_settings: SettingsFactory,
    run_service: Callable[[Any], RunningService],
    relay: Sink,
) -> None:
    svc = start(run_service, make_settings, relay)
    machine = {
        name: (FIXTURES / "reports" / f"{name}.eml").read_bytes()
        for name in ("out_of_office", "out_of_office_subject_only", "bounce_dsn", "mailing_list")
    }
    # The carer's own out-of-office, answering our receipt: a reply to it would start a loop.
    machine["carer_ooo"] = mail(
        "ooo-carer@homes.example",
        "Automatic reply: Your report about J.C. (100231)",
        "I am away until Monday. Jordan Carter (100231) is still missing, call the home.",
        extra="Auto-Submitted: auto-replied\r\nIn-Reply-To: <mb.x@council.example>\r\n",
    )
    for raw in machine.values():
        send(svc.port, raw)
    # A real report after them. Workers take messages in any order, so its alerts going out
    # does not mean the ones before are done: wait for the store to hold nothing pending.
    send(svc.port, mail("e2e-after@homes.example", "Jordan missing", "Jordan (100231) is out."))
    wait_delivered(database_url, relay, "e2e-after@homes.example")
    wait_until_nothing_pending(database_url)

    ids = (
        "ooo-1@council.example.gov.uk",
        "ooo-2@council.example.gov.uk",
        "ooo-carer@homes.example",
    )
    rows = fetch(
        database_url,
        "SELECT m.message_id, m.status, m.reason, count(a.id) AS alerts FROM inbound_messages m "
        "LEFT JOIN alerts a ON a.inbound_id = m.id "
        "WHERE m.message_id <> 'e2e-after@homes.example' GROUP BY m.id, m.message_id, m.status, "
        "m.reason ORDER BY m.id",
    )
    assert len(rows) == len(machine)
    for r in rows:
        assert r.status == "ignored", r
        assert r.alerts == 0, f"{r.message_id} ({r.reason}) raised {r.alerts} alert(s)"
    assert {r.message_id for r in rows} >= set(ids)
    receipts = [m for m in relay.messages() if m.parsed()["Auto-Submitted"] == "auto-replied"]
    assert len(receipts) == 1, "one receipt, for the one real report"
    assert receipts[0].parsed()["In-Reply-To"] == "<e2e-after@homes.example>"
    machine_senders = {
        "jane.social@council.example.gov.uk",
        "bob.manager@council.example.gov.uk",
        "mailer-daemon@mx.council.example.gov.uk",
        "news@fostercarers-network.example.org",
    }
    for m in relay.messages():
        assert not set(m.rcpt_tos) & machine_senders, m.rcpt_tos


def test_template_injection_does_not_run_and_does_not_break_the_alert(
    world: Engine,
    database_url: str,
    make_settings: SettingsFactory,
    run_service: Callable[[Any], RunningService],
    relay: Sink,
) -> None:
    svc = start(run_service, make_settings, relay)
    hostile_text = (
        "Jordan Carter (100231) has gone missing again, last seen at the park.\n"
        "{{ 7*7 }} {{ 1234*5 }} {% for x in range(3) %}loop{% endfor %} {{ config }}\n"
        "<script>alert(1)</script> <b>bold</b> </blockquote><p>after</p>"
    )
    hostile_html = (
        "<html><body><p>Jordan Carter (100231) has gone missing again.</p>"
        "<script>alert(1)</script><p>{{ 7*7 }} {{ 1234*5 }}</p>"
        '<img src="x" onerror="alert(2)"></body></html>'
    )
    boundary = "b0undary"
    raw = (
        "From: Carer <oakview@homes.example>\r\nTo: missing@council.example\r\n"
        "Subject: {{ 1234*5 }} <script>alert(3)</script> Jordan Carter missing\r\n"
        "Message-ID: <e2e-inject@homes.example>\r\n"
        f"Date: {format_datetime(datetime.now(UTC))}\r\nMIME-Version: 1.0\r\n"
        f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n\r\n'
        f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        + hostile_text.replace("\n", "\r\n")
        + f"\r\n--{boundary}\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        + hostile_html
        + f"\r\n--{boundary}--\r\n"
    ).encode()
    send(svc.port, raw)
    rows = wait_delivered(database_url, relay, "e2e-inject@homes.example")
    by_to = received_for(relay, rows)
    assert {SW, IRO, APPRENTICE} <= set(by_to)
    for to, received in by_to.items():
        msg = received.parsed()
        text_part, html_part = plain(msg), html(msg)
        subject = str(msg["Subject"])
        for part in (text_part, html_part, subject):
            assert "6170" not in part, f"a template expression ran in the alert to {to}"
            assert "looploop" not in part
        assert "<script" not in html_part.lower()
        assert "onerror=" not in html_part.lower() or "&lt;img" in html_part
        assert "\n" not in subject.strip()
        if to == "oakview@homes.example":
            continue  # the receipt does not quote the carer's words back
        assert SUBJECT.match(subject), subject
        assert "{{ 7*7 }}" in text_part and "{{ 1234*5 }}" in text_part
        assert "&lt;script&gt;" in html_part
        assert "100231" in text_part and "park" in text_part


# -- SIGKILL in the middle of delivery ----------------------------------------------------


@pytest.fixture
def serve_url(database_url: str) -> str:
    if not database_url.startswith("sqlite"):
        eng = db.make_engine(database_url)
        try:
            db.upgrade(eng)
        finally:
            eng.dispose()
    return database_url


@pytest.fixture
def servers() -> Iterator[list[Serve]]:
    started: list[Serve] = []
    yield started
    for s in started:
        s.cleanup()


CHILDREN = [
    ("100231", "Jordan Carter", "oakview@homes.example"),
    ("100232", "Chloe Dubois", "riverside.carers@fostering.example"),
    ("100234", "Mia Kowalski", "hillcrest@fostering.example"),
]


@pytest.mark.slow
def test_killing_serve_mid_delivery_loses_no_alert(
    serve_url: str, tmp_path: Path, servers: list[Serve]
) -> None:
    sink = Sink(delay=0.1).start()  # a slow relay, so the kill lands mid-delivery
    try:
        toml = FAST_TOML + "[relay]\ntimeout_seconds = 1\nbackoff_seconds = 0.5\n"
        first = Serve(tmp_path, serve_url, toml=toml, name="first", env={"relay_url": sink.url})
        for step in (("db", "upgrade"), ("directory", "import", str(FIXTURES / "directory.csv"))):
            done = first.run(*step)
            assert done.returncode == 0, done.stderr
        first.start()
        servers.append(first)
        reports = 6
        for n in range(reports):
            child_id, name, carer = CHILDREN[n % len(CHILDREN)]
            body = f"{name} ({child_id}) has not come home. Report {n}."
            raw = mail(f"kill-{n}@homes.example", f"{name} missing", body, sender=carer)
            send(first.port, raw, sender=carer)
        assert len(sink.wait_for(5, timeout=30)) >= 5, first.stderr()
        first.signal(signal.SIGKILL)
        assert first.wait(10) == -signal.SIGKILL
        at_kill = len(sink.messages())

        second = Serve(
            tmp_path,
            serve_url,
            toml=toml,
            port=first.port,
            name="second",
            env={"relay_url": sink.url},
        ).start()
        servers.append(second)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            (pending,) = fetch(
                serve_url, "SELECT count(*) FROM inbound_messages WHERE status = 'pending'"
            )[0]
            (unsent,) = fetch(serve_url, "SELECT count(*) FROM alerts WHERE status <> 'sent'")[0]
            if pending == 0 and unsent == 0:
                break
            time.sleep(0.2)
        assert second.stop() == 0, second.stderr()

        rows = fetch(serve_url, "SELECT id, message_id, status, recipient FROM alerts")
        inbound = fetch(serve_url, "SELECT status FROM inbound_messages")
        assert len(inbound) == reports and all(s == "processed" for (s,) in inbound)
        assert all(r.status == "sent" for r in rows), [r for r in rows if r.status != "sent"]
        assert at_kill < len(rows), "the kill did not land in the middle of delivery"

        copies: dict[str, set[str]] = defaultdict(set)
        for m in sink.messages():
            copies[str(m.headers["X-Mailbridge-Alert"])].add(m.message_id)
        for r in rows:
            # Every alert arrived; a duplicate after the crash carries the same Message-ID.
            assert copies[str(r.id)] == {r.message_id}, (r, copies[str(r.id)])
        assert set(copies) == {str(r.id) for r in rows}
        assert "Traceback" not in second.stderr()
    finally:
        sink.stop()
