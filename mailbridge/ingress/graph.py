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

A message whose ``$value`` Graph will not hand over (a 4xx or 5xx for that message, or an empty
body) does not hold up the others: the round stores and moves the rest, and keeps its delta link
where it was, so the next round sees the message again. After ``graph.fetch_attempts`` rounds
it is set aside as the IMAP watcher sets one aside: a failed placeholder is stored (the duty
desk is told), and the message moves to ``graph.failed_folder`` if one is set. A round in which
Graph handed over nothing and refused several messages is Graph's trouble, not theirs: it
counts against none of them and is retried with back-off. Graph out of reach, throttling past
``graph.max_retry_after_seconds`` and a refused token end the round and count against nobody;
a ``404`` (the message left the folder meanwhile) is skipped.

The folders are named in the settings as a person sees them (a well-known name, a display name
or a path such as ``Inbox/Missing reports``) and turned into ids by ``graph_folders.Folders``;
a name that leads to no folder is ``FolderNotFound``, one line, before anything is read. A
``404`` on a folder's cached id (the folder deleted and made again) makes the reader look the
name up once more: the folder read is then read from the start (intake's dedupe), and a move
is tried again under the folder's new id.

On PostgreSQL one of several ``serve`` processes reads a mailbox (an advisory lock, see
store/graph.py); the others stand by.

This module is the reader's thread and its rounds. ``graph check`` is ``graph_check.py``, the
placeholder stored for a message set aside is ``graph_placeholder.py``, and the one line that
tells a failure (here and in the check) is ``graph_failure.py``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import datetime
from urllib.parse import quote

from mailbridge.clock import Clock, system_clock
from mailbridge.errors import MailbridgeError
from mailbridge.ingress.graph_failure import describe, first_line
from mailbridge.ingress.graph_folders import Folders
from mailbridge.ingress.graph_placeholder import placeholder_message
from mailbridge.ingress.mailbox_thread import MailboxThread
from mailbridge.ingress.set_aside import SetAside, set_aside
from mailbridge.intake import Intake, make_incoming
from mailbridge.ops import oauth2
from mailbridge.ops.graph import GraphClient, GraphError, SyncStateGone
from mailbridge.settings.sections import GraphSettings
from mailbridge.store import advisory, tx
from mailbridge.store import graph as graph_store
from mailbridge.store.imap_state import GaveUp

log = logging.getLogger(__name__)


class GraphReader(MailboxThread):
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
        gave_up: GaveUp | None = None,
        on_alert: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(engine, intake, clock=clock, gave_up=gave_up, on_alert=on_alert)
        self.settings = settings
        self.client = GraphClient(settings, tokens, ca_file=ca_file, sleep=sleep or self.wait)
        self.key = graph_store.state_key(settings.mailbox, settings.folder)
        self.user = quote(settings.mailbox)
        self.rounds = 0  # delta rounds completed
        self.folders = Folders(self.client, settings.mailbox)
        self._processed_id = ""
        # Rounds in which a message's $value failed, by message id; and the messages set aside
        # (a placeholder stored), not fetched again by this process.
        self.fetch_failures: dict[str, int] = {}
        self.set_aside: set[str] = set()
        # The last round left a message to try again: wait before the next.
        self.retrying = False
        # The last round and error, for /healthz (see `state`); also kept in the store
        # (graph_store.record) for `status` and the other instances.
        self.last_round_at: datetime | None = None
        self.last_error: str | None = None

    # -- one round ---------------------------------------------------------------------------
    def run_once(self) -> int:
        """One delta round to the delta link; returns the messages committed."""
        folder_id = self.folders.id(self.settings.folder, setting="graph.folder")
        if not self._processed_id:
            self._processed_id = self._folder("processed_folder")
        link = graph_store.load_delta(self.engine, self.key) or self._start(folder_id)
        committed = 0
        resynced = looked_again = False
        failed: dict[str, str] = {}  # message id -> why its $value failed, in this round
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
                link, resynced = self._start(folder_id), True
                continue
            except GraphError as exc:
                if exc.status != 404 or looked_again:
                    raise
                # The folder is gone under its id (deleted and made again, or another folder
                # renamed to the name): look the name up once more; FolderNotFound if none.
                looked_again = True
                fresh = self.folders.refresh(self.settings.folder, setting="graph.folder")
                if fresh == folder_id:
                    raise
                log.warning(
                    "Graph folder %r of %s has a new id: reading it from the start; what was "
                    "stored before is recorded as duplicates",
                    self.settings.folder,
                    self.settings.mailbox,
                )
                graph_store.clear_delta(self.engine, self.key)
                folder_id = fresh
                link = self._start(folder_id)
                continue
            ids = [
                str(item["id"])
                for item in page.get("value", [])
                if isinstance(item, dict)
                and "id" in item
                and "@removed" not in item
                and str(item["id"]) not in self.set_aside
            ]
            for chunk in _chunks(ids, self.settings.batch_size):
                stored, refused = self._store_and_move(chunk)
                committed += stored
                failed.update(refused)
            if "@odata.nextLink" in page:
                link = str(page["@odata.nextLink"])
                continue
            if "@odata.deltaLink" in page:
                self.retrying = bool(failed) and not self._settle(failed, committed)
                if not self.retrying:
                    graph_store.save_delta(
                        self.engine, self.key, str(page["@odata.deltaLink"]), self.clock()
                    )
                # else: the link stays where it was, so the next round sees the message again.
                self.rounds += 1
                return committed
            raise GraphError(
                f"Microsoft Graph for {self.key}: a delta page with neither nextLink nor deltaLink"
            )
        return committed

    def _store_and_move(self, ids: list[str]) -> tuple[int, dict[str, str]]:
        """Fetch, commit, then move ``ids``; (messages committed, {id: error} of those whose
        $value Graph would not hand over)."""
        items = []
        fetched: list[str] = []
        failed: dict[str, str] = {}
        for message_id in ids:
            path = f"/users/{self.user}/messages/{message_id}/$value"
            try:
                response = self.client.request("GET", path)
            except SyncStateGone:
                raise
            except GraphError as exc:
                if exc.status == 404:
                    log.info(
                        "Graph message %s left %s before it was read; skipped", message_id, self.key
                    )
                    continue
                if exc.status < 400:
                    raise  # Graph out of reach, or throttling: the round is tried again later
                failed[message_id] = first_line(exc)
                continue
            if not response.content:
                failed[message_id] = "Microsoft Graph returned an empty message"
                continue
            items.append(
                make_incoming(
                    response.content,
                    source="graph",
                    mail_from=None,
                    rcpt_tos=[],
                    peer=self._peer(message_id),
                )
            )
            fetched.append(message_id)
        if not items:
            return 0, failed
        # The commit; only then do the messages leave the folder.
        self.intake.accept_many(items)
        self.stored += len(items)
        for message_id in fetched:
            self.fetch_failures.pop(message_id, None)
            self._processed_id = self._move(message_id, "processed_folder", self._processed_id)
        return len(items), failed

    def _start(self, folder_id: str) -> str:
        folder = quote(folder_id, safe="")
        return f"/users/{self.user}/mailFolders/{folder}/messages/delta?$select=id"

    def _folder(self, setting: str) -> str:
        """The id of graph.processed_folder or graph.failed_folder, created if only its last
        level is missing."""
        name = getattr(self.settings, setting)
        return self.folders.id(name, setting=f"graph.{setting}", create=True)

    def _move(self, message_id: str, setting: str, folder_id: str) -> str:
        """Move a message to graph.<setting> (id ``folder_id``); the folder's id after it.

        A 404 is the message already gone (moved by someone, or by us before a crash), or the
        folder gone under its cached id: the name is looked up once more, and if it now has
        another id (the folder made again) the move is tried there."""
        try:
            self._post_move(message_id, folder_id)
            return folder_id
        except GraphError as exc:
            if exc.status != 404:
                raise
        name = getattr(self.settings, setting)
        fresh = self.folders.refresh(name, setting=f"graph.{setting}", create=True)
        if fresh != folder_id:
            try:
                self._post_move(message_id, fresh)
            except GraphError as exc:
                if exc.status != 404:
                    raise
        return fresh

    def _post_move(self, message_id: str, folder_id: str) -> None:
        self.client.request(
            "POST", f"/users/{self.user}/messages/{message_id}/move", {"destinationId": folder_id}
        )

    def _peer(self, message_id: str) -> str:
        return f"graph {self.settings.mailbox} {message_id}"[:255]

    # -- a message Graph will not hand over ----------------------------------------------------
    def _settle(self, failed: dict[str, str], committed: int) -> bool:
        """Count this round's failures; set aside those out of attempts. True: none is left to
        try again (the delta link may move on)."""
        if not committed and len(failed) > 1:
            # Nothing came through and several were refused: Graph is unwell, not the messages.
            raise GraphError(
                f"Microsoft Graph handed over none of {len(failed)} new messages in {self.key} "
                f"({next(iter(failed.values()))}); not counted against them"
            )
        left = False
        for message_id, error in failed.items():
            count = self.fetch_failures.get(message_id, 0) + 1
            self.fetch_failures[message_id] = count
            if count >= self.settings.fetch_attempts:
                self.set_aside_message(message_id, error)
            else:
                log.warning(
                    "Graph message %s in %s: %s (attempt %d of %d); the others were stored, "
                    "this one is tried again in the next round",
                    message_id,
                    self.key,
                    error,
                    count,
                    self.settings.fetch_attempts,
                )
                left = True
        return not left

    def set_aside_message(self, message_id: str, error: str) -> None:
        """Store a failed placeholder (the duty desk is alerted), then move the message to
        graph.failed_folder if one is set."""
        now = self.clock()
        raw = placeholder_message(
            self.settings, message_id, error=error, facts=self._facts(message_id), now=now
        )

        def move() -> str:
            if not self.settings.failed_folder:
                return "left in the folder"
            try:
                self._move(message_id, "failed_folder", self._folder("failed_folder"))
            except (GraphError, oauth2.TokenRefused) as exc:
                return f"left in the folder (moving it failed: {first_line(exc)})"
            return f"moved to {self.settings.failed_folder!r}"

        rounds = f"in {self.settings.fetch_attempts} round(s)"
        item = SetAside("graph", f"Graph message {message_id}", self.key, rounds,
                        self._peer(message_id), error)
        set_aside(self.engine, item, raw, now=now, gave_up=self.gave_up, move=move,
                  on_alert=self.on_alert, log=log)
        self.set_aside.add(message_id)
        self.fetch_failures.pop(message_id, None)

    def _facts(self, message_id: str) -> dict[str, str]:
        """Sender and arrival time for the placeholder, if Graph gives them; {} otherwise."""
        facts: dict[str, str] = {}
        try:
            found = self.client.json(
                "GET",
                f"/users/{self.user}/messages/{message_id}?$select=from,receivedDateTime",
            )
            sender = (found.get("from") or {}).get("emailAddress") or {}
            if sender.get("address"):
                facts["From"] = str(sender["address"])
            if found.get("receivedDateTime"):
                facts["Arrived"] = str(found["receivedDateTime"])
        except Exception as exc:  # the placeholder is stored without them
            log.debug("no sender or arrival time for Graph message %s: %s", message_id, exc)
        return facts

    # -- the thread --------------------------------------------------------------------------
    def start(self) -> None:
        self.start_thread("graph-reader")

    def stop(self, timeout: float = 15.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self.client.close()

    @property
    def state(self) -> str:
        """starting, standby (another instance holds the mailbox lock), reading (a round),
        waiting (between rounds), backing off (after a failed round) or stopped."""
        return super().state

    def run(self) -> None:
        """(lock, rounds) until stop(); never raises."""
        failures = 0
        while not self._stop.is_set():
            conn = None
            try:
                if advisory.needed(self.engine):
                    conn = graph_store.try_lock(self.engine, self.key)
                    if conn is None:  # another instance reads this mailbox
                        self._phase = "standby"
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
                line = describe(exc, self.client.tokens, self.settings.mailbox)
                log.error(
                    "Graph reader for %s: %s; attempt %d, retrying in %g s",
                    self.key,
                    line,
                    failures,
                    delay,
                )
                self._failed(line)
                self._stop.wait(delay)
            except Exception as exc:  # a bug: say so, keep the thread
                failures += 1
                log.exception("Graph reader for %s failed unexpectedly", self.key)
                self._failed(f"unexpected {type(exc).__name__}")
                self._stop.wait(self.settings.max_backoff_seconds)
            finally:
                if conn is not None:
                    advisory.release(conn)
        log.info("Graph reader for %s stopped", self.key)

    def _rounds(self, conn: advisory.Lock | None) -> Iterator[int]:
        while not self._stop.is_set():
            if conn is not None:
                advisory.check(conn)  # still holding the lock's connection
            self._phase = "reading"
            committed = self.run_once()
            self.last_round_at = self.clock()
            graph_store.record(self.engine, self.key, self.last_round_at)
            yield committed
            if not committed or self.retrying:
                self._phase = "waiting"
                self._stop.wait(self.settings.poll_seconds)

    def _failed(self, line: str) -> None:
        """A failed round, for /healthz and `status` (kept in the store if it answers)."""
        self._phase = "backing off"
        self.last_error = line
        try:
            graph_store.record(self.engine, self.key, self.clock(), error=line)
        except Exception as exc:  # the database may be what failed
            log.debug("Graph reader's error not recorded: %s", exc)


def _chunks(ids: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]
