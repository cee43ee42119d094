"""`graph check`: the Graph reader's token, folders and stored state, checked as the reader
would use them, reading, moving and creating nothing.

Why a module of its own: the check runs once from the command line (``cli/graph.py``), not in
the reader's thread, and its job is to name what an administrator must fix (a missing
Mail.ReadWrite role, a folder name that leads nowhere) before ``serve`` meets it; the reader
itself is ``graph.py``.
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import quote

from mailbridge.clock import system_clock
from mailbridge.ingress.graph_failure import describe
from mailbridge.ingress.graph_folders import Folders
from mailbridge.ops import health, oauth2
from mailbridge.ops.graph import FolderNotFound, GraphClient, GraphError
from mailbridge.settings.sections import GraphSettings
from mailbridge.store import tx

READ_ROLE = "Mail.ReadWrite"


def check(
    settings: GraphSettings,
    tokens: oauth2.TokenSource,
    *,
    ca_file: str = "",
    engine: tx.Engine | None = None,
    now: datetime | None = None,
) -> list[str]:
    """`graph check`: a token with Mail.ReadWrite, the folders found by their names, and the
    reader's state in the store. Reads, moves and creates nothing. One line on failure: a
    GraphError (FolderNotFound for a folder), or the OAuth2 error of the token."""
    client = GraphClient(settings, tokens, ca_file=ca_file)
    mailbox = settings.mailbox
    try:
        token = tokens.token(mailbox)
        lines = [
            f"graph:      Microsoft Graph reader for {mailbox} ({client.base})",
            f"login:      {oauth2.describe(tokens, mailbox)}",
        ]
        if token.roles and READ_ROLE not in token.roles:
            raise GraphError(oauth2.refused_advice(tokens, mailbox, "Graph"))
        folders = Folders(client, mailbox)
        try:
            folder_id = folders.id(settings.folder, setting="graph.folder")
            found = client.json(
                "GET",
                f"/users/{quote(mailbox)}/mailFolders/{quote(folder_id, safe='')}"
                "?$select=id,displayName,totalItemCount",
            )
            waiting = found.get("totalItemCount")
            lines.append(
                f"folder:     {settings.folder!r} found"
                + (f", {waiting} message(s) in it" if isinstance(waiting, int) else "")
            )
            wanted = [("processed:  ", "processed_folder")]
            if settings.failed_folder:
                wanted.append(("failed:     ", "failed_folder"))
            for label, setting in wanted:
                name = getattr(settings, setting)
                try:
                    folders.id(name, setting=f"graph.{setting}")
                    lines.append(f"{label}{name!r} found")
                except FolderNotFound as exc:
                    if not exc.parent_found:
                        raise
                    lines.append(f"{label}{name!r} not there yet; serve makes it when first used")
        except oauth2.TokenRefused as exc:
            raise GraphError(describe(exc, tokens, mailbox)) from exc
    finally:
        client.close()
    if engine is not None:
        with tx.read(engine) as t:
            status = health.graph_status(t, mailbox, settings.folder)
        lines += health.graph_lines(  # the same lines as `mailbridge status`
            settings.folder, status, now or system_clock()
        )
    return lines
