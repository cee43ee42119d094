"""store/views.open_episodes, the Now page's read, on SQLite and PostgreSQL: what each row
carries (acknowledgements in order, the first pending escalation only), who sees which rows,
and on SQLite the plan: every table read by index, the closed episodes never scanned."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event, insert, select
from sqlalchemy.orm import Session

from mailbridge.store import views
from mailbridge.store.models import Acknowledgement, Child, DueAction, Episode, Placement

NOW = datetime(2026, 11, 26, 23, 0, tzinfo=UTC)


def _episode(ref: str, status: str, opened: datetime, **kw: Any) -> dict[str, Any]:
    return {
        "reference": ref, "child_id": None, "status": status, "opened_at": opened,
        "last_seen_at": None, "risk_level": None, "sender_known": True, "allocations": {},
        "absence_type": "M", "updated_at": opened, "needs_confirmation": False, **kw,
    }


def _fill(engine: Engine) -> None:
    with Session(engine) as s, s.begin():
        s.execute(insert(Placement), [{"name": "Oakview House"}])
        place = s.scalar(select(Placement.id))
        s.execute(insert(Child), [
            {"child_id": c, "first_name": f, "last_name": "Carter", "placement_id": place,
             "date_of_birth": date(2012, 12, 1), "carer_emails": [], "attributes": {},
             "updated_at": NOW}
            for c, f in (("100231", "Jordan"), ("100232", "Chloe"))
        ])
        s.execute(insert(Episode), [
            _episode("MB-2026-00001", "open", NOW - timedelta(hours=5), child_id="100231",
                     risk_level="high", last_seen_at=NOW - timedelta(hours=6)),
            _episode("MB-2026-00002", "open", NOW - timedelta(hours=1),
                     child_name_given="Kayden Smith"),
            _episode("MB-2026-00003", "returned", NOW - timedelta(days=2), child_id="100232"),
            _episode("MB-2026-00004", "open", NOW - timedelta(hours=2), child_id="100232",
                     risk_level="low"),
        ])
        ids = {ref: eid for ref, eid in s.execute(select(Episode.reference, Episode.id))}
        first, closed = ids["MB-2026-00001"], ids["MB-2026-00003"]
        s.execute(insert(Acknowledgement), [
            {"episode_id": first, "role": "team_manager", "address": "tm@council.example",
             "at": NOW - timedelta(hours=1)},
            {"episode_id": first, "role": "social_worker", "address": "sw@council.example",
             "at": NOW - timedelta(hours=4)},
            {"episode_id": closed, "role": "social_worker", "address": "sw@council.example",
             "at": NOW - timedelta(days=2)},
        ])
        s.execute(insert(DueAction), [
            {"key": f"{kind}:{eid}:{n}", "kind": kind, "episode_id": eid,
             "due_at": NOW + timedelta(minutes=minutes), "roles": [], "status": status}
            for n, (eid, kind, minutes, status) in enumerate([
                (first, "escalate_duty", 180, "pending"),
                (first, "escalate_team_manager", 60, "pending"),
                (first, "escalate_team_manager", 10, "cancelled"),
                (first, "interview_due", 5, "pending"),  # not an escalation
                (closed, "escalate_duty", 1, "pending"),
            ])
        ])


def test_each_open_episode_once_with_its_acknowledgements_and_next_escalation(
    engine: Engine,
) -> None:
    _fill(engine)
    with Session(engine) as s:
        rows = views.open_episodes(s, today=NOW.date(), scope=None)
    # Risk not assessed counts as high; then the longest missing; the returned one is not here.
    assert [r.reference for r in rows] == ["MB-2026-00001", "MB-2026-00002", "MB-2026-00004"]
    first, unmatched, low = rows
    assert [(a.role, a.at) for a in first.acks] == [
        ("social_worker", NOW - timedelta(hours=4)),
        ("team_manager", NOW - timedelta(hours=1)),
    ]
    assert first.next_action == views.NextAction(
        "escalate_team_manager", NOW + timedelta(minutes=60)
    )
    assert (first.initials, first.age, first.placement) == ("J.C.", 13, "Oakview House")
    assert first.missing_since == NOW - timedelta(hours=6)
    assert (unmatched.child_id, unmatched.initials, unmatched.acks) == (None, "K.S.", ())
    assert unmatched.next_action is None and low.acks == () and low.next_action is None
    with Session(engine) as s:
        mine = views.open_episodes(s, today=NOW.date(), scope=frozenset({"100232"}))
        none = views.open_episodes(s, today=NOW.date(), scope=frozenset())
    assert [r.reference for r in mine] == ["MB-2026-00004"] and none == []


def test_on_sqlite_every_table_is_searched_by_index(engine: Engine) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL plans by statistics: bench/web_now.py checks its plans at scale")
    _fill(engine)
    statements: list[tuple[str, Any]] = []

    def keep(conn: Any, cursor: Any, statement: str, params: Any, *rest: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append((statement, params))

    event.listen(engine, "before_cursor_execute", keep)
    try:
        with Session(engine) as s:
            views.open_episodes(s, today=NOW.date(), scope=None)
    finally:
        event.remove(engine, "before_cursor_execute", keep)
    assert len(statements) == 2  # the episodes, then their acknowledgements: no query per row
    with engine.connect() as conn:
        plan = [
            row[3]
            for statement, params in statements
            for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params)
        ]
    assert [p for p in plan if p.startswith("SCAN")] == [], plan
    assert any("ix_due_actions_episode_status_due" in p for p in plan), plan
    assert any("ix_episodes_status" in p for p in plan), plan
