"""`mailbridge serve` as an operator runs it: a real subprocess, a real socket, real signals.

The kill test is the one that matters most: the server is SIGKILLed in the middle of a burst
from several SMTP clients, and every message that was answered 250 must be in the store after
a restart, and processed exactly once (DESIGN invariants 1, 2 and 3).
"""

from __future__ import annotations

import json
import signal
import smtplib
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailbridge.store import db
from tests.support.e2e import wait_until_nothing_pending
from tests.support.env import sample_report
from tests.support.serve import ADDRESS, FAST_TOML, Serve, fetch, free_port

SENDER = "carer@homes.example"


@pytest.fixture
def servers() -> Iterator[list[Serve]]:
    """Every server a test starts is killed at the end, whatever the test did."""
    started: list[Serve] = []
    yield started
    for s in started:
        s.cleanup()


@pytest.fixture
def store_url(database_url: str) -> str:
    """The database ready for serve: PostgreSQL migrated as an operator would; SQLite left fresh,
    since serve brings a fresh SQLite database to head itself."""
    if not database_url.startswith("sqlite"):
        engine = db.make_engine(database_url)
        try:
            db.upgrade(engine)
        finally:
            engine.dispose()
    return database_url


def send(port: int, raw: bytes) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=15) as client:
        client.sendmail(SENDER, [ADDRESS], raw)


# -- SIGTERM ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_sigterm_exits_0_promptly_and_keeps_every_accepted_message(
    store_url: str, tmp_path: Path, servers: list[Serve]
) -> None:
    server = Serve(tmp_path, store_url, name="first").start()
    servers.append(server)
    send(server.port, sample_report(1))
    wait_until_nothing_pending(store_url, timeout=15)
    # A second message is answered 250 just before the signal, and an idle client stays
    # connected: neither may hold the shutdown up, and the accepted message must be kept.
    send(server.port, sample_report(2))
    idle = smtplib.SMTP("127.0.0.1", server.port, timeout=15)
    idle.ehlo()

    started = time.monotonic()
    server.signal(signal.SIGTERM)
    assert server.wait(15) == 0, server.stderr()
    elapsed = time.monotonic() - started
    assert elapsed < 5, f"serve took {elapsed:.1f} s to stop"
    idle.close()

    log = server.stderr()
    assert "stopped cleanly" in log
    assert "Traceback" not in log
    assert "has not come home" not in log  # logs never carry message bodies (invariant 8)

    rows = fetch(store_url, "SELECT message_id, status, raw FROM inbound_messages ORDER BY id")
    assert [r.message_id for r in rows] == ["report-1@carer.example", "report-2@carer.example"]
    assert [bytes(r.raw) for r in rows] == [sample_report(1), sample_report(2)]
    assert rows[0].status == "processed"
    # The last one may have been left pending by the stop (a claimed message that was not yet
    # started is released, by design); the next start finishes it.
    assert rows[1].status in ("processed", "pending")

    again = Serve(tmp_path, store_url, port=server.port, name="second").start()
    servers.append(again)
    wait_until_nothing_pending(store_url, timeout=15)
    assert again.stop() == 0, again.stderr()

    # The public listing says the same.
    listed = again.run("messages", "--json")
    assert listed.returncode == 0, listed.stderr
    data = json.loads(listed.stdout)
    assert [(m["message_id"], m["status"]) for m in data] == [
        ("report-1@carer.example", "processed"),
        ("report-2@carer.example", "processed"),
    ]


# -- SIGKILL in the middle of a burst -----------------------------------------------------------


class Burst:
    """Several smtplib clients, each on one connection, recording exactly which got 250."""

    def __init__(self, port: int, total: int, clients: int) -> None:
        self.port = port
        self.total = total
        self.clients = clients
        self.acked: set[int] = set()
        self.errors: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.ack_count = threading.Event()
        self.kill_after = total
        self.threads = [
            threading.Thread(target=self._client, args=(i,), daemon=True) for i in range(clients)
        ]

    def _client(self, index: int) -> None:
        numbers = range(index, self.total, self.clients)
        try:
            client = smtplib.SMTP("127.0.0.1", self.port, timeout=15)
        except OSError as exc:
            with self.lock:
                self.errors[type(exc).__name__] += 1
            return
        try:
            for n in numbers:
                try:
                    client.sendmail(SENDER, [ADDRESS], sample_report(n))
                except (smtplib.SMTPException, OSError) as exc:
                    # Not acknowledged: the connection died or the server refused.
                    with self.lock:
                        self.errors[type(exc).__name__] += 1
                    return
                with self.lock:
                    self.acked.add(n)
                    if len(self.acked) >= self.kill_after:
                        self.ack_count.set()
        finally:
            client.close()

    def start(self, kill_after: int) -> None:
        self.kill_after = kill_after
        for t in self.threads:
            t.start()

    def join(self, timeout: float = 60) -> None:
        for t in self.threads:
            t.join(timeout)
            assert not t.is_alive(), "a client thread hung"


@pytest.mark.slow
def test_sigkill_mid_burst_loses_no_acknowledged_message(
    store_url: str, tmp_path: Path, servers: list[Serve]
) -> None:
    total, clients, kill_after = 300, 6, 100
    first = Serve(tmp_path, store_url, name="first").start()
    servers.append(first)

    burst = Burst(first.port, total, clients)
    burst.start(kill_after)
    assert burst.ack_count.wait(60), f"only {len(burst.acked)} replies before the timeout"
    first.signal(signal.SIGKILL)
    assert first.wait(10) == -signal.SIGKILL
    burst.join()
    with burst.lock:
        acked = set(burst.acked)
    assert kill_after <= len(acked) < total, "the kill did not land in the middle of the burst"
    assert burst.errors, "no client noticed the kill"

    second = Serve(tmp_path, store_url, port=first.port, name="second").start()
    servers.append(second)
    wait_until_nothing_pending(store_url, timeout=60)

    rows = fetch(
        store_url,
        "SELECT id, message_id, status, duplicate_of, raw FROM inbound_messages ORDER BY id",
    )
    originals = {r.message_id: r for r in rows if r.duplicate_of is None}
    by_mid = Counter(r.message_id for r in rows if r.duplicate_of is None)
    processed = Counter(r.message_id for r in rows if r.status == "processed")

    missing = sorted(n for n in acked if f"report-{n}@carer.example" not in originals)
    assert not missing, f"acknowledged with 250 but not stored: {missing}"
    for n in acked:
        mid = f"report-{n}@carer.example"
        assert by_mid[mid] == 1, f"{mid}: {by_mid[mid]} original rows"
        assert originals[mid].status == "processed", f"{mid} is {originals[mid].status}"
        assert processed[mid] == 1, f"{mid} processed {processed[mid]} times"
        assert bytes(originals[mid].raw) == sample_report(n), f"{mid}: raw bytes changed"
    assert not [r for r in rows if r.status == "pending"]
    # Messages committed whose 250 was lost in the kill are kept and finished too.
    assert all(r.status in ("processed", "ignored", "failed") for r in rows)

    # Exactly once, from the audit trail: no message row was finished twice.
    finished_twice = fetch(
        store_url,
        "SELECT entity_id, count(*) FROM audit_log WHERE entity = 'message' "
        "AND action IN ('processed', 'ignored', 'failed') GROUP BY entity_id HAVING count(*) > 1",
    )
    assert not finished_twice, f"finished more than once: {finished_twice}"

    # The same messages delivered again are recorded as ignored duplicates, never reprocessed.
    again = sorted(acked)[:5]
    for n in again:
        send(second.port, sample_report(n))
    for n in again:
        mid = f"report-{n}@carer.example"
        dups = fetch(
            store_url,
            "SELECT status, reason, duplicate_of FROM inbound_messages "
            "WHERE message_id = :mid AND duplicate_of IS NOT NULL",
            mid=mid,
        )
        assert len(dups) >= 1
        for status, reason, duplicate_of in dups:
            assert status == "ignored"
            assert reason == f"duplicate of message {originals[mid].id}"
            assert duplicate_of == originals[mid].id
    assert second.stop() == 0, second.stderr()
    ((after,),) = fetch(
        store_url, "SELECT count(*) FROM inbound_messages WHERE status = 'processed'"
    )
    assert after == len(originals)
    assert "Traceback" not in second.stderr()


# -- configuration and schema failures at start --------------------------------------------------


@pytest.mark.parametrize(
    ("toml", "env", "key"),
    [
        (FAST_TOML, {"smtp_port": "notanumber"}, "smtp.port"),
        ("[processing]\nlease_seconds = 0\n", {}, "processing.lease_seconds"),
        ('[smtp]\nport = 8025\nhostt = "x"\n', {}, "smtp.hostt"),
    ],
)
def test_bad_config_stops_serve_with_the_check_config_message(
    tmp_path: Path, toml: str, env: dict[str, str], key: str
) -> None:
    server = Serve(tmp_path, f"sqlite:///{tmp_path / 'mb.db'}", toml=toml, env=env)
    served = server.run("serve", timeout=30)
    assert served.returncode != 0
    assert key in served.stderr
    assert "Traceback" not in served.stderr
    checked = server.run("check-config")
    assert checked.returncode != 0
    assert served.stderr == checked.stderr, "serve and check-config word the problem differently"
    assert not (tmp_path / "mb.db").exists(), "serve touched the database despite bad settings"


def test_unreachable_database_is_a_message_not_a_traceback(tmp_path: Path) -> None:
    dead = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nothing"
    served = Serve(tmp_path, dead).run("serve", timeout=60)
    assert served.returncode != 0
    assert "cannot reach the database" in served.stderr
    assert "Traceback" not in served.stderr


def test_schema_behind_on_postgres_fresh_sqlite_upgrades_itself(
    database_url: str, tmp_path: Path, servers: list[Serve]
) -> None:
    if database_url.startswith("sqlite"):
        url = f"sqlite:///{tmp_path / 'new' / 'deeper' / 'mailbridge.db'}"
        server = Serve(tmp_path, url).start()
        servers.append(server)
        send(server.port, sample_report(7))
        assert server.stop() == 0, server.stderr()
        assert (tmp_path / "new" / "deeper" / "mailbridge.db").is_file()
        current = server.run("db", "current")
        assert current.returncode == 0, current.stdout + current.stderr
        rows = fetch(url, "SELECT message_id, status FROM inbound_messages")
        assert [r.message_id for r in rows] == ["report-7@carer.example"]
        assert rows[0].status in ("processed", "pending")  # pending: stopped before its turn
        return

    # The fixture has just reset PostgreSQL: an empty database, as a fresh install has.
    server = Serve(tmp_path, database_url)
    refused = server.run("serve", timeout=30)
    assert refused.returncode != 0
    assert "mailbridge db upgrade" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert not fetch(
        database_url,
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'",
    ), "serve created tables on PostgreSQL without being asked"

    upgraded = server.run("db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    server.start()
    servers.append(server)
    send(server.port, sample_report(8))
    assert server.stop() == 0, server.stderr()


def test_port_in_use_is_a_message_not_a_traceback(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = int(taken.getsockname()[1])
        served = Serve(tmp_path, f"sqlite:///{tmp_path / 'mb.db'}", port=port).run(
            "serve", timeout=30
        )
    assert served.returncode != 0
    assert str(port) in served.stderr
    assert "Traceback" not in served.stderr, served.stderr
