"""The state of the queues for `mailbridge status`: one snapshot, as JSON or terminal lines.

The figures are named queries in ``store/health.py`` (shared with /metrics), read at the time
they are asked for because the database is the truth shared by every instance. No names,
addresses or bodies are shown: sources, statuses, events, roles, times and episode references.

The mail readers' parts are shared with /healthz (ops/http.py): ``reader_part`` is a reader
thread's state (only a thread that has died is unhealthy), and ``graph_json``/``graph_lines``
are the Graph reader's figures from the store (its last completed round, the age of its delta
link, its last error), the same in every instance whichever one reads the mailbox.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from mailbridge.store import graph as graph_store
from mailbridge.store import health as figures
from mailbridge.store import service, tx
from mailbridge.store.health import LastMessage, OldestAlert, Queues


@dataclass(frozen=True)
class Snapshot:
    at: datetime
    queues: Queues
    last_message: LastMessage | None
    oldest_alert: OldestAlert | None
    overdue_interviews: list[str]
    # What the SMTP listener(s) answered in the last 24 hours, by reply code (all instances).
    smtp_replies: list[service.ReplyCount] = field(default_factory=list)
    # The Graph reader, when graph.mailbox is set: (the folder as configured, its figures).
    graph: tuple[str, graph_store.ReaderStatus] | None = None


def snapshot(t: tx.Tx, now: datetime, *, graph: tuple[str, str] | None = None) -> Snapshot:
    """Every figure of `mailbridge status`, read in one transaction; ``graph``: the Graph
    reader's (mailbox, folder) when one is configured."""
    return Snapshot(
        at=now,
        queues=figures.queues(t),
        last_message=figures.last_message(t),
        oldest_alert=figures.oldest_alert(t, now),
        overdue_interviews=figures.overdue_interviews(t, now),
        smtp_replies=service.reply_counts(t, now - timedelta(hours=24)),
        graph=(graph[1], graph_status(t, *graph)) if graph else None,
    )


# -- the mail readers, shared with /healthz --------------------------------------------------
def reader_part(state: str) -> dict[str, Any]:
    """A reader thread's part of /healthz: its state, and ok unless the thread has died (a
    mailbox that is down, or read by another instance, does not make this one unhealthy)."""
    return {"state": state, "ok": state != "stopped"}


def graph_status(t: tx.Tx, mailbox: str, folder: str) -> graph_store.ReaderStatus:
    return graph_store.status(t, graph_store.state_key(mailbox, folder))


def _seconds(now: datetime, then: datetime | None) -> float | None:
    return None if then is None else round((now - then).total_seconds(), 1)


def graph_json(folder: str, status: graph_store.ReaderStatus, now: datetime) -> dict[str, Any]:
    """The Graph reader's figures: `status --json`'s ``graph`` and part of /healthz's."""
    return {
        "folder": folder,
        "last_round_at": status.last_round_at.isoformat() if status.last_round_at else None,
        "last_round_age_seconds": _seconds(now, status.last_round_at),
        "delta_link_saved_at": (
            status.delta_saved_at.isoformat() if status.delta_saved_at else None
        ),
        "delta_link_age_seconds": _seconds(now, status.delta_saved_at),
        "last_error": status.last_error,
        "last_error_at": status.last_error_at.isoformat() if status.last_error_at else None,
    }


def graph_lines(folder: str, status: graph_store.ReaderStatus, now: datetime) -> list[str]:
    """`mailbridge status` (and `graph check`): the Graph reader in two lines."""

    def ago(then: datetime | None, never: str) -> str:
        return never if then is None else f"{_age((now - then).total_seconds())} ago"

    lines = [
        f"graph:    folder {folder!r}: last round {ago(status.last_round_at, 'none yet')}, "
        f"delta link saved {ago(status.delta_saved_at, 'never (the first round reads it all)')}"
    ]
    if status.last_error and status.last_error_at:
        current = status.last_round_at is None or status.last_error_at > status.last_round_at
        lines.append(
            f"graph last error ({ago(status.last_error_at, '')}"
            f"{'' if current else ', rounds since went well'}): {status.last_error}"
        )
    else:
        lines.append("graph last error: none")
    return lines


def snapshot_json(snap: Snapshot) -> dict[str, Any]:
    """`mailbridge status --json`."""
    last = snap.last_message
    oldest = snap.oldest_alert
    return {
        "at": snap.at.isoformat(),
        "queues": {
            "pending_messages": snap.queues.pending_messages,
            "failed_messages": snap.queues.failed_messages,
            "queued_alerts": snap.queues.queued_alerts,
            "failed_alerts": snap.queues.failed_alerts,
            "pending_due_actions": snap.queues.pending_due_actions,
        },
        "last_message": (
            {"received_at": last.received_at.isoformat(), "source": last.source} if last else None
        ),
        "oldest_undelivered_alert": (
            {
                "created_at": oldest.created_at.isoformat(),
                "age_seconds": round(oldest.age_seconds, 1),
                "event": oldest.event,
                "role": oldest.role,
                "episode": oldest.episode,
            }
            if oldest
            else None
        ),
        "overdue_interviews": {
            "count": len(snap.overdue_interviews),
            "episodes": snap.overdue_interviews,
        },
        "smtp_replies_24h": {
            r.code: {"total": r.total, "own_domain": r.own_domain} for r in snap.smtp_replies
        },
        "graph": graph_json(*snap.graph, snap.at) if snap.graph else None,
    }


def _age(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def snapshot_lines(snap: Snapshot, tz: Any) -> list[str]:
    """`mailbridge status` for a terminal; times in the service's zone."""
    q = snap.queues
    lines = [
        f"messages: {q.pending_messages} pending, {q.failed_messages} failed",
        f"alerts:   {q.queued_alerts} queued, {q.failed_alerts} failed",
        f"timers:   {q.pending_due_actions} pending",
    ]
    last = snap.last_message
    if last is None:
        lines.append("last message: none yet")
    else:
        local = last.received_at.astimezone(tz)
        ago = _age((snap.at - last.received_at).total_seconds())
        lines.append(f"last message: {local:%Y-%m-%d %H:%M:%S %Z} by {last.source} ({ago} ago)")
    oldest = snap.oldest_alert
    if oldest is None:
        lines.append("oldest undelivered alert: none")
    else:
        lines.append(
            f"oldest undelivered alert: {_age(oldest.age_seconds)} old, {oldest.event} to "
            f"{oldest.role}{' for ' + oldest.episode if oldest.episode else ''}"
        )
    overdue = snap.overdue_interviews
    lines.append(
        f"overdue interviews: {len(overdue)}{' (' + ', '.join(overdue) + ')' if overdue else ''}"
    )
    lines.append(f"smtp replies (24 h): {smtp_replies_line(snap.smtp_replies)}")
    if snap.graph:
        lines += graph_lines(*snap.graph, snap.at)
    return lines


def smtp_replies_line(counts: list[service.ReplyCount]) -> str:
    """'250 x12; refused: 550 x3 (3 to our domain), 552 x1', or 'none'."""
    if not counts:
        return "none"
    fine = [f"{r.code} x{r.total}" for r in counts if r.code < "400"]
    refused = [
        f"{r.code} x{r.total}" + (f" ({r.own_domain} to our domain)" if r.own_domain else "")
        for r in counts
        if r.code >= "400"
    ]
    parts = [", ".join(fine)] if fine else []
    if refused:
        parts.append("refused: " + ", ".join(refused))
    return "; ".join(parts)
