"""Two real `mailbridge serve` processes on one PostgreSQL (DESIGN invariant 7).

Each instance is the installed console script with a TOML file of its own
(tests/support/cluster.py): the same database and reply secret file, its own SMTP port and data
dir, and a relay URL that points at one aiosmtpd sink (tests/support/relay.py) that records
every alert it accepts.

- A burst of 500 carers' reports about a directory of 150 children, split over both listeners,
  with a tenth of them sent to BOTH listeners at once: every report is stored once and
  processed once, every alert reaches the relay exactly once, and no episode is doubled.
- One instance is SIGKILLed while it holds claimed messages, the IMAP watcher's advisory lock
  (a real Dovecot, tests/support/dovecot.py) and an alert batch in flight (its relay holds one alert
  unanswered). The other takes the mailbox over
  within seconds and, once the leases run out, finishes the dead one's work. Nothing is lost.
  What may happen twice is exactly the at-least-once edge of the outbox (invariant 4): an
  alert the dead instance had handed to the relay but not yet recorded as sent is sent again,
  with the same Message-ID, by the survivor. So a duplicate is allowed only for an alert whose
  delivery was attempted more than once (``attempts >= 2``), and there can be at most one
  claimed batch of them (``relay.batch_size``). No message, episode or alert row is doubled.

PostgreSQL only: SQLite is one process by design.
"""

from __future__ import annotations

import random
import smtplib
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from mailbridge.ingress.imap.client import mailbox_from_settings
from mailbridge.ingress.imap.leader import lock_key
from mailbridge.settings.config import load_settings
from mailbridge.store import db
from tests.support.cluster import (
    Child,
    Delivery,
    Instance,
    Job,
    Report,
    Store,
    directory_csv,
    make_children,
    report,
    send,
    wait_until,
)
from tests.support.dovecot import Dovecot, running
from tests.support.env import PG_URL, reset_postgres
from tests.support.relay import Sink

pytestmark = [
    pytest.mark.slow,
    pytest.mark.postgres,
    pytest.mark.skipif(
        not PG_URL,
        reason="MAILBRIDGE_TEST_DATABASE_URL is not set: several instances need PostgreSQL "
        "(SQLite is one process by design)",
    ),
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
]

# Short polls, leases and timers, so a dead instance's work comes back within seconds.
PROCESSING = {"lease_seconds": 3, "retry_delay_seconds": 1, "poll_seconds": 0.2, "timer_seconds": 1}
# A lean routing file: each report alerts its child's social worker, and its carer gets the
# receipt, so every report raises exactly two alerts at any hour. Routing has its own tests;
# here the alert count only has to be known, and small enough for the time budget.
ROUTING = """\
timezone: Europe/London
office_hours: {monday: "09:00-17:00"}
roles:
  duty: duty@council.example
fallback: duty@council.example
default: [duty]
routes:
  - name: episode
    match: {event: [missing, update, returned]}
    notify: [social_worker]
  - name: triage
    match: {event: [unmatched, not_a_report, failed]}
    notify: [duty]
"""
ALERTS_PER_REPORT = 2
TERMINAL = {"processed", "ignored", "failed"}


class Cluster:
    """The shared pieces of one test: the database, the relay sink, the reply secret."""

    def __init__(self, root: Path, url: str, sink: Sink) -> None:
        self.root = root
        self.url = url
        self.sink = sink
        self.sinks = [sink]  # every relay the instances use; alerts arrive at any of them
        self.releases: list[threading.Event] = []  # set before the relays stop
        self.store = Store(url)
        self.secret = root / "reply-secret"
        self.secret.write_text(uuid.uuid4().hex + uuid.uuid4().hex + "\n", encoding="utf-8")
        self.secret.chmod(0o600)
        self.routing = root / "routing.yaml"
        self.routing.write_text(ROUTING, encoding="utf-8")
        self.instances: list[Instance] = []

    def instance(self, name: str, **sections: dict[str, Any]) -> Instance:
        merged: dict[str, dict[str, Any]] = {
            "processing": dict(PROCESSING),
            "routing": {"file": str(self.routing)},
        }
        for section, values in sections.items():
            merged.setdefault(section, {}).update(values)
        inst = Instance(
            self.root,
            name,
            self.url,
            relay_url=self.sink.url,
            reply_secret_file=self.secret,
            sections=merged,
        )
        self.instances.append(inst)
        return inst

    def import_directory(self, children: Sequence[Child]) -> None:
        path = self.root / "directory.csv"
        path.write_text(directory_csv(children), encoding="utf-8")
        done = self.instances[0].run("directory", "import", str(path))
        assert done.returncode == 0, done.stderr

    def drained(self) -> bool:
        """Nothing pending or queued, and the sink has every alert row."""
        if self.store.pending() != (0, 0):
            return False
        alerts = int(self.store.scalar("SELECT count(*) FROM alerts"))
        return len(self.arrived()) >= alerts

    def arrived(self) -> Counter[str]:
        """How often each alert (by Message-ID) reached a relay."""
        total: Counter[str] = Counter()
        for sink in self.sinks:
            total.update(sink.by_message_id())
        return total

    def logs(self) -> str:
        return "\n".join(f"--- {i.name}\n{i.log()[-4000:]}" for i in self.instances)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    reset_postgres(PG_URL)
    engine = db.make_engine(PG_URL)
    try:
        db.upgrade(engine)  # as an operator does before starting instances on PostgreSQL
    finally:
        engine.dispose()
    sink = Sink().start()
    c = Cluster(tmp_path, PG_URL, sink)
    try:
        yield c
    finally:
        for inst in c.instances:
            inst.cleanup()
        for release in c.releases:
            release.set()
        for s in c.sinks:
            s.stop()
        c.store.dispose()


def start_all(*instances: Instance) -> None:
    for inst in instances:
        inst.start()
    for inst in instances:
        inst.wait_listening()


def jobs_for(
    reports: Sequence[Report], both: Sequence[Report], a: int, b: int, seed: int
) -> list[Job]:
    """Four clients share ``reports`` round robin (a child's reports are adjacent, so they land
    on different listeners at nearly the same time); ``both`` go to each listener, in a
    different order on each, from two more clients per listener."""
    jobs = [Job((a, b) if i % 2 == 0 else (b, a), reports[i::4]) for i in range(4)]
    rng = random.Random(seed)
    for half in (both[0::2], both[1::2]):
        forward = list(half)
        shuffled = list(half)
        rng.shuffle(shuffled)
        jobs += [Job((a,), forward), Job((b,), shuffled)]
    return jobs


def assert_each_report_stored_and_processed_once(store: Store, reports: Sequence[Report]) -> None:
    originals = store.rows(
        "SELECT id, message_id, status FROM inbound_messages WHERE duplicate_of IS NULL"
    )
    counts = Counter(r.message_id for r in originals)
    assert set(counts) == {r.message_id for r in reports}
    assert max(counts.values()) == 1, [m for m, n in counts.items() if n > 1][:5]
    statuses = Counter(r.status for r in originals)
    assert statuses == {"processed": len(reports)}, statuses
    links = store.rows("SELECT inbound_id, count(*) AS n FROM episode_messages GROUP BY inbound_id")
    assert {row.inbound_id for row in links} == {r.id for r in originals}
    assert {row.n for row in links} == {1}


def assert_duplicates_point_at_their_originals(store: Store, expected: int) -> None:
    dups = store.rows(
        "SELECT d.status, d.message_id, o.message_id AS original FROM inbound_messages d "
        "JOIN inbound_messages o ON o.id = d.duplicate_of"
    )
    assert len(dups) == expected
    assert {d.status for d in dups} <= {"ignored"}
    assert all(d.message_id == d.original for d in dups)


def assert_one_episode_per_child(store: Store, expected: dict[str, str]) -> None:
    """``expected``: child id -> the status of its one episode."""
    episodes = store.rows("SELECT child_id, status, reference FROM episodes")
    per_child = Counter(e.child_id for e in episodes)
    assert len(episodes) == len(expected), (len(episodes), len(expected))
    assert set(per_child.values()) == {1}, [c for c, n in per_child.items() if n > 1][:5]
    assert {e.child_id: e.status for e in episodes} == expected
    # One "missing" event per episode: the first report opened it, every other one updated it.
    opened = store.rows(
        "SELECT episode_id, count(DISTINCT event_key) AS n FROM alerts WHERE event = 'missing' "
        "GROUP BY episode_id"
    )
    assert len(opened) == len(expected)
    assert {o.n for o in opened} == {1}


def acknowledge(cluster: Cluster, ports: Sequence[int], *, episodes: int) -> int:
    """A social worker answers one alert of each of ``episodes`` episodes, to the alert's
    Reply-To (the signed token address), over the listeners in turn. Returns replies sent."""
    chosen: dict[str, tuple[str, str, str]] = {}  # reference -> (from, reply-to, Message-ID)
    for received in cluster.sink.messages():
        headers = received.headers
        reply_to = str(headers["Reply-To"])
        if "+" not in reply_to or not str(headers["To"]).startswith("sw"):
            continue
        reference = str(headers["Subject"]).split()[0]
        chosen.setdefault(reference, (str(headers["To"]), reply_to, received.message_id))
        if len(chosen) == episodes:
            break
    assert len(chosen) == episodes
    for n, (staff, reply_to, alert_id) in enumerate(chosen.values()):
        raw = (
            f"From: {staff}\r\nTo: {reply_to}\r\nSubject: Re: alert\r\n"
            f"Message-ID: <ack-{uuid.uuid4().hex}@council.example>\r\n"
            f"In-Reply-To: <{alert_id}>\r\n\r\nThanks, I have this and I am on it.\r\n"
        ).encode()
        with smtplib.SMTP("127.0.0.1", ports[n % len(ports)], timeout=30) as client:
            client.sendmail(staff, [reply_to], raw)
    return len(chosen)


def processed_and_sent(inst: Instance) -> tuple[int, int]:
    log = inst.log()
    return log.count("status=processed"), log.count("status=sent")


# -- the burst ------------------------------------------------------------------------------


def test_burst_of_500_over_two_instances_stores_processes_and_alerts_each_once(
    cluster: Cluster,
) -> None:
    started = time.monotonic()
    children = make_children(150)
    # Leases long enough never to run out under load: a message or alert claimed twice here
    # would mean the claims overlap, not that an instance was slow.
    processing = {"lease_seconds": 60, "batch_size": 10}
    a = cluster.instance("a", processing=processing)
    b = cluster.instance("b", processing=processing)
    cluster.import_directory(children)
    start_all(a, b)
    tag = uuid.uuid4().hex[:8]
    counter = iter(range(10_000))

    def reports_for(kids: Sequence[Child], kinds: Sequence[str]) -> list[Report]:
        return [report(c, kind, tag, next(counter)) for c in kids for kind in kinds]

    # Wave 1 opens episodes: three reports per child, in any order one opens and two update.
    # Wave 2 (after wave 1 is processed, since a return must follow its report): returns for
    # 60 children, updates for the 40 still missing, and 50 children newly missing.
    opening, returning, staying, new = (
        children[:100],
        children[:60],
        children[60:100],
        children[100:],
    )
    waves = [
        reports_for(opening, ["missing", "update", "missing"]),
        reports_for(returning, ["returned"])
        + reports_for(staying, ["update"])
        + reports_for(new, ["missing", "update"]),
    ]
    assert [len(w) for w in waves] == [300, 200]
    delivery = Delivery()
    both_total = 0
    for number, wave in enumerate(waves):
        both = wave[3::10]  # a tenth of each wave reaches both listeners, as from two MX paths
        single = [r for r in wave if r not in both]
        both_total += len(both)
        send(jobs_for(single, both, a.port, b.port, seed=number), delivery=delivery, timeout=60)
        wait_until(lambda: cluster.store.pending()[0] == 0, 180, f"wave {number + 1} processed")
    wait_until(cluster.drained, 120, "every alert sent")
    elapsed = time.monotonic() - started
    store = cluster.store
    every = [r for wave in waves for r in wave]

    # The clients: every report answered 250, never 4xx (a deadlock or a lock timeout between
    # the instances would show here as 451), and both listeners took part.
    assert delivery.temporary == [] and delivery.lost == 0, delivery.temporary[:5]
    assert set(delivery.accepted) == {r.message_id for r in every}
    ports = Counter(port for answered in delivery.answers.values() for port in answered)
    assert ports[a.port] > 0 and ports[b.port] > 0
    assert sum(ports.values()) == len(every) + both_total

    assert_each_report_stored_and_processed_once(store, every)
    twice = store.rows(
        "SELECT m.id, m.attempts, m.received_at, m.finished_at, "
        "(SELECT string_agg(action || '@' || at::text || ' ' || coalesce(detail::text, ''), '; ') "
        "FROM audit_log WHERE entity = 'message' AND entity_id = m.id::text) AS audit "
        "FROM inbound_messages m WHERE attempts > 1"
    )
    assert twice == [], twice
    assert_duplicates_point_at_their_originals(store, both_total)
    expected = {c.child_id: "returned" for c in returning}
    expected |= {c.child_id: "open" for c in staying + new}
    assert_one_episode_per_child(store, expected)

    # Every alert row was sent, and the relay got each alert (by Message-ID) exactly once.
    alerts = store.rows("SELECT message_id, status, attempts FROM alerts")
    assert len(alerts) == ALERTS_PER_REPORT * len(every)
    assert {a_.status for a_ in alerts} == {"sent"}
    assert cluster.arrived() == Counter({a_.message_id: 1 for a_ in alerts})
    assert {a_.attempts for a_ in alerts} == {1}
    reporting = store.rows("SELECT DISTINCT inbound_id FROM alerts WHERE event = 'receipt'")
    assert len(reporting) == len(every), "every report got its receipt"
    troubles = "SELECT count(*) FROM audit_log WHERE action IN ('retry', 'failed')"
    assert store.scalar(troubles) == 0

    # Staff replies: each alert's Reply-To token was signed by the instance that sent it;
    # replies go to both listeners in turn, so about half reach the other instance. With the
    # shared reply secret file every one is an acknowledgement, none is read as forged.
    replies = acknowledge(cluster, [a.port, b.port], episodes=20)
    wait_until(lambda: cluster.store.pending()[0] == 0, 60, "the replies processed")
    acks = store.rows("SELECT episode_id, role FROM acknowledgements")
    assert len(acks) == replies and {k.role for k in acks} == {"social_worker"}
    assert store.scalar("SELECT count(*) FROM alerts WHERE event LIKE '%token'") == 0

    # Both instances processed reports and sent alerts: the work was shared, not handed over.
    for inst in (a, b):
        processed, sent = processed_and_sent(inst)
        assert processed > 0 and sent > 0, (inst.name, processed, sent)
        assert "Traceback" not in inst.log() and " ERROR " not in inst.log(), inst.log()[-3000:]
    assert a.stop() == 0 and b.stop() == 0
    print(
        f"500 reports ({both_total} to both listeners), {len(alerts)} alerts, "
        f"{elapsed:.1f} s end to end; processed a/b = "
        f"{processed_and_sent(a)[0]}/{processed_and_sent(b)[0]}"
    )


# -- kill -9 ------------------------------------------------------------------------------


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    yield from running("the IMAP failover tests")


def imap_count(dovecot: Dovecot, user: str, folder: str) -> int:
    client = dovecot.client(user)
    try:
        if not client.folder_exists(folder):
            return 0
        return int(client.folder_status(folder, [b"MESSAGES"])[b"MESSAGES"])
    finally:
        client.logout()


def append(dovecot: Dovecot, user: str, reports: Sequence[Report]) -> None:
    client = dovecot.client(user)
    try:
        client.multiappend("INBOX", [r.raw for r in reports])
    finally:
        client.logout()


RELAY_BATCH = 4
WORKER_BATCH = 5


class Hold:
    """A relay's DATA policy: accept until armed, then leave the next alert unanswered until
    released. The sender that sent it is then provably in the middle of a claimed batch."""

    def __init__(self) -> None:
        self.armed = threading.Event()
        self.holding = threading.Event()
        self.release = threading.Event()
        self.held: str | None = None

    def __call__(self, message_id: str, attempt: int) -> str | None:
        if not self.armed.is_set() or self.held is not None:
            return None
        self.held = message_id
        self.holding.set()
        self.release.wait(60)  # blocks this relay's event loop: it serves only the victim
        return "451 4.3.0 closing"


def test_kill_9_one_instance_the_other_takes_over_its_work_and_the_mailbox(
    cluster: Cluster, dovecot: Dovecot
) -> None:
    user = dovecot.new_user()
    imap = {
        "url": dovecot.url(user),
        "lock_retry_seconds": 0.5,
        "backoff_seconds": 0.2,
        "max_backoff_seconds": 1.0,
    }
    # The victim relays through a relay of its own that holds one alert unanswered when told,
    # so the kill falls while the victim has a claimed batch in flight. Small batches; the
    # claim lease of an alert is timeout x 6 relay commands = 9 s.
    relay = {"timeout_seconds": 1.5, "batch_size": RELAY_BATCH, "backoff_seconds": 0.2}
    processing = {"lease_seconds": 5, "batch_size": WORKER_BATCH}
    hold = Hold()
    cluster.releases.append(hold.release)
    victim_relay = Sink(data_policy=hold).start()
    cluster.sinks.append(victim_relay)
    children = make_children(80)
    victim = cluster.instance(
        "victim", imap=imap, relay={**relay, "url": victim_relay.url}, processing=processing
    )
    survivor = cluster.instance("survivor", imap=imap, relay=relay, processing=processing)
    cluster.import_directory(children)
    tag = uuid.uuid4().hex[:8]
    smtp_reports = [
        report(c, kind, tag, i * 2 + j)
        for i, c in enumerate(children[:60])
        for j, kind in enumerate(["missing", "update"])
    ]
    imap_before = [report(c, "missing", tag, 1000 + i) for i, c in enumerate(children[60:70])]
    imap_after = [report(c, "missing", tag, 2000 + i) for i, c in enumerate(children[70:])]

    # The victim starts first and takes the mailbox; the survivor stands by.
    start_all(victim)
    victim.wait_log("watching IMAP folder", 15)
    start_all(survivor)
    survivor.wait_log("standing by", 15)
    append(dovecot, user, imap_before)

    # Two clients send 80 reports as fast as they can (a backlog for both workers); two more
    # send 40 at a pace that lasts past the kill, and move to the survivor when the victim
    # goes. Each client prefers one listener.
    pair = (victim.port, survivor.port)
    burst, paced = smtp_reports[:80], smtp_reports[80:]
    jobs = [Job(pair, burst[0::2]), Job(pair[::-1], burst[1::2])]
    jobs += [Job(pair, paced[0::2], pause=0.5), Job(pair[::-1], paced[1::2], pause=0.5)]
    delivery = Delivery()
    stop = threading.Event()
    sender = threading.Thread(
        target=send,
        kwargs={
            "jobs": jobs,
            "per_connection": 10,
            "timeout": 60,
            "delivery": delivery,
            "stop": stop,
        },
        daemon=True,
    )
    sender.start()
    store = cluster.store

    def mid_run() -> bool:
        pending, queued = store.pending()
        done = store.scalar("SELECT count(*) FROM inbound_messages WHERE status <> 'pending'")
        imap_rows = store.scalar("SELECT count(*) FROM inbound_messages WHERE source = 'imap'")
        return bool(
            done >= 10 and imap_rows >= len(imap_before) and pending >= 3 * WORKER_BATCH and queued
        )

    wait_until(mid_run, 60, "a busy moment to kill the victim in")
    hold.armed.set()
    assert hold.holding.wait(15), "the victim sent no alert to hold"
    victim.kill()
    killed_at = time.monotonic()
    stored_before = {r.id for r in store.rows("SELECT id FROM inbound_messages")}
    assert victim.proc is not None and victim.proc.returncode == -9

    # The survivor takes the mailbox over; mail that arrives now is read by it.
    failover = survivor.wait_log("holding the IMAP watcher lock", 15)
    append(dovecot, user, imap_after)
    # The council's server also forwards these to the listener: stored once, by either path.
    send([Job((survivor.port,), imap_after)], delivery=delivery, timeout=30)
    sender.join(70)
    stop.set()
    wait_until(cluster.drained, 120, "the survivor to finish everything")
    wait_until(lambda: imap_count(dovecot, user, "INBOX") == 0, 10, "the mailbox drained")
    recovered = time.monotonic() - killed_at

    every = smtp_reports + imap_before + imap_after
    # Every report reached mailbridge: the clients that lost the victim went to the survivor.
    assert set(delivery.accepted) == {r.message_id for r in smtp_reports + imap_after}
    assert delivery.temporary == [], delivery.temporary[:5]
    # Every message stored before the kill ended in a terminal state (none failed).
    rows = store.rows("SELECT id, status, attempts FROM inbound_messages")
    assert {r.status for r in rows if r.id in stored_before} <= {"processed", "ignored"}
    assert {r.status for r in rows} <= {"processed", "ignored"}
    # ... and the victim held claimed messages when it died: the survivor took them up again
    # once their lease ran out (a second attempt), and processed each once.
    taken_over = [r for r in rows if r.attempts >= 2]
    assert taken_over, "the victim held no claimed message; kill earlier"
    assert len(taken_over) <= WORKER_BATCH, "only the victim's one claimed batch goes round twice"
    assert_each_report_stored_and_processed_once(store, every)
    # A report whose 250 the victim had committed but not sent arrives again through the
    # survivor: an ignored duplicate of the same Message-ID, never a second episode.
    # So is each report of the shared mailbox that also came by SMTP.
    dups = int(store.scalar("SELECT count(*) FROM inbound_messages WHERE duplicate_of IS NOT NULL"))
    assert dups >= len(imap_after)
    assert_duplicates_point_at_their_originals(store, dups)
    assert_one_episode_per_child(store, {c.child_id: "open" for c in children})

    # The mailbox: all 20 read once, moved to Processed; the survivor holds the only lock.
    assert imap_count(dovecot, user, "Processed") == len(imap_before) + len(imap_after)
    # Every mailbox message was read by a watcher (the SMTP copy may have been stored first).
    from_imap = "SELECT count(DISTINCT message_id) FROM inbound_messages WHERE source = 'imap'"
    assert store.scalar(from_imap) == len(imap_before) + len(imap_after)
    key = lock_key(mailbox_from_settings(load_settings(str(survivor.config), {}).imap).key)
    holders = store.rows(
        "SELECT l.pid, a.state FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
        "AND ((l.classid::bigint << 32) | l.objid::bigint) = :key",
        key=key,  # the signed 64-bit key; the shifted bigint wraps to the same sign
    )
    assert len(holders) == 1, holders

    # Alerts: every row sent and every alert at the relay at least once. A second copy is
    # allowed only for an alert that was claimed again after the kill (attempts >= 2), and
    # only one claimed batch of the victim's can have been in flight.
    alerts = store.rows("SELECT id, message_id, status, attempts FROM alerts")
    assert len(alerts) == ALERTS_PER_REPORT * len(every)
    assert {a.status for a in alerts} == {"sent"}
    arrived = cluster.arrived()
    assert set(arrived) == {a.message_id for a in alerts}
    twice = [a for a in alerts if arrived[a.message_id] > 1]
    assert all(a.attempts >= 2 for a in twice), twice
    assert all(arrived[a.message_id] <= a.attempts for a in alerts)
    assert len(twice) <= RELAY_BATCH, twice
    # The alert the victim was sending when it died reached a relay once: the survivor's.
    held = next(a for a in alerts if a.message_id == hold.held)
    assert held.attempts >= 2 and arrived[held.message_id] == 1
    assert cluster.sink.by_message_id()[held.message_id] == 1

    log = survivor.log()
    assert "Traceback" not in log, log[-3000:]
    assert survivor.stop() == 0
    print(
        f"IMAP failover {failover:.1f} s; everything done {recovered:.1f} s after the kill; "
        f"{sum(r.attempts >= 2 for r in rows)} message(s) and "
        f"{sum(a.attempts >= 2 for a in alerts)} alert(s) taken over; "
        f"{len(twice)} alert(s) sent twice; {dups} duplicate message row(s); "
        f"{delivery.lost} client connection(s) lost"
    )
