"""Refusals are no longer silent: logged without addresses, counted, shown and alerted on.

Real listener over real sockets (smtplib and a raw socket), on both databases.
"""

from __future__ import annotations

import logging
import smtplib
import socket
import time
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select
from sqlalchemy.orm import Session

from mailbridge.alerts.outbox import Notifier
from mailbridge.ingress.replies import ReplyTally, address_hash, without_addresses
from mailbridge.ops import health
from mailbridge.ops.metrics import ServiceMetrics
from mailbridge.runtime import refusals
from mailbridge.store import db, service
from mailbridge.store.models import InboundMessage
from tests.support.env import alert_rows, sample_report, wait_until

ADDR = "missing@council.example"
T0 = datetime(2026, 11, 26, 21, 10, tzinfo=UTC)


def stored(svc) -> list[InboundMessage]:
    engine = db.make_engine(svc.settings.database_url)
    with Session(engine) as s:
        rows = list(s.scalars(select(InboundMessage).order_by(InboundMessage.id)))
        for r in rows:
            _ = r.raw
    engine.dispose()
    return rows


@pytest.fixture
def svc(engine, make_settings, run_service):
    settings = make_settings(
        "[smtp]\nmax_message_size = 20000\nrate_limit_per_sender = 0\nrate_limit_per_ip = 0\n"
        "refusal_alert_threshold = 3\n[processing]\npoll_seconds = 0.2\ntimer_seconds = 0.2\n"
    )
    return run_service(settings)


def _refuse(svc, rcpt: str) -> tuple[int, bytes]:
    with smtplib.SMTP(svc.host, svc.port, timeout=30) as c:
        c.ehlo()
        c.mail("carer@homes.example")
        return c.rcpt(rcpt)


def test_a_misspelt_address_of_ours_is_logged_hashed_counted_shown_and_alerted(
    svc, database_url, caplog
):
    caplog.set_level(logging.WARNING, logger="mailbridge")
    for _ in range(3):
        code, reply = _refuse(svc, "misssing@council.example")
        assert code == 550, reply
    assert _refuse(svc, "someone@elsewhere.example")[0] == 550  # not our domain
    with smtplib.SMTP(svc.host, svc.port, timeout=30) as c:
        c.sendmail("carer@homes.example", [ADDR], sample_report(1))

    logged = [r.getMessage() for r in caplog.records if "SMTP refused" in r.getMessage()]
    assert len(logged) == 4, logged
    assert all("council.example" not in m and "elsewhere" not in m for m in logged), logged
    assert sum(address_hash("misssing@council.example") in m for m in logged) == 3
    assert sum("our domain" in m for m in logged) == 3

    # Three own-domain 550s reach the threshold: one notice to the duty desk, not one each.
    wait_until(lambda: len(alert_rows(database_url, "smtp_refusals")) == 1)
    (notice,) = alert_rows(database_url, "smtp_refusals")
    assert notice.role == "duty"
    assert notice.subject.startswith("SMTP REFUSALS: 3 messages to our domain refused")
    assert "code 550:" in notice.body_text and "smtp.addresses" in notice.body_text
    # A fourth refusal in the same hour tells nobody again.
    _refuse(svc, "misssing@council.example")
    time.sleep(1.0)
    assert len(alert_rows(database_url, "smtp_refusals")) == 1

    engine = db.make_engine(database_url)
    try:
        wait_until(lambda: _count(engine, "550") == (4, 5))
        with Session(engine) as s:
            snap = health.snapshot(s, datetime.now(UTC))
        line = health.snapshot_lines(snap, svc.settings.tz)[-1]
        assert "550 x5 (4 to our domain)" in line, line
        assert health.snapshot_json(snap)["smtp_replies_24h"]["550"] == {
            "total": 5,
            "own_domain": 4,
        }
        assert health.snapshot_json(snap)["smtp_replies_24h"]["250"]["total"] >= 4
    finally:
        engine.dispose()


def _count(engine, code: str) -> tuple[int, int]:
    with Session(engine) as s:
        for r in service.reply_counts(s, datetime.now(UTC) - timedelta(hours=1)):
            if r.code == code:
                return r.own_domain, r.total
    return 0, 0


def test_552_names_the_limit_with_5_3_4_and_is_counted(svc, caplog):
    caplog.set_level(logging.WARNING, logger="mailbridge")
    big = sample_report(1) + (b"x" * 70 + b"\r\n") * 400
    with smtplib.SMTP(svc.host, svc.port, timeout=30) as c:
        c.ehlo()
        c.mail("carer@homes.example")
        c.rcpt(ADDR)
        code, reply = c.data(big)
    assert code == 552
    assert reply.startswith(b"5.3.4 ") and b"20000 bytes" in reply, reply
    assert stored(svc) == []
    assert any("SMTP refused (552, our domain)" in r.getMessage() for r in caplog.records)
    # MAIL with a SIZE over the limit: the same words.
    with smtplib.SMTP(svc.host, svc.port, timeout=30) as c:
        c.ehlo()
        code, reply = c.mail("carer@homes.example", ["SIZE=999999"])
    assert code == 552 and reply.startswith(b"5.3.4 ") and b"20000 bytes" in reply


def test_a_2400_character_line_is_accepted_whole(svc):
    line = ("Jordan left the home at 8pm wearing a blue coat. " * 50)[:2400]
    raw = (
        b"From: Carer <carer@homes.example>\r\nTo: " + ADDR.encode() + b"\r\n"
        b"Subject: Missing: Jordan\r\nMessage-ID: <long-line@homes.example>\r\n\r\n"
        + line.encode()
        + b"\r\n"
    )
    with smtplib.SMTP(svc.host, svc.port, timeout=30) as c:
        c.sendmail("carer@homes.example", [ADDR], raw)
        # The command line limit still holds after DATA.
        code, _ = c.docmd("NOOP " + "x" * 1200)
        assert code == 500
        assert c.noop()[0] == 250
    (row,) = stored(svc)
    assert line.encode() in (row.raw or b"")


def test_a_long_line_over_the_size_limit_is_552_not_500(svc):
    with socket.create_connection((svc.host, svc.port), timeout=10) as sock:
        sock.recv(1024)
        sock.sendall(
            b"EHLO x\r\nMAIL FROM:<c@homes.example>\r\n" + f"RCPT TO:<{ADDR}>\r\n".encode()
        )
        time.sleep(0.1)
        sock.sendall(b"DATA\r\n")
        time.sleep(0.1)
        sock.sendall(b"Subject: x\r\n\r\n" + b"y" * 30000 + b"\r\n.\r\nQUIT\r\n")
        replies = b""
        while chunk := sock.recv(4096):
            replies += chunk
    assert b"552 5.3.4 Message too big" in replies
    assert b"500" not in replies


def test_a_multi_line_ehlo_reply_counts_once(engine, make_settings, run_service):
    """smtplib against the real listener: its EHLO reply has several "250-" lines and a last
    "250 " line, and is one reply."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        http_port = int(sock.getsockname()[1])
    svc = run_service(make_settings("", http_enabled="true", http_port=str(http_port)))
    with smtplib.SMTP(svc.host, svc.port, timeout=30) as c:
        code, features = c.ehlo()
        assert code == 250 and len(features.splitlines()) >= 3  # a multi-line reply
        c.sendmail("carer@homes.example", [ADDR], sample_report(1))

    def counts() -> dict[str, float]:
        with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/metrics", timeout=10) as r:
            text = r.read().decode()
        return {
            s.labels["code"]: s.value
            for f in text_string_to_metric_families(text)
            for s in f.samples
            if s.name == "mailbridge_smtp_replies_total"
        }

    wait_until(lambda: counts().get("221", 0) >= 1)
    # 220 greeting; 250 for EHLO, MAIL, RCPT and the end of DATA; 354; 221 for QUIT.
    assert counts() == {"220": 1, "250": 4, "354": 1, "221": 1}


def test_a_reply_code_is_read_from_the_last_line_only():
    tally = ReplyTally([], clock=lambda: T0)
    for line in ("250-mx.council.example", "250-SIZE 26214400", "250-8BITMIME", "250 HELP"):
        tally.reply(line, own_domain=False, peer=None)
    tally.reply("250-first\r\n250 last\r\n", own_domain=False, peer=None)
    tally.reply("221", own_domain=False, peer=None)
    assert tally.totals() == {"250": 2, "221": 1}


def test_replies_total_counts_every_code_of_this_process():
    tally = ReplyTally(["council.example"], clock=lambda: T0)
    for reply in ("250 2.0.0 OK", "250 OK", "550 5.1.1 <a@b.example>: no", "451 4.3.0 later"):
        tally.reply(reply, own_domain=False, peer=None)
    tally.reply("not a reply", own_domain=False, peer=None)
    metrics = ServiceMetrics()
    metrics.watch_replies(tally.totals)
    text = generate_latest(metrics.registry).decode()
    got = {
        s.labels["code"]: s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
        if s.name == "mailbridge_smtp_replies_total"
    }
    assert got == {"250": 2, "451": 1, "550": 1}


def test_logged_replies_hash_every_address():
    text = without_addresses("550 5.1.1 <Jo.Carer@Homes.example>: mailbox unavailable, <>")
    assert "Jo.Carer" not in text and "homes" not in text.lower()
    assert f"<{address_hash('jo.carer@homes.example')}>" in text and text.endswith("<>")


def test_counts_from_two_instances_add_up_and_the_notice_goes_once(engine, make_settings):
    settings = make_settings("[smtp]\nrefusal_alert_threshold = 4\n")
    db.ensure_schema(engine)
    notifier = Notifier(settings)
    first, second = (ReplyTally(["council.example"], clock=lambda: T0) for _ in range(2))
    for tally in (first, second):
        for _ in range(2):
            tally.reply("550 5.1.1 <x@council.example>: no", own_domain=True, peer=None)
        tally.reply("550 5.1.1 <x@else.example>: no", own_domain=False, peer=None)
    assert refusals.record(engine, first, notifier, settings, T0) == 0  # 2 of 4
    assert refusals.record(engine, second, notifier, settings, T0) == 1  # 4 of 4: told
    second.reply("550 5.1.1 <x@council.example>: no", own_domain=True, peer=None)
    assert refusals.record(engine, second, notifier, settings, T0) == 0  # same hour: not again
    with Session(engine) as s:
        (count,) = [r for r in service.reply_counts(s, T0) if r.code == "550"]
        assert (count.total, count.own_domain) == (7, 5)
    # The next hour starts a new count.
    later = T0 + timedelta(hours=1)
    third = ReplyTally(["council.example"], clock=lambda: later)
    for _ in range(4):
        third.reply("550 5.1.1 <x@council.example>: no", own_domain=True, peer=None)
    assert refusals.record(engine, third, notifier, settings, later) == 1


def test_metrics_of_a_running_serve_count_each_reply_code(engine, make_settings, run_service):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        http_port = int(sock.getsockname()[1])
    settings = make_settings(
        "[smtp]\nmax_message_size = 20000\n", http_enabled="true", http_port=str(http_port)
    )
    svc = run_service(settings)
    assert _refuse(svc, "nobody@elsewhere.example")[0] == 550
    with smtplib.SMTP(svc.host, svc.port, timeout=30) as c:
        c.sendmail("carer@homes.example", [ADDR], sample_report(1))
        c.ehlo()
        c.mail("carer@homes.example")
        c.rcpt(ADDR)
        assert c.data(sample_report(2) + b"x" * 30000)[0] == 552

    def counts() -> dict[str, float]:
        with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/metrics", timeout=10) as r:
            text = r.read().decode()
        return {
            s.labels["code"]: s.value
            for f in text_string_to_metric_families(text)
            for s in f.samples
            if s.name == "mailbridge_smtp_replies_total"
        }

    wait_until(lambda: counts().get("221", 0) >= 2)
    got = counts()
    assert (got["550"], got["552"], got["354"]) == (1, 1, 2)
    # EHLO x3 (each once, however many lines), MAIL x3, RCPT x2, end of DATA x1
    assert got["250"] == 9, got
    assert (got["220"], got["221"]) == (2, 2)
