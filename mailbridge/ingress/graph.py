"""The Microsoft Graph reader: a mailbox folder read by delta query, for tenants without IMAP.

Some councils' tenants switch IMAP off for every mailbox. Microsoft Graph still serves the
mailbox to an app with the application permission Mail.ReadWrite (limited to this mailbox by
an application access policy or RBAC for Applications). The folder is the queue, as in the IMAP
watcher, and a message leaves it only after its commit (DESIGN invariant 1):

1. ``GET /users/{mailbox}/mailFolders/{folder}/messages/delta`` from the stored delta link (or
   from the start), page by page (``@odata.nextLink``), to ``@odata.deltaLink``;
2. each page's messages, in batches: ``GET /messages/{id}/$value`` (the MIME, byte for byte),
   then ``Intake.accept_many`` commits the batch;
3. each committed message is moved to the processed folder (``POST /messages/{id}/move``);
4. at the end of the round the delta link is saved (``graph_state``).

A crash before 4 replays the round from the previous link: a message committed but not moved
is fetched again and intake records it as a duplicate, then it is moved. Moved messages come
back in the next delta as ``@removed`` and are skipped. ``429`` and ``503`` are waited out
(``Retry-After``); ``410`` (the sync state is gone) drops the link and reads the whole folder
again, intake's dedupe doing the work. A refused token (401) is renewed once and retried.

On PostgreSQL one of several ``serve`` processes reads a mailbox (an advisory lock, see
store/graph.py); the others stand by.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from urllib.parse import quote

from mailbridge.clock import Clock, system_clock
from mailbridge.errors import MailbridgeError
from mailbridge.intake import Intake, make_incoming
from mailbridge.ops import oauth2
from mailbridge.ops.graph import GraphClient, GraphError, SyncStateGone
from mailbridge.settings.sections import GraphSettings
from mailbridge.store import advisory, tx
from mailbridge.store import graph as graph_store

log = logging.getLogger(__name__)


class GraphReader:
    """One thread that keeps one Graph mailbox folder drained into the store."""

    def __init__(
        self,
        engine: tx.Engine,
        settings: GraphSettings,
        intake: Intake,
        tokens: oauth2.TokenSource,
        *,
        ca_file: str = "",
        clock: Clock = system_clock,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.intake = intake
        self.clock = clock
        self._stop = threading.Event()
        self.client = GraphClient(settings, tokens, ca_file=ca_file, sleep=sleep or self._wait)
        self.key = f"graph:{settings.mailbox}/{settings.folder}"
        self.user = quote(settings.mailbox)
        self.stored = 0  # messages committed (duplicates included)
        self.rounds = 0  # delta rounds completed
        self._thread: threading.Thread | None = None
        self._processed_id = ""

    # -- one round ---------------------------------------------------------------------------
    def run_once(self) -> int:
        """One delta round to the delta link; returns the messages committed."""
        folder = f"/users/{self.user}/mailFolders/{quote(self.settings.folder)}"
        if not self._processed_id:
            self._processed_id = self._folder_id(self.settings.processed_folder)
        start = f"{folder}/messages/delta?$select=id"
        link = graph_store.load_delta(self.engine, self.key) or start
        committed = 0
        resynced = False
        while not self._stop.is_set():
            try:
                page = self.client.json("GET", link)
            except SyncStateGone:
                if resynced:
                    raise GraphError(
                        f"Microsoft Graph for mailbox {self.settings.mailbox}: 410 twice in a round"
                    ) from None
                log.warning(
                    "Microsoft Graph lost the sync state of %s (410): reading the folder again; "
                    "what was stored before is recorded as duplicates",
                    self.key,
                )
                graph_store.clear_delta(self.engine, self.key)
                link, resynced = start, True
                continue
            ids = [
                str(item["id"])
                for item in page.get("value", [])
                if isinstance(item, dict) and "id" in item and "@removed" not in item
            ]
            for chunk in _chunks(ids, self.settings.batch_size):
                committed += self._store_and_move(chunk)
            if "@odata.nextLink" in page:
                link = str(page["@odata.nextLink"])
                continue
            if "@odata.deltaLink" in page:
                graph_store.save_delta(
                    self.engine, self.key, str(page["@odata.deltaLink"]), self.clock()
                )
                self.rounds += 1
                return committed
            raise GraphError(
                f"Microsoft Graph for {self.key}: a delta page with neither nextLink nor deltaLink"
            )
        return committed

    def _store_and_move(self, ids: list[str]) -> int:
        items = []
        for message_id in ids:
            path = f"/users/{self.user}/messages/{message_id}/$value"
            response = self.client.request("GET", path)
            items.append(
                make_incoming(
                    response.content,
                    source="graph",
                    mail_from=None,
                    rcpt_tos=[],
                    peer=f"graph {self.settings.mailbox} {message_id}"[:255],
                )
            )
        # The commit; only then do the messages leave the folder.
        self.intake.accept_many(items)
        self.stored += len(items)
        for message_id in ids:
            try:
                self.client.request(
                    "POST",
                    f"/users/{self.user}/messages/{message_id}/move",
                    {"destinationId": self._processed_id},
                )
            except GraphError as exc:
                if exc.status != 404:
                    raise
                # Already gone (moved by someone, or by us before a crash): nothing to do.
        return len(items)

    def _folder_id(self, name: str) -> str:
        """The id of a top-level folder by display name, created if absent."""
        escaped = name.replace("'", "''")
        found = self.client.json(
            "GET", f"/users/{self.user}/mailFolders?$filter=displayName eq '{escaped}'"
        )
        for folder in found.get("value", []):
            if isinstance(folder, dict) and folder.get("displayName") == name:
                return str(folder["id"])
        created = self.client.json("POST", f"/users/{self.user}/mailFolders", {"displayName": name})
        log.info("created folder %r in %s for stored messages", name, self.settings.mailbox)
        return str(created["id"])

    # -- the thread --------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="graph-reader", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 15.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self.client.close()

    def _wait(self, seconds: float) -> None:
        self._stop.wait(seconds)

    def run(self) -> None:
        """(lock, rounds) until stop(); never raises."""
        failures = 0
        while not self._stop.is_set():
            conn = None
            try:
                if advisory.needed(self.engine):
                    conn = graph_store.try_lock(self.engine, self.key)
                    if conn is None:  # another instance reads this mailbox
                        self._stop.wait(self.settings.lock_retry_seconds)
                        continue
                for _ in self._rounds(conn):
                    failures = 0
            except (MailbridgeError, oauth2.TokenRefused, tx.DatabaseError) as exc:
                failures += 1
                delay = min(
                    self.settings.max_backoff_seconds,
                    self.settings.backoff_seconds * 2 ** min(failures - 1, 30),
                )
                log.error(
                    "Graph reader for %s: %s; attempt %d, retrying in %g s",
                    self.key,
                    _describe(exc, self.client.tokens, self.settings.mailbox),
                    failures,
                    delay,
                )
                self._stop.wait(delay)
            except Exception:  # a bug: say so, keep the thread
                failures += 1
                log.exception("Graph reader for %s failed unexpectedly", self.key)
                self._stop.wait(self.settings.max_backoff_seconds)
            finally:
                if conn is not None:
                    advisory.release(conn)
        log.info("Graph reader for %s stopped", self.key)

    def _rounds(self, conn: advisory.Lock | None) -> Iterator[int]:
        while not self._stop.is_set():
            if conn is not None:
                advisory.check(conn)  # still holding the lock's connection
            committed = self.run_once()
            yield committed
            if not committed:
                self._stop.wait(self.settings.poll_seconds)


def _describe(exc: BaseException, tokens: oauth2.TokenSource, mailbox: str) -> str:
    if isinstance(exc, oauth2.TokenRefused):
        return "a fresh token was refused: " + oauth2.refused_advice(tokens, mailbox, "Graph")
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _chunks(ids: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]
