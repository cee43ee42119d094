"""The `mailbridge` command: every operator action, each failure a one-line message."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from mailbridge import (
    __version__,
    db,
    digest,
    health,
    passwords,
    retention,
    ssda903,
    store,
    subject_access,
)
from mailbridge.absence import CODES as ABSENCE_CODES
from mailbridge.absence import reclassify
from mailbridge.alerts import Renderer
from mailbridge.clock import system_clock
from mailbridge.clocks import late_note_for
from mailbridge.config import (
    Settings,
    load_routing_file,
    load_settings,
    redact_url,
    tls_warnings,
)
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
from mailbridge.logs import FORMATS, parse_levels, setup_logging
from mailbridge.metrics import read_only
from mailbridge.models import Alert, DigestRun, Episode, InboundMessage, Interview
from mailbridge.report import build_report
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
    parser.add_argument(
        "--log-format", choices=FORMATS, help="override service.log_format (plain or json)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    sub.add_parser("serve", help="run the SMTP listener, the processing worker and the sender")
    sub.add_parser("check-config", help="validate the settings; name every key at fault")
    status = sub.add_parser(
        "status", help="queues, the last message, the oldest undelivered alert, overdue interviews"
    )
    status.add_argument("--json", action="store_true", help="JSON on stdout")

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

    episode = sub.add_parser(
        "episode", help="one episode and its timeline; --absence-type sets its SSDA903 code"
    )
    episode.add_argument("reference", help="e.g. MB-2026-00042")
    episode.add_argument("--json", action="store_true")
    episode.add_argument(
        "--absence-type",
        type=str.upper,
        choices=["M", "A"],
        help="set the SSDA903 code: M missing, A away from placement without authorisation "
        "(audited)",
    )
    episode.add_argument(
        "--by", metavar="WHO", help="who asked for the change, for the audit (default: your login)"
    )

    export = sub.add_parser("export", help="returns for the Department for Education")
    exportsub = export.add_subparsers(dest="export_command", metavar="RETURN", required=True)
    ssda = exportsub.add_parser(
        "ssda903",
        help="the SSDA903 Missing table (CHILD,DOB,MISSING,MIS_START,MIS_END) as CSV, "
        "after checking every rule",
    )
    ssda.add_argument(
        "--year",
        required=True,
        help="collection year: 2026 or 2026-27 means 1 April 2026 to 31 March 2027",
    )
    ssda.add_argument(
        "--out", metavar="PATH", help="write the file here (atomically); default: stdout"
    )

    alerts = sub.add_parser("alerts", help="list alert rows (the outbox)")
    alerts.add_argument("--json", action="store_true", help="print a JSON array on stdout")
    alerts.add_argument("--status", choices=["queued", "sent", "failed"])

    due = sub.add_parser(
        "due", help="escalations, reminders and interview deadlines pending; --run performs them"
    )
    due.add_argument("--at", help="as of this time (ISO, local zone if none given); default now")
    due.add_argument("--run", action="store_true", help="perform what is due, then deliver")
    due.add_argument("--json", action="store_true")

    dig = sub.add_parser(
        "digest", help="the weekly/monthly statistics digest: what is due; --send queues it"
    )
    dig.add_argument("--at", help="as of this time (ISO, local zone if none given); default now")
    dig.add_argument("--send", action="store_true", help="queue the due digests, then deliver")
    dig.add_argument("--json", action="store_true")

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

    purge = sub.add_parser(
        "purge", help="retention: purge raw mail and free text older than retention.days"
    )
    purge.add_argument("--dry-run", action="store_true", help="only count what would be purged")
    purge.add_argument(
        "--before",
        metavar="DATE",
        help="purge what is older than DATE (YYYY-MM-DD, service zone) instead of retention.days",
    )
    purge.add_argument("--json", action="store_true", help="the counts as JSON on stdout")

    sar = sub.add_parser("subject-access", help="find and export everything held about a child")
    sarsub = sar.add_subparsers(dest="sar_command", metavar="ACTION", required=True)
    sar_search = sarsub.add_parser(
        "search", help="children by id, name (partial), date of birth, carer email or police ref"
    )
    sar_search.add_argument("term")
    sar_search.add_argument("--json", action="store_true", help="JSON on stdout")
    sar_export = sarsub.add_parser(
        "export", help="write a zip of everything held about one child (special-category data)"
    )
    sar_export.add_argument("child_id", metavar="CHILD_ID")
    sar_export.add_argument("--out", required=True, metavar="PATH", help="the .zip to write")
    sar_export.add_argument(
        "--requested-by", required=True, metavar="WHO", help="who asked, for the audit log"
    )

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

    smtp = sub.add_parser("smtp", help="the SMTP listener (STARTTLS, AUTH: docs/tls.md)")
    smtpsub = smtp.add_subparsers(dest="smtp_command", metavar="ACTION", required=True)
    hashpw = smtpsub.add_parser(
        "hash-password",
        help="print a salted scrypt hash for smtp.auth_file (password from the terminal or stdin)",
    )
    hashpw.add_argument("--user", help="print USER:HASH, a whole auth_file line")

    report = sub.add_parser(
        "report",
        help="figures for a period (episodes that started in it) as HTML, CSV or JSON",
    )
    report.add_argument(
        "--from", dest="start", required=True, metavar="YYYY-MM-DD", help="first day (local)"
    )
    report.add_argument(
        "--to", dest="end", required=True, metavar="YYYY-MM-DD", help="last day (local), included"
    )
    report.add_argument(
        "--format", choices=["html", "csv", "json"], default="html", help="default: html"
    )
    report.add_argument("--out", metavar="PATH", help="write to this file; default stdout")
    report.add_argument(
        "--names",
        action="store_true",
        help="show children's names and IDs (default: pseudonyms such as 'Child 1')",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "smtp" and args.smtp_command == "hash-password":
        # Needs no settings: it makes the auth file that the settings may already name.
        return cmd_hash_password(args)
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        print(f"mailbridge: {exc}", file=sys.stderr)
        return 2
    setup_logging(
        args.log_level or settings.service.log_level,
        args.log_format or settings.service.log_format,
        parse_levels(settings.service.log_levels)[0],
    )
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
        f"{', '.join(settings.smtp.addresses)}; {_listener_security(settings)}"
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
    _print_tls_warnings(settings)
    return 0


def _print_tls_warnings(settings: Settings) -> None:
    for warning in tls_warnings(settings):
        print(f"mailbridge: warning: {warning}", file=sys.stderr)


def _listener_security(settings: Settings) -> str:
    smtp = settings.smtp
    if not smtp.tls_cert_file:
        return "no STARTTLS"
    parts = ["STARTTLS required" if smtp.require_tls else "STARTTLS offered"]
    parts.append(f"AUTH from {smtp.auth_file}" if smtp.auth_file else "no AUTH")
    return ", ".join(parts)


def cmd_hash_password(args: argparse.Namespace) -> int:
    """Read a password (twice on a terminal), print its hash; the password is never echoed."""
    if sys.stdin.isatty():
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            print("mailbridge: the two passwords differ", file=sys.stderr)
            return 1
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        print("mailbridge: empty password", file=sys.stderr)
        return 1
    if args.user and (":" in args.user or args.user != args.user.strip()):
        print("mailbridge: --user must not contain ':' or surrounding spaces", file=sys.stderr)
        return 1
    hashed = passwords.hash_password(password)
    print(f"{args.user}:{hashed}" if args.user else hashed)
    return 0


def _print_json(data: Any) -> None:
    """One format for every --json: indented, and names like Chloé left readable."""
    json.dump(data, sys.stdout, indent=2, ensure_ascii=False)
    print()


def _safe_url(url: str) -> str:
    return redact_url(url) if url else ""


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    """The queues at a glance; no names, addresses or bodies (health.py)."""
    engine = open_store(settings)
    try:
        with Session(read_only(engine)) as session:
            snap = health.snapshot(session, system_clock())
    finally:
        engine.dispose()
    if args.json:
        _print_json(health.snapshot_json(snap))
    else:
        print("\n".join(health.snapshot_lines(snap, settings.tz)))
    return 0


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
    try:
        if args.absence_type:
            with Session(engine) as session, session.begin():
                _set_absence_type(session, args)
        with Session(engine) as session:
            data = find_episode(session, args.reference)
    finally:
        engine.dispose()
    if data is None:
        raise MailbridgeError(f"no episode with reference {args.reference}")
    if args.json:
        _print_json(data)
    else:
        print(render_timeline(data))
    return 0


def _set_absence_type(session: Session, args: argparse.Namespace) -> None:
    """`episode REF --absence-type M|A`: staff reclassify by hand; audited as who asked."""
    ep = session.scalars(
        select(Episode).where(Episode.reference == args.reference.upper()).with_for_update()
    ).first()
    if ep is None:
        raise MailbridgeError(f"no episode with reference {args.reference}")
    who = args.by or _login()
    changed = reclassify(
        session, ep, args.absence_type, actor=f"cli:{who}", at=system_clock(), source="cli"
    )
    if changed:
        print(
            f"{ep.reference}: absence type {changed} ({ABSENCE_CODES[ep.absence_type]})",
            file=sys.stderr,
        )
    else:
        print(
            f"{ep.reference}: absence type already {ep.absence_type}; nothing changed",
            file=sys.stderr,
        )


def _login() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name (a container): the audit still says it was the CLI
        return "unknown"


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    """`export ssda903`: every violation on stderr and exit 1 with no output, or the CSV."""
    year = ssda903.parse_year(args.year)
    first, last = year.first_day, year.last_day
    print(
        f"SSDA903 Missing table {year.label}: episodes starting {first:%d/%m/%Y} to "
        f"{last:%d/%m/%Y} ({settings.tz.key})",
        file=sys.stderr,
    )
    engine = open_store(settings)
    try:
        with Session(engine) as session:
            rows = ssda903.load_rows(session, year, settings.tz)
    finally:
        engine.dispose()
    problems = ssda903.validate(rows, year)
    if problems:
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        print(
            f"mailbridge: error: {len(problems)} problem(s) in {len(rows)} episode(s); "
            "fix them (see docs/ssda903.md) and run again; no file written",
            file=sys.stderr,
        )
        return 1
    text = ssda903.render_csv(rows, year)
    if args.out:
        out = Path(args.out)
        try:
            ssda903.write_atomic(out, text)
        except OSError as exc:
            raise MailbridgeError(f"--out {out}: {exc.strerror or exc}") from exc
        print(f"wrote {len(rows)} episode(s) to {out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
        print(f"{len(rows)} episode(s)", file=sys.stderr)
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
        since = _parse_day("--since", args.since)
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


def cmd_purge(args: argparse.Namespace, settings: Settings) -> int:
    now = system_clock()
    if args.before:
        day = _parse_day("--before", args.before)
        cutoff = retention.cutoff_before(day, settings.tz)
        if cutoff > now:
            raise MailbridgeError(f"--before: {args.before} is in the future")
    else:
        cutoff = retention.cutoff_for(now, settings.retention.days)
    engine = open_store(settings)
    try:
        report = retention.purge(
            engine,
            cutoff=cutoff,
            now=now,
            batch_size=settings.retention.batch_size,
            dry_run=args.dry_run,
            actor="cli",
            outbox=settings.data_dir / "outbox",
        )
    finally:
        engine.dispose()
    if args.json:
        _print_json(report.as_json())
        return 0
    verb = "would purge" if args.dry_run else "purged"
    print(f"{verb} before {cutoff.astimezone(settings.tz):%Y-%m-%d %H:%M %Z}:")
    for table, count in report.counts.items():
        print(f"  {table:<17} {count}")
    return 0


def cmd_subject_access(args: argparse.Namespace, settings: Settings) -> int:
    engine = open_store(settings)
    try:
        if args.sar_command == "search":
            with Session(engine) as session:
                found = subject_access.search(session, args.term)
        else:
            summary = subject_access.export(
                engine,
                args.child_id.strip(),
                Path(args.out),
                requested_by=args.requested_by,
                now=system_clock(),
            )
    finally:
        engine.dispose()
    if args.sar_command == "export":
        print(
            f"wrote {args.out}: {summary['counts']['episodes']} episode(s), "
            f"{summary['counts']['messages']} message(s), {summary['counts']['alerts']} alert(s); "
            "it holds special-category data: keep it safe, delete it once sent"
        )
        return 0
    if args.json:
        _print_json([m.as_json() for m in found])
        return 0
    for m in found:
        print("  ".join(subject_access.match_line(m)))
    if not found:
        print("no match")
    return 0


def _parse_day(option: str, value: str) -> date:
    try:
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise MailbridgeError(f"{option}: not a date: {value!r} (e.g. 2026-11-01)") from None


def cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    start, end = _parse_day("--from", args.start), _parse_day("--to", args.end)
    if start > end:
        raise MailbridgeError(f"--from {start} is after --to {end}")
    engine = open_store(settings)
    try:
        built = build_report(engine, settings, start, end, names=args.names)
    finally:
        engine.dispose()
    if args.format == "json" and not args.out:
        _print_json(built.as_json())
        return 0
    if args.format == "json":
        text = json.dumps(built.as_json(), indent=2, ensure_ascii=False) + "\n"
    else:
        text = built.html() if args.format == "html" else built.csv()
    if not args.out:
        sys.stdout.write(text)
        return 0
    try:
        Path(args.out).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise MailbridgeError(f"--out {args.out}: {exc.strerror or exc}") from None
    print(f"report {start} to {end} written to {args.out} ({args.format})", file=sys.stderr)
    return 0


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


def cmd_digest(args: argparse.Namespace, settings: Settings) -> int:
    engine = open_store(settings)
    at = _parse_at(args.at, settings.tz)
    routing = make_runner(engine, settings).routing
    outcomes: list[digest.Outcome] = []
    if args.send:
        outcomes = digest.run_due(engine, settings, routing, at)
        _worker, sender = make_workers(engine, settings)
        delivery = sender.deliver_due()
    since = digest.in_use_since(engine)
    with Session(engine) as session:
        sent = {
            (kind, start): when
            for kind, start, when in session.execute(
                select(DigestRun.kind, DigestRun.period_start, DigestRun.sent_at)
            )
        }
    engine.dispose()
    due = digest.due_periods(settings, at, since)
    rows = []
    for kind in settings.digest.periods:
        period = digest.last_finished(kind, at.astimezone(settings.tz).date())
        when = sent.get((kind, period.start))
        rows.append(
            {
                "kind": kind,
                "from": period.start.isoformat(),
                "to": period.last_day.isoformat(),
                "sent_at": when.isoformat() if when else None,
                "due": when is None and period in due,
            }
        )
    if args.json:
        _print_json(
            {
                "at": at.isoformat(),
                "queued": [
                    {
                        "kind": o.period.kind,
                        "from": o.period.start.isoformat(),
                        "recipients": o.queued,
                        "skipped": o.skipped,
                    }
                    for o in outcomes
                ],
                "periods": rows,
            }
        )
        return 0
    for o in outcomes:
        print(
            f"queued {o.period.key} for {o.queued} recipient(s)"
            + (f" ({o.skipped})" if o.skipped else "")
        )
    if args.send:
        _print_delivery(delivery)
    if not rows:
        print("no digests configured (digest.periods is empty)")
    for r in rows:
        state = f"sent {r['sent_at']}" if r["sent_at"] else ("DUE" if r["due"] else "not due")
        print(f"{r['kind']:<8} {r['from']} to {r['to']}  {state}")
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
    "status": cmd_status,
    "db": cmd_db,
    "directory": cmd_directory,
    "inject": cmd_inject,
    "messages": cmd_messages,
    "reprocess": cmd_reprocess,
    "episodes": cmd_episodes,
    "episode": cmd_episode,
    "export": cmd_export,
    "alerts": cmd_alerts,
    "deliver": cmd_deliver,
    "due": cmd_due,
    "digest": cmd_digest,
    "interviews": cmd_interviews,
    "routes": cmd_routes,
    "imap": cmd_imap,
    "purge": cmd_purge,
    "subject-access": cmd_subject_access,
    "report": cmd_report,
}
