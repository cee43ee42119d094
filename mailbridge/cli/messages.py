"""`inject`, `messages` and `reprocess`: the stored inbound mail."""


from __future__ import annotations

import argparse
import sys
from datetime import timedelta
from typing import Any

from mailbridge.cli.common import (
    opened_store,
    print_delivery,
    print_list,
    process_pending,
    read_store,
)
from mailbridge.cli.parsers import arg, command, flag, json_flag
from mailbridge.errors import MailbridgeError
from mailbridge.ingress.files import read_messages
from mailbridge.intake import Intake, make_incoming
from mailbridge.runtime.serve import make_workers
from mailbridge.settings.config import Settings
from mailbridge.store import inbound as store
from mailbridge.store import triage, tx
from mailbridge.store.models import InboundMessage


def cmd_inject(args: argparse.Namespace, settings: Settings) -> int:
    with opened_store(settings) as engine:
        intake = Intake(engine)
        stdin = sys.stdin.buffer.read() if "-" in args.files else None
        stored = duplicates = 0
        problems: list[str] = []
        for path in args.files:
            try:
                for item in read_messages(path, stdin=stdin):
                    result = intake.accept(
                        make_incoming(
                            item.raw, source="inject", mail_from=None, rcpt_tos=[], peer=item.label
                        )
                    )
                    stored += 1
                    duplicates += result.duplicate_of is not None
            except MailbridgeError as exc:
                problems.append(str(exc))
                print(f"mailbridge: error: {exc}", file=sys.stderr)
        print(f"stored {stored} message(s), {duplicates} duplicate(s)")
        if not args.no_process:
            process_pending(engine, settings)
    return 1 if problems else 0


def message_json(row: InboundMessage) -> dict[str, Any]:
    return {
        "id": row.id,
        "message_id": row.message_id,
        "source": row.source,
        "peer": row.peer,
        "mail_from": row.mail_from,
        "rcpt_tos": row.rcpt_tos,
        "received_at": row.received_at.isoformat(),
        "size": row.size,
        "sha256": row.sha256,
        "status": row.status,
        "reason": row.reason,
        "error": row.error,
        "attempts": row.attempts,
        "duplicate_of": row.duplicate_of,
        "triage": bool(row.reason and row.reason.startswith(triage.PREFIX)),
    }


def cmd_messages(args: argparse.Namespace, settings: Settings) -> int:
    def query(t: tx.Tx) -> list[dict[str, Any]]:
        rows = store.list_messages(
            t,
            status=args.status,
            limit=args.limit,
            reason_prefix=triage.PREFIX if args.triage else None,
        )
        return [message_json(r) for r in rows]

    return print_list(
        read_store(settings, query), as_json=args.json, line=_message_line, empty="no messages"
    )


def _message_line(m: dict[str, Any]) -> str:
    note = m["reason"] or m["error"] or ""
    return (
        f"{m['id']:>6}  {m['received_at'][:19]}  {m['source']:<6}  {m['status']:<9}  "
        f"{(m['message_id'] or '-')[:40]:<40}  {note[:60]}"
    )


def cmd_reprocess(args: argparse.Namespace, settings: Settings) -> int:
    with opened_store(settings) as engine:
        worker, sender = make_workers(engine, settings)
        worker.lanes = False  # what the command stored, in arrival order
        with tx.write(engine) as t:
            store.reset_for_reprocess(t, args.id, now=worker.clock(), actor="cli")
            store.claim_one(
                t,
                args.id,
                now=worker.clock(),
                lease=timedelta(seconds=settings.processing.lease_seconds),
            )
        status = worker.process_one(args.id)
        print(f"message {args.id}: {status or 'pending (will be retried)'}")
        print_delivery(sender.deliver_due())
    return 0


PARSERS = (
    command(
        "inject",
        "store .eml or mbox files (or - for stdin), then process what is pending",
        "Store .eml or mbox files (or - for stdin) as if they had arrived by SMTP, "
        "process what is pending and deliver the alerts. With no relay.url the alerts are "
        "written to DATA_DIR/outbox (status `written`); it warns when the store's `serve` "
        "has a relay and this command has none.",
        arg("files", nargs="+", metavar="FILE", help=".eml or mbox files; - reads stdin"),
        flag("--no-process", "only store"),
        run=cmd_inject,
    ),
    command(
        "messages",
        "list stored inbound messages",
        "List the stored inbound messages, oldest first: status (pending, "
        "processed, ignored, failed), source, reason and episode.",
        json_flag("print a JSON array on stdout"),
        arg(
            "--status",
            choices=["pending", "processed", "ignored", "failed"],
            help="only messages in this state",
        ),
        arg("--limit", type=int, help="list at most this many (oldest first)"),
        flag(
            "--triage",
            "only the triage list: non-reports from unknown senders, summarised hourly",
        ),
        run=cmd_messages,
    ),
    command(
        "reprocess",
        "run one stored message through processing again",
        "Run one stored message through processing again (after a directory or "
        "rule fix); its new alerts are delivered before the command ends.",
        arg("id", type=int, help="the message number (`mailbridge messages`)"),
        run=cmd_reprocess,
    ),
)
