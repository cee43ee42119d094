"""The listener over real sockets, fed by smtplib, on both databases."""

from __future__ import annotations

import smtplib
import threading
import time

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from mailbridge.store import db, inbound
from mailbridge.store.models import InboundMessage
from tests.conftest import sample_report

ADDR = "missing@council.example"


@pytest.fixture
def service(engine, make_settings, run_service):
    settings = make_settings(
        "[smtp]\nmax_message_size = 20000\nmax_recipients = 3\n"
        # 80 messages from one sender at once: the rate limit has its own tests.
        "rate_limit_per_sender = 0\nrate_limit_per_ip = 0\n"
        "[processing]\npoll_seconds = 0.2\n",
        addresses=f"{ADDR},second@council.example",
    )
    return run_service(settings)


def client(svc) -> smtplib.SMTP:
    return smtplib.SMTP(svc.host, svc.port, timeout=30)


def stored(svc) -> list[InboundMessage]:
    engine = db.make_engine(svc.settings.database_url)
    with Session(engine) as s:
        result = list(s.scalars(select(InboundMessage).order_by(InboundMessage.id)))
        for r in result:
            _ = r.raw
    engine.dispose()
    return result


def wait_for(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_accepts_stores_then_processes(service):
    raw = sample_report(1)
    with client(service) as c:
        code, _ = c.ehlo()
        assert code == 250
        c.sendmail("carer@homes.example", [ADDR], raw)
    (row,) = stored(service)
    assert row.raw == raw
    assert row.mail_from == "carer@homes.example"
    assert row.source == "smtp"
    assert row.peer and row.peer.startswith("127.0.0.1:")
    wait_for(lambda: stored(service)[0].status == "processed")


def test_unknown_recipient_is_refused_at_rcpt(service):
    with client(service) as c, pytest.raises(smtplib.SMTPRecipientsRefused) as err:
        c.sendmail("x@y.example", ["someone@else.example"], sample_report(1))
    code, _ = err.value.recipients["someone@else.example"]
    assert code == 550
    assert stored(service) == []


def test_ehlo_announces_size_8bitmime_smtputf8(service):
    with client(service) as c:
        c.ehlo()
        assert c.has_extn("size") and c.esmtp_features["size"] == "20000"
        assert c.has_extn("8bitmime")
        assert c.has_extn("smtputf8")


def test_oversize_message_gets_552(service):
    big = sample_report(1) + (b"x" * 70 + b"\r\n") * 400
    with client(service) as c:
        c.ehlo()
        c.mail("carer@homes.example")
        c.rcpt(ADDR)
        code, _ = c.data(big)
    assert code == 552
    assert stored(service) == []


def test_multiple_recipients_and_the_recipient_limit(service):
    with client(service) as c:
        refused = c.sendmail(
            "carer@homes.example",
            [ADDR, "second@council.example", "no@x.example"],
            sample_report(2),
        )
        assert set(refused) == {"no@x.example"}
        c.mail("carer@homes.example")
        for _ in range(3):
            assert c.rcpt(ADDR)[0] == 250
        assert c.rcpt(ADDR)[0] == 452
        c.rset()
    (row,) = stored(service)
    assert row.rcpt_tos == [ADDR, "second@council.example"]


def test_smtputf8_and_8bit_bodies(service):
    raw = (
        "From: Chloé <chloé@homes.example>\r\nSubject: Chloé est partie\r\n"
        "Message-ID: <utf8@x>\r\n\r\nChloé n'est pas rentrée.\r\n"
    ).encode()
    with client(service) as c:
        c.ehlo()
        c.sendmail("chloé@homes.example", [ADDR], raw, mail_options=["SMTPUTF8", "BODY=8BITMIME"])
    (row,) = stored(service)
    assert row.raw == raw
    assert row.mail_from == "chloé@homes.example"


def test_several_clients_at_once(service):
    errors: list[BaseException] = []

    def send(worker: int) -> None:
        try:
            with client(service) as c:
                for n in range(10):
                    c.sendmail("carer@homes.example", [ADDR], sample_report(worker * 100 + n))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    rows = stored(service)
    assert len(rows) == 80
    assert len({r.message_id for r in rows}) == 80
    wait_for(lambda: all(r.status == "processed" for r in stored(service)), timeout=30)


def test_storage_failure_gives_451_and_intake_resumes(service, monkeypatch):
    real = inbound.insert_batch
    down = threading.Event()
    down.set()

    def flaky(session, items):
        if down.is_set():
            raise OperationalError("INSERT", {}, Exception("database is unavailable"))
        return real(session, items)

    monkeypatch.setattr(inbound, "insert_batch", flaky)
    with client(service) as c:
        with pytest.raises(smtplib.SMTPDataError) as err:
            c.sendmail("carer@homes.example", [ADDR], sample_report(1))
        assert err.value.smtp_code == 451
        assert b"4.3.0" in err.value.smtp_error
        down.clear()
        c.sendmail("carer@homes.example", [ADDR], sample_report(1))
    (row,) = stored(service)
    assert row.message_id == "report-1@carer.example"


def test_duplicate_delivery_is_accepted_and_recorded(service):
    with client(service) as c:
        c.sendmail("carer@homes.example", [ADDR], sample_report(5))
        c.sendmail("carer@homes.example", [ADDR], sample_report(5))
    first, second = stored(service)
    assert second.status == "ignored" and second.duplicate_of == first.id


def test_mail_over_starttls_is_stored(engine, make_settings, run_service, tls_files):
    settings = make_settings(f"[smtp]\n{tls_files.toml()}require_tls = true\n", addresses=ADDR)
    svc = run_service(settings)
    with client(svc) as c:
        c.ehlo()
        assert c.mail("carer@homes.example")[0] == 530
        c.starttls(context=tls_files.client_context())
        c.sendmail("carer@homes.example", [ADDR], sample_report(7))
    (row,) = stored(svc)
    assert row.raw == sample_report(7)
