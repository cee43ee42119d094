"""`imap check` and `imap backfill`: the watched mailbox."""


from __future__ import annotations

import argparse
import sys

from mailbridge.cli.common import check_with_store, parse_day, process_pending
from mailbridge.cli.parsers import arg, command, flag
from mailbridge.errors import InvalidRequestError, MailbridgeError
from mailbridge.ingress.imap import client as imap_client
from mailbridge.ingress.imap import commands as imap_ingress
from mailbridge.intake import Intake
from mailbridge.ops import oauth2_providers
from mailbridge.runtime.serve import open_store
from mailbridge.settings.config import Settings


def cmd_imap(args: argparse.Namespace, settings: Settings) -> int:
    """`imap check` exits 1 naming the account on any failure; `imap backfill` stores the folder."""
    if not settings.imap.url:
        raise InvalidRequestError(
            "imap.url is not set ([imap] url in the config, or MAILBRIDGE_IMAP_URL)"
        )
    if args.imap_command == "check":
        return check_with_store(
            settings,
            "IMAP",
            lambda engine: imap_ingress.check(
                settings.imap,
                engine,
                tokens=oauth2_providers.source_from_settings(settings.oauth2, settings.imap.auth),
            ),
        )
    since = None
    if args.since:
        since = parse_day("--since", args.since)
    engine = open_store(settings)
    intake = Intake(engine)
    announced = False

    def progress(report: imap_ingress.BackfillReport) -> None:
        nonlocal announced
        if not announced:
            folder = args.folder or imap_client.mailbox_from_settings(settings.imap).folder
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

    hours = settings.processing.late_mail_hours
    print(
        f"backfill: mail that arrives {hours:g} hours or more after it was sent is recorded as "
        "late: the carer gets no receipt, and its alerts say how late it is "
        "(processing.late_mail_hours)",
        file=sys.stderr,
    )
    try:
        report = imap_ingress.backfill(
            settings.imap,
            intake,
            since=since,
            folder=args.folder,
            progress=progress,
            tokens=oauth2_providers.source_from_settings(settings.oauth2, settings.imap.auth),
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
        process_pending(engine, settings)
    engine.dispose()
    return 1 if report.unfetchable else 0


PARSERS = (
    command(
        "imap",
        "the watched IMAP mailbox (imap.url)",
        "The shared mailbox `serve` watches (imap.url, docs/imap.md): check the "
        "login, or store the mail already there.",
        dest="imap_command",
        actions=(
            command(
                "check",
                "connect and log in (password, or XOAUTH2/OAUTHBEARER with a token from "
                "[oauth2]); report capabilities (IDLE, MOVE), the token and the folders; a "
                "refused login in one line naming what to fix (tenant, app, consent, scope, "
                "mailbox permission)",
                "Connect to imap.url and log in as `serve` would (password, or XOAUTH2/"
                "OAUTHBEARER with a token from [oauth2]); report the server's capabilities (IDLE, "
                "MOVE), the token and the folders. A refused login is one line naming what to fix "
                "(tenant, app, consent, scope, mailbox permission). Nothing is read or moved.",
            ),
            command(
                "backfill",
                "store the mail already in the folder (read-only; safe to re-run), then process "
                "it",
                "Store the mail already in the watched folder (or --folder), without moving "
                "or flagging it, then process it. Safe to re-run: mail already stored is a "
                "duplicate.",
                arg(
                    "--since",
                    metavar="DATE",
                    help="only mail that arrived on or after DATE (YYYY-MM-DD)",
                ),
                arg(
                    "--folder",
                    help="another folder than the watched one (e.g. Processed after a restore)",
                ),
                flag("--no-process", "only store"),
            ),
        ),
        run=cmd_imap,
    ),
)
