"""`alerts` and `deliver`: the outbox and one delivery pass."""


from __future__ import annotations

import argparse
from typing import Any

from mailbridge.cli.common import opened_store, print_delivery, print_list, read_store
from mailbridge.cli.parsers import arg, command, flag, json_flag
from mailbridge.delivery.sender import requeue_failed
from mailbridge.runtime.serve import make_workers
from mailbridge.settings.config import Settings
from mailbridge.store import listings, tx
from mailbridge.store.models import Alert


def alert_json(row: Alert, reference: str | None) -> dict[str, Any]:
    return {
        "id": row.id,
        "episode": reference,
        "event": row.event,
        "role": row.role,
        "recipient": row.recipient,
        "status": row.status,
        "attempts": row.attempts,
        "subject": row.subject,
        "rule": row.rule,
        "note": row.note,
        "message_id": row.message_id,
        "created_at": row.created_at.isoformat(),
        "sent_at": row.sent_at.isoformat() if row.sent_at else None,
        "next_attempt_at": row.next_attempt_at.isoformat() if row.status == "queued" else None,
        "last_error": row.last_error,
    }


def cmd_alerts(args: argparse.Namespace, settings: Settings) -> int:
    def query(t: tx.Tx) -> list[dict[str, Any]]:
        return [alert_json(a, ref) for a, ref in listings.alerts(t, status=args.status)]

    return print_list(
        read_store(settings, query), as_json=args.json, line=_alert_line, empty="no alerts"
    )


def _alert_line(a: dict[str, Any]) -> str:
    return (
        f"{a['id']:>6}  {a['episode'] or '-':<15} {a['event']:<14} {a['role']:<14} "
        f"{a['recipient']:<36} {a['status']:<7} x{a['attempts']}"
    )


def cmd_deliver(args: argparse.Namespace, settings: Settings) -> int:
    with opened_store(settings) as engine:
        _worker, sender = make_workers(engine, settings)
        if args.retry_failed:
            with tx.write(engine) as t:
                count = requeue_failed(t, now=sender.clock(), actor="cli")
            print(f"requeued {count} failed alert(s)")
        report = sender.deliver_once()
    print_delivery(report)
    return 0


PARSERS = (
    command(
        "alerts",
        "list alert rows (the outbox)",
        "List the alert rows of the outbox, oldest first: each recipient's email, its "
        "status (queued, sent to the relay, written to an .eml file when no relay is set, or "
        "failed), attempts and last error.",
        json_flag("print a JSON array on stdout"),
        arg(
            "--status",
            choices=["queued", "sent", "written", "failed"],
            help="only rows in this state (written: to an .eml file, no relay)",
        ),
        run=cmd_alerts,
    ),
    command(
        "deliver",
        "run one delivery pass over queued alerts that are due",
        "Send the queued alerts that are due, once, as `serve`'s sender would: to "
        "relay.url, or to .eml files in DATA_DIR/outbox when no relay is set.",
        flag(
            "--retry-failed",
            "first put failed alerts back in the queue (e.g. after a long relay outage)",
        ),
        run=cmd_deliver,
    ),
)
