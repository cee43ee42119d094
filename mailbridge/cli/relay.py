"""`relay check`: connect to the outbound relay and log in as the sender would, sending nothing.

It says in one line what is wrong (the relay unreachable, TLS, a refused password, no OAuth2
token and why, a token the relay refused and the Exchange or Google step that is missing), so
an IT person can set up relay.auth = xoauth2 without waiting for an alert to fail.
"""

from __future__ import annotations

import argparse

from mailbridge.cli.parsers import command
from mailbridge.delivery.graph import GraphTransport
from mailbridge.delivery.transport import SmtpTransport, TemporaryFailure, make_transport
from mailbridge.errors import InvalidRequestError, RelayError
from mailbridge.ops import oauth2
from mailbridge.settings.config import Settings
from mailbridge.settings.sections import redact_url


def cmd_relay(args: argparse.Namespace, settings: Settings) -> int:
    """Exit 0 after `relay OK`, 1 with one line naming what is wrong."""
    if not settings.relay.url:
        raise InvalidRequestError(
            "relay.url is not set: alerts are written as .eml files to "
            f"{settings.data_dir / 'outbox'} (set [relay] url or MAILBRIDGE_RELAY_URL)"
        )
    try:
        transport = make_transport(settings)
    except oauth2.OAuth2Error as exc:
        raise RelayError(str(exc)) from exc
    assert isinstance(transport, SmtpTransport | GraphTransport)
    try:
        lines = transport.check()
    except TemporaryFailure as exc:
        raise RelayError(f"relay {redact_url(settings.relay.url)}: {exc}") from exc
    print("\n".join(lines))
    print("relay OK")
    return 0


PARSERS = (
    command(
        "relay",
        "the outbound relay (relay.url): SMTP, or Microsoft Graph sendMail",
        "The relay alerts are sent through (relay.url): SMTP, or Microsoft Graph "
        "sendMail for graph://. With none, alerts are written to DATA_DIR/outbox.",
        dest="relay_command",
        actions=(
            command(
                "check",
                "connect, secure and log in (password or XOAUTH2) as the sender would; for "
                "graph://, get a token and check its Mail.Send role",
                "Connect to relay.url, secure the connection and log in (password or "
                "XOAUTH2) as the sender would, and send nothing; for graph://, get a token and "
                "check its Mail.Send role. A refusal is one line naming what to fix.",
            ),
        ),
        run=cmd_relay,
    ),
)
