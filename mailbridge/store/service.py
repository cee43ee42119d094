"""The SQL for what the listener answered (smtp_reply_counts) and what `serve` recorded
(service_facts): add counts from one instance, read them back for `status` and the refusal alert.

Both tables are small: one row per hour, reply code and own-domain flag; one row per fact.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from mailbridge.store.models import ServiceFact, SmtpReplyCount

_COUNTS = cast(Table, SmtpReplyCount.__table__)
_FACTS = cast(Table, ServiceFact.__table__)

# Facts `serve` records at start.
RELAY = "relay"  # "set" or "none": whether serve delivers alerts to a relay


def _insert(session: Session, table: Table) -> Any:
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


def hour_of(at: datetime) -> datetime:
    return at.replace(minute=0, second=0, microsecond=0)


def add_reply_counts(session: Session, counts: Mapping[tuple[datetime, str, bool], int]) -> None:
    """Add one instance's counts, keyed (hour, code, own_domain), to the shared totals."""
    for (hour, code, own), n in sorted(counts.items()):
        if n <= 0:
            continue
        stmt = _insert(session, _COUNTS).values(hour=hour, code=code, own_domain=own, count=n)
        session.execute(
            stmt.on_conflict_do_update(
                index_elements=["hour", "code", "own_domain"],
                set_={"count": _COUNTS.c.count + stmt.excluded.count},
            )
        )


@dataclass(frozen=True)
class ReplyCount:
    code: str
    total: int
    own_domain: int  # of the total, replies about one of our own domains


def reply_counts(session: Session, since: datetime) -> list[ReplyCount]:
    """Replies since ``since`` (by the hour they fell in), by code, lowest code first."""
    rows = session.execute(
        select(SmtpReplyCount.code, SmtpReplyCount.own_domain, func.sum(SmtpReplyCount.count))
        .where(SmtpReplyCount.hour >= hour_of(since))
        .group_by(SmtpReplyCount.code, SmtpReplyCount.own_domain)
    ).all()
    totals: dict[str, list[int]] = {}
    for code, own, n in rows:
        entry = totals.setdefault(code, [0, 0])
        entry[0] += int(n or 0)
        if own:
            entry[1] += int(n or 0)
    return [ReplyCount(code, t, o) for code, (t, o) in sorted(totals.items())]


def own_domain_refusals(session: Session, hour: datetime) -> dict[str, int]:
    """5xx replies about our own domains in one hour, by code."""
    rows = session.execute(
        select(SmtpReplyCount.code, SmtpReplyCount.count).where(
            SmtpReplyCount.hour == hour_of(hour),
            SmtpReplyCount.own_domain.is_(True),
            SmtpReplyCount.code >= "500",
        )
    ).all()
    return {code: int(n) for code, n in rows}


def set_fact(session: Session, key: str, value: str, now: datetime) -> None:
    stmt = _insert(session, _FACTS).values(key=key, value=value, updated_at=now)
    session.execute(
        stmt.on_conflict_do_update(index_elements=["key"], set_={"value": value, "updated_at": now})
    )


def get_fact(session: Session, key: str) -> str | None:
    return session.scalar(select(ServiceFact.value).where(ServiceFact.key == key))


def recent(hours: int, now: datetime) -> datetime:
    return hour_of(now) - timedelta(hours=hours - 1)
