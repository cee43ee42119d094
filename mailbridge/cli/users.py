"""`mailbridge users`: local accounts for the staff web app.

    mailbridge users add NAME --role ROLE [--email E] [--name "Full Name"]   (password on stdin)
    mailbridge users add NAME --role ROLE --email E --no-password            (single sign-on only)
    mailbridge users password NAME                                           (new password on stdin)
    mailbridge users totp NAME [--off]                                       (a code at sign-in)
    mailbridge users disable NAME | enable NAME
    mailbridge users list [--json]

The password is read from standard input (its first line; a terminal is asked without echo), so
it never appears in the process list or the shell history. A social worker's or IRO's ``--email``
is what ties them to the children allocated to that address in the directory.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from typing import Any

from mailbridge.cli.parsers import arg, command, flag, json_flag
from mailbridge.clock import system_clock
from mailbridge.errors import InvalidRequestError
from mailbridge.runtime.serve import open_store
from mailbridge.settings.config import Settings
from mailbridge.store import accounts, tx
from mailbridge.store.inbound import audit
from mailbridge.web import auth

MIN_PASSWORD = 1
ADVISED_PASSWORD = 12
USERNAME = arg("name", help="the username")


def read_password() -> str:
    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != first:
            raise InvalidRequestError("the two passwords differ")
        return first
    line = sys.stdin.readline()
    return line.rstrip("\r\n")


def _password() -> str:
    password = read_password()
    if len(password) < MIN_PASSWORD:
        raise InvalidRequestError(
            "no password on stdin (use --no-password for single sign-on only)"
        )
    if len(password) < ADVISED_PASSWORD:
        print(
            f"mailbridge: warning: a password of fewer than {ADVISED_PASSWORD} characters is "
            "easy to guess",
            file=sys.stderr,
        )
    return password


def run(args: argparse.Namespace, settings: Settings) -> int:
    command = args.users_command
    password_hash: str | None = None
    if (command == "add" and not args.no_password) or command == "password":
        password_hash = auth.hash_password(_password())
    if command == "add" and args.role in auth.OWN_CHILDREN and not args.email:
        raise InvalidRequestError(
            f"a {args.role} account needs --email: it is how they see their own children"
        )
    engine = open_store(settings)
    now = system_clock()
    try:
        with tx.write(engine) as t:
            if command == "list":
                found = accounts.list_accounts(t)
                if args.json:
                    print(json.dumps([_json(a) for a in found], indent=2))
                else:
                    for a in found:
                        state = "" if a.active else "  (disabled)"
                        print(f"{a.username}  {a.role}  {a.email or '-'}{state}")
                return 0
            if command == "add":
                account = accounts.add_account(
                    t,
                    username=args.name,
                    role=args.role,
                    email=args.email,
                    display_name=args.display_name,
                    password_hash=password_hash,
                    now=now,
                )
                detail: dict[str, Any] = {"role": account.role, "via": "cli"}
                action = "user_added"
                message = f"added {account.username} ({account.role})"
            elif command == "totp":
                secret = None if args.off else auth.new_totp_secret()
                accounts.set_totp(t, args.name, secret, now)
                detail, action = {"via": "cli", "on": secret is not None}, "totp_set"
                message = (
                    f"{args.name} signs in without a code now"
                    if secret is None
                    else f"{args.name} now needs a code at sign-in. Add this to their "
                    f"authenticator app:\n  secret: {secret}\n  {auth.totp_uri(secret, args.name)}"
                )
            elif command == "password":
                assert password_hash is not None
                accounts.set_password(t, args.name, password_hash, now)
                detail, action = {"via": "cli"}, "password_set"
                message = f"new password set for {args.name}"
            else:
                found_account = accounts.account_by_name(t, args.name)
                if found_account is None:
                    raise accounts.NoSuchAccount(f"no web account named {args.name!r}")
                accounts.set_active(t, found_account.id, command == "enable", now)
                detail, action = {"via": "cli"}, f"user_{command}d"
                message = f"{command}d {args.name}"
            audit(
                t,
                at=now,
                actor="cli",
                entity="web_user",
                entity_id=args.name,
                action=action,
                detail=detail,
            )
    finally:
        engine.dispose()
    print(message)
    return 0


def _json(a: accounts.Account) -> dict[str, Any]:
    return {
        "username": a.username,
        "role": a.role,
        "email": a.email,
        "display_name": a.display_name,
        "active": a.active,
        "password": a.has_password,
        "created_at": a.created_at.isoformat(),
    }


PARSERS = (
    command(
        "users",
        "local accounts for the web app (docs/web.md)",
        "Local accounts for the staff web app (docs/web.md): add, list, set a "
        "password, require an authenticator code, disable or enable.",
        dest="users_command",
        metavar=None,
        actions=(
            command(
                "add",
                "add an account; the password is read from stdin",
                "Add an account with a role; the password is read from stdin (or none, "
                "with --no-password, for OpenID Connect sign-in only).",
                arg("name", help="the username to sign in with"),
                arg(
                    "--role",
                    required=True,
                    choices=auth.ROLES,
                    help="what the account may see and do",
                ),
                arg("--email", help="their work address (social workers: as in the directory)"),
                arg("--name", dest="display_name", help="the name shown on pages"),
                flag(
                    "--no-password",
                    "no local password: the person signs in through OpenID Connect only",
                ),
            ),
            command(
                "password",
                "set a new password, read from stdin",
                "Set an account's new password, read from stdin.",
                USERNAME,
            ),
            command(
                "disable",
                "disable an account (disable ends its sessions)",
                "Disable an account: it can no longer sign in, and its sessions end.",
                USERNAME,
            ),
            command(
                "enable",
                "enable an account (enable ends its sessions)",
                "Enable a disabled account again.",
                USERNAME,
            ),
            command(
                "totp",
                "require a code from an authenticator app at sign-in (prints the secret)",
                "Require a code from an authenticator app at sign-in: prints the secret "
                "to enter in the app; --off stops requiring it.",
                USERNAME,
                flag("--off", "stop requiring a code"),
            ),
            command(
                "list",
                "the accounts",
                "List the accounts: username, role, email, and (disabled) if disabled.",
                json_flag(),
            ),
        ),
        run=run,
    ),
)
