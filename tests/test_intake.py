from __future__ import annotations

import asyncio
import threading

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailbridge.errors import StorageError
from mailbridge.intake import Intake, header_message_id, make_incoming
from mailbridge.models import IGNORED, PENDING, AuditEntry, InboundMessage
from tests.conftest import sample_report


def incoming(raw: bytes, source: str = "inject"):
    return make_incoming(
        raw,
        source=source,
        mail_from="carer@homes.example",
        rcpt_tos=["missing@council.example"],
        peer="test",
    )


def rows(engine) -> list[InboundMessage]:
    with Session(engine) as s:
        result = list(s.scalars(select(InboundMessage).order_by(InboundMessage.id)))
        for r in result:
            _ = r.raw  # load the deferred column before the session closes
        return result


def test_stores_raw_bytes_exactly_and_the_envelope(engine):
    raw = sample_report(1).replace(b"Report 1.", b"Caf\xe9 \x00\xff bytes")
    stored = Intake(engine).accept(incoming(raw, "smtp"))
    (row,) = rows(engine)
    assert row.id == stored.id
    assert row.raw == raw
    assert row.size == len(raw)
    assert row.message_id == "report-1@carer.example"
    assert row.mail_from == "carer@homes.example"
    assert row.rcpt_tos == ["missing@council.example"]
    assert row.source == "smtp"
    assert row.status == PENDING
    assert row.received_at.tzinfo is not None
    assert len(row.sha256) == 64


def test_same_message_id_is_a_duplicate_kept_as_ignored(engine):
    intake = Intake(engine)
    first = intake.accept(incoming(sample_report(1)))
    # Same Message-ID, different trace headers: the same report delivered again.
    again = intake.accept(incoming(b"Received: from elsewhere\r\n" + sample_report(1)))
    assert first.duplicate_of is None
    assert again.duplicate_of == first.id
    _original, dup = rows(engine)
    assert dup.status == IGNORED
    assert dup.reason == f"duplicate of message {first.id}"
    assert dup.raw is not None and dup.raw.startswith(b"Received:")


def test_without_message_id_the_content_hash_decides(engine):
    raw = b"From: a@b.example\r\nSubject: no id\r\n\r\nhello\r\n"
    intake = Intake(engine)
    a = intake.accept(incoming(raw))
    b = intake.accept(incoming(raw))
    c = intake.accept(incoming(raw + b"different\r\n"))
    assert b.duplicate_of == a.id
    assert c.duplicate_of is None


def test_duplicates_within_one_batch(engine):
    results = Intake(engine).accept_many([incoming(sample_report(7)), incoming(sample_report(7))])
    assert results[0].duplicate_of is None
    assert results[1].duplicate_of == results[0].id


def test_concurrent_intake_of_one_message_keeps_one_original(engine):
    intakes = [Intake(engine) for _ in range(6)]
    barrier = threading.Barrier(len(intakes))
    out: list[int | None] = []

    def go(intake: Intake) -> None:
        barrier.wait()
        out.append(intake.accept(incoming(sample_report(3))).duplicate_of)

    threads = [threading.Thread(target=go, args=(i,)) for i in intakes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert out.count(None) == 1
    assert len(rows(engine)) == 6


def test_every_intake_is_audited(engine):
    Intake(engine).accept(incoming(sample_report(1)))
    with Session(engine) as s:
        entry = s.scalars(select(AuditEntry)).one()
    assert (entry.entity, entry.action, entry.actor) == ("message", "received", "inject")


def test_group_commit_from_the_event_loop(engine):
    woken = threading.Event()
    intake = Intake(engine, on_stored=woken.set)

    async def burst() -> list[int]:
        results = await asyncio.gather(
            *(intake.accept_async(incoming(sample_report(n))) for n in range(50))
        )
        return [r.id for r in results]

    ids = asyncio.run(burst())
    intake.close()
    assert len(set(ids)) == 50
    assert woken.is_set()
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(InboundMessage)) == 50


def test_storage_failure_raises_storage_error_and_stores_nothing(engine, monkeypatch):
    from mailbridge import store

    def broken(session, items):
        session.add(
            InboundMessage(
                message_id="half",
                sha256="0" * 64,
                raw=b"x",
                size=1,
                rcpt_tos=[],
                source="smtp",
                received_at=items[0].received_at,
                status=PENDING,
                attempts=0,
            )
        )
        session.flush()
        raise __import__("sqlalchemy").exc.OperationalError("INSERT", {}, Exception("disk I/O"))

    monkeypatch.setattr(store, "insert_batch", broken)
    with pytest.raises(StorageError):
        Intake(engine).accept(incoming(sample_report(1)))
    monkeypatch.undo()
    assert rows(engine) == []  # nothing half-way


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"Message-ID: <abc@x>\r\n\r\nbody", "abc@x"),
        (b"Message-Id:   <a b@x>  (comment)\n\nbody", "ab@x"),
        (b"Subject: none\r\n\r\nMessage-ID: <in-body@x>", None),
        (b"Message-ID: bare@x\r\n\r\n", "bare@x"),
        (b"\xff\xfe\x00garbage", None),
        (b"", None),
    ],
)
def test_header_message_id(raw, expected):
    assert header_message_id(raw) == expected
