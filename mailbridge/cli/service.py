"""`serve`, `check-config`, `status` and `db`: running the service and its schema."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from mailbridge.alerts.render import Renderer
from mailbridge.cli.common import opened_store, print_json, safe_url
from mailbridge.cli.parsers import command, json_flag
from mailbridge.clock import system_clock
from mailbridge.errors import ConfigError, DatabaseUnavailableError, MailbridgeError
from mailbridge.ops import health
from mailbridge.ops.metrics import read_only
from mailbridge.routing.authorities import Authorities
from mailbridge.runtime.serve import serve
from mailbridge.settings.config import Settings, load_routing_file
from mailbridge.settings.validation import tls_warnings
from mailbridge.store import db, tx
from mailbridge.store.directory import placement_authorities


def _oauth2_line(settings: Settings) -> str:
    """The token provider in use, naming files but never their contents."""
    o = settings.oauth2
    if o.provider == "microsoft":
        credential = (
            f"certificate {o.certificate_file}"
            if o.certificate_file
            else f"client secret in {o.client_secret_file}"
        )
        return f"microsoft (tenant {o.tenant_id}, client {o.client_id}, {credential})"
    if o.provider == "google":
        return f"google (service account key {o.service_account_file})"
    return f"command ({o.token_command.split()[0] if o.token_command.split() else ''})"


# Every part runtime/serve.py starts (tests/unit/test_cli_help.py holds the two together).
SERVE_DESCRIPTION = """\
Run mailbridge until SIGTERM or Ctrl-C. One process runs:

  SMTP listener     takes reports for smtp.addresses on smtp.host:smtp.port
                    (STARTTLS and AUTH if set); each reply code is counted
  IMAP watcher      reads the shared mailbox at imap.url (IDLE or polling; password
                    or XOAUTH2), if set
  Graph reader      reads graph.mailbox through Microsoft Graph, if set
  workers           read each stored message and decide episodes and alerts
                    (processing.worker_processes processes; 0: a thread)
  sender            delivers alerts through relay.url (SMTP, password or XOAUTH2, or
                    Graph sendMail for graph://), else writes them to DATA_DIR/outbox
  timers            every processing.timer_seconds: escalations, reminders,
                    interview deadlines, the SMTP refusal notice, triage summaries
  digests           the weekly/monthly statistics digest (digest.periods)
  purge             retention, daily at retention.hour
  /metrics /healthz Prometheus figures and health, if [http] is enabled
  web app           the staff web app, if [web] is enabled

Stopping: the listener stops taking mail, messages in flight are committed, the
worker and sender finish what they hold, and it exits 0.
"""


def cmd_check_config(args: argparse.Namespace, settings: Settings) -> int:
    try:
        routing = load_routing_file(settings)
    except ConfigError as exc:
        print(f"mailbridge: {exc}", file=sys.stderr)
        return 2
    unknown, unchecked = _directory_codes(settings, routing.authorities)
    if unknown:
        print(
            f"mailbridge: {ConfigError([f'authorities.file: {p}' for p in unknown])}",
            file=sys.stderr,
        )
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
    web = settings.web
    if web.enabled:
        oidc = f" and OpenID Connect ({web.oidc_issuer})" if web.oidc_issuer else ""
        sign_in = f"local accounts{oidc}"
        print(f"  web:      http://{web.host}:{web.port}/ ({sign_in})")
    else:
        print("  web:      off")
    if settings.graph.mailbox:
        print(f"  graph:    {settings.graph.mailbox} / {settings.graph.folder} (Microsoft Graph)")
    oauth_users = [
        name
        for name, used in (
            ("imap", settings.imap.auth == "xoauth2"),
            ("relay", settings.relay.auth == "xoauth2"),
            ("graph", bool(settings.graph.mailbox)),
        )
        if used
    ]
    if oauth_users:
        print(f"  oauth2:   {_oauth2_line(settings)} for {', '.join(oauth_users)}")
    print(f"  templates: {templates or 'packaged'}")
    trusted = ", ".join(settings.trust.authserv_ids) or "none (no sender is verified by header)"
    dkim_here = "on" if settings.trust.dkim_verify else "off"
    print(f"  trust:    authserv-ids {trusted}; DKIM checked here {dkim_here}")
    print(
        f"  routing:  {routing.source} ({len(routing.rule_names()) - 1} rule(s), office hours in "
        f"{routing.timezone}, {len(routing.bank_holidays)} bank holiday(s))"
    )
    authorities = routing.authorities
    own = authorities.own
    print(
        f"  authorities: {authorities.source} ({len(authorities.by_code)} authorit"
        f"{'y' if len(authorities.by_code) == 1 else 'ies'}"
        + (f"; this council is {own.code}, {own.name}" if own else "; none is `own: true`")
        + ")"
    )
    if unchecked:
        print(f"mailbridge: warning: {unchecked}", file=sys.stderr)
    _print_tls_warnings(settings)
    return 0


def _directory_codes(settings: Settings, authorities: Authorities) -> tuple[list[str], str]:
    """Every placement_authority in the directory that the authorities file lacks, and why the
    directory could not be read, if it could not (a database not made yet is no error)."""
    url = settings.database_url
    if db.is_sqlite(url) and not Path(url.removeprefix("sqlite:///")).is_file():
        return [], ""
    try:
        engine = db.make_engine(url)
        try:
            with tx.read(read_only(engine)) as t:
                codes = placement_authorities(t)
        finally:
            engine.dispose()
    except tx.DatabaseError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return [], f"the directory's placement authorities were not checked ({first})"
    return authorities.unknown(codes), ""


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
    graph = (settings.graph.mailbox, settings.graph.folder) if settings.graph.mailbox else None
    with opened_store(settings) as engine, tx.read(read_only(engine)) as t:
        snap = health.snapshot(t, system_clock(), graph=graph)
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
        raise DatabaseUnavailableError(
            f"database {safe_url(settings.database_url)}: {exc}"
        ) from exc
    finally:
        engine.dispose()
    return 0


PARSERS = (
    command(
        "serve",
        "run the service: SMTP listener, mailbox readers, workers, sender, timers, web app",
        SERVE_DESCRIPTION,
        run=cmd_serve,
        extra={"formatter_class": argparse.RawDescriptionHelpFormatter},
    ),
    command(
        "check-config",
        "validate the settings; name every key at fault",
        "Validate the settings, the routing file and the authorities file; name "
        "every key at fault and exit non-zero. `serve` refuses to start on the same errors.",
        run=cmd_check_config,
    ),
    command(
        "status",
        "queues, the last message, the oldest undelivered alert, overdue interviews; the "
        "Graph reader's last round, delta link and last error (graph.mailbox)",
        "One picture of the service from the store, on any host: queues, the last "
        "message, the oldest undelivered alert, overdue interviews, the SMTP replies of the "
        "last 24 hours, and with graph.mailbox set the Graph reader's last round, delta link "
        "and last error.",
        json_flag(),
        run=cmd_status,
    ),
    command(
        "db",
        "database schema",
        "The database schema (Alembic migrations).",
        dest="db_command",
        actions=(
            command(
                "upgrade",
                "apply migrations to head",
                "Apply the migrations up to head; safe to run again.",
            ),
            command(
                "current",
                "show the schema revision and the head",
                "Show the database's schema revision and the code's head.",
            ),
        ),
        run=cmd_db,
    ),
)
