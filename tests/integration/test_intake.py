from __future__ import annotations

import asyncio
import threading
import time

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.orm import Session

from mailbridge.errors import StorageError
from mailbridge.intake import Intake, header_message_id, make_incoming
from mailbridge.store import inbound
from mailbridge.store.models import IGNORED, PENDING, AuditEntry, InboundMessage
from tests.support.env import sample_report


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


def test_a_client_that_hangs_up_mid_commit_does_not_stop_the_writer(engine, monkeypatch):
    """The SMTP session's wait is cancelled when its client goes; the writer must go on."""
    intake = Intake(engine)
    entered, release = threading.Event(), threading.Event()
    real = intake.accept_many

    def slow(items, *args, **kwargs):
        entered.set()
        release.wait(10)
        return real(items, *args, **kwargs)

    monkeypatch.setattr(intake, "accept_many", slow)

    async def hang_up_then_send() -> int:
        waiting = asyncio.ensure_future(intake.accept_async(incoming(sample_report(1))))
        await asyncio.get_running_loop().run_in_executor(None, entered.wait, 10)
        waiting.cancel()  # the client hung up while its commit was under way
        await asyncio.sleep(0)
        release.set()
        second = await asyncio.wait_for(intake.accept_async(incoming(sample_report(2))), 10)
        return second.id

    assert asyncio.run(hang_up_then_send())
    intake.close()
    with Session(engine) as s:  # the abandoned message was committed all the same
        assert s.scalar(select(func.count()).select_from(InboundMessage)) == 2


def test_storage_failure_raises_storage_error_and_stores_nothing(engine, monkeypatch):
    from mailbridge.store import inbound

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

    monkeypatch.setattr(inbound, "insert_batch", broken)
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


def test_mixed_batch_keeps_order_ids_duplicates_and_audit(engine):
    intake = Intake(engine)
    existing = intake.accept(incoming(sample_report(1)))
    no_id = b"From: a@b.example\r\nSubject: no id\r\n\r\nmixed batch\r\n"
    batch = [
        incoming(sample_report(2)),  # 0 new
        incoming(b"Received: from mx2\r\n" + sample_report(1)),  # 1 duplicate of existing
        incoming(b"Received: from mx3\r\n" + sample_report(2)),  # 2 duplicate of 0, same batch
        incoming(no_id),  # 3 new, content hash
        incoming(sample_report(3)),  # 4 new
        incoming(no_id),  # 5 duplicate of 3, same batch, by content hash
        incoming(b"Received: from mx4\r\n" + sample_report(1)),  # 6 duplicate of existing again
    ]
    results = intake.accept_many(batch)

    assert len(results) == len(batch)
    assert len({r.id for r in results} | {existing.id}) == len(batch) + 1
    assert [r.duplicate_of for r in results] == [
        None,
        existing.id,
        results[0].id,
        None,
        None,
        results[3].id,
        existing.id,
    ]
    originals = [results[i].id for i in (0, 3, 4)]
    assert existing.id < originals[0] < originals[1] < originals[2]  # arrival order kept

    by_id = {row.id: row for row in rows(engine)}
    assert len(by_id) == len(batch) + 1
    for item, result in zip(batch, results, strict=True):
        row = by_id[result.id]
        assert row.raw == item.raw  # each result points at the row holding its own bytes
        assert row.source == item.source
        assert row.duplicate_of == result.duplicate_of
        if result.duplicate_of is None:
            assert (row.status, row.reason, row.finished_at) == (PENDING, None, None)
            assert row.dedupe_key is not None
        else:
            assert row.status == IGNORED
            assert row.reason == f"duplicate of message {result.duplicate_of}"
            assert row.dedupe_key is None
            assert row.finished_at is not None

    with Session(engine) as s:
        entries = list(s.scalars(select(AuditEntry).order_by(AuditEntry.id)))
    assert len(entries) == len(batch) + 1  # one per stored message, duplicates included
    assert all((e.entity, e.action) == ("message", "received") for e in entries)
    assert [e.entity_id for e in entries] == [str(existing.id)] + [str(r.id) for r in results]
    for entry, result in zip(entries[1:], results, strict=True):
        if result.duplicate_of is None:
            assert entry.detail == {"status": PENDING}
        else:
            assert entry.detail == {"status": IGNORED, "duplicate_of": result.duplicate_of}


def test_a_batch_that_fails_late_stores_nothing(engine, monkeypatch):
    """All or none with the real insert: the messages are in before the audit insert fails."""
    from sqlalchemy import Column, Integer, MetaData, Table

    from mailbridge.store import inbound

    missing = Table("no_such_audit_table", MetaData(), Column("id", Integer, primary_key=True))
    monkeypatch.setattr(inbound, "_AUDIT", missing)
    batch = [incoming(sample_report(1)), incoming(sample_report(1)), incoming(sample_report(2))]
    with pytest.raises(StorageError):
        Intake(engine).accept_many(batch)
    monkeypatch.undo()
    assert rows(engine) == []
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(AuditEntry)) == 0
    # And the same batch then stores normally: nothing half-way was left behind.
    results = Intake(engine).accept_many(batch)
    assert [r.duplicate_of for r in results] == [None, results[0].id, None]


def test_concurrent_batches_of_the_same_messages_keep_one_original_each(engine):
    intakes = [Intake(engine) for _ in range(4)]
    barrier = threading.Barrier(len(intakes))
    out: list[list[int | None]] = []
    lock = threading.Lock()

    def go(intake: Intake) -> None:
        batch = [incoming(sample_report(n)) for n in range(5)]
        barrier.wait()
        results = intake.accept_many(batch)
        with lock:
            out.append([r.duplicate_of for r in results])

    threads = [threading.Thread(target=go, args=(i,)) for i in intakes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(out) == len(intakes)
    stored = rows(engine)
    assert len(stored) == 5 * len(intakes)
    originals = [r for r in stored if r.duplicate_of is None]
    assert sorted(str(r.message_id) for r in originals) == [
        f"report-{n}@carer.example" for n in range(5)
    ]
    original_ids = {r.id for r in originals}
    assert all(r.duplicate_of in original_ids for r in stored if r.duplicate_of is not None)
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(AuditEntry)) == len(stored)


def test_two_instances_storing_the_same_messages_in_opposite_orders_do_not_deadlock(engine):
    """SMTP on one instance and the shared mailbox on another may store the same two messages
    in opposite orders. A third transaction holds the first key, so both batches start and
    queue behind it; when it rolls back, unordered inserts would deadlock about half the time
    (PostgreSQL aborts one: a 451 or a failed IMAP batch). Each round must store both."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite serialises writers (BEGIN IMMEDIATE); the race is PostgreSQL's")
    # The two batches connect under a name of their own, so only their waits are counted: a
    # process an earlier test left behind on the same database may be waiting on a lock too.
    batches = create_engine(engine.url, connect_args={"application_name": "opposite-orders"})
    waiting = text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND application_name = 'opposite-orders' AND wait_event_type = 'Lock'"
    )
    for round_ in range(8):
        x, y = (incoming(sample_report(100 * round_ + n)) for n in (1, 2))
        errors: list[BaseException] = []

        def store_batch(
            batch: list[inbound.Incoming], errors: list[BaseException] = errors
        ) -> None:
            try:
                Intake(batches).accept_many(batch)
            except BaseException as exc:
                errors.append(exc)

        with Session(engine) as blocker:
            blocker.begin()
            inbound.insert_batch(blocker, [x])
            threads = [
                threading.Thread(target=store_batch, args=(batch,)) for batch in ([x, y], [y, x])
            ]
            for t in threads:
                t.start()
            # generous: on a loaded CI machine the threads' first connections and intake's
            # look-ups may take seconds before they reach the lock (10 s was not always enough)
            deadline = time.monotonic() + 60
            with engine.connect() as conn:
                while conn.execute(waiting).scalar() != 2:
                    if time.monotonic() > deadline:
                        seen = conn.execute(text(
                            "SELECT state, wait_event_type, wait_event, left(query, 80) "
                            "FROM pg_stat_activity WHERE application_name = 'opposite-orders'"
                        )).all()
                        pytest.fail(f"round {round_}: the two batches never queued up: "
                                    f"{errors} {seen}")
                    time.sleep(0.01)
            blocker.rollback()
        for t in threads:
            t.join(30)
        assert errors == [], f"round {round_}: {errors[0]!r}"
        with Session(engine) as s:
            stored = list(
                s.scalars(
                    select(InboundMessage).where(
                        InboundMessage.message_id.in_([x.message_id, y.message_id])
                    )
                )
            )
        assert len(stored) == 4
        assert sum(r.duplicate_of is None for r in stored) == 2
    batches.dispose()


def test_a_message_id_with_control_characters_is_still_stored(engine):
    """PostgreSQL text cannot hold NUL: a hostile Message-ID must not make a message unstorable."""
    raw = b"Message-ID: <a\x00b\x01c@x>\r\nSubject: hi\r\n\r\nbody\r\n"
    assert header_message_id(raw) == "abc@x"
    item = make_incoming(raw, source="inject", mail_from=None, rcpt_tos=[], peer=None)
    result = Intake(engine).accept(item)
    assert result.status == "pending"
