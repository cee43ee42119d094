"""`serve`, `check-config`, `status` and `db`: running the service and its schema."""


from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from mailbridge.alerts.render import Renderer
from mailbridge.cli.common import Command, print_json, safe_url
from mailbridge.clock import system_clock
from mailbridge.errors import ConfigError, MailbridgeError
from mailbridge.ops import health
from mailbridge.ops.metrics import read_only
from mailbridge.runtime.serve import open_store, serve
from mailbridge.settings.config import (
    Settings,
    load_routing_file,
    tls_warnings,
)
from mailbridge.store import db


def add_parsers(sub: Any) -> None:
    """Add this group's commands to the top-level subparsers."""
    sub.add_parser(
        "serve",
        help="run the SMTP listener, the IMAP watcher (imap.url), the processing worker, the "
        "sender, the timers and digests, and /metrics and /healthz ([http])",
    )

    sub.add_parser("check-config", help="validate the settings; name every key at fault")

    status = sub.add_parser(
        "status", help="queues, the last message, the oldest undelivered alert, overdue interviews"
    )
    status.add_argument("--json", action="store_true", help="JSON on stdout")

    dbp = sub.add_parser("db", help="database schema")
    dbsub = dbp.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    dbsub.add_parser("upgrade", help="apply migrations to head")
    dbsub.add_parser("current", help="show the schema revision and the head")


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
    print(f"  database: {safe_url(settings.database_url)}")
    print(
        f"  listener: {settings.smtp.host}:{settings.smtp.port} for "
        f"{', '.join(settings.smtp.addresses)}; {_listener_security(settings)}"
    )
    outbox = settings.data_dir / "outbox"
    print(f"  relay:    {safe_url(settings.relay.url) or f'none (alerts written to {outbox})'}")
    print(f"  imap:     {safe_url(settings.imap.url) or 'none'}")
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


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    """The queues at a glance; no names, addresses or bodies (health.py)."""
    engine = open_store(settings)
    try:
        with Session(read_only(engine)) as session:
            snap = health.snapshot(session, system_clock())
    finally:
        engine.dispose()
    if args.json:
        print_json(health.snapshot_json(snap))
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
        raise MailbridgeError(f"database {safe_url(settings.database_url)}: {exc}") from exc
    finally:
        engine.dispose()
    return 0


COMMANDS: dict[str, Command] = {
    "serve": cmd_serve,
    "check-config": cmd_check_config,
    "status": cmd_status,
    "db": cmd_db,
}
