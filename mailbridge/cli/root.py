"""The `mailbridge` command: the parser of every group, and one place that turns failures into
one-line messages and exit codes (1: the operation failed, 2: the settings are wrong)."""


from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from mailbridge import __version__
from mailbridge.cli import (
    alerts,
    directory,
    episodes,
    graph,
    imap,
    messages,
    privacy,
    relay,
    reports,
    routes,
    service,
    smtp,
    timers,
    users,
)
from mailbridge.cli.parsers import Command, add, handlers
from mailbridge.errors import ConfigError, MailbridgeError
from mailbridge.ops.logs import FORMATS, parse_levels, setup_logging
from mailbridge.settings.config import (
    load_settings,
)

GROUPS = (
    service, directory, messages, episodes, reports, alerts, timers, routes, privacy, imap, smtp,
    users,
    relay,
    graph,
)
_COMMANDS: dict[str, Command] = handlers([group.PARSERS for group in GROUPS])


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
    for group in GROUPS:
        for cmd in group.PARSERS:
            add(sub, cmd)
    return parser


def command_log_level(command: str, configured: str) -> str:
    """`serve` logs at service.log_level. A one-shot command prints its own summary, so its
    INFO lines (each alert sent, each message processed) would only trail after it: such a
    command logs warnings and errors unless DEBUG is configured or --log-level is given."""
    if command == "serve" or configured.upper() == "DEBUG":
        return configured
    return "WARNING" if configured.upper() == "INFO" else configured


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "smtp" and args.smtp_command == "hash-password":
        # Needs no settings: it makes the auth file that the settings may already name.
        return smtp.cmd_hash_password(args)
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        print(f"mailbridge: {exc}", file=sys.stderr)
        return 2
    setup_logging(
        args.log_level or command_log_level(args.command, settings.service.log_level),
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
