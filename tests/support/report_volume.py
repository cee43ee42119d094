"""Many episodes over ten years, with everything the report reads: for the report's benchmark
(bench/report.py) and for the test that the daily rollups give the full scan's figures.

Bulk Core inserts (executemany in chunks): placements, children, episodes from 2016 to 2025
(about 3% still open, 2% unmatched, 1% void, 5% placed out of area), two alerts per episode
(social worker, team manager), acknowledgements for about 60%, escalations for about 20% (a
few to duty as well), a return home interview for each returned episode (every status, 0-3
reason codes) and a few failed inbound messages with their audit rows.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, insert

from mailbridge.store.models import (
    Acknowledgement,
    Alert,
    AuditEntry,
    Child,
    DueAction,
    Episode,
    InboundMessage,
    Interview,
    Placement,
)

FIRST = datetime(2016, 1, 1, tzinfo=UTC)
SPAN = (datetime(2026, 1, 1, tzinfo=UTC) - FIRST).total_seconds()
NOW = datetime(2026, 1, 15, 12, tzinfo=UTC)
CODES = (
    "placement_conflict",
    "family_contact",
    "friends",
    "relationship",
    "exploitation",
    "substance_use",
    "school",
)
AUTHORITIES = ("HOME", "LEEDS", "NOWHERE")
TYPES = ("foster", "residential", "kinship", "semi_independent", None)
CHUNK = 10_000


def chunks(rows: Iterator[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == CHUNK:
            yield batch
            batch = []
    if batch:
        yield batch


def generate(engine: Engine, n: int, seed: int = 7) -> dict[str, int]:
    """Fill an empty, migrated database; returns the row counts."""
    rnd = random.Random(seed)
    n_children = max(10, n // 12)
    n_placements = max(5, n_children // 25)
    counts: dict[str, int] = {}

    def put(table: Any, rows: Iterator[dict[str, Any]]) -> None:
        total = 0
        with engine.begin() as conn:
            for batch in chunks(rows):
                conn.execute(insert(table), batch)
                total += len(batch)
        name = table.__tablename__
        counts[name] = counts.get(name, 0) + total

    put(
        Placement,
        (
            {"id": i, "name": f"Placement {i}", "placement_type": TYPES[i % len(TYPES)]}
            for i in range(1, n_placements + 1)
        ),
    )
    put(
        Child,
        (
            {
                "child_id": f"K{i:06d}",
                "first_name": f"First{i}",
                "last_name": f"Last{i}",
                "date_of_birth": (
                    None if i % 40 == 0 else date(1998, 1, 1) + timedelta(days=rnd.randrange(6000))
                ),
                "placement_id": None if i % 30 == 0 else rnd.randrange(1, n_placements + 1),
                "carer_emails": [],
                "attributes": {},
                "updated_at": NOW,
            }
            for i in range(1, n_children + 1)
        ),
    )
    episodes: list[dict[str, Any]] = []
    # A few children go missing often: the weights make repeat episodes realistic.
    weights = [1.0 / (1 + (i % 50)) for i in range(n_children)]
    kids = rnd.choices(range(1, n_children + 1), weights=weights, k=n)
    for i in range(1, n + 1):
        opened = FIRST + timedelta(seconds=rnd.random() * SPAN)
        seen = opened - timedelta(minutes=rnd.randrange(0, 600)) if rnd.random() < 0.8 else None
        hours = rnd.expovariate(1 / 30)
        returned = opened + timedelta(hours=hours) if rnd.random() > 0.03 else None
        unmatched = rnd.random() < 0.02
        status = "returned" if returned else "open"
        if rnd.random() < 0.01:
            status = "void"
        episodes.append(
            {
                "id": i,
                "reference": f"MB-{opened.year}-{i:06d}",
                "child_id": None if unmatched else f"K{kids[i - 1]:06d}",
                "status": status,
                "placement_authority": rnd.choice(AUTHORITIES) if rnd.random() < 0.05 else None,
                "opened_at": opened,
                "last_seen_at": seen,
                "returned_at": returned,
                "police_reference": f"PR{i}" if rnd.random() < 0.7 else None,
                "sender_known": True,
                "match_method": "none" if unmatched else "child_id",
                "match_confidence": 1.0,
                "allocations": {},
                "absence_type": "M",
                "updated_at": returned or opened,
            }
        )
    put(Episode, iter(episodes))

    def alerts() -> Iterator[dict[str, Any]]:
        k = 0
        for e in episodes:
            for role in ("social_worker", "team_manager"):
                k += 1
                at = e["opened_at"] + timedelta(minutes=1)
                yield {
                    "id": k,
                    "event_key": f"missing:{e['id']}",
                    "event": "missing",
                    "episode_id": e["id"],
                    "role": role,
                    "recipient": f"{role}@council.example",
                    "message_id": f"<a{k}@bench>",
                    "subject": "s",
                    "body_text": "",
                    "body_html": "",
                    "headers": {},
                    "attach_inbound": False,
                    "status": "sent",
                    "attempts": 1,
                    "next_attempt_at": at,
                    "created_at": at,
                }

    put(Alert, alerts())
    put(
        Acknowledgement,
        (
            {
                "episode_id": e["id"],
                "role": "social_worker",
                "address": "sw@council.example",
                "at": e["opened_at"] + timedelta(minutes=rnd.expovariate(1 / 90)),
            }
            for e in episodes
            if rnd.random() < 0.6
        ),
    )
    put(
        DueAction,
        (
            {
                "key": f"esc1:{e['reference']}",
                "kind": "escalate_team_manager",
                "episode_id": e["id"],
                "due_at": e["opened_at"] + timedelta(hours=2),
                "roles": ["team_manager"],
                "status": "done",
                "done_at": e["opened_at"] + timedelta(hours=2),
            }
            for e in episodes
            if rnd.random() < 0.2
        ),
    )
    put(
        DueAction,
        (
            {
                "key": f"esc2:{e['reference']}",
                "kind": "escalate_duty",
                "episode_id": e["id"],
                "due_at": e["opened_at"] + timedelta(hours=4),
                "roles": ["duty"],
                "status": rnd.choice(("done", "done", "cancelled")),
                "done_at": e["opened_at"] + timedelta(hours=4),
            }
            for e in episodes
            if rnd.random() < 0.05
        ),
    )
    statuses = ("completed", "completed", "completed", "declined", "offered", "accepted", "due")

    def interviews() -> Iterator[dict[str, Any]]:
        for e in episodes:
            if e["returned_at"] is None:
                continue
            status = rnd.choice(statuses)
            due = e["returned_at"] + timedelta(hours=72)
            held = (due + timedelta(days=rnd.randrange(-3, 4))).date()
            yield {
                "episode_id": e["id"],
                "due_at": due,
                "status": status,
                "overdue": False,
                "held_on": held if status == "completed" else None,
                "reason_codes": rnd.sample(CODES, rnd.randrange(0, 4)),
                "sent_back": 0,
            }

    put(Interview, interviews())
    failed: list[dict[str, Any]] = [
        {
            "id": i,
            "message_id": f"<f{i}@bench>",
            "dedupe_key": f"m:f{i}",
            "sha256": "0" * 64,
            "size": 1,
            "rcpt_tos": [],
            "source": "smtp",
            "received_at": FIRST + timedelta(seconds=rnd.random() * SPAN),
            "status": rnd.choice(("failed", "processed", "ignored")),
            "attempts": 3,
        }
        for i in range(1, n // 100 + 1)
    ]
    put(InboundMessage, iter(failed))
    put(
        AuditEntry,
        (
            {
                "at": m["received_at"],
                "actor": "worker",
                "entity": "message",
                "entity_id": str(m["id"]),
                "action": "failed",
                "detail": None,
            }
            for m in failed
        ),
    )
    if engine.dialect.name == "postgresql":
        # The ids above were given, so the sequences never moved: later inserts would collide.
        with engine.begin() as conn:
            for table in ("placements", "episodes", "alerts", "inbound_messages"):
                conn.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT max(id) FROM {table}))"
                )
    return counts
