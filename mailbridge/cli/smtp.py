"""`smtp hash-password`: lines for the listener's auth file."""


from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from mailbridge.cli.common import Command
from mailbridge.ops import passwords


def add_parsers(sub: Any) -> None:
    """Add this group's commands to the top-level subparsers."""
    smtp = sub.add_parser(
        "smtp",
        help="the SMTP listener (STARTTLS, AUTH: docs/tls.md)",
        description="The SMTP listener `serve` runs: tools for its STARTTLS and AUTH settings "
        "(docs/tls.md).",
    )
    smtpsub = smtp.add_subparsers(dest="smtp_command", metavar="ACTION", required=True)
    hashpw = smtpsub.add_parser(
        "hash-password",
        help="print a salted scrypt hash for smtp.auth_file (password from the terminal or stdin)",
        description="Print a salted scrypt hash of a password for smtp.auth_file; the password "
        "is read from the terminal (or stdin), never from the command line.",
    )
    hashpw.add_argument("--user", help="print USER:HASH, a whole auth_file line")


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


COMMANDS: dict[str, Command] = {}  # hash-password needs no settings: main runs it first
