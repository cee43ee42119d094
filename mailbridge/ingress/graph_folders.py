"""Graph mail folders named as a council's IT person types them, turned into folder ids.

``graph.folder``, ``graph.processed_folder`` and ``graph.failed_folder`` may each be:

- one of Graph's documented well-known folder names (``inbox``, ``archive``, ``deleteditems``,
  ...; any case), passed through as it is: Graph takes it wherever it takes a folder id;
- a folder id as Graph gives it (a long string without spaces or ``/``), checked with
  ``GET /users/{mailbox}/mailFolders/{id}``;
- a display name, or a path of display names separated by ``/`` (``Processed``,
  ``Missing reports/Processed``, ``Inbox/Missing reports``). The first level is a well-known
  name or a top-level folder (``GET /users/{mailbox}/mailFolders?$filter=displayName eq
  '...'``), each further level a child of the one before (``GET
  /users/{mailbox}/mailFolders/{id}/childFolders?$filter=...``). Names match exactly, else
  regardless of case, as Exchange matches them.

An id once found is cached for the life of the reader. ``refresh`` drops it and looks the name
up again: the reader calls it once after a ``404`` on a folder (renamed away, or deleted and
made again under the same name, so with a new id). A name that leads to no folder raises
``FolderNotFound``: one line naming the setting, the mailbox and the missing level. The folder
the reader stores into (``create=True``) is created when only its last level is missing, as
``Processed`` is on a new mailbox; a missing level above it is an error.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import quote

from mailbridge.ops.graph import FolderNotFound, GraphClient, GraphError

log = logging.getLogger(__name__)

#: Graph's well-known folder names (the mailFolder resource, v1.0), lower case.
WELL_KNOWN = frozenset(
    {
        "archive",
        "clutter",
        "conflicts",
        "conversationhistory",
        "deleteditems",
        "drafts",
        "inbox",
        "junkemail",
        "localfailures",
        "msgfolderroot",
        "outbox",
        "recoverableitemsdeletions",
        "scheduled",
        "searchfolders",
        "sentitems",
        "serverfailures",
        "syncissues",
    }
)

# What a Graph folder id looks like: base64url text, long, no spaces and no "/".
_ID = re.compile(r"[A-Za-z0-9_=+.-]{32,}")


def levels(name: str) -> list[str]:
    """``"Missing reports / Processed"`` -> ``["Missing reports", "Processed"]``."""
    return [part.strip() for part in name.split("/") if part.strip()]


def well_known(name: str) -> str | None:
    """The well-known name ``name`` is (lower case), or None."""
    lowered = name.strip().lower()
    return lowered if lowered in WELL_KNOWN else None


def looks_like_id(name: str) -> bool:
    return bool(_ID.fullmatch(name.strip()))


def _odata_literal(value: str) -> str:
    """A string literal in an OData $filter: single quotes doubled."""
    return "'" + value.replace("'", "''") + "'"


class Folders:
    """Folder names to ids for one mailbox, cached; ``FolderNotFound`` when there is none."""

    def __init__(self, client: GraphClient, mailbox: str) -> None:
        self.client = client
        self.mailbox = mailbox
        self.user = quote(mailbox, safe="@")
        self._ids: dict[str, str] = {}

    def id(self, name: str, *, setting: str, create: bool = False) -> str:
        """The id (or well-known name) of the folder ``name``; cached."""
        key = name.strip()
        if key not in self._ids:
            self._ids[key] = self._resolve(key, setting=setting, create=create)
        return self._ids[key]

    def refresh(self, name: str, *, setting: str, create: bool = False) -> str:
        """Look ``name`` up again (after a 404 on its cached id); its id now."""
        key = name.strip()
        before = self._ids.pop(key, None)
        now = self.id(key, setting=setting, create=create)
        if before is not None and now != before:
            log.warning(
                "Graph folder %r (%s) in %s has a new id (deleted and made again?); using it",
                key,
                setting,
                self.mailbox,
            )
        return now

    def cached(self, name: str) -> str | None:
        return self._ids.get(name.strip())

    # -- looking up --------------------------------------------------------------------------
    def _resolve(self, name: str, *, setting: str, create: bool) -> str:
        known = well_known(name)
        if known is not None:
            return known
        if "/" not in name and looks_like_id(name):
            found = self._by_id(name)
            if found is not None:
                return found
        parts = levels(name)
        if not parts:
            raise FolderNotFound(f"{setting}: empty folder name for mailbox {self.mailbox}")
        parent: str | None = None  # None: the top level (msgfolderroot)
        for depth, part in enumerate(parts):
            if depth == 0 and well_known(part) is not None:
                parent = well_known(part)
                continue
            found = self._child(parent, part)
            if found is None:
                last = depth == len(parts) - 1
                if create and last:
                    return self._create(parent, part, name, setting)
                where = (
                    "at the top of the mailbox"
                    if parent is None
                    else f"in {'/'.join(parts[:depth])!r}"
                )
                raise FolderNotFound(
                    f"{setting}: no folder {part!r} {where} of {self.mailbox}"
                    + (f" (looking for {name!r})" if len(parts) > 1 else "")
                    + "; create it in Outlook, or correct the name (a well-known name such as "
                    "inbox, a display name, or a path such as 'Inbox/Missing reports')",
                    parent_found=last,
                )
            parent = found
        assert parent is not None
        return parent

    def _by_id(self, folder_id: str) -> str | None:
        try:
            found = self.client.json(
                "GET", f"/users/{self.user}/mailFolders/{quote(folder_id, safe='')}?$select=id"
            )
        except GraphError as exc:
            if exc.status in (400, 404):
                return None  # not an id after all: try it as a display name
            raise
        return str(found.get("id") or folder_id)

    def _children_path(self, parent: str | None) -> str:
        if parent is None:
            return f"/users/{self.user}/mailFolders"
        return f"/users/{self.user}/mailFolders/{quote(parent, safe='')}/childFolders"

    def _child(self, parent: str | None, display_name: str) -> str | None:
        """The id of the folder ``display_name`` directly under ``parent``, or None."""
        filter_ = quote(f"displayName eq {_odata_literal(display_name)}", safe="")
        link: str | None = f"{self._children_path(parent)}?$filter={filter_}"
        candidates: list[tuple[str, str]] = []
        while link:
            page = self.client.json("GET", link)
            for folder in page.get("value", []):
                if isinstance(folder, dict) and folder.get("id"):
                    candidates.append((str(folder.get("displayName", "")), str(folder["id"])))
            next_link = page.get("@odata.nextLink")
            link = str(next_link) if next_link else None
        for shown, folder_id in candidates:
            if shown == display_name:
                return folder_id
        for shown, folder_id in candidates:
            if shown.casefold() == display_name.casefold():
                return folder_id
        return None

    def _create(self, parent: str | None, display_name: str, name: str, setting: str) -> str:
        try:
            created = self.client.json(
                "POST", self._children_path(parent), {"displayName": display_name}
            )
        except GraphError as exc:
            found = self._child(parent, display_name) if exc.status == 409 else None
            if found is None:
                raise
            return found  # made meanwhile (ErrorFolderExists), by another instance or a person
        log.info("created folder %r (%s) in %s", name, setting, self.mailbox)
        return str(created["id"])
