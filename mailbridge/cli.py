"""The `mailbridge` command: every operator action, each failure a one-line message."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from mailbridge import __version__, db, store
from mailbridge.alerts import Renderer
from mailbridge.clock import system_clock
from mailbridge.clocks import late_note_for
from mailbridge.config import Settings, load_routing_file, load_settings, redact_url
from mailbridge.delivery import DeliveryReport, requeue_failed
from mailbridge.directory import (
    child_lines,
    current_allocations,
    describe_child,
    get_child,
    import_directory,
    read_directory_file,
    report_lines,
)
from mailbridge.errors import ConfigError, MailbridgeError
from mailbridge.ingress import imap as imap_ingress
from mailbridge.ingress.files import read_messages
from mailbridge.intake import Intake, make_incoming
from mailbridge.models import Alert, Episode, InboundMessage, Interview
from mailbridge.routing import KNOWN_EVENTS, event_for_child, routed_json, routed_lines
from mailbridge.service import make_runner, make_workers, open_store, serve
from mailbridge.timeline import find_episode, list_episodes, render_timeline

log = logging.getLogger("mailbridge")

Command = Callable[[argparse.Namespace, Settings], int]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mailbridge",
        description=(
            "Turn carers' missing-child emails into episode records and alerts. "
            "Settings: --config, else $MAILBRIDGE_CONFIG, else config/mailbridge.toml."
        ),
    )
    parser.add_argument("--version", action="version", version=f"mailbridge {__version__}")
    parser.add_argument("--config", help="TOML settings file")
    parser.add_argument("--log-level", help="override service.log_level (DEBUG, INFO, ...)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    sub.add_parser("serve", help="run the SMTP listener, the processing worker and the sender")
    sub.add_parser("check-config", help="validate the settings; name every key at fault")

    dbp = sub.add_parser("db", help="database schema")
    dbsub = dbp.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    dbsub.add_parser("upgrade", help="apply migrations to head")
    dbsub.add_parser("current", help="show the schema revision and the head")

    directory = sub.add_parser("directory", help="children, placements, carers and allocations")
    dirsub = directory.add_subparsers(dest="directory_command", metavar="ACTION", required=True)
    dir_import = dirsub.add_parser("import", help="import a directory CSV (see DESIGN.md)")
    dir_import.add_argument("file", metavar="FILE.csv")
    dir_show = dirsub.add_parser("show", help="one child, with current and past allocations")
    dir_show.add_argument("child_id", metavar="CHILD_ID")
    dir_show.add_argument("--json", action="store_true", help="JSON on stdout")

    inject = sub.add_parser(
        "inject", help="store .eml or mbox files (or - for stdin), then process what is pending"
    )
    inject.add_argument("files", nargs="+", metavar="FILE")
    inject.add_argument("--no-process", action="store_true", help="only store")

    messages = sub.add_parser("messages", help="list stored inbound messages")
    messages.add_argument("--json", action="store_true", help="print a JSON array on stdout")
    messages.add_argument("--status", choices=["pending", "processed", "ignored", "failed"])
    messages.add_argument("--limit", type=int)

    episodes = sub.add_parser("episodes", help="list missing episodes")
    episodes.add_argument("--json", action="store_true", help="print a JSON array on stdout")
    episodes.add_argument("--open", action="store_true", help="only episodes still open")

    episode = sub.add_parser("episode", help="one episode and its timeline")
    episode.add_argument("reference", help="e.g. MB-2026-00042")
    episode.add_argument("--json", action="store_true")

    alerts = sub.add_parser("alerts", help="list alert rows (the outbox)")
    alerts.add_argument("--json", action="store_true", help="print a JSON array on stdout")
    alerts.add_argument("--status", choices=["queued", "sent", "failed"])

    due = sub.add_parser(
        "due", help="escalations, reminders and interview deadlines pending; --run performs them"
    )
    due.add_argument("--at", help="as of this time (ISO, local zone if none given); default now")
    due.add_argument("--run", action="store_true", help="perform what is due, then deliver")
    due.add_argument("--json", action="store_true")

    interviews = sub.add_parser("interviews", help="return home interviews owed and recorded")
    which = interviews.add_mutually_exclusive_group()
    which.add_argument("--due", action="store_true", help="only those not yet done")
    which.add_argument("--overdue", action="store_true", help="only those past their deadline")
    interviews.add_argument("--json", action="store_true")

    deliver = sub.add_parser(
        "deliver", help="run one delivery pass over queued alerts that are due"
    )
    deliver.add_argument(
        "--retry-failed",
        action="store_true",
        help="first put failed alerts back in the queue (e.g. after a long relay outage)",
    )

    reprocess = sub.add_parser("reprocess", help="run one stored message through processing again")
    reprocess.add_argument("id", type=int)

    routes = sub.add_parser("routes", help="routing rules (config/routing.yaml)")
    routesub = routes.add_subparsers(dest="routes_command", metavar="ACTION", required=True)
    rtest = routesub.add_parser(
        "test", help="dry run: who would be alerted for an event, and by which rule"
    )
    rtest.add_argument(
        "--event", required=True, help=f"{', '.join(KNOWN_EVENTS)}, or a name under events:"
    )
    rtest.add_argument(
        "--child",
        metavar="CHILD_ID",
        help="from the directory (needed for missing/update/returned)",
    )
    rtest.add_argument("--risk", choices=["high", "medium", "low"], help="default: not stated")
    rtest.add_argument(
        "--at",
        metavar="WHEN",
        help="ISO time, e.g. 2026-11-28T23:00 (no offset: the routing zone); default: now",
    )
    known = rtest.add_mutually_exclusive_group()
    known.add_argument(
        "--sender-known",
        dest="sender_known",
        action="store_const",
        const=True,
        help="the sender is a carer on record (the default when --child is given)",
    )
    known.add_argument("--sender-unknown", dest="sender_known", action="store_const", const=False)
    verified = rtest.add_mutually_exclusive_group()
    verified.add_argument(
        "--sender-verified",
        dest="sender_verified",
        action="store_const",
        const=True,
        default=False,
        help="the sender check passed (docs/trust.md); default: not verified",
    )
    verified.add_argument(
        "--sender-unverified", dest="sender_verified", action="store_const", const=False
    )
    rtest.add_argument("--json", action="store_true", help="JSON on stdout")

    imap = sub.add_parser("imap", help="the watched IMAP mailbox (imap.url)")
    imapsub = imap.add_subparsers(dest="imap_command", metavar="ACTION", required=True)
    imapsub.add_parser(
        "check", help="connect and log in; report capabilities (IDLE, MOVE) and the folders"
    )
    backfill = imapsub.add_parser(
        "backfill",
        help="store the mail already in the folder (read-only; safe to re-run), then process it",
    )
    backfill.add_argument(
        "--since", metavar="DATE", help="only mail that arrived on or after DATE (YYYY-MM-DD)"
    )
    backfill.add_argument(
        "--folder", help="another folder than the watched one (e.g. Processed after a restore)"
    )
    backfill.add_argument("--no-process", action="store_true", help="only store")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        print(f"mailbridge: {exc}", file=sys.stderr)
        return 2
    _setup_logging(args.log_level or settings.service.log_level)
    handler = _COMMANDS[args.command]
    try:
        return handler(args, settings)
    except MailbridgeError as exc:
        print(f"mailbridge: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `mailbridge messages | head`: the reader left; say nothing more.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # Library chatter at INFO would drown the one line per message.
    for noisy in ("mail.log", "aiosmtpd", "alembic"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))


def cmd_check_config(args: argparse.Namespace, settings: Settings) -> int:
    try:
        routing = load_routing_file(settings)
    except ConfigError as exc:
        print(f"mailbridge: {exc}", file=sys.stderr)
        return 2
    templates = settings.service.templates_dir
    broken = Renderer(tz=settings.tz, override_dir=Path(templates) if templates else None).check()
    if broken:
        print(
            "mailbridge: invalid configuration:\n"
            + "\n".join(f"  - service.templates_dir: alerts/{p}" for p in broken),
            file=sys.stderr,
        )
        return 2
    print(f"configuration OK ({settings.source})")
    print(f"  database: {_safe_url(settings.database_url)}")
    print(
        f"  listener: {settings.smtp.host}:{settings.smtp.port} for "
        f"{', '.join(settings.smtp.addresses)}"
    )
    outbox = settings.data_dir / "outbox"
    print(f"  relay:    {_safe_url(settings.relay.url) or f'none (alerts written to {outbox})'}")
    print(f"  imap:     {_safe_url(settings.imap.url) or 'none'}")
    print(f"  templates: {templates or 'packaged'}")
    trusted = ", ".join(settings.trust.authserv_ids) or "none (no sender is verified by header)"
    dkim_here = "on" if settings.trust.dkim_verify else "off"
    print(f"  trust:    authserv-ids {trusted}; DKIM checked here {dkim_here}")
    print(
        f"  routing:  {routing.source} ({len(routing.rule_names()) - 1} rule(s), office hours in "
        f"{routing.timezone}, {len(routing.bank_holidays)} bank holiday(s))"
    )
    return 0


def _print_json(data: Any) -> None:
    """One format for every --json: indented, and names like Chloé left readable."""
    json.dump(data, sys.stdout, indent=2, ensure_ascii=False)
    print()


def _safe_url(url: str) -> str:
    return redact_url(url) if url else ""


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(serve(settings))


def cmd_db(args: argparse.Namespace, settings: Settings) -> int:
    engine = db.make_engine(settings.database_url)
    try:
        if args.db_command == "upgrade":
            db.upgrade(engine)
            print(f"database at {db.current_revision(engine)} (head)")
        else:
            current = db.current_revision(engine)
            head = db.head_revision(settings.database_url)
            print(f"current: {current or 'empty'}\nhead:    {head}")
            return 0 if current == head else 3
    except MailbridgeError:
        raise
    except Exception as exc:
        raise MailbridgeError(f"database {_safe_url(settings.database_url)}: {exc}") from exc
    finally:
        engine.dispose()
    return 0


def cmd_directory(args: argparse.Namespace, settings: Settings) -> int:
    """Import exits 1 if any row was rejected (the good rows are still in)."""
    # A fatal problem in the file is found before the database is touched.
    parsed = read_directory_file(args.file) if args.directory_command == "import" else None
    engine = open_store(settings)
    try:
        if parsed is not None:
            try:
                with Session(engine) as session, session.begin():
                    report = import_directory(session, parsed, now=system_clock(), actor="cli")
            except SQLAlchemyError as exc:
                raise MailbridgeError(
                    f"{args.file}: the database refused the import "
                    f"({str(exc).splitlines()[0]}); nothing imported"
                ) from exc
            for problem in report.rejected:
                print(f"line {problem.line}: {problem.reason}", file=sys.stderr)
            print("\n".join(report_lines(report)))
            return 1 if report.rejected else 0
        with Session(engine) as session:
            detail = describe_child(session, args.child_id)
    finally:
        engine.dispose()
    if detail is None:
        raise MailbridgeError(f"no child with id {args.child_id!r} in the directory")
    if args.json:
        _print_json(detail)
    else:
        print("\n".join(child_lines(detail)))
    return 0


def cmd_inject(args: argparse.Namespace, settings: Settings) -> int:
    engine = open_store(settings)
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
        worker, sender = make_workers(engine, settings)
        handled = worker.run_once()
        print(f"processed {handled} message(s)")
        _print_delivery(sender.deliver_due())
    engine.dispose()
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
    }


def cmd_messages(args: argparse.Namespace, settings: Settings) -> int:
    engine = open_store(settings)
    with Session(engine) as session:
        rows = store.list_messages(session, status=args.status, limit=args.limit)
        data = [message_json(r) for r in rows]
    engine.dispose()
    if args.json:
        _print_json(data)
        return 0
    for m in data:
        note = m["reason"] or m["error"] or ""
        print(
            f"{m['id']:>6}  {m['received_at'][:19]}  {m['source']:<6}  {m['status']:<9}  "
            f"{(m['message_id'] or '-')[:40]:<40}  {note[:60]}"
        )
    if not data:
        print("no messages")
    return 0


def cmd_reprocess(args: argparse.Namespace, settings: Settings) -> int:
    engine = open_store(settings)
    worker, sender = make_workers(engine, settings)
    with Session(engine) as session, session.begin():
        store.reset_for_reprocess(session, args.id, now=worker.clock(), actor="cli")
        store.claim_one(
            session,
            args.id,
            now=worker.clock(),
            lease=timedelta(seconds=settings.processing.lease_seconds),
        )
    status = worker.process_one(args.id)
    print(f"message {args.id}: {status or 'pending (will be retried)'}")
    _print_delivery(sender.deliver_due())
    engine.dispose()
    return 0


def cmd_episodes(args: argparse.Namespace, settings: Settings) -> int:
    engine = open_store(settings)
    with Session(engine) as session:
        data = list_episodes(session, open_only=args.open)
    engine.dispose()
    if args.json:
        _print_json(data)
        return 0
    for e in data:
        print(
            f"{e['reference']:<15} {e['status']:<9} {e['child_id'] or 'UNMATCHED':<10} "
            f"opened {e['opened_at'][:16]}  last seen {(e['last_seen_at'] or 'not stated')[:16]}"
            f"  {len(e['message_ids'])} message(s)"
        )
    if not data:
        print("no episodes")
    return 0


def cmd_episode(args: argparse.Namespace, settings: Settings) -> int:
    engine = open_store(settings)
    with Session(engine) as session:
        data = find_episode(session, args.reference)
    engine.dispose()
    if data is None:
        raise MailbridgeError(f"no episode with reference {args.reference}")
    if args.json:
        _print_json(data)
    else:
        print(render_timeline(data))
    return 0


def cmd_routes(args: argparse.Namespace, settings: Settings) -> int:
    """`routes test`: route one made-up event against the rules and the directory; no service."""
    routing = load_routing_file(settings)
    known = (*KNOWN_EVENTS, *routing.events)
    if args.event not in known:
        raise MailbridgeError(f"unknown event {args.event!r} (known: {', '.join(known)})")
    if args.child is None and args.event in ("missing", "update", "returned"):
        raise MailbridgeError(f"--child is needed for a {args.event} event")
    at = _parse_at(args.at, routing.tz)
    child = allocations = None
    if args.child is not None:
        engine = open_store(settings)
        try:
            with Session(engine) as session:
                child = get_child(session, args.child.strip())
                if child is not None:
                    allocations = current_allocations(session, child.child_id)
        finally:
            engine.dispose()
        if child is None:
            raise MailbridgeError(f"no child with id {args.child!r} in the directory")
    sender_known = args.sender_known if args.sender_known is not None else child is not None
    event = event_for_child(
        args.event,
        at,
        child,
        allocations,
        risk=args.risk,
        sender_known=sender_known,
        sender_verified=args.sender_verified,
    )
    routed = routing.route(event)
    if args.json:
        _print_json(routed_json(routing, event, routed))
    else:
        print("\n".join(routed_lines(routing, event, routed)))
    return 0


def _print_delivery(report: DeliveryReport) -> None:
    print(f"alerts: {report.sent} sent, {report.retried} to retry, {report.failed} failed")


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
    engine = open_store(settings)
    with Session(engine) as session:
        q = (
            select(Alert, Episode.reference)
            .outerjoin(Episode, Episode.id == Alert.episode_id)
            .order_by(Alert.id)
        )
        if args.status:
            q = q.where(Alert.status == args.status)
        data = [alert_json(a, ref) for a, ref in session.execute(q).all()]
    engine.dispose()
    if args.json:
        _print_json(data)
        return 0
    for a in data:
        print(
            f"{a['id']:>6}  {a['episode'] or '-':<15} {a['event']:<14} {a['role']:<14} "
            f"{a['recipient']:<36} {a['status']:<7} x{a['attempts']}"
        )
    if not data:
        print("no alerts")
    return 0


def cmd_deliver(args: argparse.Namespace, settings: Settings) -> int:
    engine = open_store(settings)
    _worker, sender = make_workers(engine, settings)
    if args.retry_failed:
        with Session(engine) as session, session.begin():
            count = requeue_failed(session, now=sender.clock(), actor="cli")
        print(f"requeued {count} failed alert(s)")
    report = sender.deliver_once()
    engine.dispose()
    _print_delivery(report)
    return 0


def cmd_imap(args: argparse.Namespace, settings: Settings) -> int:
    """`imap check` exits 1 naming the account on any failure; `imap backfill` stores the folder."""
    if not settings.imap.url:
        raise MailbridgeError(
            "imap.url is not set ([imap] url in the config, or MAILBRIDGE_IMAP_URL)"
        )
    if args.imap_command == "check":
        try:
            engine = open_store(settings)
        except MailbridgeError as exc:
            print(f"mailbridge: warning: {exc}; checking IMAP only", file=sys.stderr)
            engine = None
        try:
            lines = imap_ingress.check(settings.imap, engine)
        finally:
            if engine is not None:
                engine.dispose()
        print("\n".join(lines))
        print("IMAP OK")
        return 0
    since = None
    if args.since:
        try:
            since = datetime.strptime(args.since, "%Y-%m-%d").date()
        except ValueError:
            raise MailbridgeError(
                f"--since: not a date: {args.since!r} (e.g. 2026-11-01)"
            ) from None
    engine = open_store(settings)
    intake = Intake(engine)
    announced = False

    def progress(report: imap_ingress.BackfillReport) -> None:
        nonlocal announced
        if not announced:
            folder = args.folder or imap_ingress.mailbox_from_settings(settings.imap).folder
            after = f" since {since.isoformat()}" if since else ""
            print(
                f"backfill: {report.found} message(s) found in {folder!r}{after}", file=sys.stderr
            )
            announced = True
            return
        print(
            f"backfill: {report.stored + len(report.unfetchable)}/{report.found} "
            f"({report.duplicates} duplicate(s))",
            file=sys.stderr,
        )

    try:
        report = imap_ingress.backfill(
            settings.imap, intake, since=since, folder=args.folder, progress=progress
        )
    except MailbridgeError:
        engine.dispose()
        raise
    print(f"stored {report.stored} message(s), {report.duplicates} duplicate(s)")
    if report.unfetchable:
        print(
            f"mailbridge: error: the server did not deliver {len(report.unfetchable)} message(s) "
            f"whole (UIDs {', '.join(map(str, report.unfetchable[:20]))}); read them in the "
            "mailbox",
            file=sys.stderr,
        )
    if not args.no_process:
        worker, sender = make_workers(engine, settings)
        handled = worker.run_once()
        print(f"processed {handled} message(s)")
        _print_delivery(sender.deliver_due())
    engine.dispose()
    return 1 if report.unfetchable else 0


def _parse_at(value: str | None, tz: ZoneInfo) -> datetime:
    """``--at``: an ISO time, read in the service's zone when it names none; default now."""
    if not value:
        return system_clock()
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise MailbridgeError(f"--at: not an ISO time: {value!r} (e.g. 2026-11-28T23:00)") from None
    return at.replace(tzinfo=tz) if at.tzinfo is None else at


def cmd_due(args: argparse.Namespace, settings: Settings) -> int:
    engine = open_store(settings)
    at = _parse_at(args.at, settings.tz)
    runner = make_runner(engine, settings)
    performed = []
    if args.run:
        performed = runner.run_due(at)
        _worker, sender = make_workers(engine, settings)
        delivery = sender.deliver_due()
    rows: list[dict[str, Any]] = [
        {
            "key": action.key,
            "kind": action.kind,
            "episode": reference,
            "due_at": action.due_at.isoformat(),
            "due": action.due_at <= at,
            "late": late_note_for(action, at),
            "roles": action.roles,
        }
        for action, reference in runner.upcoming()
    ]
    engine.dispose()
    if args.json:
        _print_json(
            {
                "at": at.isoformat(),
                "performed": [p.__dict__ for p in performed],
                "pending": rows,
            }
        )
        return 0
    for p in performed:
        print(
            f"done  {p.key:<32} {p.kind:<22} to {', '.join(p.roles)}"
            f"{'  (' + p.late + ')' if p.late else ''}"
        )
    if args.run:
        _print_delivery(delivery)
    for r in rows:
        mark = "DUE " if r["due"] else "    "
        local = datetime.fromisoformat(r["due_at"]).astimezone(settings.tz)
        print(
            f"{mark} {local:%Y-%m-%d %H:%M %Z}  {r['key']:<32} {r['kind']:<22} "
            f"{', '.join(r['roles'])}"
        )
    if not rows and not performed:
        print("nothing pending")
    return 0


def cmd_interviews(args: argparse.Namespace, settings: Settings) -> int:
    engine = open_store(settings)
    now = system_clock()
    with Session(engine) as session:
        rows = session.execute(
            select(Interview, Episode.reference, Episode.child_id, Episode.returned_at)
            .join(Episode, Episode.id == Interview.episode_id)
            .order_by(Interview.due_at)
        ).all()
    engine.dispose()
    data: list[dict[str, Any]] = []
    for iv, reference, child_id, returned_at in rows:
        final = iv.status in ("completed", "declined")
        overdue = iv.overdue or (not final and iv.due_at <= now)
        if args.due and final:
            continue
        if args.overdue and not overdue:
            continue
        data.append(
            {
                "episode": reference,
                "child_id": child_id,
                "returned_at": returned_at.isoformat() if returned_at else None,
                "due_at": iv.due_at.isoformat(),
                "status": iv.status,
                "overdue": overdue,
                "held_on": iv.held_on.isoformat() if iv.held_on else None,
                "interviewer": iv.interviewer,
                "reason_codes": iv.reason_codes,
                "sent_back": iv.sent_back,
                "recorded_at": iv.recorded_at.isoformat() if iv.recorded_at else None,
            }
        )
    if args.json:
        _print_json(data)
        return 0
    for d in data:
        print(
            f"{d['episode']:<15} {d['child_id'] or 'UNMATCHED':<10} due {d['due_at'][:16]}  "
            f"{d['status']:<10}{'  OVERDUE' if d['overdue'] else ''}"
            f"{'  sent back x' + str(d['sent_back']) if d['sent_back'] else ''}"
        )
    if not data:
        print("no interviews")
    return 0


_COMMANDS: dict[str, Command] = {
    "serve": cmd_serve,
    "check-config": cmd_check_config,
    "db": cmd_db,
    "directory": cmd_directory,
    "inject": cmd_inject,
    "messages": cmd_messages,
    "reprocess": cmd_reprocess,
    "episodes": cmd_episodes,
    "episode": cmd_episode,
    "alerts": cmd_alerts,
    "deliver": cmd_deliver,
    "due": cmd_due,
    "interviews": cmd_interviews,
    "routes": cmd_routes,
    "imap": cmd_imap,
}
