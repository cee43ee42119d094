"""A local HTTP server answering in Microsoft Graph's documented shapes. It is NOT Microsoft.

Enough of ``/v1.0/users/{mailbox}`` for the Graph reader. Folders form a tree under
``msgfolderroot``, each with an id in Graph's style; wherever Graph takes a folder id it also
takes a well-known name (``inbox``, ``archive``, ``deleteditems``...). ``mailFolders`` lists
the top-level folders and ``mailFolders/{id}/childFolders`` a folder's children, both with
``$filter=displayName eq '...'`` (case-insensitive, ``''`` for a quote) and in the
``mailFolder`` resource's shape (``id``, ``displayName``, ``parentFolderId``, counts,
``isHidden``); ``mailFolders/{id}`` is one folder; a POST to either list creates a folder
(``409 ErrorFolderExists`` if the name is taken). ``mailFolders/{id}/messages/delta`` reads that
folder only (pages with ``@odata.nextLink``, a final ``@odata.deltaLink``, messages that left
it reported as ``@removed``); a folder id that names no folder is ``404 ErrorItemNotFound``,
as is a move to one. ``messages/{id}`` (sender and arrival time), ``messages/{id}/$value`` (the
MIME) and ``messages/{id}/move`` (``destinationId``: an id or a well-known name); and ``sendMail``
with a base64 MIME body (``text/plain``), which sends to the MIME's To/Cc/Bcc as Graph does and
answers ``202``. Bearer tokens are
checked against the test's OAuth2 server (active, and the app role the call needs:
Mail.ReadWrite, or Mail.Send for sendMail), 401 otherwise; a mailbox outside the app's access
policy (``deny_send``) or a From that is not the mailbox gets Graph's ``403``. Faults on
demand: ``429`` with ``Retry-After``, ``410`` for a delta link whose sync state is "gone",
``500`` for a given ``$value`` or move, any status for the next sendMail calls (``fail_send``).
"""

from __future__ import annotations

import base64
import binascii
import email
import json
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC
from email.utils import getaddresses, parseaddr, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit


@dataclass
class Message:
    id: str
    folder: str  # the id of its folder
    mime: bytes


@dataclass
class Folder:
    id: str
    display_name: str
    parent: str  # the parent folder's id; "" for msgfolderroot
    well_known: str = ""


def _new_id() -> str:
    """An id in Graph's style (base64url, ``AAMk``...)."""
    return "AAMkAGI2" + uuid.uuid4().hex + "AAA="


#: the folders of a new mailbox: (display name, well-known name), under msgfolderroot
_STANDARD = (
    ("Inbox", "inbox"),
    ("Archive", "archive"),
    ("Deleted Items", "deleteditems"),
    ("Drafts", "drafts"),
    ("Junk Email", "junkemail"),
    ("Sent Items", "sentitems"),
)


def _standard_folders() -> dict[str, Folder]:
    root = Folder(_new_id(), "Top of Information Store", "", "msgfolderroot")
    folders = {root.id: root}
    for name, known in _STANDARD:
        folder = Folder(_new_id(), name, root.id, known)
        folders[folder.id] = folder
    return folders


@dataclass
class Mailbox:
    address: str
    folders: dict[str, Folder] = field(default_factory=_standard_folders)  # by id
    messages: dict[str, Message] = field(default_factory=dict)
    # (sequence number, message id, the folder it left) of every message that left a folder,
    # for delta rounds.
    removed: list[tuple[int, str, str]] = field(default_factory=list)
    added: dict[str, int] = field(default_factory=dict)  # message id -> sequence when it arrived
    seq: int = 0

    @property
    def root(self) -> Folder:
        return next(f for f in self.folders.values() if f.well_known == "msgfolderroot")

    def folder(self, ref: str) -> Folder | None:
        """The folder with this id or well-known name (any case)."""
        if ref in self.folders:
            return self.folders[ref]
        lowered = ref.lower()
        return next((f for f in self.folders.values() if f.well_known == lowered), None)

    def children(self, parent: str) -> list[Folder]:
        return [f for f in self.folders.values() if f.parent == parent]

    def at(self, path: str) -> Folder | None:
        """The folder at a path of display names from the top ("Inbox/Missing reports")."""
        parent: Folder | None = self.root
        for part in path.split("/"):
            assert parent is not None
            parent = next((f for f in self.children(parent.id) if f.display_name == part), None)
            if parent is None:
                return None
        return parent


@dataclass
class Sent:
    """One sendMail: the mailbox it was sent as, the MIME as given, its header recipients."""

    mailbox: str
    mime: bytes
    recipients: list[str]


class GraphServer:
    def __init__(
        self,
        token_ok: Callable[[str], bool],
        page_size: int = 2,
        *,
        send_token_ok: Callable[[str], bool] | None = None,
    ) -> None:
        self.token_ok = token_ok
        self.send_token_ok = send_token_ok or token_ok
        self.sent: list[Sent] = []
        self.deny_send: set[str] = set()  # mailboxes outside the app's access policy (403)
        self.fail_send: list[int] = []  # statuses to answer the next sendMail calls with
        self.page_size = page_size
        self.mailboxes: dict[str, Mailbox] = {}
        self.lock = threading.Lock()
        self.requests: list[tuple[str, str]] = []
        self.throttle_next = 0  # answer 429 (Retry-After: 1) to this many requests
        self.gone_tokens: set[int] = set()  # delta tokens whose sync state is "gone" (410)
        self.fail_value: set[str] = set()  # message ids whose $value answers 500
        self.fail_move: set[str] = set()  # message ids whose move answers 500
        # round id -> (the changes it reports, the sequence number its delta link carries)
        self.rounds: dict[str, tuple[list[dict[str, Any]], int]] = {}
        handler = type("Handler", (_Handler,), {"graph": self})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_port}/v1.0"

    def start(self) -> GraphServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def mailbox(self, address: str) -> Mailbox:
        with self.lock:
            return self.mailboxes.setdefault(address, Mailbox(address))

    def deliver(self, address: str, mime: bytes, folder: str = "Inbox") -> str:
        """A message arrives in the folder at ``folder`` (a path of display names)."""
        box = self.mailbox(address)
        with self.lock:
            target = box.at(folder)
            assert target is not None, f"no folder {folder!r}"
            box.seq += 1
            message_id = "AAMk" + uuid.uuid4().hex
            box.messages[message_id] = Message(message_id, target.id, mime)
            box.added[message_id] = box.seq
            return message_id

    def in_folder(self, address: str, path: str) -> int:
        """The messages in the folder at ``path`` (display names from the top); 0 if none."""
        box = self.mailbox(address)
        with self.lock:
            folder = box.at(path)
            if folder is None:
                return 0
            return sum(1 for m in box.messages.values() if m.folder == folder.id)

    def make_folder(self, address: str, path: str) -> str:
        """Create each missing level of ``path`` (as a person does in Outlook); the last id."""
        box = self.mailbox(address)
        with self.lock:
            parent = box.root
            for part in path.split("/"):
                found = next((f for f in box.children(parent.id) if f.display_name == part), None)
                if found is None:
                    found = Folder(_new_id(), part, parent.id)
                    box.folders[found.id] = found
                parent = found
            return parent.id

    def delete_folder(self, address: str, path: str) -> None:
        """Delete the folder at ``path``, its children and the messages in them."""
        box = self.mailbox(address)
        with self.lock:
            folder = box.at(path)
            assert folder is not None, f"no folder {path!r}"
            doomed = {folder.id}
            while True:
                more = {f.id for f in box.folders.values() if f.parent in doomed} - doomed
                if not more:
                    break
                doomed |= more
            for fid in doomed:
                del box.folders[fid]
            for message in [m for m in box.messages.values() if m.folder in doomed]:
                del box.messages[message.id]


def _folder_json(box: Mailbox, folder: Folder) -> dict[str, Any]:
    """The mailFolder resource (v1.0): what the reader reads of it and the usual counts."""
    inside = [m for m in box.messages.values() if m.folder == folder.id]
    return {
        "id": folder.id,
        "displayName": folder.display_name,
        "parentFolderId": folder.parent,
        "childFolderCount": len(box.children(folder.id)),
        "unreadItemCount": len(inside),
        "totalItemCount": len(inside),
        "isHidden": False,
    }


def _token(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode()


def _untoken(text: str) -> dict[str, Any]:
    value = json.loads(base64.urlsafe_b64decode(text.encode()))
    assert isinstance(value, dict)
    return value


class _Handler(BaseHTTPRequestHandler):
    graph: GraphServer

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _send(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        raw = body if isinstance(body, bytes) else json.dumps(body or {}).encode()
        self.send_response(status)
        ctype = "message/rfc822" if isinstance(body, bytes) else "application/json"
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(raw)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(raw)

    def _error(self, status: int, code: str, message: str) -> None:
        self._send(status, {"error": {"code": code, "message": message}})

    def _gate(self, send: bool = False) -> bool:
        g = self.graph
        g.requests.append((self.command, self.path))
        auth = self.headers.get("Authorization", "")
        ok = g.send_token_ok if send else g.token_ok
        if not auth.startswith("Bearer ") or not ok(auth.removeprefix("Bearer ")):
            self._error(401, "InvalidAuthenticationToken", "Access token validation failure.")
            return False
        with g.lock:
            if g.throttle_next > 0:
                g.throttle_next -= 1
                self._send(
                    429,
                    {"error": {"code": "TooManyRequests", "message": "Please retry again later."}},
                    {"Retry-After": "1"},
                )
                return False
        return True

    def do_GET(self) -> None:
        if not self._gate():
            return
        parts = urlsplit(self.path)
        segments = [unquote(s) for s in parts.path.split("/") if s]
        query = parse_qs(parts.query)
        # /v1.0/users/{mb}/...
        box = self.graph.mailbox(segments[2])
        rest = segments[3:]
        if rest == ["mailFolders"] or (
            len(rest) == 3 and rest[0] == "mailFolders" and rest[2] == "childFolders"
        ):
            self._list_folders(box, rest[1] if len(rest) == 3 else None, query)
        elif len(rest) == 2 and rest[0] == "mailFolders":
            with self.graph.lock:
                folder = box.folder(rest[1])
                shape = _folder_json(box, folder) if folder is not None else None
            if shape is None:
                self._not_found()
            else:
                self._send(200, shape)
        elif len(rest) == 4 and rest[0] == "mailFolders" and rest[2:] == ["messages", "delta"]:
            with self.graph.lock:
                folder = box.folder(rest[1])
            if folder is None:
                self._not_found()
            else:
                self._delta(box, folder.id, parts.path, query)
        elif len(rest) == 2 and rest[0] == "messages":
            self._metadata(box, rest[1])
        elif len(rest) == 3 and rest[0] == "messages" and rest[2] == "$value":
            with self.graph.lock:
                message = box.messages.get(rest[1])
                fail = rest[1] in self.graph.fail_value
            if fail:
                self._error(500, "generalException", "An unexpected error occurred.")
            elif message is None:
                self._error(404, "ErrorItemNotFound", "The specified object was not found.")
            else:
                self._send(200, message.mime)
        else:
            self._error(400, "BadRequest", f"not served here: {parts.path}")

    def _not_found(self) -> None:
        self._error(404, "ErrorItemNotFound", "The specified object was not found in the store.")

    def _list_folders(
        self, box: Mailbox, parent_ref: str | None, query: dict[str, list[str]]
    ) -> None:
        """``GET mailFolders`` (the top level) or ``mailFolders/{id}/childFolders``, with an
        optional ``$filter=displayName eq '...'``."""
        wanted: str | None = None
        if "$filter" in query:
            match = re.fullmatch(r"displayName eq '(.*)'", query["$filter"][0].strip())
            if match is None:
                self._error(400, "ErrorInvalidUrlQueryFilter", "The query filter is invalid.")
                return
            wanted = match.group(1).replace("''", "'")
        with self.graph.lock:
            parent = box.root if parent_ref is None else box.folder(parent_ref)
            if parent is None:
                value = None
            else:
                value = [
                    _folder_json(box, f)
                    for f in box.children(parent.id)
                    if wanted is None or f.display_name.lower() == wanted.lower()
                ]
        if value is None:
            self._not_found()
            return
        where = "mailFolders" if parent_ref is None else f"mailFolders('{parent_ref}')/childFolders"
        context = f"https://graph.microsoft.com/v1.0/$metadata#users('{box.address}')/{where}"
        self._send(200, {"@odata.context": context, "value": value})

    def _metadata(self, box: Mailbox, message_id: str) -> None:
        """``GET /messages/{id}``: the sender and arrival time (``from``, ``receivedDateTime``),
        read from the MIME's From and Date."""
        with self.graph.lock:
            message = box.messages.get(message_id)
        if message is None:
            self._error(404, "ErrorItemNotFound", "The specified object was not found.")
            return
        parsed = email.message_from_bytes(message.mime)
        name, address = parseaddr(parsed.get("From", ""))
        when = parsedate_to_datetime(parsed["Date"]) if parsed.get("Date") else None
        self._send(
            200,
            {
                "id": message.id,
                "from": {"emailAddress": {"name": name, "address": address}},
                "receivedDateTime": when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
                if when is not None
                else None,
            },
        )

    def _delta(self, box: Mailbox, folder_id: str, path: str, query: dict[str, list[str]]) -> None:
        g = self.graph
        if "$deltatoken" in query:
            since = int(query["$deltatoken"][0])
            if since in g.gone_tokens:
                self._error(410, "SyncStateNotFound", "The sync state is no longer available.")
                return
            state: dict[str, Any] = {"since": since, "offset": 0}
        elif "$skiptoken" in query:
            state = _untoken(query["$skiptoken"][0])
        else:
            state = {"since": 0, "offset": 0}
        with g.lock:
            if "round" not in state:
                # A round's changes are fixed when it starts, as Graph's paging is: moves made
                # while the pages are read show up in the next round.
                changes: list[dict[str, Any]] = [
                    {"id": m.id}
                    for m in box.messages.values()
                    if m.folder == folder_id and box.added[m.id] > state["since"]
                ]
                changes += [
                    {"id": mid, "@removed": {"reason": "deleted"}}
                    for seq, mid, left in box.removed
                    if seq > state["since"] and left == folder_id
                ]
                state["round"] = uuid.uuid4().hex
                g.rounds[state["round"]] = (changes, box.seq)
            changes, top = g.rounds[state["round"]]
        offset = int(state["offset"])
        page = changes[offset : offset + g.page_size]
        base = f"http://127.0.0.1:{g.httpd.server_port}{path}"
        body: dict[str, Any] = {"value": page}
        if offset + g.page_size < len(changes):
            body["@odata.nextLink"] = (
                f"{base}?$skiptoken={_token({**state, 'offset': offset + g.page_size})}"
            )
        else:
            body["@odata.deltaLink"] = f"{base}?$deltatoken={top}"
        self._send(200, body)

    def do_POST(self) -> None:
        parts = urlsplit(self.path)
        segments = [unquote(s) for s in parts.path.split("/") if s]
        rest = segments[3:]
        if not self._gate(send=rest == ["sendMail"]):
            return
        box = self.graph.mailbox(segments[2])
        length = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(length)
        if rest == ["sendMail"]:
            self._send_mail(box, raw)
            return
        body = json.loads(raw or b"{}")
        g = self.graph
        if rest == ["mailFolders"] or (
            len(rest) == 3 and rest[0] == "mailFolders" and rest[2] == "childFolders"
        ):
            self._create_folder(box, rest[1] if len(rest) == 3 else None, body)
        elif len(rest) == 3 and rest[0] == "messages" and rest[2] == "move":
            with g.lock:
                message = box.messages.get(rest[1])
                fail = rest[1] in g.fail_move
                target = box.folder(str(body.get("destinationId", "")))
                if message is not None and target is not None and not fail:
                    # Graph gives the moved message a new id.
                    del box.messages[message.id]
                    new = Message("AAMk" + uuid.uuid4().hex, target.id, message.mime)
                    box.messages[new.id] = new
                    box.added[new.id] = box.added[message.id]
                    box.seq += 1
                    box.removed.append((box.seq, message.id, message.folder))
            if fail:
                self._error(500, "generalException", "An unexpected error occurred.")
            elif message is None or target is None:
                self._not_found()
            else:
                self._send(201, {"id": new.id, "parentFolderId": new.folder})
        else:
            self._error(400, "BadRequest", f"not served here: {parts.path}")

    def _create_folder(self, box: Mailbox, parent_ref: str | None, body: dict[str, Any]) -> None:
        name = str(body.get("displayName", ""))
        with self.graph.lock:
            parent = box.root if parent_ref is None else box.folder(parent_ref)
            taken = parent is not None and any(
                f.display_name.lower() == name.lower() for f in box.children(parent.id)
            )
            if parent is not None and not taken and name:
                folder = Folder(_new_id(), name, parent.id)
                box.folders[folder.id] = folder
                shape = _folder_json(box, folder)
        if parent is None:
            self._not_found()
        elif not name:
            self._error(400, "ErrorInvalidRequest", "displayName is required.")
        elif taken:
            self._error(
                409,
                "ErrorFolderExists",
                "A folder with the specified name already exists.",
            )
        else:
            self._send(201, shape)

    def _send_mail(self, box: Mailbox, raw: bytes) -> None:
        """``POST /users/{id}/sendMail`` with MIME: base64 in a text/plain body, 202 Accepted."""
        g = self.graph
        with g.lock:
            fail = g.fail_send.pop(0) if g.fail_send else 0
        if fail:
            self._error(fail, "ErrorInternalServerError" if fail >= 500 else "Error", "Failed.")
            return
        if box.address in g.deny_send:
            self._error(
                403, "ErrorAccessDenied", "Access is denied. Check credentials and try again."
            )
            return
        if not self.headers.get("Content-Type", "").startswith("text/plain"):
            self._error(415, "UnsupportedMediaType", "Content-Type must be text/plain for MIME.")
            return
        try:
            mime = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            self._error(
                400,
                "ErrorMimeContentInvalidBase64String",
                "Invalid base64 string for MIME content.",
            )
            return
        message = email.message_from_bytes(mime)
        sender = parseaddr(message.get("From", ""))[1]
        if sender.lower() != box.address.lower():
            self._error(
                403,
                "ErrorSendAsDenied",
                "The user account which was used to submit this request does not have the right "
                "to send mail on behalf of the specified sending account.",
            )
            return
        recipients = [
            a
            for _n, a in getaddresses(
                message.get_all("To", []) + message.get_all("Cc", []) + message.get_all("Bcc", [])
            )
        ]
        if not recipients:
            self._error(400, "ErrorInvalidRecipients", "At least one recipient is not valid.")
            return
        with g.lock:
            g.sent.append(Sent(box.address, mime, recipients))
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()
