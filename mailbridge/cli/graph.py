"""`graph check`: the mailbox read through Microsoft Graph (graph.mailbox), checked as the reader
would use it, reading and moving nothing."""

from __future__ import annotations

import argparse

from mailbridge.cli.common import check_with_store
from mailbridge.cli.parsers import command
from mailbridge.errors import InvalidRequestError
from mailbridge.ingress import graph_check
from mailbridge.ops import oauth2_providers
from mailbridge.settings.config import Settings


def cmd_graph(args: argparse.Namespace, settings: Settings) -> int:
    """Exit 0 after `Graph OK`, 1 with one line naming what is wrong."""
    if not settings.graph.mailbox:
        raise InvalidRequestError(
            "graph.mailbox is not set ([graph] mailbox in the config): no Graph reader"
        )
    return check_with_store(
        settings,
        "Graph",
        lambda engine: graph_check.check(
            settings.graph,
            oauth2_providers.graph_source(settings.oauth2),
            ca_file=settings.oauth2.ca_file,
            engine=engine,
        ),
    )


PARSERS = (
    command(
        "graph",
        "the mailbox read through Microsoft Graph (graph.mailbox)",
        "The shared mailbox `serve` reads through Microsoft Graph where IMAP is off "
        "(graph.mailbox, docs/m365.md): check the token, the permission and the folders.",
        dest="graph_command",
        actions=(
            command(
                "check",
                "get a token and check its Mail.ReadWrite role; find graph.folder, "
                "graph.processed_folder and graph.failed_folder by their names; show the "
                "reader's last round, delta link and last error; one line naming what is wrong "
                "(a folder not found, the tenant, app, consent or mailbox permission)",
                "Get a token as the Graph reader would and check its Mail.ReadWrite role; "
                "find graph.folder, graph.processed_folder and graph.failed_folder by their "
                "names; show the reader's last round, delta link and last error. Nothing is read "
                "or moved. A problem is one line naming what is wrong (a folder not found, the "
                "tenant, app, consent or mailbox permission).",
            ),
        ),
        run=cmd_graph,
    ),
)
