"""The sender against real relays: aiosmtpd sinks on localhost that answer 250, 451 or 550.

Alerts are made by the real pipeline (a report through intake and the worker, with the fixture
directory), then delivered by `Sender` passes driven by an injected clock, so backoff is
tested without sleeping (DESIGN invariants 4 and 6). Every database test runs on SQLite and,
when configured, PostgreSQL.
"""

from __future__ import annotations

import email
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage, Message
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from mailbridge.alerts.outbox import Notifier
from mailbridge.delivery.message import build_email
from mailbridge.delivery.sender import Sender
from mailbridge.delivery.transport import FileTransport, RelayTarget, parse_relay_url
from mailbridge.runtime.serve import make_workers
from mailbridge.store.models import Alert, InboundMessage
from tests.support.env import SettingsFactory
from tests.support.relay import (
    ADDRESS,
    CARER,
    FIXTURES,
    RECEIVED,
    FakeClock,
    Sink,
    alerts,
    by_recipient,
    free_port,
    import_fixture_directory,
    queue_alerts,
    report,
    store,
)

STAFF = {"sam.patel@council.example", "ruth.okafor@council.example", "apprentice@council.example"}
FALLBACK = "duty@council.example"

RELAY_TOML = """\
[relay]
timeout_seconds = 5
backoff_seconds = 2
max_backoff_seconds = 60
"""


# -- a relay you can script ---------------------------------------------------------------


@pytest.fixture
def sink() -> Iterator[Sink]:
    s = Sink().start()
    yield s
    s.stop()


# -- a world with one report's alerts queued ----------------------------------------------


@pytest.fixture
def world(engine: Engine) -> Engine:
    import_fixture_directory(engine)
    return engine


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(RECEIVED + timedelta(seconds=1))




# -- parse_relay_url ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://relay.example:2525", RelayTarget("relay.example", 2525, False, False, None, None)),
        ("smtp://relay.example", RelayTarget("relay.example", 25, False, False, None, None)),
        ("smtps://relay.example", RelayTarget("relay.example", 465, True, False, None, None)),
        ("smtps://relay.example:4650", RelayTarget("relay.example", 4650, True, False, None, None)),
        (
            "smtp://relay.example:587?starttls=1",
            RelayTarget("relay.example", 587, False, True, None, None),
        ),
        (
            "smtp://relay.example:587?starttls=true",
            RelayTarget("relay.example", 587, False, True, None, None),
        ),
        (
            "smtp://relay.example:587?starttls=0",
            RelayTarget("relay.example", 587, False, False, None, None),
        ),
        (
            "smtp://alerts:s3cret@relay.example:587?starttls=1",
            RelayTarget("relay.example", 587, False, True, "alerts", "s3cret"),
        ),
        (
            # %-escapes: '@', ':' and '/' in the user name and password
            "smtps://alerts%40council.example:p%40ss%3Aw%2Frd%25@relay.example",
            RelayTarget("relay.example", 465, True, False, "alerts@council.example", "p@ss:w/rd%"),
        ),
        ("smtp://[::1]:2525", RelayTarget("::1", 2525, False, False, None, None)),
    ],
)
def test_parse_relay_url(url: str, expected: RelayTarget) -> None:
    assert parse_relay_url(url) == expected


# -- temporary failures -------------------------------------------------------------------


def test_451_twice_then_250_delivers_each_alert_exactly_once(
    world: Engine, make_settings: SettingsFactory, clock: FakeClock
) -> None:
    sink = Sink(data_policy=lambda mid, n: "451 4.3.0 try again later" if n <= 2 else None)
    sink.start()
    try:
        settings = make_settings(RELAY_TOML, relay_url=sink.url)
        sender = queue_alerts(world, settings, clock, report())
        rows = alerts(world)
        assert {a.recipient for a in rows} == STAFF | {CARER}

        first = sender.deliver_once()
        assert (first.sent, first.retried, first.failed) == (0, len(rows), 0)
        for a in alerts(world):
            assert a.status == "queued"
            assert a.last_error is not None and a.last_error.startswith("451")
            # backoff_seconds * 2^0 = 2, with jitter in the upper half: 1..2 s
            assert 1 <= (a.next_attempt_at - clock()).total_seconds() <= 2
        # Not due yet: nothing is retried early.
        assert sender.deliver_once().handled == 0

        clock.advance(seconds=2.5)
        second = sender.deliver_once()
        assert (second.sent, second.retried, second.failed) == (0, len(rows), 0)
        for a in alerts(world):
            assert 2 <= (a.next_attempt_at - clock()).total_seconds() <= 4

        clock.advance(seconds=4.5)
        third = sender.deliver_due()
        assert (third.sent, third.retried, third.failed) == (len(rows), 0, 0)

        for a in alerts(world):
            assert (a.status, a.attempts, a.last_error) == ("sent", 3, None)
            assert a.sent_at == clock()
        received = sink.by_message_id()
        assert received == Counter({a.message_id: 1 for a in rows})
        assert all(n == 3 for n in sink.handler.data_attempts.values())
    finally:
        sink.stop()


def test_relay_down_for_a_minute_then_up_delivers_everything(
    world: Engine, make_settings: SettingsFactory, clock: FakeClock
) -> None:
    port = free_port()  # nothing listens here yet
    settings = make_settings(RELAY_TOML, relay_url=f"smtp://127.0.0.1:{port}")
    sender = queue_alerts(world, settings, clock, report())
    rows = alerts(world)

    # A minute of a dead relay, a pass whenever something is due.
    started = clock()
    while clock() - started < timedelta(minutes=1):
        result = sender.deliver_once()
        assert result.sent == result.failed == 0
        clock.advance(seconds=1)
    after_minute = alerts(world)
    assert all(a.status == "queued" for a in after_minute)
    assert all("cannot reach relay" in (a.last_error or "") for a in after_minute)
    tries = {a.attempts for a in after_minute}
    assert max(tries) <= 6, f"a dead relay was hammered: {tries} tries in a minute"

    sink = Sink(port=port).start()
    try:
        clock.advance(minutes=2)
        done = sender.deliver_due()
        assert (done.sent, done.failed) == (len(rows), 0)
        assert sink.by_message_id() == Counter({a.message_id: 1 for a in rows})
        final = alerts(world)
        assert all(a.status == "sent" and a.last_error is None for a in final)
        assert not [a for a in final if a.event == "delivery_failed"]
    finally:
        sink.stop()


def test_real_sender_thread_retries_without_being_woken(
    world: Engine, make_settings: SettingsFactory
) -> None:
    """The running sender sleeps until the next retry is due, not for a whole poll."""
    port = free_port()
    settings = make_settings(
        "[processing]\npoll_seconds = 30\n"
        "[relay]\ntimeout_seconds = 2\nbackoff_seconds = 0.2\nmax_backoff_seconds = 0.4\n",
        relay_url=f"smtp://127.0.0.1:{port}",
    )
    store(world, report(), at=datetime.now(UTC))
    worker, sender = make_workers(world, settings)
    worker.run_once()
    sender.start()
    try:
        time.sleep(1.0)  # the relay is down: a few tries fail
        assert all(a.status == "queued" and a.attempts >= 1 for a in alerts(world))
        sink = Sink(port=port).start()
        try:
            rows = alerts(world)
            got = sink.wait_for(len(rows), timeout=5)
            assert Counter(r.message_id for r in got) == Counter({a.message_id: 1 for a in rows})
        finally:
            sink.stop()
    finally:
        sender.stop(10)


# -- permanent failures and the fallback --------------------------------------------------


def test_550_for_one_recipient_fails_that_row_and_alerts_the_fallback(
    world: Engine, make_settings: SettingsFactory, clock: FakeClock
) -> None:
    iro = "ruth.okafor@council.example"
    sink = Sink(
        rcpt_policy=lambda to: "550 5.1.1 <ruth.okafor> no such user" if to == iro else None
    )
    sink.start()
    try:
        settings = make_settings(RELAY_TOML, relay_url=sink.url)
        sender = queue_alerts(world, settings, clock, report())
        result = sender.deliver_due()
        assert (result.sent, result.failed) == (4, 1)  # three others + the fallback; the IRO

        rows = by_recipient(world)
        failed = rows[iro]
        assert (failed.status, failed.attempts) == ("failed", 1)
        assert failed.last_error is not None and failed.last_error.startswith("550")
        assert "no such user" in failed.last_error
        for to in (STAFF - {iro}) | {CARER}:
            assert (rows[to].status, rows[to].attempts, rows[to].last_error) == ("sent", 1, None)

        fallback = rows[FALLBACK]
        assert (fallback.event, fallback.role, fallback.status) == (
            "delivery_failed",
            "fallback",
            "sent",
        )
        assert fallback.episode_id == failed.episode_id
        at_sink = {r.message_id: r for r in sink.messages()}
        assert set(at_sink) == {a.message_id for a in rows.values() if a.status == "sent"}
        told = at_sink[fallback.message_id].parsed()
        assert told["To"] == FALLBACK
        body = told.get_body(("plain",))
        assert body is not None
        text = body.get_content()
        assert iro in text and "550" in text
        assert "Carter" not in str(told["Subject"])
    finally:
        sink.stop()


def test_retries_exhausted_fail_the_row_and_alert_the_fallback(
    world: Engine, make_settings: SettingsFactory, clock: FakeClock
) -> None:
    sw = "sam.patel@council.example"
    sink = Sink(rcpt_policy=lambda to: "451 4.2.1 mailbox busy" if to == sw else None).start()
    try:
        settings = make_settings(RELAY_TOML + "max_attempts = 3\n", relay_url=sink.url)
        sender = queue_alerts(world, settings, clock, report())
        for _ in range(3):
            sender.deliver_due()
            clock.advance(minutes=2)
        sender.deliver_due()

        rows = by_recipient(world)
        assert (rows[sw].status, rows[sw].attempts) == ("failed", 3)
        assert (rows[sw].last_error or "").startswith("451")
        assert rows[FALLBACK].event == "delivery_failed"
        assert rows[FALLBACK].status == "sent"
        others = [a for to, a in rows.items() if to not in (sw, FALLBACK)]
        assert all(a.status == "sent" and a.attempts == 1 for a in others)
        fallback_mail = {r.message_id: r for r in sink.messages()}[rows[FALLBACK].message_id]
        body = fallback_mail.parsed().get_body(("plain",))
        assert body is not None and "retries exhausted" in body.get_content()
    finally:
        sink.stop()


def test_a_fallback_alert_that_fails_raises_no_further_alert(
    world: Engine, make_settings: SettingsFactory, clock: FakeClock
) -> None:
    refused = {"sam.patel@council.example", FALLBACK}
    sink = Sink(rcpt_policy=lambda to: "550 5.7.1 refused" if to in refused else None).start()
    try:
        settings = make_settings(RELAY_TOML, relay_url=sink.url)
        sender = queue_alerts(world, settings, clock, report())
        before = len(alerts(world))
        result = sender.deliver_due()
        assert result.failed == 2  # the social worker's alert, then its fallback

        rows = alerts(world)
        assert len(rows) == before + 1
        fallbacks = [a for a in rows if a.event == "delivery_failed"]
        assert len(fallbacks) == 1
        assert fallbacks[0].status == "failed"
        assert all(a.status in ("sent", "failed") for a in rows)
        clock.advance(hours=1)
        assert sender.deliver_due().handled == 0
        assert len(alerts(world)) == before + 1
    finally:
        sink.stop()


# -- the embedded default: .eml files -----------------------------------------------------


def test_file_transport_writes_one_eml_per_alert_atomically(
    world: Engine, make_settings: SettingsFactory, clock: FakeClock
) -> None:
    settings = make_settings(RELAY_TOML)
    sender = queue_alerts(world, settings, clock, report())
    assert isinstance(sender.transport, FileTransport)
    result = sender.deliver_due()
    rows = alerts(world)
    # A file is not an email anyone has: written, not sent.
    assert (result.written, result.sent, result.failed) == (len(rows), 0, 0)
    assert {a.status for a in rows} == {"written"}

    outbox = settings.data_dir / "outbox"
    files = sorted(p.name for p in outbox.iterdir())
    assert files == sorted(f"{a.message_id}.eml" for a in rows), "one file per alert, no .tmp"
    for a in rows:
        raw = (outbox / f"{a.message_id}.eml").read_bytes()
        msg = email.message_from_bytes(raw, policy=default_policy)
        assert msg["X-Mailbridge-Envelope-To"] == a.recipient
        assert msg["Message-ID"] == f"<{a.message_id}>"
        assert msg["To"] == a.recipient
        assert msg["X-Mailbridge-Alert"] == str(a.id)
        assert raw.endswith(b"\r\n")


def test_unwritable_outbox_is_a_clear_error_and_the_row_stays_queued(
    world: Engine, make_settings: SettingsFactory, clock: FakeClock
) -> None:
    settings = make_settings(RELAY_TOML)
    sender = queue_alerts(world, settings, clock, report())
    outbox = settings.data_dir / "outbox"
    outbox.parent.mkdir(parents=True, exist_ok=True)
    outbox.write_text("not a directory")  # works even as root, where chmod does not

    result = sender.deliver_once()
    rows = alerts(world)
    assert (result.sent, result.retried, result.failed) == (0, len(rows), 0)
    for a in rows:
        assert (a.status, a.attempts) == ("queued", 1)
        assert a.last_error is not None
        assert a.last_error.startswith("cannot write ")
        assert str(outbox) in a.last_error
    assert not list(outbox.parent.glob("**/*.tmp")) and not list(outbox.parent.glob("**/.*"))

    outbox.unlink()
    clock.advance(minutes=5)
    assert sender.deliver_due().written == len(rows)
    assert len(list(outbox.glob("*.eml"))) == len(rows)


# -- a crash between the relay's 250 and the record ---------------------------------------


class SimulatedCrash(BaseException):
    """The process dying mid-pass: like SystemExit, not an error the sender could handle."""


class CrashAfterFirstSend:
    """Passes the first email to the relay, then dies before the sender can record it."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    @contextmanager
    def open(self) -> Iterator[Any]:
        with self.inner.open() as conn:
            yield self._Conn(conn)

    class _Conn:
        def __init__(self, conn: Any) -> None:
            self.conn = conn

        def send(self, message: EmailMessage, recipient: str) -> None:
            self.conn.send(message, recipient)
            raise SimulatedCrash("killed after the relay's 250, before the row was marked sent")


def test_resend_after_a_crash_keeps_the_message_id(
    world: Engine, make_settings: SettingsFactory, clock: FakeClock, sink: Sink
) -> None:
    settings = make_settings(RELAY_TOML, relay_url=sink.url)
    sender = queue_alerts(world, settings, clock, report())
    sender.transport = CrashAfterFirstSend(sender.transport)
    with pytest.raises(SimulatedCrash):
        sender.deliver_once()
    (first,) = sink.messages()
    crashed = next(a for a in alerts(world) if a.message_id == first.message_id)
    assert (crashed.status, crashed.attempts) == ("queued", 1)

    # "Restart": a new sender. The claim's lease holds until it runs out, then the row is
    # sent again, as the same email.
    _worker, restarted = make_workers(world, settings, clock=clock)
    assert restarted.deliver_once().handled == 0
    lease = restarted._lease().total_seconds()
    # One alert's relay commands, not the whole batch's: a dead instance's claims lapse soon.
    assert lease == settings.relay.timeout_seconds * 6 <= 300
    clock.advance(seconds=lease - 1)
    assert restarted.deliver_once().handled == 0  # still within the crashed pass's claim
    clock.advance(seconds=2)
    assert restarted.deliver_due().sent == len(alerts(world))

    rows = alerts(world)
    assert all(a.status == "sent" for a in rows)
    counts = sink.by_message_id()
    assert counts == Counter({a.message_id: (2 if a.id == crashed.id else 1) for a in rows})
    copies = [r.parsed() for r in sink.messages() if r.message_id == crashed.message_id]
    # The same email (only the random MIME boundaries differ).
    for header in ("Message-ID", "Date", "Subject", "To", "From", "X-Mailbridge-Alert"):
        assert copies[0][header] == copies[1][header], header
    bodies = [[p.get_content() for p in c.walk() if not p.is_multipart()] for c in copies]
    assert bodies[0] == bodies[1]
    assert next(a for a in rows if a.id == crashed.id).attempts == 2


class SlowRelay:
    """The real transport, with the fake clock moved on by each send, as a slow relay would,
    and another instance's sender trying its luck after every alert."""

    def __init__(self, inner: Any, clock: FakeClock, seconds: float, other: Sender) -> None:
        self.inner, self.clock, self.seconds, self.other = inner, clock, seconds, other
        self.other_handled: list[int] = []

    @contextmanager
    def open(self) -> Iterator[Any]:
        with self.inner.open() as conn:
            relay = self

            class Slow:
                def send(self, message: Message, recipient: str) -> None:
                    conn.send(message, recipient)
                    relay.clock.advance(seconds=relay.seconds)
                    relay.other_handled.append(relay.other.deliver_once().handled)

            yield Slow()


def test_a_slow_pass_keeps_its_claims_and_no_other_instance_sends_them_twice(
    world: Engine, make_settings: SettingsFactory, clock: FakeClock, sink: Sink
) -> None:
    settings = make_settings(RELAY_TOML, relay_url=sink.url)
    sender = queue_alerts(world, settings, clock, report())
    _worker, other = make_workers(world, settings, clock=clock)
    lease = sender._lease().total_seconds()
    # Each alert takes most of a lease: without renewal the later rows would lapse mid-pass.
    sender.transport = SlowRelay(sender.transport, clock, lease * 0.8, other)
    count = len(alerts(world))
    assert count >= 3
    assert sender.deliver_once().sent == count
    assert sender.transport.other_handled == [0] * count
    assert Counter(sink.by_message_id().values()) == Counter({1: count})
    assert all(a.attempts == 1 for a in alerts(world))


class RaisesOnSend:
    """A transport that raises something unexpected for one recipient (as smtplib does with
    SMTPUTF8 and some addresses), and sends the rest."""

    def __init__(self, inner: Any, bad: str) -> None:
        self.inner, self.bad = inner, bad

    @contextmanager
    def open(self) -> Iterator[Any]:
        with self.inner.open() as conn:
            bad = self.bad

            class Conn:
                def send(self, message: Message, recipient: str) -> None:
                    if recipient == bad:
                        raise TypeError("cannot encode this address")
                    conn.send(message, recipient)

            yield Conn()


def test_an_unexpected_error_for_one_alert_fails_it_and_the_rest_go_once(
    world: Engine, make_settings: SettingsFactory, clock: FakeClock, sink: Sink
) -> None:
    settings = make_settings(RELAY_TOML, relay_url=sink.url)
    sender = queue_alerts(world, settings, clock, report())
    bad = alerts(world)[0].recipient
    sender.transport = RaisesOnSend(sender.transport, bad)
    sender.deliver_due()
    rows = {a.recipient: a for a in alerts(world) if a.event != "delivery_failed"}
    assert rows[bad].status == "failed" and "TypeError" in (rows[bad].last_error or "")
    assert all(a.status == "sent" for r, a in rows.items() if r != bad)
    assert set(sink.by_message_id().values()) == {1}  # nothing sent twice
    assert any(a.event == "delivery_failed" for a in alerts(world))  # the fallback is told


# -- building the email -------------------------------------------------------------------


def make_alert(**changes: Any) -> Alert:
    values: dict[str, Any] = {
        "id": 7,
        "event_key": "msg:1:missing",
        "event": "missing",
        "role": "social_worker",
        "recipient": "sam.patel@council.example",
        "message_id": "mb.0123abcd@council.example",
        "subject": "[MB-2026-00001] MISSING: J.C. (100231)",
        "body_text": "Jordan is missing.",
        "body_html": "<p>Jordan is missing.</p>",
        "headers": {},
        "attach_inbound": False,
        "created_at": RECEIVED,
    }
    values.update(changes)
    return Alert(**values)


def parse(msg: Message) -> EmailMessage:
    out = email.message_from_bytes(msg.as_bytes(), policy=default_policy)
    assert isinstance(out, EmailMessage)
    return out


def test_build_email_alert_is_auto_generated_with_a_stable_message_id() -> None:
    a = make_alert()
    msg = parse(build_email(a, sender="missing@council.example", reply_to=ADDRESS, original=None))
    assert msg.get_all("Auto-Submitted") == ["auto-generated"]
    assert msg["Message-ID"] == "<mb.0123abcd@council.example>"
    assert msg["X-Mailbridge-Alert"] == "7"
    assert msg["Reply-To"] == ADDRESS
    assert msg["Subject"] == a.subject
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    again = build_email(a, sender="missing@council.example", reply_to=ADDRESS, original=None)
    assert again["Message-ID"] == msg["Message-ID"] and again["Date"] == msg["Date"]


def test_build_email_headers_are_written_exactly_as_compat32_writes_them() -> None:
    """The policy's fast path for headers that need no folding changes no byte: every header,
    plain, long, 8-bit, with tabs or odd spaces, folds as compat32 folds it, and a whole alert
    (with a police profile and the original attached) flattens to compat32's bytes."""
    import random
    from email.generator import BytesGenerator
    from email.policy import compat32
    from io import BytesIO

    from mailbridge.delivery.message import POLICY

    rng = random.Random(18)
    alphabet = "ab =;,?\t\"()<>@:.-_xyz0123é"
    values = ["", " ", "a", "a  b", " a", "a ", "a\tb", "a\r\n b", "x" * 76, "x" * 200,
              "=?utf-8?q?Chlo=C3=A9?=", "Chloé", "word " * 30]
    values += ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 90)))
               for _ in range(3000)]
    names = ["To", "Subject", "X-Mailbridge-Alert", "A" * 40]
    for linesep in ("\n", "\r\n"):
        fast, slow = POLICY.clone(linesep=linesep), compat32.clone(linesep=linesep)
        for name in names:
            for value in values:
                assert fast.fold_binary(name, value) == slow.fold_binary(name, value), value
                assert fast.fold(name, value) == slow.fold(name, value), value
    original = (
        b"From: Sue <sue.carter@example.org>\r\nSubject: Jordan  missing\tagain\r\n"
        b"X-Long: " + b"word " * 40 + b"\r\n\r\nJordan went out.\r\n"
    )
    a = make_alert(
        subject="[MB-2026-00001] MISSING: Chloé " + "x" * 90,
        headers={"In-Reply-To": "<a@b>", "X-Note": "two  spaces"},
        attach_inbound=True,
        attachment_name="profile.pdf",
        attachment_type="application/pdf",
        attachment=b"%PDF-1.4",
    )
    msg = build_email(a, sender="missing@council.example", reply_to=ADDRESS, original=original)
    fast_bytes, slow_bytes = BytesIO(), BytesIO()
    BytesGenerator(fast_bytes).flatten(msg, linesep="\r\n")  # the policy build_email set
    BytesGenerator(slow_bytes, policy=compat32).flatten(msg, linesep="\r\n")  # same boundaries
    assert fast_bytes.getvalue() == slow_bytes.getvalue()


def test_build_email_receipt_is_auto_replied_once() -> None:
    a = make_alert(
        event="receipt",
        role="reporter",
        recipient=CARER,
        headers={
            "Auto-Submitted": "auto-replied",
            "In-Reply-To": "<r1@homes.example>",
            "References": "<r1@homes.example>",
        },
    )
    msg = parse(build_email(a, sender=ADDRESS, reply_to=ADDRESS, original=None))
    assert msg.get_all("Auto-Submitted") == ["auto-replied"]
    assert msg["In-Reply-To"] == "<r1@homes.example>"
    assert a.headers["Auto-Submitted"] == "auto-replied", "building must not change the row"


def test_build_email_attaches_the_original_as_message_rfc822() -> None:
    original = report(3)
    a = make_alert(event="failed", role="duty", recipient=FALLBACK, attach_inbound=True)
    msg = parse(build_email(a, sender=ADDRESS, reply_to=ADDRESS, original=original))
    assert msg.get_content_type() == "multipart/mixed"
    (attached,) = [p for p in msg.iter_attachments() if p.get_content_type() == "message/rfc822"]
    inner = attached.get_content()
    assert inner["Message-ID"] == "<delivery-3@homes.example>"
    body = msg.get_body(("plain",))
    assert body is not None and body.get_content().strip() == "Jordan is missing."
    # Without the original (purged), the alert still goes out, with nothing attached.
    bare = parse(build_email(a, sender=ADDRESS, reply_to=ADDRESS, original=None))
    assert not list(bare.iter_attachments())


def test_build_email_attaches_a_file_the_row_carries() -> None:
    page = "<!DOCTYPE html><p>Episodes: 3 — résumé</p>".encode()
    a = make_alert(
        event="digest",
        role="apprentice",
        attachment_name="mailbridge-weekly-report-2026-11-16.html",
        attachment_type="text/html",
        attachment=page,
    )
    msg = parse(build_email(a, sender=ADDRESS, reply_to=ADDRESS, original=None))
    assert msg.get_content_type() == "multipart/mixed"
    (part,) = list(msg.iter_attachments())
    assert part.get_filename() == "mailbridge-weekly-report-2026-11-16.html"
    assert part.get_content_type() == "text/html"
    assert part.get_payload(decode=True) == page
    body = msg.get_body(("plain",))
    assert body is not None and body.get_content().strip() == "Jordan is missing."


def test_not_a_report_and_failed_alerts_reach_duty_with_the_original_attached(
    world: Engine, make_settings: SettingsFactory, clock: FakeClock, sink: Sink
) -> None:
    # An alert for each non-report at once (the triage summary has its own tests).
    settings = make_settings(
        RELAY_TOML + "[processing]\ntriage_summary_minutes = 0\n", relay_url=sink.url
    )
    not_a_report = (FIXTURES / "reports" / "not_a_report.eml").read_bytes()
    sender = queue_alerts(world, settings, clock, not_a_report)
    # A message whose processing failed for good: the worker's give-up path tells duty.
    failed_id = store(world, report(9))
    with Session(world) as s, s.begin():
        row = s.get_one(InboundMessage, failed_id)
        Notifier(settings).message_event(
            s, event="failed", message=row, read=None, error="ValueError: boom"
        )
    sender.deliver_due()

    rows = alerts(world)
    assert {(a.event, a.recipient) for a in rows} >= {
        ("not_a_report", FALLBACK),
        ("failed", FALLBACK),
    }
    assert all(a.status == "sent" for a in rows)
    originals = {"not_a_report": not_a_report, "failed": report(9)}
    at_sink = {r.message_id: r.parsed() for r in sink.messages()}
    for a in rows:
        assert a.event in originals
        msg = at_sink[a.message_id]
        assert msg.get_all("Auto-Submitted") == ["auto-generated"]
        parts = [p for p in msg.iter_attachments() if p.get_content_type() == "message/rfc822"]
        if a.role not in ("duty", "edt"):
            # Only the desks that act on it get a copy of the child's data.
            assert parts == [], f"{a.event} to {a.role}: original attached"
            continue
        assert len(parts) == 1, f"{a.event} to {a.recipient}: original not attached"
        inner = parts[0].get_content()
        want = BytesHeaderParser().parsebytes(originals[a.event])["Message-ID"]
        assert inner["Message-ID"] == want


def test_retry_failed_requeues_failed_alerts_with_the_same_message_id(
    world: Engine, make_settings: SettingsFactory, clock: FakeClock
) -> None:
    """A relay dead longer than the retries: `deliver --retry-failed` sends it all later."""
    from mailbridge.delivery.sender import requeue_failed

    settings = make_settings(RELAY_TOML + "max_attempts = 1\n", relay_url="smtp://127.0.0.1:9")
    sender = queue_alerts(world, settings, clock, report())
    sender.deliver_due()
    failed = {a.id: a.message_id for a in alerts(world) if a.status == "failed"}
    assert failed
    sink = Sink().start()
    try:
        settings = make_settings(RELAY_TOML, relay_url=sink.url)
        with Session(world) as s, s.begin():
            assert requeue_failed(s, now=clock(), actor="test") == len(failed)
        Sender(world, settings, clock=clock).deliver_due()
        rows = {a.id: a for a in alerts(world)}
        assert all(rows[i].status == "sent" and rows[i].message_id == m for i, m in failed.items())
        assert {r.message_id for r in sink.messages()} >= set(failed.values())
    finally:
        sink.stop()
