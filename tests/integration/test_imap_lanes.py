"""The IMAP watcher takes a backlog lane 1 first (issue 18), against a real Dovecot, on SQLite
and PostgreSQL: a known carer's report APPENDed behind a backlog is stored and processed before
most of it; a kill mid-drain loses and doubles nothing, and the stored checkpoint never passes a
UID that was not stored; a folder drained in one batch is fetched as before.
"""

from __future__ import annotations

import imaplib
import re
import signal
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email.utils import formatdate
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from mailbridge.ingress.imap import client as client_module
from tests.integration import test_imap
from tests.integration.test_imap import Box
from tests.support.imap import ADDRESS, imap_toml, wait_for
from tests.support.serve import Serve, fetch

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")

# The IMAP tests' fixtures: a Dovecot for this module, a mailbox (user) and a Box per test.
dovecot = test_imap.dovecot
user = test_imap.user
watchers = test_imap.watchers
box = test_imap.box

DIRECTORY = Path(__file__).resolve().parents[1] / "fixtures" / "directory.csv"
CARER = "oakview@homes.example"  # Jordan Carter's carer in the fixture directory


def stranger(tag: str, n: int) -> bytes:
    """Backlog: mail from a stranger sent a week before it is read (lane 3)."""
    sent = formatdate(time.time() - 7 * 86400, localtime=False)
    return (
        f"From: Offers <offers{n}@spam.example>\r\nTo: {ADDRESS}\r\n"
        f"Subject: You have won {n}\r\nMessage-ID: <backlog-{tag}-{n}@spam.example>\r\n"
        f"Date: {sent}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        + "Claim your prize today. Cheap watches, loans and more. " * 10
        + "\r\n"
    ).encode()


def carer_report(tag: str, n: int) -> bytes:
    """A known carer's report, sent now (lane 1)."""
    return (
        f"From: Oakview House <{CARER}>\r\nTo: {ADDRESS}\r\nSubject: Jordan Carter missing\r\n"
        f"Message-ID: <report-{tag}-{n}@homes.example>\r\nDate: {formatdate(localtime=False)}\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        "Jordan Carter (100231) has not come home. Last seen at the bus station at 19:00 "
        f"wearing a red coat. Report {n}.\r\n"
    ).encode()


COUNT_SQL = "SELECT count(*) FROM inbound_messages WHERE source = 'imap'"


@contextmanager
def writes_held_once_stored(engine: Engine, at_least: int, timeout: float) -> Iterator[int]:
    """Hold the database's write lock (an injected stall) from the moment ``at_least`` IMAP
    messages are stored, and yield how many were: the count is read under the lock, so it is
    exact, and the watcher's next commit waits until the block ends, whatever the machine's
    load (polling the count from outside let 350 of 400 go by on a loaded CI machine). The lock
    is taken and let go between looks so the drain goes on. Readers still read."""
    deadline = time.monotonic() + timeout
    while True:
        # look first without the lock (readers never wait), and take it only once enough are
        # stored: asking for the write lock on every look let a loaded machine's busy handler
        # sleep through four of the watcher's commits (101 and 126 stored, not 25)
        with engine.connect() as conn:
            seen = int(conn.execute(text(COUNT_SQL)).scalar_one())
        if seen < at_least:
            if time.monotonic() > deadline:
                pytest.fail(f"timed out after {timeout} s waiting for {at_least} stored")
            time.sleep(0.005)
            continue
        with _write_lock(engine) as count:
            stored = count()
            if stored >= at_least:
                yield stored
                return
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {at_least} stored")
        time.sleep(0.005)


@contextmanager
def _write_lock(engine: Engine) -> Iterator[Callable[[], int]]:
    """The write lock held (SQLite ``BEGIN IMMEDIATE``; PostgreSQL ``LOCK TABLE ... EXCLUSIVE``),
    and a way to count the stored IMAP messages inside it."""
    if engine.dialect.name == "sqlite":
        path = engine.url.database
        assert path
        conn = sqlite3.connect(path, isolation_level=None, timeout=30)
        try:
            conn.execute("BEGIN IMMEDIATE")
            yield lambda: int(conn.execute(COUNT_SQL).fetchone()[0])
            conn.execute("ROLLBACK")
        finally:
            conn.close()
        return
    with engine.connect() as pg, pg.begin():
        pg.execute(text("LOCK TABLE inbound_messages IN EXCLUSIVE MODE"))
        yield lambda: int(pg.execute(text(COUNT_SQL)).scalar_one())


def uid_of(peer: str) -> int:
    match = re.search(r"uid \d+/(\d+)$", peer)
    assert match, peer
    return int(match.group(1))


def serve_for(box: Box, tmp_path: Path, database_url: str, name: str, **imap: Any) -> Serve:
    toml = imap_toml(box.dovecot.url(box.user), **imap)
    return Serve(tmp_path, database_url, toml=toml, name=name)


def import_directory(serve: Serve) -> None:
    done = serve.run("directory", "import", str(DIRECTORY))
    assert done.returncode == 0, done.stderr


ORIGINALS = (
    "SELECT id, message_id, status, lane, peer, finished_at FROM inbound_messages "
    "WHERE duplicate_of IS NULL ORDER BY id"
)


def test_a_carers_report_behind_a_backlog_is_stored_and_processed_first(
    box: Box, database_url: str, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:8]
    backlog = 400
    box.append([stranger(tag, n) for n in range(backlog)])
    box.append([carer_report(tag, 0)])  # APPENDed last: the highest UID
    serve = serve_for(box, tmp_path, database_url, "serve", batch_size=25)
    import_directory(serve)
    try:
        serve.start()
        # so the APPEND is mid-drain on a loaded machine too
        with writes_held_once_stored(box.engine, 25, 60) as at_append:
            box.append([carer_report(tag, 1)])  # APPENDed mid-drain
            time.sleep(0.3)
        wait_for(lambda: box.count("INBOX") == 0, 90, "the folder to drain")
        pending = "SELECT count(*) FROM inbound_messages WHERE status = 'pending'"
        wait_for(lambda: fetch(database_url, pending)[0][0] == 0, 180, "processing")
        assert serve.stop() == 0, serve.stderr()
        assert "Traceback" not in serve.stderr()
    finally:
        serve.cleanup()

    rows = box.rows(ORIGINALS)
    by_mid = {r.message_id: r for r in rows}
    sent = [f"backlog-{tag}-{n}@spam.example" for n in range(backlog)]
    reports = [f"report-{tag}-{n}@homes.example" for n in range(2)]
    assert sorted(by_mid) == sorted(sent + reports), "lost or unexpected messages"
    assert len(rows) == backlog + 2
    assert box.rows("SELECT count(*) FROM inbound_messages WHERE duplicate_of > 0")[0][0] == 0
    assert {r.status for r in rows} <= {"processed", "ignored"}
    assert {by_mid[m].lane for m in reports} == {1}
    assert {by_mid[m].lane for m in sent} == {3}

    def backlog_before(report: Any, key: str) -> int:
        return sum(1 for m in sent if getattr(by_mid[m], key) < getattr(report, key))

    first, mid_drain = (by_mid[m] for m in reports)
    # Stored: the report APPENDed last went in the very first batch; the one APPENDed while
    # the drain ran went ahead of most of what was left.
    print(
        f"{at_append} stored when writes were held for the APPEND;",
        "backlog stored before the reports:",
        backlog_before(first, "id"),
        backlog_before(mid_drain, "id"),
        "processed before them:",
        backlog_before(first, "finished_at"),
        backlog_before(mid_drain, "finished_at"),
    )
    assert backlog_before(first, "id") == 0
    # At most the batch being committed and the one fetched when it arrived (25 each) went
    # ahead of it; before lanes, all that was left of the backlog did.
    assert at_append < backlog // 4, "the drain was well on before the APPEND: proves little"
    assert backlog_before(mid_drain, "id") <= at_append + 2 * 25
    assert backlog_before(mid_drain, "id") < backlog // 2
    # Processed: lane 1 is claimed first, so before most of the backlog.
    assert backlog_before(first, "finished_at") < backlog // 4
    assert backlog_before(mid_drain, "finished_at") < backlog // 2
    # Each report alerted its social worker once.
    alerts = box.rows(
        "SELECT m.message_id, count(*) AS n FROM alerts a JOIN inbound_messages m "
        "ON m.id = a.inbound_id WHERE a.role = 'social_worker' GROUP BY m.message_id"
    )
    assert {a.message_id: a.n for a in alerts} == dict.fromkeys(reports, 1)
    state = box.rows("SELECT last_uid FROM imap_state")
    assert [s.last_uid for s in state] == [backlog + 2]
    assert box.count("Processed") == backlog + 2


@pytest.mark.slow
def test_kill_mid_drain_out_of_order_loses_and_doubles_nothing(
    box: Box, database_url: str, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:8]
    backlog = 300
    box.append([stranger(tag, n) for n in range(backlog)])
    box.append([carer_report(tag, 0)])
    total = backlog + 1
    count_sql = "SELECT count(*) FROM inbound_messages WHERE source = 'imap'"
    servers: list[Serve] = []
    try:
        first = serve_for(box, tmp_path, database_url, "first", batch_size=10)
        import_directory(first)
        servers.append(first.start())
        wait_for(lambda: fetch(database_url, count_sql)[0][0] >= 60, 60, "the first batches")
        first.signal(signal.SIGKILL)
        first.wait(10)

        # What the killed watcher left: the report (the highest UID) stored first, out of
        # order, and a checkpoint that is exactly the stored prefix, never past a gap.
        stored = {uid_of(r.peer) for r in box.rows("SELECT peer FROM inbound_messages")}
        assert len(stored) < total, "the drain finished before the kill; the test proves nothing"
        assert total in stored, "the lane-1 report was not stored first"
        prefix = 0
        while prefix + 1 in stored:
            prefix += 1
        last_uid = box.rows("SELECT last_uid FROM imap_state")[0][0]
        print(f"killed with {len(stored)} stored, prefix {prefix}, last_uid {last_uid}")
        assert last_uid == prefix
        assert box.count("INBOX") > 0

        second = serve_for(box, tmp_path, database_url, "second", batch_size=10)
        servers.append(second.start())
        wait_for(lambda: box.count("INBOX") == 0, 90, "the rest to be moved")
        pending = "SELECT count(*) FROM inbound_messages WHERE status = 'pending'"
        wait_for(lambda: fetch(database_url, pending)[0][0] == 0, 180, "processing")
        assert second.stop() == 0, second.stderr()
        assert "Traceback" not in first.stderr() + second.stderr()
    finally:
        for s in servers:
            s.cleanup()

    originals = box.rows(ORIGINALS)
    expected = [f"backlog-{tag}-{n}@spam.example" for n in range(backlog)]
    expected.append(f"report-{tag}-0@homes.example")
    assert sorted(r.message_id for r in originals) == sorted(expected)
    assert {r.status for r in originals} <= {"processed", "ignored"}
    # A UID stored but not moved before the kill is fetched again: an ignored duplicate.
    dups = box.rows("SELECT status FROM inbound_messages WHERE duplicate_of > 0")
    assert {r.status for r in dups} <= {"ignored"}
    alerts = box.rows(
        "SELECT count(*) FROM alerts a JOIN inbound_messages m ON m.id = a.inbound_id "
        "WHERE a.role = 'social_worker' AND m.message_id = :m",
        m=f"report-{tag}-0@homes.example",
    )
    assert alerts[0][0] == 1
    assert box.rows("SELECT last_uid FROM imap_state")[0][0] == total
    assert box.count("Processed") == total


def _spy_headers(monkeypatch: pytest.MonkeyPatch, refuse: bool = False) -> list[str]:
    calls: list[str] = []
    real = client_module.fetch_set

    def spy(client: Any, which: str, items: Any) -> Any:
        calls.append(which)
        if refuse:
            raise imaplib.IMAP4.error("FETCH BODY.PEEK[HEADER.FIELDS] refused (test)")
        return real(client, which, items)

    monkeypatch.setattr("mailbridge.ingress.imap.backlog.fetch_set", spy)
    return calls


def test_a_folder_drained_in_one_batch_is_fetched_in_uid_order_without_headers(
    box: Box, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _spy_headers(monkeypatch)
    tag = uuid.uuid4().hex[:8]
    messages = [stranger(tag, n) for n in range(9)] + [carer_report(tag, 0)]
    box.append(messages)
    box.watcher(box.settings(batch_size=10))
    wait_for(lambda: box.count("INBOX") == 0, 15, "the folder to drain")
    assert calls == [], "a one-batch folder took the header round trip"
    rows = box.rows("SELECT peer FROM inbound_messages ORDER BY id")
    assert [uid_of(r.peer) for r in rows] == list(range(1, 11))
    assert box.rows("SELECT last_uid FROM imap_state")[0][0] == 10


def test_a_server_that_refuses_the_headers_is_drained_in_uid_order(
    box: Box, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _spy_headers(monkeypatch, refuse=True)
    tag = uuid.uuid4().hex[:8]
    box.append([stranger(tag, n) for n in range(30)] + [carer_report(tag, 0)])
    box.watcher(box.settings(batch_size=10))
    wait_for(lambda: box.count("INBOX") == 0, 15, "the folder to drain")
    assert calls, "the header fetch was never tried"
    rows = box.rows("SELECT peer, duplicate_of FROM inbound_messages ORDER BY id")
    assert [uid_of(r.peer) for r in rows] == list(range(1, 32))
    assert all(r.duplicate_of is None for r in rows)
    assert box.rows("SELECT last_uid FROM imap_state")[0][0] == 31
