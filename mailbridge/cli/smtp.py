"""`smtp hash-password`: lines for the listener's auth file."""


from __future__ import annotations

import argparse
import getpass
import sys

from mailbridge.cli.parsers import arg, command
from mailbridge.ops import passwords


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


# hash-password needs no settings: main runs it first, so the group has no handler here.
PARSERS = (
    command(
        "smtp",
        "the SMTP listener (STARTTLS, AUTH: docs/tls.md)",
        "The SMTP listener `serve` runs: tools for its STARTTLS and AUTH settings "
        "(docs/tls.md).",
        dest="smtp_command",
        actions=(
            command(
                "hash-password",
                "print a salted scrypt hash for smtp.auth_file (password from the terminal or "
                "stdin)",
                "Print a salted scrypt hash of a password for smtp.auth_file; the password "
                "is read from the terminal (or stdin), never from the command line.",
                arg("--user", help="print USER:HASH, a whole auth_file line"),
            ),
        ),
    ),
)
